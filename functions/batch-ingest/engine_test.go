package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

const dropKey = "ingest/ds1/big.json"

// rowsFile is a JSON Lines file of n profile rows u<i>@example.com; the
// rows numbered in bad (1-based) hold no primary identity and are refused.
func rowsFile(n int, bad ...int) string {
	isBad := map[int]bool{}
	for _, b := range bad {
		isBad[b] = true
	}
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if isBad[i] {
			fmt.Fprintf(&b, `{"person":{"name":{"firstName":"Bad%d"}}}`+"\n", i)
			continue
		}
		b.WriteString(rowJSON(fmt.Sprintf("u%d@example.com", i), "U") + "\n")
	}
	return b.String()
}

// dropIn delivers the S3 event of dropKey holding body, with a deadline an
// hour away (the fake clock decides when a run is late).
func (fx *fixture) dropIn(t *testing.T, body string) (events.S3Event, catalog.Batch) {
	t.Helper()
	fx.objects.data[dropKey] = body
	ev := upload(dropKey, "e1", "0A", "", time.UnixMilli(5000))
	if err := fx.handle(hourCtx(t), ev); err != nil {
		t.Fatalf("drop-in: %v", err)
	}
	return ev, onlyBatch(t, fx)
}

func hourCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	t.Cleanup(cancel)
	return ctx
}

// wantProfiles checks that exactly the rows 1..n not in bad have their
// fragment, each from this batch with its own row source.
func wantProfiles(t *testing.T, fx *fixture, b catalog.Batch, n int, bad ...int) {
	t.Helper()
	isBad := map[int]bool{}
	for _, x := range bad {
		isBad[x] = true
	}
	want := 0
	for i := 1; i <= n; i++ {
		f, ok := fx.prof.Frags[fmt.Sprintf("Email#u%d@example.com|ds1", i)]
		if isBad[i] {
			continue
		}
		want++
		if !ok {
			t.Errorf("row %d has no fragment", i)
			continue
		}
		if f.Batch != b.ID || !strings.HasSuffix(f.Src, fmt.Sprintf(":%010d", i)) || f.TS != 5000 {
			t.Errorf("row %d: fragment batch %s src %s ts %d; want %s, row %d, the event time", i, f.Batch, f.Src, f.TS, b.ID, i)
		}
	}
	if len(fx.prof.Frags) != want {
		t.Errorf("%d fragments, want %d", len(fx.prof.Frags), want)
	}
}

func wantMetrics(t *testing.T, b catalog.Batch, size, in, failed int) {
	t.Helper()
	want := catalog.BatchMetrics{InputByteSize: int64(size), InputFileCount: 1, InputRecordCount: in, OutputRecordCount: in - failed, FailedRecordCount: failed}
	if b.Status == catalog.BatchFailed {
		want.OutputRecordCount = 0 // a failed batch writes nothing
	}
	if d := cmp.Diff(want, b.Metrics); d != "" {
		t.Errorf("metrics (-want +got):\n%s", d)
	}
}

// A file of three parts is scanned and decided in the drop-in's
// invocation without writing any row; one write task per part then writes
// the accepted rows, and the last part written finishes the batch.
func TestEngineScanDecideWriteThreeParts(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 15
	body := rowsFile(40, 17)
	_, b := fx.dropIn(t, body)

	if fx.prof.Writes != 0 || len(fx.prof.Links) != 0 {
		t.Fatalf("%d rows written before the batch was decided", fx.prof.Writes)
	}
	if b.Status != catalog.BatchProcessing || b.Origin != catalog.BatchOriginDropIn || b.Started != 5000 {
		t.Errorf("after the scan: status %s origin %s started %d; want processing drop-in 5000", b.Status, b.Origin, b.Started)
	}
	wantMetrics(t, b, len(body), 40, 1)
	parts, _ := fx.parts.ListBatchParts(context.Background(), b.ID, -1)
	var got []string
	for _, p := range parts {
		got = append(got, fmt.Sprintf("%d:%d-%d rows=%d refused=%v last=%v", p.Part, p.Start.Number, p.End.Number, p.Rows, p.Refused, p.Last))
	}
	want := []string{"0:0-15 rows=15 refused=[] last=false", "1:15-30 rows=15 refused=[17] last=false", "2:30-40 rows=10 refused=[] last=true"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parts (-want +got):\n%s", d)
	}
	ran, err := fx.drain(hourCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	wantTasks := []string{
		"ingest/_batches/" + b.ID + "/tasks/write-00000-000000.json",
		"ingest/_batches/" + b.ID + "/tasks/write-00000-000001.json",
		"ingest/_batches/" + b.ID + "/tasks/write-00000-000002.json",
	}
	if d := cmp.Diff(wantTasks, ran); d != "" {
		t.Errorf("tasks (-want +got):\n%s", d)
	}
	b = onlyBatch(t, fx)
	if b.Status != catalog.BatchSuccess || b.Completed == 0 {
		t.Errorf("status %s completed %d, want success", b.Status, b.Completed)
	}
	wantMetrics(t, b, len(body), 40, 1)
	if len(b.Errors) != 1 || b.Errors[0].Code != "IDENTITY-NO-PRIMARY" || b.Errors[0].Rows != 1 {
		t.Errorf("errors %+v, want one IDENTITY-NO-PRIMARY row", b.Errors)
	}
	wantProfiles(t, fx, b, 40, 17)
	if fx.prof.Writes != 39 {
		t.Errorf("%d fragment writes, want 39: each accepted row once", fx.prof.Writes)
	}
	if len(fx.failed.Recs) != 0 {
		t.Errorf("%d failed-record items, want none: the refused row is in the diagnostics", len(fx.failed.Recs))
	}

	// The refused row's diagnostics: AEP's shape, one JSON line.
	diag := fx.objects.data[DiagnosticsKey(b.ID, 0, 1)]
	var line map[string]any
	if err := json.Unmarshal([]byte(diag), &line); err != nil {
		t.Fatalf("diagnostics %q: %v", diag, err)
	}
	wantLine := map[string]any{
		"_corrupt_record": `{"person":{"name":{"firstName":"Bad17"}}}`,
		"_errors":         []any{map[string]any{"code": "IDENTITY-NO-PRIMARY", "message": b.Errors[0].Description}},
		"_filename":       dropKey,
		"_row":            17.0,
	}
	if d := cmp.Diff(wantLine, line); d != "" {
		t.Errorf("diagnostics line (-want +got):\n%s", d)
	}
	for _, p := range []int{0, 2} {
		if _, ok := fx.objects.data[DiagnosticsKey(b.ID, 0, p)]; ok {
			t.Errorf("part %d refused nothing but has diagnostics", p)
		}
	}
}

// One part to write is written in the invocation that decided: no task.
func TestEngineOnePartIsWrittenInline(t *testing.T) {
	fx := newFixture()
	body := rowsFile(30)
	_, b := fx.dropIn(t, body)
	if b.Status != catalog.BatchSuccess {
		t.Fatalf("status %s, want success in one invocation", b.Status)
	}
	if tasks := fx.objects.tasks(); len(tasks) != 0 {
		t.Errorf("tasks %v issued for one part", tasks)
	}
	wantMetrics(t, b, len(body), 30, 0)
	wantProfiles(t, fx, b, 30)
}

// A batch over its partialIngestionPercent ends failed after the scan and
// has no effect: no fragment, event or link is written, no task issued.
func TestEngineFailedBatchWritesNothing(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 15
	body := rowsFile(40, 3, 20, 39) // 7.5% > 5%
	// Rows of two identities would also link: prove no link is written.
	body = strings.Replace(body, `{"personalEmail":{"address":"u1@example.com"}`, `{"personalEmail":{"address":"u1@example.com"},"identityMap":{"ECID":[{"id":"`+strings.Repeat("7", 38)+`"}]}`, 1)
	_, b := fx.dropIn(t, body)
	if b.Status != catalog.BatchFailed || b.Completed == 0 {
		t.Fatalf("status %s, want failed", b.Status)
	}
	wantMetrics(t, b, len(body), 40, 3)
	if len(b.Errors) != 2 || b.Errors[0].Code != CodeTooManyFailed || b.Errors[1].Rows != 3 {
		t.Errorf("errors %+v, want %s and then one code with 3 rows", b.Errors, CodeTooManyFailed)
	}
	if fx.prof.Writes != 0 || len(fx.prof.Frags) != 0 || len(fx.prof.Links) != 0 || len(fx.prof.Events) != 0 {
		t.Errorf("a failed batch wrote %d fragments, %d links, %d events", fx.prof.Writes, len(fx.prof.Links), len(fx.prof.Events))
	}
	if tasks := fx.objects.tasks(); len(tasks) != 0 {
		t.Errorf("a failed batch issued tasks %v", tasks)
	}
	for _, p := range []int{0, 1, 2} {
		if _, ok := fx.objects.data[DiagnosticsKey(b.ID, 0, p)]; !ok {
			t.Errorf("part %d has no diagnostics", p)
		}
	}
}

// lateChecker makes the run late once it has checked after rows.
type lateChecker struct {
	rowChecker
	n, after int64
	clock    *fakeClock
}

func (c *lateChecker) Check(ctx context.Context, spec *catalog.IngestSpec, row ingest.Row) (ingest.Outcome, error) {
	if atomic.AddInt64(&c.n, 1) == c.after {
		c.clock.SetLate(true)
	}
	return c.rowChecker.Check(ctx, spec, row)
}

// lateFragments makes the run late once after fragments were written.
type lateFragments struct {
	*fixture
	n, after int64
}

func (l *lateFragments) PutFragment(ctx context.Context, f merge.Fragment) error {
	if atomic.AddInt64(&l.n, 1) == l.after {
		l.clock.SetLate(true)
	}
	return l.prof.PutFragment(ctx, f)
}

// A scan that reaches its deadline stores the part it was on, issues a
// continuation task and stops; the continuation goes on after the last
// stored part. No part is scanned twice and the metrics are exact.
func TestEngineScanContinuesAfterDeadline(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 15
	fx.h.check = &lateChecker{rowChecker: fx.h.check, after: 5, clock: fx.clock}
	body := rowsFile(40, 33)
	_, b := fx.dropIn(t, body)
	if b.Status != catalog.BatchProcessing || fx.parts.PartPuts != 1 {
		t.Fatalf("after the late run: status %s, %d parts; want processing with part 0 stored", b.Status, fx.parts.PartPuts)
	}
	tasks := fx.objects.tasks()
	if d := cmp.Diff([]string{"ingest/_batches/" + b.ID + "/tasks/scan-00000-from-000001.json"}, tasks); d != "" {
		t.Fatalf("continuation (-want +got):\n%s", d)
	}
	fx.clock.SetLate(false)
	if err := fx.h.Handle(hourCtx(t), taskEvent(tasks[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.drain(hourCtx(t)); err != nil {
		t.Fatal(err)
	}
	b = onlyBatch(t, fx)
	if b.Status != catalog.BatchSuccess || fx.parts.PartPuts != 3 {
		t.Errorf("status %s with %d parts stored, want success with 3", b.Status, fx.parts.PartPuts)
	}
	wantMetrics(t, b, len(body), 40, 1)
	wantProfiles(t, fx, b, 40, 33)
}

// A write that reaches its deadline stores its watermark and issues a
// continuation from it: every accepted row is written exactly once.
func TestEngineWriteContinuesAfterDeadline(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 40
	lf := &lateFragments{fixture: fx, after: 5}
	fx.h.run.Pipeline = &ingest.Pipeline{Fragments: lf, Links: fx.prof, Events: fx.prof}
	body := rowsFile(100, 2)
	_, b := fx.dropIn(t, body)
	tasks := fx.objects.tasks()
	if len(tasks) != 3 {
		t.Fatalf("tasks %v, want 3 writes", tasks)
	}
	if err := fx.h.Handle(hourCtx(t), taskEvent(tasks[0])); err != nil {
		t.Fatal(err)
	}
	cont := fx.objects.tasks()
	if len(cont) != 1 || !strings.Contains(cont[0], "/tasks/write-00000-000000-from-") {
		t.Fatalf("continuation %v, want one write-00000-000000-from-…", cont)
	}
	p, _ := fx.parts.GetBatchPart(context.Background(), b.ID, 0, 0)
	if want := fmt.Sprintf("-from-%010d.json", p.Mark); p.Mark <= 1 || p.Mark > 40 || !strings.HasSuffix(cont[0], want) {
		t.Errorf("watermark %d, continuation %s; want the stored watermark within the part", p.Mark, cont[0])
	}
	if r, _ := fx.parts.GetBatchRun(context.Background(), b.ID); r.HasWritten(0, 0) {
		t.Error("a part cut short by the deadline is marked written")
	}
	fx.clock.SetLate(false)
	for _, k := range append(cont, tasks[1:]...) {
		if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
			t.Fatal(err)
		}
	}
	b = onlyBatch(t, fx)
	if b.Status != catalog.BatchSuccess {
		t.Fatalf("status %s, want success", b.Status)
	}
	wantMetrics(t, b, len(body), 100, 1)
	wantProfiles(t, fx, b, 100, 2)
	if fx.prof.Writes != 99 {
		t.Errorf("%d fragment writes, want 99: no row written twice across the continuation", fx.prof.Writes)
	}
}

// A write that fails transiently mid-part returns the error (Lambda
// retries the event) after storing its watermark; the retry resumes from
// it. Every row ends written, rows re-written are at most those that were
// in flight, and the metrics stay exact. When even the watermark could not
// be stored (a crash), the retry starts the part again: rows are written
// again, which changes nothing, and the metrics stay exact.
func TestEngineRetriedWriteResumesFromWatermark(t *testing.T) {
	for _, tt := range []struct {
		name       string
		workers    int
		markFails  bool
		wantResume bool
	}{
		// One worker makes the watermark exact: the failed row.
		{"watermark stored, one worker", 1, false, true},
		{"watermark stored, 16 workers", rowWorkers, false, false},
		{"watermark lost", rowWorkers, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			fx.h.run.Workers = tt.workers
			fx.h.partRows = 40
			body := rowsFile(100, 50)
			_, b := fx.dropIn(t, body)
			tasks := fx.objects.tasks()
			if len(tasks) != 3 {
				t.Fatalf("tasks %v, want 3", tasks)
			}
			fx.prof.FailAt = 60 // part 1's 20th row
			if tt.markFails {
				fx.parts.FailMarkAt = 1
			}
			if err := fx.h.Handle(hourCtx(t), taskEvent(tasks[0])); err != nil {
				t.Fatal(err)
			}
			err := fx.h.Handle(hourCtx(t), taskEvent(tasks[1]))
			if !ingest.Transient(err) {
				t.Fatalf("part 1 returned %v, want the transient error so that Lambda retries", err)
			}
			p, _ := fx.parts.GetBatchPart(context.Background(), b.ID, 0, 1)
			if tt.wantResume && p.Mark != 61 {
				t.Errorf("watermark %d after the failure, want 61 (the row of the failed write)", p.Mark)
			}
			if tt.markFails && p.Mark != 0 {
				t.Errorf("watermark %d stored although its write failed", p.Mark)
			}
			writes := fx.prof.Writes
			for _, k := range tasks[1:] { // the retry, then the last part
				if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
					t.Fatal(err)
				}
			}
			b = onlyBatch(t, fx)
			if b.Status != catalog.BatchSuccess {
				t.Fatalf("status %s, want success", b.Status)
			}
			wantMetrics(t, b, len(body), 100, 1)
			wantProfiles(t, fx, b, 100, 50)
			again := fx.prof.Writes - 99 - 1 // beyond each row once and the failed write
			if tt.wantResume && again != 0 {
				t.Errorf("%d rows written again, want none", again)
			}
			if tt.markFails && fx.prof.Writes-writes != 39+20 {
				t.Errorf("retry and last part wrote %d rows, want part 1 again (39) and part 2 (20)", fx.prof.Writes-writes)
			}
			if again < 0 || again > 39 {
				t.Errorf("%d rows written again, want at most part 1's", again)
			}
		})
	}
}

// Every event delivered again once the batch is done, and the drop-in
// event delivered again while its writes are pending, change nothing: no
// part scanned again, no task issued again, no row written again.
func TestEngineRedeliveriesChangeNothing(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 15
	body := rowsFile(40, 9)
	ev, _ := fx.dropIn(t, body)
	tasks := fx.objects.tasks()
	if err := fx.handle(hourCtx(t), ev); err != nil {
		t.Fatal(err)
	}
	if again := fx.objects.tasks(); len(again) != 0 || fx.parts.PartPuts != 3 {
		t.Errorf("a redelivered drop-in issued tasks %v, stored %d parts; want none, 3", again, fx.parts.PartPuts)
	}
	for _, k := range tasks {
		if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
			t.Fatal(err)
		}
	}
	done := onlyBatch(t, fx)
	if done.Status != catalog.BatchSuccess {
		t.Fatalf("status %s, want success", done.Status)
	}
	writes := fx.prof.Writes
	redeliver := append([]string{
		"ingest/_batches/" + done.ID + "/tasks/scan-00000.json",
		"ingest/_batches/" + done.ID + "/tasks/scan-00000-from-000001.json",
		"ingest/_batches/" + done.ID + "/tasks/write-00000-000001-from-0000000020.json",
		"ingest/_batches/" + done.ID + "/manifest.json",
	}, tasks...)
	for _, k := range redeliver {
		if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if err := fx.handle(hourCtx(t), ev); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(done, onlyBatch(t, fx)); d != "" {
		t.Errorf("batch changed by redeliveries (-want +got):\n%s", d)
	}
	if fx.prof.Writes != writes || fx.parts.PartPuts != 3 || len(fx.objects.tasks()) != 0 {
		t.Errorf("redeliveries wrote %d rows, stored %d parts, issued tasks", fx.prof.Writes-writes, fx.parts.PartPuts)
	}
	// A task of no known batch is skipped.
	if err := fx.h.Handle(hourCtx(t), taskEvent("ingest/_batches/nope/tasks/write-00000-000000.json")); err != nil {
		t.Errorf("task of an unknown batch: %v", err)
	}
}

// An API batch: COMPLETE's manifest starts it; the first file is scanned
// at once, the second by a task; rows take the batch's start as their
// ordering time and batch:<started>:<id>:<file>:<row> as their source.
func TestEngineAPIBatchFromManifest(t *testing.T) {
	fx := newFixture()
	ctx := context.Background()
	id := "0123456789abcdef01234567"
	b := catalog.Batch{ID: id, DatasetID: testDataset, Status: catalog.BatchProcessing, Created: 100, Started: 7000,
		InputFormat: catalog.FormatJSON, Origin: catalog.BatchOriginAPI, PartialIngestionPercent: 5}
	fx.batches.M[id] = b
	files := map[string]string{
		"a.json": lines(rowJSON("a@example.com", "A")),
		"b.json": lines(rowJSON("b1@example.com", "B"), rowJSON("b2@example.com", "B")),
	}
	var size int
	for name, body := range files {
		// b.json is a chunked upload of two objects.
		half := len(body) / 2
		objs := []catalog.FileObject{{Key: "staging/" + id + "/ds1/" + name, Size: int64(len(body))}}
		fx.objects.data[objs[0].Key] = body
		if name == "b.json" {
			objs = []catalog.FileObject{
				{Key: "staging/" + id + "/ds1/b.json.chunks/0", Size: int64(half)},
				{Key: "staging/" + id + "/ds1/b.json.chunks/1", Offset: int64(half), Size: int64(len(body) - half)},
			}
			fx.objects.data[objs[0].Key], fx.objects.data[objs[1].Key] = body[:half], body[half:]
		}
		size += len(body)
		fx.files.PutBatchFile(ctx, id, catalog.BatchFile{Name: name, Objects: objs, Size: int64(len(body)), Complete: true})
	}
	if err := fx.h.Handle(hourCtx(t), taskEvent("ingest/_batches/"+id+"/manifest.json")); err != nil {
		t.Fatal(err)
	}
	ran, err := fx.drain(hourCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"ingest/_batches/" + id + "/tasks/scan-00001.json",
		"ingest/_batches/" + id + "/tasks/write-00000-000000.json",
		"ingest/_batches/" + id + "/tasks/write-00001-000000.json"}, ran); d != "" {
		t.Errorf("tasks (-want +got):\n%s", d)
	}
	got := fx.batches.M[id]
	want := catalog.BatchMetrics{InputByteSize: int64(size), InputFileCount: 2, InputRecordCount: 3, OutputRecordCount: 3}
	if got.Status != catalog.BatchSuccess || got.Metrics != want {
		t.Errorf("batch %s %+v, want success %+v", got.Status, got.Metrics, want)
	}
	f := fx.prof.Frags["Email#b2@example.com|ds1"]
	if f.TS != 7000 || f.Src != "batch:0000000007000:"+id+":00001:0000000002" {
		t.Errorf("row 2 of file 1: ts %d src %s", f.TS, f.Src)
	}
}

// A file that cannot be read fails the batch with that one error.
func TestEngineFileErrorFailsTheBatch(t *testing.T) {
	fx := newFixture()
	fx.objects.data["ingest/ds1/f.json.gz"] = "not gzip at all\n"
	if err := fx.handle(hourCtx(t), upload("ingest/ds1/f.json.gz", "e1", "0A", "", time.UnixMilli(1))); err != nil {
		t.Fatal(err)
	}
	b := onlyBatch(t, fx)
	if b.Status != catalog.BatchFailed || len(b.Errors) != 1 || b.Errors[0].Code != "FILE-GZIP" {
		t.Errorf("batch %s %+v, want failed with FILE-GZIP only", b.Status, b.Errors)
	}
	if b.Metrics.InputFileCount != 1 || b.Metrics.InputByteSize != 16 {
		t.Errorf("metrics %+v, want the file counted", b.Metrics)
	}
}

// A task discarded after its retries fails its batch, with the metrics of
// the parts scanned so far.
func TestDrainFailsTheBatchOfATask(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 15
	fx.dropIn(t, rowsFile(40))
	tasks := fx.objects.tasks()
	resp := fx.h.Drain(context.Background(), destinationEvent(t, taskEvent(tasks[1]), "RetriesExhausted", ""))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("item failures %+v", resp.BatchItemFailures)
	}
	got := onlyBatch(t, fx)
	if got.Status != catalog.BatchFailed || len(got.Errors) != 1 || got.Errors[0].Code != CodeRetriesExhausted || got.Metrics.InputRecordCount != 40 {
		t.Errorf("batch %s %+v %+v, want failed by %s with 40 records", got.Status, got.Errors, got.Metrics, CodeRetriesExhausted)
	}
	// The other tasks then do nothing.
	for _, k := range tasks {
		if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
			t.Fatal(err)
		}
	}
	if fx.prof.Writes != 0 || onlyBatch(t, fx).Status != catalog.BatchFailed {
		t.Errorf("tasks of a failed batch wrote %d rows", fx.prof.Writes)
	}
}

func TestParsePartRows(t *testing.T) {
	for in, want := range map[string]int{"": DefaultPartRows, " 250 ": 250, "50000": store.MaxPartRows} {
		if got, err := ParsePartRows(in); err != nil || got != want {
			t.Errorf("ParsePartRows(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "50001", "1e4", "x"} {
		if _, err := ParsePartRows(in); err == nil {
			t.Errorf("ParsePartRows(%q) accepted", in)
		}
	}
}

func TestTaskKeysRoundTrip(t *testing.T) {
	for _, tk := range []task{
		{kind: taskManifest, batch: "b"},
		{kind: taskScan, batch: "b", file: 3},
		{kind: taskScan, batch: "b", file: 3, part: 12},
		{kind: taskWrite, batch: "b", file: 0, part: 7},
		{kind: taskWrite, batch: "b", file: 2, part: 7, from: 70001},
	} {
		got, ok := taskOf(tk.key())
		if !ok || got != tk {
			t.Errorf("taskOf(%s) = %+v, %v; want %+v", tk.key(), got, ok, tk)
		}
	}
	for _, k := range []string{"ingest/_batches/b/other.json", "ingest/_batches/b/tasks/scan-1.json", "ingest/ds1/_batches.json"} {
		if _, ok := taskOf(k); ok {
			t.Errorf("taskOf(%s) accepted", k)
		}
	}
	if _, ok := datasetOf("ingest/_batches/b/manifest.json"); ok {
		t.Error("a manifest was taken for a drop-in")
	}
}

// A run with no time for any work returns an error (Lambda retries, then
// the on-failure destination fails the batch) instead of handing the same
// work to a continuation for ever.
func TestEngineRunWithoutTimeReturnsAnError(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 15
	fx.clock.SetLate(true)
	fx.objects.data[dropKey] = rowsFile(40)
	err := fx.handle(hourCtx(t), upload(dropKey, "e1", "0A", "", time.UnixMilli(5000)))
	if !ingest.Transient(err) || fx.parts.PartPuts != 0 || len(fx.objects.tasks()) != 0 {
		t.Fatalf("scan without time: %v, %d parts, tasks issued; want a transient error and nothing else", err, fx.parts.PartPuts)
	}
	fx.clock.SetLate(false)
	_, b := fx.dropIn(t, rowsFile(40))
	tasks := fx.objects.tasks()
	fx.clock.SetLate(true)
	err = fx.h.Handle(hourCtx(t), taskEvent(tasks[0]))
	if !ingest.Transient(err) || len(fx.objects.tasks()) != 0 || fx.prof.Writes != 0 {
		t.Fatalf("write without time: %v, %d rows; want a transient error, no continuation", err, fx.prof.Writes)
	}
	fx.clock.SetLate(false)
	for _, k := range tasks {
		if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
			t.Fatal(err)
		}
	}
	if got := onlyBatch(t, fx); got.Status != catalog.BatchSuccess || got.ID != b.ID {
		t.Errorf("status %s after the retries, want success", got.Status)
	}
}

// An event without the object's size (one made by hand) reads the size
// from the stored object.
func TestEngineEventWithoutSizeReadsIt(t *testing.T) {
	fx := newFixture()
	body := rowsFile(3)
	fx.objects.data[dropKey] = body
	if err := fx.h.Handle(hourCtx(t), upload(dropKey, "e1", "0A", "", time.UnixMilli(5000))); err != nil {
		t.Fatal(err)
	}
	b := onlyBatch(t, fx)
	if b.Status != catalog.BatchSuccess {
		t.Fatalf("status %s %+v, want success", b.Status, b.Errors)
	}
	wantMetrics(t, b, len(body), 3, 0)
}

// A dropped JSON file whose first non-space byte is '[' is one array of
// records (isMultiLineJson); ".gz" files are read decompressed; both are
// cut into parts and resumed like JSON Lines.
func TestEngineDropInFormats(t *testing.T) {
	var arr strings.Builder
	arr.WriteString(" \n[")
	for i := 1; i <= 40; i++ {
		if i > 1 {
			arr.WriteString(",\n")
		}
		arr.WriteString(rowJSON(fmt.Sprintf("u%d@example.com", i), "U"))
	}
	arr.WriteString("]\n")
	for _, tt := range []struct {
		name, key, body string
		multi           bool
	}{
		{"json array", "ingest/ds1/a.json", arr.String(), true},
		{"gzip json lines", "ingest/ds1/a.json.gz", gzipped(t, rowsFile(40)), false},
		{"gzip json array", "ingest/ds1/a.json.gz", gzipped(t, arr.String()), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			fx.h.partRows = 15
			fx.objects.data[tt.key] = tt.body
			if err := fx.handle(hourCtx(t), upload(tt.key, "e1", "0A", "", time.UnixMilli(5000))); err != nil {
				t.Fatal(err)
			}
			if _, err := fx.drain(hourCtx(t)); err != nil {
				t.Fatal(err)
			}
			b := onlyBatch(t, fx)
			if b.Status != catalog.BatchSuccess || b.MultiLineJSON != tt.multi || b.InputFormat != catalog.FormatJSON {
				t.Fatalf("batch %s multi=%v format=%s %+v, want success multi=%v json", b.Status, b.MultiLineJSON, b.InputFormat, b.Errors, tt.multi)
			}
			wantMetrics(t, b, len(tt.body), 40, 0)
			if fx.parts.PartPuts != 3 {
				t.Errorf("%d parts, want 3", fx.parts.PartPuts)
			}
			if len(fx.prof.Frags) != 40 {
				t.Errorf("%d fragments, want 40", len(fx.prof.Frags))
			}
		})
	}
}

func gzipped(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A file that turns out corrupt after some parts fails the batch with
// that one error and the metrics of the parts stored; nothing is written.
func TestEngineCorruptFileAfterSomeParts(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 15
	z := gzipped(t, rowsFile(400))
	z = z[:len(z)-40] // cut inside the deflate stream
	fx.objects.data["ingest/ds1/a.json.gz"] = z
	if err := fx.handle(hourCtx(t), upload("ingest/ds1/a.json.gz", "e1", "0A", "", time.UnixMilli(1))); err != nil {
		t.Fatal(err)
	}
	b := onlyBatch(t, fx)
	if b.Status != catalog.BatchFailed || len(b.Errors) != 1 || !strings.HasPrefix(b.Errors[0].Code, "FILE-") {
		t.Fatalf("batch %s %+v, want failed with one FILE-* error", b.Status, b.Errors)
	}
	if fx.parts.PartPuts == 0 || b.Metrics.InputRecordCount != 15*fx.parts.PartPuts || b.Metrics.InputByteSize != int64(len(z)) {
		t.Errorf("metrics %+v after %d parts stored, want theirs", b.Metrics, fx.parts.PartPuts)
	}
	if fx.prof.Writes != 0 {
		t.Errorf("%d rows written for a failed batch", fx.prof.Writes)
	}
}

// A dropped CSV file is read with the dataset's field types, in parts.
func TestEngineDropInCSV(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 15
	spec := *fx.specs[testDataset]
	spec.FieldType = func(path string) (string, bool) {
		switch path {
		case "personalEmail", "person", "person.name":
			return "object", true
		case "personalEmail.address", "person.name.firstName":
			return "string", true
		}
		return "", false
	}
	fx.specs[testDataset] = &spec // the handler's spec source
	var b strings.Builder
	b.WriteString("personalEmail.address,person.name.firstName\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "u%d@example.com,U%d\n", i, i)
	}
	fx.objects.data["ingest/ds1/a.csv"] = b.String()
	if err := fx.handle(hourCtx(t), upload("ingest/ds1/a.csv", "e1", "0A", "", time.UnixMilli(5000))); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.drain(hourCtx(t)); err != nil {
		t.Fatal(err)
	}
	got := onlyBatch(t, fx)
	if got.Status != catalog.BatchSuccess || got.InputFormat != catalog.FormatCSV {
		t.Fatalf("batch %s %s %+v, want csv success", got.Status, got.InputFormat, got.Errors)
	}
	wantMetrics(t, got, b.Len(), 40, 0)
	wantProfiles(t, fx, got, 40)
	if fx.parts.PartPuts != 3 {
		t.Errorf("%d parts, want 3", fx.parts.PartPuts)
	}
}
