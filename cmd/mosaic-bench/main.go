// Command mosaic-bench measures the speed bars of docs/quality.md that need no
// cloud and writes them down: bench/results.json (merged, so that bars
// measured elsewhere are kept) and bench/REPORT.md. Today that is P1, the
// CPU of one row through the ingest pipeline as a ratio to a plain
// encoding/json decode of the same bytes, measured in the same run.
//
//	go run ./cmd/mosaic-bench [-benchtime 1s] [-count 5] [-out bench]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// P1Target is docs/quality.md's bar: pipeline ≤ 2.0 × the plain decode.
const P1Target = 2.0

// p1Package holds BenchmarkP1 and its sub-benchmarks
// {profile,event}/{baseline,pipeline}.
const p1Package = "./shared/ingest/"

func main() {
	benchtime := flag.String("benchtime", "1s", "go test -benchtime for each sub-benchmark")
	count := flag.Int("count", 5, "runs of each sub-benchmark; the median is kept")
	out := flag.String("out", "bench", "directory of results.json and REPORT.md")
	flag.Parse()
	if err := run(*benchtime, *count, *out, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mosaic-bench:", err)
		os.Exit(1)
	}
}

func run(benchtime string, count int, dir string, log io.Writer) error {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkP1$", "-benchmem",
		"-benchtime", benchtime, "-count", strconv.Itoa(count), p1Package)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, log)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test -bench: %w", err)
	}
	samples, err := parseBench(&buf)
	if err != nil {
		return err
	}
	p1, err := p1Of(samples)
	if err != nil {
		return err
	}
	p1.Machine = fmt.Sprintf("%d CPU, %s", runtime.NumCPU(), runtime.GOARCH)
	p1.Date = time.Now().UTC().Format(time.RFC3339)
	p1.GoVersion = runtime.Version()
	p1.Benchtime, p1.Count = benchtime, count

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeResults(filepath.Join(dir, "results.json"), p1); err != nil {
		return err
	}
	reportPath := filepath.Join(dir, "REPORT.md")
	notes, err := keptNotes(reportPath)
	if err != nil {
		return err
	}
	if err := os.WriteFile(reportPath, []byte(report(p1)+notes), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(log, "P1 profile %.2f×, event %.2f× (target ≤ %.1f×): %s\n", p1.ProfileRatio, p1.EventRatio, p1.Target, passFail(p1.Pass))
	return nil
}

// benchLine matches a result line such as
// "BenchmarkP1/profile/pipeline-2   10000   100723 ns/op   98012 cpu-ns/op   11.03 MB/s …".
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`)

// cpuMetric matches the CPU time per operation BenchmarkP1 reports
// (getrusage of the process over the loop), which other load on the
// machine does not inflate as it does the wall time of ns/op.
var cpuMetric = regexp.MustCompile(`\s([0-9.]+) cpu-ns/op`)

// parseBench collects the cpu-ns/op of each benchmark, or its ns/op when it
// reports no CPU time, one sample per run.
func parseBench(r io.Reader) (map[string][]float64, error) {
	out := map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if c := cpuMetric.FindStringSubmatch(line); c != nil {
			m[2] = c[1]
		}
		ns, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, fmt.Errorf("benchmark %s: %w", m[1], err)
		}
		out[m[1]] = append(out[m[1]], ns)
	}
	return out, sc.Err()
}

// P1 is the P1 entry of results.json.
type P1 struct {
	ProfileRatio         float64 `json:"profileRatio"`
	EventRatio           float64 `json:"eventRatio"`
	Target               float64 `json:"target"`
	Pass                 bool    `json:"pass"`
	ProfileNsPerOp       float64 `json:"profileNsPerOp"`
	BaselineNsPerOp      float64 `json:"baselineNsPerOp"`
	EventNsPerOp         float64 `json:"eventNsPerOp"`
	EventBaselineNsPerOp float64 `json:"eventBaselineNsPerOp"`
	Machine              string  `json:"machine"`
	Date                 string  `json:"date"`
	GoVersion            string  `json:"goVersion"`
	Benchtime            string  `json:"benchtime"`
	Count                int     `json:"count"`
}

// p1Of computes the ratios from the medians of the four sub-benchmarks.
func p1Of(samples map[string][]float64) (P1, error) {
	med := func(name string) (float64, error) {
		s := samples["BenchmarkP1/"+name]
		if len(s) == 0 {
			return 0, errors.New("no result for BenchmarkP1/" + name)
		}
		s = slices.Clone(s)
		slices.Sort(s)
		if len(s)%2 == 1 {
			return s[len(s)/2], nil
		}
		return (s[len(s)/2-1] + s[len(s)/2]) / 2, nil
	}
	var p P1
	var errs []error
	for _, v := range []struct {
		name string
		dst  *float64
	}{
		{"profile/pipeline", &p.ProfileNsPerOp}, {"profile/baseline", &p.BaselineNsPerOp},
		{"event/pipeline", &p.EventNsPerOp}, {"event/baseline", &p.EventBaselineNsPerOp},
	} {
		m, err := med(v.name)
		*v.dst = m
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return P1{}, err
	}
	p.ProfileRatio = round2(p.ProfileNsPerOp / p.BaselineNsPerOp)
	p.EventRatio = round2(p.EventNsPerOp / p.EventBaselineNsPerOp)
	p.Target = P1Target
	p.Pass = p.ProfileRatio <= P1Target && p.EventRatio <= P1Target
	return p, nil
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// writeResults replaces the P1 entry of results.json, keeping the others.
func writeResults(path string, p1 P1) error {
	all := map[string]any{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &all); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	all["P1"] = p1
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// report is bench/REPORT.md: a table of the bars, pass or fail, and a
// plain-text chart of each ratio against its target.
func report(p P1) string {
	var b strings.Builder
	b.WriteString("# Mosaic benchmarks\n\n")
	fmt.Fprintf(&b, "Measured %s on %s (%s, `-benchtime %s -count %d`, medians) by `make bench`. ", p.Date, p.Machine, p.GoVersion, p.Benchtime, p.Count)
	b.WriteString("Every figure is a ratio to a ceiling measured in the same run (docs/quality.md); ")
	b.WriteString("P1 times are the CPU time of the process per row (getrusage), not wall time.\n\n")
	b.WriteString("| Bar | What | Measured | Target | Result |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| P1 profile | pipeline CPU per 1 KB profile row ÷ `encoding/json` decode | %.2f× (%.1f µs ÷ %.1f µs) | ≤ %.1f× | %s |\n",
		p.ProfileRatio, p.ProfileNsPerOp/1e3, p.BaselineNsPerOp/1e3, p.Target, passFail(p.ProfileRatio <= p.Target))
	fmt.Fprintf(&b, "| P1 event | pipeline CPU per 1 KB event row ÷ `encoding/json` decode | %.2f× (%.1f µs ÷ %.1f µs) | ≤ %.1f× | %s |\n",
		p.EventRatio, p.EventNsPerOp/1e3, p.EventBaselineNsPerOp/1e3, p.Target, passFail(p.EventRatio <= p.Target))
	for _, bar := range []struct{ id, what string }{
		{"P2", "batch ingest throughput ÷ raw PutItem ceiling"},
		{"P3", "stream ingest throughput ÷ raw ceiling"},
		{"P4", "freshness p95"},
		{"P5", "profile lookup p99 ÷ raw Query p99"},
		{"P6", "write capacity per row"},
		{"P7", "peak RSS over a 1 GB file"},
		{"P8", "$ per million rows and lookups"},
	} {
		fmt.Fprintf(&b, "| %s | %s | not yet measured | see docs/quality.md | — |\n", bar.id, bar.what)
	}
	b.WriteString("\n```\n")
	b.WriteString(chartLine("P1 profile", p.ProfileRatio, p.Target))
	b.WriteString(chartLine("P1 event", p.EventRatio, p.Target))
	b.WriteString("```\n\nEach `#` is 0.1×; `|` marks the target. Lower is better.\n")
	return b.String()
}

// keptNotes is the hand-written part of an existing report: everything
// from its first "## " heading on (the generated part has none), with the
// blank line before it; "" when there is no report or no such part.
func keptNotes(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	i := strings.Index(string(b), "\n## ")
	if i < 0 {
		return "", nil
	}
	return "\n" + string(b[i+1:]), nil
}

func chartLine(name string, ratio, target float64) string {
	const cells = 60 // 6.0× at 0.1× a cell
	n := min(int(ratio*10+0.5), cells)
	t := int(target * 10)
	bar := []byte(strings.Repeat("#", n) + strings.Repeat(" ", cells-n))
	if t < cells {
		if bar[t] == ' ' {
			bar[t] = '|'
		} else {
			bar[t] = '+'
		}
	}
	over := ""
	if ratio*10 > cells {
		over = ">"
	}
	return fmt.Sprintf("%-11s %s%s %.2f×\n", name, strings.TrimRight(string(bar), " "), over, ratio)
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}
