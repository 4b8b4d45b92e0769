package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// testAssets is a directory of placeholder bootstraps, so the tests need
// neither 'make build' nor the working directory.
var testAssets string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mosaic-infra-assets-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, f := range topology.Functions {
		if err := writePlaceholder(filepath.Join(dir, f.Name)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	testAssets = dir
	code := m.Run()
	os.RemoveAll(dir)
	jsii.Close()
	os.Exit(code)
}

func writePlaceholder(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\nexit 1\n"), 0o755)
}

// cdkContext is the "context" of the repository's cdk.json (the feature
// flags), so the tests synthesize exactly what 'cdk synth' does.
func cdkContext(t *testing.T) map[string]any {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return file.Context
}

// synthesized is one environment's stacks and templates.
type synthesized struct {
	cfg      Config
	stacks   *Stacks
	data     assertions.Template
	app      assertions.Template
	dataJSON map[string]any
	appJSON  map[string]any
}

var (
	synthMu    sync.Mutex
	synthCache = map[string]*synthesized{}
)

// synth builds (once per test binary) the stacks of env.
func synth(t *testing.T, env string) *synthesized {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	if s, ok := synthCache[env]; ok {
		return s
	}
	cfg, err := ConfigFor(env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cdkContext(t)
	ctx["env"] = env
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	stacks, err := NewStacks(app, cfg, testAssets)
	if err != nil {
		t.Fatalf("NewStacks(%s): %v", env, err)
	}
	s := &synthesized{
		cfg:    cfg,
		stacks: stacks,
		data:   assertions.Template_FromStack(stacks.Data, nil),
		app:    assertions.Template_FromStack(stacks.App, nil),
	}
	s.dataJSON = *s.data.ToJSON()
	s.appJSON = *s.app.ToJSON()
	synthCache[env] = s
	return s
}

// forEachEnv runs f as a subtest for every environment.
func forEachEnv(t *testing.T, f func(t *testing.T, s *synthesized)) {
	for _, env := range Envs() {
		t.Run(env, func(t *testing.T) { f(t, synth(t, env)) })
	}
}

func resources(tmpl map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tmpl["Resources"].(map[string]any) {
		out[id] = r.(map[string]any)
	}
	return out
}

func ofType(tmpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range resources(tmpl) {
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestConfigFor(t *testing.T) {
	for _, env := range []string{"dev", "staging", "prod"} {
		cfg, err := ConfigFor(env)
		if err != nil || cfg.Name != env {
			t.Errorf("ConfigFor(%q) = %q, %v; want %q, nil", env, cfg.Name, err, env)
		}
	}
	if cfg, err := ConfigFor(""); err != nil || cfg.Name != DefaultEnv {
		t.Errorf("ConfigFor(\"\") = %q, %v; want %q", cfg.Name, err, DefaultEnv)
	}
	if _, err := ConfigFor("qa"); err == nil || !strings.Contains(err.Error(), "dev|prod|staging") {
		t.Errorf("ConfigFor(qa) error = %v; want one listing the environments", err)
	}
	if prod, _ := ConfigFor("prod"); prod.RemovalPolicy != awscdk.RemovalPolicy_RETAIN || !prod.TerminationProtection {
		t.Errorf("prod: removal %v, termination protection %v; want RETAIN, true", prod.RemovalPolicy, prod.TerminationProtection)
	}
}

func TestMissingBootstrapSaysMakeBuild(t *testing.T) {
	dir := t.TempDir()
	// All but the last function built.
	for _, f := range topology.Functions[:len(topology.Functions)-1] {
		if err := writePlaceholder(filepath.Join(dir, f.Name)); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _ := ConfigFor("dev")
	_, err := NewStacks(awscdk.NewApp(nil), cfg, dir)
	last := topology.Functions[len(topology.Functions)-1].Name
	if err == nil || !strings.Contains(err.Error(), "make build") || !strings.Contains(err.Error(), last) {
		t.Fatalf("NewStacks with %s unbuilt: err = %v; want one naming it and 'make build'", last, err)
	}
}

func TestAssetsDirIndependentOfCwd(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	got, err := assetsDir("")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "dist"); got != want {
		t.Errorf("assetsDir(\"\") from elsewhere = %s; want %s", got, want)
	}
	if got, _ := assetsDir("build/x"); got != filepath.Join(root, "build", "x") {
		t.Errorf("assetsDir(build/x) = %s; want it under the repository root", got)
	}
}
