package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	emulator.StopShared()
	os.Exit(code)
}

func TestRatio(t *testing.T) {
	// 300 items in 10 s is 30 items/s; the same 300 raw in 5 s is 60/s.
	if got := ratio(300, 10, 300, 5); got != 0.5 {
		t.Errorf("ratio = %v, want 0.5", got)
	}
	if got := ratio(300, 10, 0, 5); got != 0 {
		t.Errorf("ratio without a ceiling = %v, want 0", got)
	}
}

func TestScalingAndPass(t *testing.T) {
	runs := []P2Run{
		{Processes: 1, RowsPerSec: 100, Ratio: 0.8, Pass: true},
		{Processes: 2, RowsPerSec: 180, Ratio: 0.75, Pass: true},
		{Processes: 4, RowsPerSec: 300, Ratio: 0.72, Pass: true},
	}
	p := p2Of(runs)
	if p.Scaling != 0.75 || !strings.HasPrefix(p.ScalingOf, "4 processes") {
		t.Errorf("scaling %v (%s), want 0.75 of 4 processes", p.Scaling, p.ScalingOf)
	}
	if p.Pass {
		t.Error("0.75 of linear passed a 0.8 bar")
	}
	runs[2].RowsPerSec = 340
	if p := p2Of(runs); !p.Pass || p.Scaling != 0.85 {
		t.Errorf("0.85 of linear: pass %v, scaling %v; want a pass", p.Pass, p.Scaling)
	}
	if p := p2Of(runs[:1]); p.ScalingOf != "" || !p.Pass {
		t.Errorf("one process only: scaling %q, pass %v; want no scaling and a pass", p.ScalingOf, p.Pass)
	}
	runs[1].Pass = false
	if p := p2Of(runs); p.Pass {
		t.Error("a run under the ratio bar passed")
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-only", "p2, P6", "-p2-procs", "1,4", "-p7-large=false"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]bool{"p2": true, "p6": true}, o.only); d != "" {
		t.Errorf("-only (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{1, 4}, o.p2Procs); d != "" {
		t.Errorf("-p2-procs (-want +got):\n%s", d)
	}
	if o.p7Large || o.p2Rows != 100000 {
		t.Errorf("p7Large %v, p2Rows %d; want false and the default 100000", o.p7Large, o.p2Rows)
	}
	all, err := parseFlags(nil, io.Discard)
	if err != nil || len(all.only) != len(bars) || !all.p7Large || len(all.p2Procs) != 3 {
		t.Errorf("defaults: %+v, %v; want every bar, the 1 GB file and 1,2,4 processes", all, err)
	}
	for _, bad := range [][]string{{"-only", "p9"}, {"-p2-procs", "0"}, {"-p2-procs", "x"}, {"-p6-rows", "0"}, {"-p3-parallel", "11"}, {"-p3-parallel", "0"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tbootstrap\nVmPeak:\t  812340 kB\nVmHWM:\t   45120 kB\nVmRSS:\t   40000 kB\n"
	if got, err := parseStatusKB(status, "VmHWM"); err != nil || got != 45120 {
		t.Errorf("VmHWM = %d, %v; want 45120", got, err)
	}
	if _, err := parseStatusKB(status, "VmSwap"); err == nil {
		t.Error("a missing field gave no error")
	}
}

func TestItemBytes(t *testing.T) {
	item := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "Email:a@b.c"},   // 2 + 11
		"ts": &types.AttributeValueMemberN{Value: "1700000000000"}, // 2 + 8
	}
	if got := itemBytes(item); got != 23 {
		t.Errorf("itemBytes = %d, want 23", got)
	}
}

// TestCapacityCountsWrites runs the middleware against dynalite: a new
// item, a rewrite, and a write refused by its condition.
func TestCapacityCountsWrites(t *testing.T) {
	endpoint, err := emulator.SharedDynamoDB()
	if err != nil {
		emulator.SkipOrFail(t, err)
	}
	var c capacity
	db := newDynamoClient(endpoint, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, c.middleware) })
	ctx := context.Background()
	table := "bench-capacity-test"
	if err := createTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 1500) // 2 KB started: 2 WCU
	item := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}, "sk": &types.AttributeValueMemberS{Value: "b"},
		"v": &types.AttributeValueMemberS{Value: big}}
	for range 2 {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if !store.IsConditionFailed(err) {
		t.Fatalf("conditional write: %v, want a refusal", err)
	}
	got := c.snapshot()
	if got.writes != 3 || got.reported != 2 || got.refused != 1 || got.units != 6 || got.sizeWCU != 6 {
		t.Errorf("counts %+v, want 3 writes, 2 reported, 1 refused, 6 WCU by both counts", got)
	}
	if s := p6Source(got); !strings.Contains(s, "2 of 3 writes") {
		t.Errorf("source %q does not say 2 of 3 writes reported", s)
	}
}

func TestReportAllBars(t *testing.T) {
	r := results{
		P2: &P2{Runs: []P2Run{{Processes: 1, Rows: 100000, RowsPerSec: 500, ItemsPerRow: 3, ItemsPerSec: 1500, RawItemsPerSec: 2000, RawWriters: 16, Ratio: 0.75, Pass: true}},
			TargetRatio: 0.7, TargetScaling: 0.8, Date: "2026-11-30T00:00:00Z", Machine: "2 CPU, linux/amd64", How: "how p2"},
		P6: &P6{Cases: []P6Case{{Name: "links-known", What: "again", Rows: 10, RowBytes: 600, WCU: 10, Writes: 10, WCUPerRow: 1, WritesPerRow: 1, Target: 1.1, Pass: true}},
			Source: "ConsumedCapacity", How: "how p6"},
		P7: &P7{Runs: []P7Run{{FileMB: 1024, Rows: 350000, Processes: 1, Status: "success", Seconds: 600, PeakRSSMB: 300}}, Target: 256},
	}
	got := report(r)
	for _, want := range []string{
		"| P2 ×1 |", "0.75× (500 rows/s × 3.00 items/row = 1500 items/s ÷ 2000 raw items/s)", "2026-11-30T00:00:00Z, 2 CPU, linux/amd64",
		"| P6 links-known |", "1.00 WCU/row", "| P7 1024 MB |", "300.0 MB", "| FAIL |", "P2 ×1       #######+ 0.75×", "- P2: how p2.",
		"P1 | pipeline CPU per row ÷ plain decode | not yet measured",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestWriteReportFromResults(t *testing.T) {
	dir := t.TempDir()
	if err := writeResults(filepath.Join(dir, "results.json"), "P6", P6{Cases: []P6Case{{Name: "events", WCUPerRow: 3, Target: 1.1}}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "REPORT.md"), []byte("old\n\n## Notes\n\nmine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "REPORT.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "| P6 events |") || !strings.HasSuffix(string(b), "\n## Notes\n\nmine\n") || strings.Contains(string(b), "old") {
		t.Errorf("REPORT.md:\n%s", b)
	}
	var back map[string]json.RawMessage
	b, _ = os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(b, &back); err != nil || back["P6"] == nil {
		t.Errorf("results.json %s: %v", b, err)
	}
}

func TestP7Growth(t *testing.T) {
	p := p7Of([]P7Run{{FileMB: 1024, PeakRSSMB: 60, Pass: true}, {FileMB: 100, PeakRSSMB: 40, Pass: true}})
	if p.Growth != 1.5 || !p.Pass {
		t.Errorf("growth %v, pass %v; want 1.5 and a pass", p.Growth, p.Pass)
	}
	if p := p7Of([]P7Run{{FileMB: 100, PeakRSSMB: 40, Pass: true}}); p.Growth != 0 {
		t.Errorf("one file: growth %v, want 0", p.Growth)
	}
	if !strings.Contains(report(results{P7: &p}), "| P7 growth |") {
		t.Error("the report lacks the growth")
	}
}

func TestRowsAreTheirSize(t *testing.T) {
	if n := len(profileRow("r", 7, 0, 0)); n > 1024 {
		t.Errorf("P2/P6 row is %d bytes, want ≤ 1 KB", n)
	}
	if n := len(profileRow("r", 7, 0, p7RowPad)); n < 2500 || n > 4096 {
		t.Errorf("P7 row is %d bytes, want a few KB", n)
	}
	profile, event, err := p6Specs()
	if err != nil {
		t.Fatal(err)
	}
	fake := storetest.NewProfiles()
	p := &ingest.Pipeline{Fragments: fake, Links: fake, Events: fake, Namespaces: noNamespaces{}}
	for _, tc := range []struct {
		spec *catalog.IngestSpec
		row  []byte
	}{{profile, profileRow("r", 8, 1, p7RowPad)}, {profile, profileRow("r", 9, 0, 0)}, {event, p6EventRow(3)}} {
		out, err := p.Process(context.Background(), tc.spec, ingest.Row{Data: tc.row, Received: time.Now()})
		if err != nil || out.Identities != 2 || len(out.Warnings) != 0 {
			t.Errorf("row %.80s…: %+v, %v; want 2 identities, no error or warning", tc.row, out, err)
		}
	}
}

func TestReportStreamBars(t *testing.T) {
	r := results{
		P3: &P3{Runs: []P3Run{{Parallelization: 2, BatchSize: 100, Shards: 2, Processes: 4, Rows: 3000, RowsPerSec: 70, ItemsPerRow: 3,
			ItemsPerSec: 210, RawItemsPerSec: 700, RawWriters: 4, Ratio: 0.3, PutSeconds: 10, Seconds: 43}}, TargetRatio: 0.7, Date: "d3", Machine: "m"},
		P4: &P4{Runs: []P4Run{
			{Door: "kinesis", Samples: 200, P50Ms: 150, P95Ms: 270, P99Ms: 360, MaxMs: 440, Pass: true, Measured: true},
			{Door: "http", Note: "not measured: route absent"},
		}, PollIntervalMs: 150, Parallelization: 1, TargetP95Ms: 500, TargetP99Ms: 1000, Date: "d4", Machine: "m"},
	}
	got := report(r)
	for _, want := range []string{
		"| P3 pf 2 |", "ParallelizationFactor 2, batch size 100, 2 shards, 4 stream-ingest processes", "0.30× (70 rows/s", "| FAIL | d3, m |",
		"| P4 kinesis |", "poller idle interval 150 ms, batching window 0 ms, ParallelizationFactor 1", "p50 150 ms, p95 270 ms, p99 360 ms, max 440 ms (200 samples)", "| pass | d4, m |",
		"| P4 http |", "| not measured: route absent |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "| P3 | stream ingest throughput ÷ raw ceiling | not yet measured") {
		t.Error("P3 reported as not measured")
	}
}
