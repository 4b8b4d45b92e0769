package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConcurrencyFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    map[string]int
		wantErr string
	}{
		{[]string{"-concurrency", "batch-ingest=4"}, map[string]int{"batch-ingest": 4}, ""},
		{[]string{"-concurrency", "batch-ingest=4, profile-api=3", "-concurrency", "batch-ingest=1"},
			map[string]int{"batch-ingest": 1, "profile-api": 3}, ""},
		{[]string{"-concurrency", "batch-ingest"}, nil, "want name=n"},
		{[]string{"-concurrency", "=2"}, nil, "want name=n"},
		{[]string{"-concurrency", "batch-ingest=0"}, nil, "≥ 1"},
		{[]string{"-concurrency", "batch-ingest=x"}, nil, "≥ 1"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c := concurrencyFlag{}
		fs.Var(c, "concurrency", "")
		err := fs.Parse(tc.args)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: got %v, want an error with %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if d := cmp.Diff(tc.want, map[string]int(c)); d != "" {
			t.Errorf("%v (-want +got):\n%s", tc.args, d)
		}
	}
	if got := (concurrencyFlag{"b": 2, "a": 1}).String(); got != "a=1,b=2" {
		t.Errorf("String() = %q, want a=1,b=2", got)
	}
}

func TestRunRefusesUnknownFunction(t *testing.T) {
	var stderr strings.Builder
	err := run([]string{"-concurrency", "nope=2", "-outputs", "", "-logs", t.TempDir(), "-rie", "/nonexistent"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), `no function "nope"`) {
		t.Fatalf("got %v, want the unknown function named", err)
	}
}
