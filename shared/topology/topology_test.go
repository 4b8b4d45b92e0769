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

// TestOnFailureQueuesAreDrained: every on-failure destination is a declared
// queue that a function consumes, within the limits AWS sets.
func TestOnFailureQueuesAreDrained(t *testing.T) {
	queues := map[string]Queue{}
	for _, q := range Queues {
		queues[q.ID] = q
	}
	drained := map[string]bool{}
	for _, f := range Functions {
		if f.Queue == nil {
			continue
		}
		q, ok := queues[f.Queue.Queue]
		if !ok {
			t.Errorf("%s consumes unknown queue %q", f.Name, f.Queue.Queue)
			continue
		}
		drained[q.ID] = true
		if q.VisibilityTimeout < f.Timeout {
			t.Errorf("queue %s hides messages %v, less than the timeout %v of %s (AWS refuses the mapping)", q.ID, q.VisibilityTimeout, f.Timeout, f.Name)
		}
		if f.Queue.BatchSize < 1 || f.Queue.BatchSize > 10 {
			t.Errorf("%s: queue batch size %d, want 1 to 10", f.Name, f.Queue.BatchSize)
		}
		ownAsync := f.Async != nil && f.Async.OnFailure == f.Queue.Queue
		ownStream := f.Stream != nil && f.Stream.OnFailure == f.Queue.Queue
		if !ownAsync && !ownStream {
			t.Errorf("%s consumes %s but sends no failures there: a queue trigger is only for draining its own on-failure queue", f.Name, f.Queue.Queue)
		}
	}
	for _, f := range Functions {
		if f.Async == nil {
			continue
		}
		if f.S3 == nil {
			t.Errorf("%s has an asynchronous configuration but no S3 trigger", f.Name)
		}
		if f.Async.MaxRetries < 0 || f.Async.MaxRetries > 2 {
			t.Errorf("%s: %d asynchronous retries, AWS allows 0 to 2", f.Name, f.Async.MaxRetries)
		}
		if !drained[f.Async.OnFailure] {
			t.Errorf("%s sends failures to %q, which nothing drains", f.Name, f.Async.OnFailure)
		}
	}
	for _, f := range Functions {
		if f.Stream == nil {
			continue
		}
		if f.Stream.OnFailure == "" {
			t.Errorf("%s: its stream trigger has no on-failure destination: records whose retries are exhausted would be dropped unseen", f.Name)
		} else if !drained[f.Stream.OnFailure] {
			t.Errorf("%s sends stream failures to %q, which nothing drains", f.Name, f.Stream.OnFailure)
		}
	}
	if f, _ := FunctionByName("batch-ingest"); f.Async == nil {
		t.Error("batch-ingest has no on-failure destination: a file whose every attempt fails would leave its batch processing")
	}
}
