package cloud

import (
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

func TestWithConcurrency(t *testing.T) {
	fns := []topology.Function{{Name: "batch-ingest", Concurrency: 2}, {Name: "profile-api", Concurrency: 2}}
	got, err := WithConcurrency(fns, map[string]int{"batch-ingest": 4})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Concurrency != 4 || got[1].Concurrency != 2 {
		t.Errorf("got %d and %d processes, want 4 and 2", got[0].Concurrency, got[1].Concurrency)
	}
	if fns[0].Concurrency != 2 {
		t.Errorf("the input was changed: batch-ingest has %d processes, want 2", fns[0].Concurrency)
	}
	for _, tc := range []struct {
		procs map[string]int
		want  string
	}{
		{map[string]int{"nope": 1}, `no function "nope"`},
		{map[string]int{"batch-ingest": 0}, "batch-ingest=0"},
	} {
		if _, err := WithConcurrency(fns, tc.procs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("WithConcurrency(%v) = %v, want an error naming %s", tc.procs, err, tc.want)
		}
	}
}

func TestConfigDefaultsApplyConcurrency(t *testing.T) {
	cfg := Config{LogsDir: t.TempDir(), Concurrency: map[string]int{"batch-ingest": 3}}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	for _, f := range cfg.Functions {
		if f.Name == "batch-ingest" && f.Concurrency != 3 {
			t.Errorf("batch-ingest has %d processes, want 3", f.Concurrency)
		}
	}
	for _, f := range topology.Functions {
		if f.Name == "batch-ingest" && f.Concurrency == 3 {
			t.Error("topology.Functions was changed")
		}
	}
	bad := Config{LogsDir: t.TempDir(), Concurrency: map[string]int{"x": 1}}
	if err := bad.defaults(); err == nil {
		t.Error("an unknown function was accepted")
	}
}
