// Command mosaic-bench measures the speed bars of docs/quality.md and
// writes them down: bench/results.json (merged, so that bars not measured
// in this run are kept) and bench/REPORT.md (made from the merged results).
//
//   - P1, the CPU of one row through the ingest pipeline as a ratio to a
//     plain encoding/json decode of the same bytes (go test -bench).
//
//   - P2, batch ingest throughput on the local cloud (localstack/cloud, the
//     functions of dist/local behind the Runtime Interface Emulator) at 1, 2
//     and 4 batch-ingest processes, against raw conditional PutItem of the
//     same items on the same dynalite at the same concurrency.
//
//   - P6, write capacity units per row, from ReturnConsumedCapacity=TOTAL
//     on every write of the ingest pipeline run in this process on dynalite;
//     and read and write capacity units per partial update (a merge through
//     shared/store.Profiles.PutFragment, and the same merge replayed).
//
//   - P7, peak RSS (VmHWM) of the batch-ingest processes over a 100 MB and
//     a 1 GB JSON Lines file.
//
//     go run ./cmd/mosaic-bench [-only p1,p2,p6,p7] [-p2-procs 1,2,4] [-p7-large=false] [-out bench]
//
// P2 and P7 need make build-local (dist/local, bin/aws-lambda-rie).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mosaic-cdp/mosaic/localstack/cloud"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// P1Target is docs/quality.md's bar: pipeline ≤ 2.0 × the plain decode.
const P1Target = 2.0

// p1Package holds BenchmarkP1 and its sub-benchmarks
// {profile,event}/{baseline,pipeline}.
const p1Package = "./shared/ingest/"

// options are the command's flags.
type options struct {
	only      map[string]bool // bars to measure: p1, p2, p6, p7
	benchtime string
	count     int
	out       string
	dist      string
	p2Rows    int
	p2Procs   []int
	p6Rows    int
	p7Small   int // MB
	p7Large   bool
	p7Procs   int
	p3Rows    int
	p3PF      []int
	p4Samples int
	p5Samples int
}

// bars are the bars this command measures, in order.
var bars = []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7"}

// parseFlags reads the command line; -only and -p2-procs are checked here.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("mosaic-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	only := fs.String("only", strings.Join(bars, ","), "comma-separated bars to measure (p1,p2,p3,p4,p5,p6,p7)")
	pfs := fs.String("p3-parallel", "1,2,4", "comma-separated ParallelizationFactors for P3; P4 runs on the last")
	procs := fs.String("p2-procs", "1,2,4", "comma-separated batch-ingest process counts for P2")
	fs.StringVar(&o.benchtime, "benchtime", "1s", "P1: go test -benchtime for each sub-benchmark")
	fs.IntVar(&o.count, "count", 5, "P1: runs of each sub-benchmark; the median is kept")
	fs.StringVar(&o.out, "out", "bench", "directory of results.json and REPORT.md")
	fs.StringVar(&o.dist, "dist", filepath.Join("dist", "local"), "P2, P7: folder of <function>/bootstrap (make build-local)")
	fs.IntVar(&o.p2Rows, "p2-rows", 100000, "P2: rows in the file")
	fs.IntVar(&o.p6Rows, "p6-rows", 1000, "P6: rows of each case")
	fs.IntVar(&o.p7Small, "p7-small", 100, "P7: size of the smaller file, MB")
	fs.BoolVar(&o.p7Large, "p7-large", true, "P7: also ingest a 1 GB file")
	fs.IntVar(&o.p7Procs, "p7-procs", 1, "P7: batch-ingest processes")
	fs.IntVar(&o.p3Rows, "p3-rows", 5000, "P3: rows put on the stream")
	fs.IntVar(&o.p4Samples, "p4-samples", 200, "P4: freshness samples per door")
	fs.IntVar(&o.p5Samples, "p5-samples", 500, "P5: lookups (and raw Queries) per cluster shape")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.only = map[string]bool{}
	for _, b := range strings.Split(*only, ",") {
		b = strings.ToLower(strings.TrimSpace(b))
		if !slices.Contains(bars, b) {
			return o, fmt.Errorf("-only: unknown bar %q (want some of %s)", b, strings.Join(bars, ","))
		}
		o.only[b] = true
	}
	for _, p := range strings.Split(*procs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-p2-procs: %q is not a process count ≥ 1", p)
		}
		o.p2Procs = append(o.p2Procs, n)
	}
	for _, p := range strings.Split(*pfs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 10 {
			return o, fmt.Errorf("-p3-parallel: %q is not a ParallelizationFactor from 1 to 10", p)
		}
		o.p3PF = append(o.p3PF, n)
	}
	if o.p3Rows < 1 || o.p4Samples < 1 || o.p2Rows < 1 || o.p6Rows < 1 || o.p7Small < 1 || o.p7Procs < 1 {
		return o, errors.New("-p2-rows, -p6-rows, -p7-small and -p7-procs must be ≥ 1")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mosaic-bench:", err)
		os.Exit(1)
	}
}

// machine names the machine: its cores as Go sees them and architecture.
func machine() string {
	return fmt.Sprintf("%d CPU, %s/%s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

func run(ctx context.Context, o options, log io.Writer) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	resultsPath := filepath.Join(o.out, "results.json")
	// Each bar is written as soon as it is measured, so that a later
	// failure keeps it.
	save := func(id string, v any) error { return writeResults(resultsPath, id, v) }
	var errs []error
	if o.only["p1"] {
		p1, err := runP1(o.benchtime, o.count, log)
		if err == nil {
			err = save("P1", p1)
			fmt.Fprintf(log, "P1 profile %.2f×, event %.2f× (target ≤ %.1f×): %s\n", p1.ProfileRatio, p1.EventRatio, p1.Target, passFail(p1.Pass))
		}
		errs = append(errs, err)
	}
	if o.only["p6"] {
		p6, err := runP6(ctx, o.p6Rows, log)
		if err == nil {
			p6.Machine, p6.Date = machine(), now()
			err = save("P6", p6)
		}
		errs = append(errs, err)
	}
	tmp, err := os.MkdirTemp("", "mosaic-bench-files-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.only["p2"] {
		var runs []P2Run
		var err error
		for _, n := range o.p2Procs {
			var r P2Run
			if r, err = runP2(ctx, o.dist, tmp, o.p2Rows, n, log); err != nil {
				err = fmt.Errorf("P2 at %d processes: %w", n, err)
				break
			}
			runs = append(runs, r)
		}
		if len(runs) > 0 {
			p2 := p2Of(runs)
			p2.Machine, p2.Date = machine(), now()
			p2.How = p2How
			errs = append(errs, save("P2", p2))
			if p2.ScalingOf != "" {
				fmt.Fprintf(log, "P2 scaling %.2f× of linear (%s; target ≥ %.1f)\n", p2.Scaling, p2.ScalingOf, P2TargetScaling)
			}
		}
		errs = append(errs, err)
	}
	if o.only["p3"] || o.only["p4"] {
		errs = append(errs, runP34(ctx, o, save, log))
	}
	if o.only["p5"] {
		p5, err := runP5(ctx, o.dist, o.p5Samples, log)
		if len(p5.Cases) > 0 {
			errs = append(errs, save("P5", p5))
		}
		errs = append(errs, err)
	}
	if o.only["p7"] {
		sizes := []int{o.p7Small}
		if o.p7Large {
			sizes = append(sizes, 1024)
		}
		var runs []P7Run
		var err error
		for _, mb := range sizes {
			var r P7Run
			if r, err = runP7(ctx, o.dist, tmp, mb, o.p7Procs, log); err != nil {
				err = fmt.Errorf("P7 at %d MB: %w", mb, err)
				break
			}
			runs = append(runs, r)
		}
		if len(runs) > 0 {
			p7 := p7Of(runs)
			p7.Machine, p7.Date = machine(), now()
			p7.How = p7How
			errs = append(errs, save("P7", p7))
		}
		errs = append(errs, err)
	}
	if err := writeReport(o.out); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// runP34 measures P3 at each ParallelizationFactor of -p3-parallel (only
// the last when P3 is not asked for) and P4 on the last one's cloud.
func runP34(ctx context.Context, o options, save func(string, any) error, log io.Writer) error {
	pfs := o.p3PF
	if !o.only["p3"] {
		pfs = pfs[len(pfs)-1:]
	}
	var runs []P3Run
	var p4 []P4Run
	var err error
	for i, n := range pfs {
		samples := 0
		if o.only["p4"] && i == len(pfs)-1 {
			samples = o.p4Samples
		}
		var r P3Run
		if r, p4, err = runP3(ctx, o.dist, o.p3Rows, n, samples, log); err != nil {
			err = fmt.Errorf("P3 at ParallelizationFactor %d: %w", n, err)
			break
		}
		runs = append(runs, r)
	}
	var errs []error
	if o.only["p3"] && len(runs) > 0 {
		p3 := P3{Runs: runs, TargetRatio: P3TargetRatio, Pass: true, How: p3How, Machine: machine(), Date: now()}
		for _, r := range runs {
			p3.Pass = p3.Pass && r.Pass
		}
		errs = append(errs, save("P3", p3))
	}
	if o.only["p4"] && len(p4) > 0 {
		p := P4{Runs: p4, PollIntervalMs: float64(cloud.StreamPollInterval.Milliseconds()), Parallelization: pfs[len(pfs)-1],
			TargetP95Ms: P4TargetP95Ms, TargetP99Ms: P4TargetP99Ms, Pass: true, How: p4How, Machine: machine(), Date: now()}
		for _, f := range topology.Functions {
			if f.Stream != nil {
				p.BatchWindowMs = float64(f.Stream.MaxBatchingWindow.Milliseconds())
			}
		}
		for _, r := range p4 {
			if r.Measured {
				p.Pass = p.Pass && r.Pass
			}
		}
		errs = append(errs, save("P4", p))
	}
	return errors.Join(append(errs, err)...)
}

// p2How and p7How say how P2 and P7 are measured, in results.json.
const (
	p2How = "a fresh local cloud per process count (-concurrency batch-ingest=n); a schema, descriptor and dataset made through the API; " +
		"a JSON Lines file of profile rows (Email primary by descriptor, ECID or CRMID in identityMap, all new people) uploaded to ingest/<datasetId>/; " +
		"seconds from the upload's start until GET catalog/batches shows the batch success and 21 sample Emails answer GET ups/access/entities; " +
		"items = every item of the profile table afterwards (what the pipeline wrote); raw = those items PutItem'd with attribute_not_exists(pk) " +
		"into an empty table of the same dynalite by processes × 16 goroutines (one kept connection each); ratio = (items ÷ pipeline seconds) ÷ (items ÷ raw seconds); " +
		"scaling = rows/s at the most processes ÷ (processes × rows/s at 1)"
	p7How = "a fresh local cloud per file with one batch-ingest process; a JSON Lines file of ~3 KB profile rows uploaded to ingest/<datasetId>/; " +
		"VmHWM of /proc/<pid>/status of every process whose executable is dist/local/batch-ingest/bootstrap, sampled every 200 ms and once at the end; " +
		"seconds from the upload's start until the batch is final"
)

func runP1(benchtime string, count int, log io.Writer) (P1, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkP1$", "-benchmem",
		"-benchtime", benchtime, "-count", strconv.Itoa(count), p1Package)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, log)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return P1{}, fmt.Errorf("go test -bench: %w", err)
	}
	samples, err := parseBench(&buf)
	if err != nil {
		return P1{}, err
	}
	p1, err := p1Of(samples)
	if err != nil {
		return P1{}, err
	}
	p1.Machine = machine()
	p1.Date = now()
	p1.GoVersion = runtime.Version()
	p1.Benchtime, p1.Count = benchtime, count
	return p1, nil
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

// writeResults sets the entry id of results.json to v, keeping the others.
func writeResults(path, id string, v any) error {
	all := map[string]any{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &all); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	all[id] = v
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
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
