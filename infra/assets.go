package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// repoRoot finds the repository root without trusting the working
// directory: 'cdk synth' runs at the root but 'go test' runs in infra/, and
// CDK resolves relative asset paths against whichever that is. The source
// file's own location is authoritative; the walk up from the working
// directory is the fallback for binaries built with -trimpath.
func repoRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Dir(filepath.Dir(file))
		if isFile(filepath.Join(root, "go.mod")) {
			return root, nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isDir(filepath.Join(dir, "infra")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod next to infra/)")
		}
		dir = parent
	}
}

// assetsDir resolves the directory holding <function>/bootstrap: the
// 'assets' context value when given (relative to the repository root), else
// <root>/dist where 'make build' puts the binaries.
func assetsDir(fromContext string) (string, error) {
	if fromContext != "" && filepath.IsAbs(fromContext) {
		return fromContext, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	if fromContext != "" {
		return filepath.Join(root, fromContext), nil
	}
	return filepath.Join(root, "dist"), nil
}

// functionAsset returns the asset directory of one function, failing with
// the fix when its bootstrap has not been built: CDK's own error ("Cannot
// find asset") does not say how to get one.
func functionAsset(dir, name string) (string, error) {
	asset := filepath.Join(dir, name)
	if !isFile(filepath.Join(asset, "bootstrap")) {
		return "", fmt.Errorf("function %s: %s is missing: run 'make build' first (or point -c assets=… at built binaries)",
			name, filepath.Join(asset, "bootstrap"))
	}
	return asset, nil
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&fs.ModeDir != 0
}
