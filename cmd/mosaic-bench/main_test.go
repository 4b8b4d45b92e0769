package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sample = `goos: linux
BenchmarkP1/profile/baseline-2   52915   20000 ns/op   49.62 MB/s   6888 B/op   166 allocs/op
BenchmarkP1/profile/pipeline-2   10000   50000 ns/op   11.03 MB/s
BenchmarkP1/event/baseline-2     41584   30000 ns/op
BenchmarkP1/event/pipeline-2     17396   45000 ns/op
BenchmarkP1/profile/baseline-2   52915   24000 ns/op
BenchmarkP1/profile/pipeline-2   10000   40000 ns/op
BenchmarkP1/profile/baseline-2   52915   22000 ns/op
BenchmarkP1/profile/pipeline-2   10000   44000 ns/op
PASS
`

func TestP1Of(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    P1
		wantErr string
	}{
		{"medians and ratios", sample, P1{ProfileRatio: 2, EventRatio: 1.5, Target: 2, Pass: true,
			ProfileNsPerOp: 44000, BaselineNsPerOp: 22000, EventNsPerOp: 45000, EventBaselineNsPerOp: 30000}, ""},
		{"over the target fails", strings.ReplaceAll(sample, "45000 ns/op", "61000 ns/op"), P1{ProfileRatio: 2, EventRatio: 2.03, Target: 2,
			ProfileNsPerOp: 44000, BaselineNsPerOp: 22000, EventNsPerOp: 61000, EventBaselineNsPerOp: 30000}, ""},
		{"a missing sub-benchmark is an error", strings.ReplaceAll(sample, "event/baseline", "x"), P1{}, "BenchmarkP1/event/baseline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			samples, err := parseBench(strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p1Of(samples)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("P1 (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBenchPrefersCPUTime(t *testing.T) {
	got, err := parseBench(strings.NewReader("BenchmarkP1/event/pipeline-2   100   90000 ns/op   30000 cpu-ns/op   7712 B/op\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string][]float64{"BenchmarkP1/event/pipeline": {30000}}, got); d != "" {
		t.Errorf("samples (-want +got):\n%s", d)
	}
}

func TestReportKeepsNotes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "REPORT.md")
	if got, err := keptNotes(path); err != nil || got != "" {
		t.Fatalf("no report: got %q, %v; want nothing", got, err)
	}
	old := report(results{P1: &P1{ProfileRatio: 1, EventRatio: 1, Target: 2}}) + "\n## Decisions\n\nkept text\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := keptNotes(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\n## Decisions\n\nkept text\n"; got != want {
		t.Errorf("kept %q, want %q", got, want)
	}
}

func TestWriteResultsKeepsOtherBars(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(path, []byte(`{"P2":{"ratio":0.8},"P1":{"profileRatio":9}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeResults(path, "P1", P1{ProfileRatio: 1.5, Target: 2}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"P2"`, `"ratio": 0.8`, `"profileRatio": 1.5`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("results.json %s lacks %s", b, want)
		}
	}
}

func TestReport(t *testing.T) {
	r := report(results{P1: &P1{ProfileRatio: 2.5, EventRatio: 1.2, Target: 2, Machine: "2 CPU, amd64"}})
	for _, want := range []string{"| 2.50× (", "| FAIL |", "| pass |", "P5", "not yet measured",
		"P1 profile  ####################+####", "P1 event    ############        |"} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q:\n%s", want, r)
		}
	}
}
