package topology

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRouteKeysAreUnique(t *testing.T) {
	seen := map[string]string{}
	for _, f := range Functions {
		for _, r := range f.Routes {
			if other, ok := seen[r.Key()]; ok {
				t.Errorf("route %q served by both %s and %s", r.Key(), other, f.Name)
			}
			seen[r.Key()] = f.Name
		}
	}
}

func TestEveryFunctionHasOneTrigger(t *testing.T) {
	for _, f := range Functions {
		n := 0
		if f.S3 != nil {
			n++
		}
		if f.Stream != nil {
			n++
		}
		if len(f.Routes) > 0 {
			n++
		}
		if n != 1 {
			t.Errorf("%s has %d kinds of trigger, want 1", f.Name, n)
		}
		if f.Concurrency < 1 {
			t.Errorf("%s has concurrency %d, want at least 1", f.Name, f.Concurrency)
		}
		for env, id := range f.Env {
			if !isResource(id) {
				t.Errorf("%s: %s names unknown resource %q", f.Name, env, id)
			}
		}
		for _, g := range f.Grants {
			if !isResource(g.Resource) {
				t.Errorf("%s: grant on unknown resource %q", f.Name, g.Resource)
			}
		}
	}
}

func isResource(id string) bool {
	for _, t := range Tables {
		if t.ID == id {
			return true
		}
	}
	for _, s := range Streams {
		if s.ID == id {
			return true
		}
	}
	for _, b := range Buckets {
		if b.ID == id {
			return true
		}
	}
	return false
}

// TestOpenAPIDocumentsEveryRoute keeps docs/openapi.yaml and the deployed
// routes in step: every route is documented, and nothing else is.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pathLine := regexp.MustCompile(`^  (/[^:]*):\s*$`)
	methodLine := regexp.MustCompile(`^    (get|put|post|patch|delete):\s*$`)
	var documented []string
	current := ""
	for _, line := range strings.Split(string(b), "\n") {
		if m := pathLine.FindStringSubmatch(line); m != nil {
			current = m[1]
			continue
		}
		if m := methodLine.FindStringSubmatch(line); m != nil && current != "" {
			documented = append(documented, strings.ToUpper(m[1])+" "+current)
		}
	}
	var routes []string
	for _, f := range Functions {
		for _, r := range f.Routes {
			routes = append(routes, r.Key())
		}
	}
	sort.Strings(documented)
	sort.Strings(routes)
	if diff := cmp.Diff(routes, documented); diff != "" {
		t.Errorf("docs/openapi.yaml and the routes differ (-routes +documented):\n%s", diff)
	}
}
