package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

const (
	tooLarge    = "FRAGMENT-TOO-LARGE"
	tooLargeMsg = "the fragment would be over its size limit"
)

// writeRefuser is the pipeline with rows that only their write refuses:
// the scan's Check accepts them, Process refuses them FRAGMENT-TOO-LARGE
// (as a fragment grown by earlier rows would be). It counts the rows
// processed by record number.
type writeRefuser struct {
	inner ingest.RowProcessor
	mu    sync.Mutex
	// refuse is row → how many more times to refuse it (< 0: always).
	refuse map[int]int
	// failOnce are rows whose next write fails transiently, once the row
	// they map to (0: none) has been handed to the pipeline, so that a
	// failure comes after a chosen refusal whatever the workers' order.
	failOnce  map[int]int
	processed map[int]int
	seen      map[int]chan struct{}
}

// seenCh is closed once row n is handed to the pipeline; w.mu held.
func (w *writeRefuser) seenCh(n int) chan struct{} {
	c, ok := w.seen[n]
	if !ok {
		c = make(chan struct{})
		w.seen[n] = c
	}
	return c
}

// refuseAtWrite installs a writeRefuser refusing rows always.
func refuseAtWrite(fx *fixture, rows ...int) *writeRefuser {
	w := &writeRefuser{inner: fx.h.run.Pipeline, refuse: map[int]int{}, failOnce: map[int]int{}, processed: map[int]int{}, seen: map[int]chan struct{}{}}
	for _, n := range rows {
		w.refuse[n] = -1
	}
	fx.h.run.Pipeline = w
	return w
}

// rowOf is the record number at the end of a row source.
func rowOf(src string) int {
	n, _ := strconv.Atoi(src[strings.LastIndex(src, ":")+1:])
	return n
}

func (w *writeRefuser) Process(ctx context.Context, spec *catalog.IngestSpec, row ingest.Row) (ingest.Outcome, error) {
	n := rowOf(row.Src)
	w.mu.Lock()
	w.processed[n]++
	if w.processed[n] == 1 {
		close(w.seenCh(n))
	}
	if after, ok := w.failOnce[n]; ok {
		delete(w.failOnce, n)
		var wait chan struct{}
		if after > 0 {
			wait = w.seenCh(after)
		}
		w.mu.Unlock()
		if wait != nil {
			select {
			case <-wait:
			case <-ctx.Done():
			}
		}
		return ingest.Outcome{}, fault.E(fault.Throttled, "STORE-THROTTLED", "throttled")
	}
	if left, ok := w.refuse[n]; ok && left != 0 {
		w.refuse[n] = left - 1
		w.mu.Unlock()
		return ingest.Outcome{}, fault.E(fault.Invalid, tooLarge, tooLargeMsg)
	}
	w.mu.Unlock()
	return w.inner.Process(ctx, spec, row)
}

func (w *writeRefuser) times(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.processed[n]
}

// wantWriteRefused checks that exactly rows (of the file dropKey, parts
// of partRows) are the batch's write refusals: one record each, one
// diagnostics object each holding the row's one line, and one
// FRAGMENT-TOO-LARGE entry counting them; and that every row of
// allRefused (scan and write) has exactly one diagnostics line.
func wantWriteRefused(t *testing.T, fx *fixture, b catalog.Batch, partRows int, rows []int, allRefused []int) {
	t.Helper()
	recs := fx.refused.list(b.ID, -1, -1)
	var got []int
	for _, r := range recs {
		got = append(got, r.Row)
		if r.Code != tooLarge || r.Message != tooLargeMsg || r.File != 0 || r.Part != (r.Row-1)/partRows {
			t.Errorf("refusal %+v, want %s of part %d", r, tooLarge, (r.Row-1)/partRows)
		}
	}
	if d := cmp.Diff(rows, got); d != "" {
		t.Errorf("refusal records (-want +got):\n%s", d)
	}
	var writeKeys []string
	fx.objects.mu.Lock()
	for k := range fx.objects.data {
		if strings.HasPrefix(k, "diagnostics/"+b.ID+"/row_errors/") && strings.Contains(k, "-write-") {
			writeKeys = append(writeKeys, k)
		}
	}
	fx.objects.mu.Unlock()
	sort.Strings(writeKeys)
	var wantKeys []string
	for _, n := range rows {
		wantKeys = append(wantKeys, WriteDiagnosticsKey(b.ID, 0, (n-1)/partRows, n))
	}
	if d := cmp.Diff(wantKeys, writeKeys); d != "" {
		t.Errorf("write diagnostics objects (-want +got):\n%s", d)
	}
	for _, n := range rows {
		var line map[string]any
		body := fx.objects.data[WriteDiagnosticsKey(b.ID, 0, (n-1)/partRows, n)]
		if err := json.Unmarshal([]byte(body), &line); err != nil || strings.Count(body, "\n") != 1 {
			t.Errorf("row %d diagnostics %q: want one JSON line (%v)", n, body, err)
			continue
		}
		want := map[string]any{
			"_corrupt_record": rowJSON(fmt.Sprintf("u%d@example.com", n), "U"),
			"_errors":         []any{map[string]any{"code": tooLarge, "message": tooLargeMsg}},
			"_filename":       dropKey,
			"_row":            float64(n),
		}
		if d := cmp.Diff(want, line); d != "" {
			t.Errorf("row %d diagnostics line (-want +got):\n%s", n, d)
		}
	}
	var lines []int
	for _, d := range diagnosticsOf(t, fx, b.ID) {
		lines = append(lines, d.Row)
	}
	sort.Ints(lines)
	if d := cmp.Diff(allRefused, lines); d != "" {
		t.Errorf("rows of the diagnostics lines (-want +got):\n%s", d)
	}
	var entry catalog.BatchError
	for _, e := range b.Errors {
		if e.Code == tooLarge {
			entry = e
		}
	}
	if want := (catalog.BatchError{Code: tooLarge, Description: tooLargeMsg, Rows: len(rows)}); len(rows) > 0 && entry != want {
		t.Errorf("batch error %+v, want %+v", entry, want)
	}
}

// Rows the scan accepted and their write refused are row errors like the
// scan's: a diagnostics object each under the batch's row_errors, and
// counted in failedRecordCount and the errors by code. They do not
// change the status decided before writing: six of forty rows (15%, over
// the 5% that fails a batch at the scan) end the batch success.
func TestEngineWriteRefusalsAreRowErrors(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 15
	w := refuseAtWrite(fx, 2, 5, 20, 21, 33, 40)
	body := rowsFile(40, 17)
	_, b := fx.dropIn(t, body)
	if _, err := fx.drain(hourCtx(t)); err != nil {
		t.Fatal(err)
	}
	b = onlyBatch(t, fx)
	if b.Status != catalog.BatchSuccess {
		t.Fatalf("status %s, want success as decided after the scan", b.Status)
	}
	wantMetrics(t, b, len(body), 40, 7)
	wantProfiles(t, fx, b, 40, 2, 5, 17, 20, 21, 33, 40)
	wantWriteRefused(t, fx, b, 15, []int{2, 5, 20, 21, 33, 40}, []int{2, 5, 17, 20, 21, 33, 40})
	if len(b.Errors) != 2 || b.Errors[0].Code != tooLarge || b.Errors[1].Code != "IDENTITY-NO-PRIMARY" || b.Errors[1].Rows != 1 {
		t.Errorf("errors %+v, want %s (6) and IDENTITY-NO-PRIMARY (1) by code", b.Errors, tooLarge)
	}
	if n := w.times(17); n != 0 {
		t.Errorf("the row the scan refused was written %d times", n)
	}
	// The part's scan diagnostics are untouched.
	if d := fx.objects.data[DiagnosticsKey(b.ID, 0, 1)]; strings.Count(d, "\n") != 1 || !strings.Contains(d, `"_row":17`) {
		t.Errorf("scan diagnostics of part 1 %q, want row 17 only", d)
	}
}

// A part whose write fails transiently after rows were refused is retried
// from its watermark, or from its start when the watermark was lost; rows
// refused again are recorded again in place, so each counts once and has
// one diagnostics line.
func TestEngineWriteRefusalsCountOnceWhenRetried(t *testing.T) {
	for _, tt := range []struct {
		name      string
		workers   int
		markFails bool
		redone    bool // row 45, refused before the failure, is tried again
	}{
		{"watermark stored, one worker", 1, false, false},
		{"watermark stored, 16 workers", rowWorkers, false, false},
		{"watermark lost", rowWorkers, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			fx.h.run.Workers = tt.workers
			fx.h.partRows = 40
			w := refuseAtWrite(fx, 10, 45, 70, 90)
			w.failOnce[62] = 45
			body := rowsFile(100, 50)
			_, b := fx.dropIn(t, body)
			tasks := fx.objects.tasks()
			if len(tasks) != 3 {
				t.Fatalf("tasks %v, want 3", tasks)
			}
			if tt.markFails {
				fx.parts.FailMarkAt = 1
			}
			if err := fx.h.Handle(hourCtx(t), taskEvent(tasks[0])); err != nil {
				t.Fatal(err)
			}
			if err := fx.h.Handle(hourCtx(t), taskEvent(tasks[1])); !ingest.Transient(err) {
				t.Fatalf("part 1 returned %v, want the transient error", err)
			}
			if r := fx.refused.list(b.ID, 0, 1); len(r) == 0 || r[0].Row != 45 {
				t.Fatalf("refusals of part 1 after the failure %+v, want row 45 recorded", r)
			}
			for _, k := range tasks[1:] { // the retry, then the last part
				if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
					t.Fatal(err)
				}
			}
			// A redelivery of every task once the batch is done changes
			// nothing.
			for _, k := range tasks {
				if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
					t.Fatal(err)
				}
			}
			b = onlyBatch(t, fx)
			if b.Status != catalog.BatchSuccess {
				t.Fatalf("status %s, want success", b.Status)
			}
			wantMetrics(t, b, len(body), 100, 5)
			wantProfiles(t, fx, b, 100, 10, 45, 50, 70, 90)
			wantWriteRefused(t, fx, b, 40, []int{10, 45, 70, 90}, []int{10, 45, 50, 70, 90})
			if got := w.times(45) == 2; got != tt.redone {
				t.Errorf("row 45 tried %d times; want it tried again: %v", w.times(45), tt.redone)
			}
		})
	}
}

// A write cut by its deadline continues in a new invocation from its
// watermark, or, when the watermark could not be stored, from the part's
// start: rows the first run refused count once either way, and a
// redelivered continuation changes nothing.
func TestEngineWriteRefusalsCountOnceAcrossContinuations(t *testing.T) {
	for _, tt := range []struct {
		name      string
		markFails bool
	}{
		{"watermark stored", false},
		{"watermark lost", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			fx.h.partRows = 40
			lf := &lateFragments{fixture: fx, after: 5}
			fx.h.run.Pipeline = &ingest.Pipeline{Fragments: lf, Links: fx.prof, Events: fx.prof}
			w := refuseAtWrite(fx, 3, 30, 41, 95)
			body := rowsFile(100, 2)
			_, b := fx.dropIn(t, body)
			tasks := fx.objects.tasks()
			if len(tasks) != 3 {
				t.Fatalf("tasks %v, want 3 writes", tasks)
			}
			if tt.markFails {
				fx.parts.FailMarkAt = 1
			}
			if err := fx.h.Handle(hourCtx(t), taskEvent(tasks[0])); err != nil {
				t.Fatal(err)
			}
			cont := fx.objects.tasks()
			if len(cont) != 1 || !strings.Contains(cont[0], "/tasks/write-00000-000000-from-") {
				t.Fatalf("continuation %v, want one write-00000-000000-from-…", cont)
			}
			if w.times(3) != 1 {
				t.Fatalf("row 3 tried %d times by the first run, want once", w.times(3))
			}
			fx.clock.SetLate(false)
			for _, k := range append(append(cont, cont...), tasks[1:]...) {
				if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
					t.Fatal(err)
				}
			}
			b = onlyBatch(t, fx)
			if b.Status != catalog.BatchSuccess {
				t.Fatalf("status %s, want success", b.Status)
			}
			wantMetrics(t, b, len(body), 100, 5)
			wantProfiles(t, fx, b, 100, 2, 3, 30, 41, 95)
			wantWriteRefused(t, fx, b, 40, []int{3, 30, 41, 95}, []int{2, 3, 30, 41, 95})
			if again := w.times(3) == 2; again != tt.markFails {
				t.Errorf("row 3 tried %d times; want it tried again by the continuation: %v", w.times(3), tt.markFails)
			}
		})
	}
}

// A row one attempt refused and a later attempt of its part wrote is
// written, not failed: its refusal and diagnostics object are removed.
func TestEngineRowWrittenOnRetryIsNotFailed(t *testing.T) {
	fx := newFixture()
	fx.h.partRows = 15
	w := refuseAtWrite(fx)
	w.refuse[7] = 1 // the first attempt only
	w.failOnce[12] = 7
	fx.parts.FailMarkAt = 1 // the retry starts the part again
	body := rowsFile(30)
	_, b := fx.dropIn(t, body)
	tasks := fx.objects.tasks()
	if err := fx.h.Handle(hourCtx(t), taskEvent(tasks[0])); !ingest.Transient(err) {
		t.Fatalf("part 0 returned %v, want the transient error", err)
	}
	key := WriteDiagnosticsKey(b.ID, 0, 0, 7)
	if _, ok := fx.objects.data[key]; !ok || len(fx.refused.m) != 1 {
		t.Fatalf("after the first attempt: diagnostics %v, %d refusals; want row 7 refused", ok, len(fx.refused.m))
	}
	if _, err := fx.drain(hourCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, k := range tasks {
		if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
			t.Fatal(err)
		}
	}
	b = onlyBatch(t, fx)
	if b.Status != catalog.BatchSuccess {
		t.Fatalf("status %s, want success", b.Status)
	}
	wantMetrics(t, b, len(body), 30, 0)
	wantProfiles(t, fx, b, 30)
	wantWriteRefused(t, fx, b, 15, nil, nil)
	if len(b.Errors) != 0 {
		t.Errorf("errors %+v, want none", b.Errors)
	}
}

// Recording a refusal that fails (its store item, or its diagnostics
// object after the item) fails the part transiently without the row
// counting as done; the retry records it once, object and all.
func TestEngineWriteRefusalRecordingFailsTransiently(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail func(fx *fixture, id string)
	}{
		{"refusal item", func(fx *fixture, _ string) { fx.refused.FailPuts = 1 }},
		{"diagnostics object", func(fx *fixture, id string) {
			fx.objects.failPuts = map[string]int{WriteDiagnosticsKey(id, 0, 0, 4): 1}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			fx.h.run.Workers = 1
			fx.h.partRows = 15
			refuseAtWrite(fx, 4)
			body := rowsFile(30)
			_, b := fx.dropIn(t, body)
			tasks := fx.objects.tasks()
			tt.fail(fx, b.ID)
			if err := fx.h.Handle(hourCtx(t), taskEvent(tasks[0])); !ingest.Transient(err) {
				t.Fatalf("part 0 returned %v, want a transient error", err)
			}
			if p, _ := fx.parts.GetBatchPart(context.Background(), b.ID, 0, 0); p.Mark > 4 {
				t.Errorf("watermark %d passed the row whose refusal was not recorded", p.Mark)
			}
			for _, k := range tasks {
				if err := fx.h.Handle(hourCtx(t), taskEvent(k)); err != nil {
					t.Fatal(err)
				}
			}
			b = onlyBatch(t, fx)
			wantMetrics(t, b, len(body), 30, 1)
			wantWriteRefused(t, fx, b, 15, []int{4}, []int{4})
		})
	}
}

// The diagnostics of a CSV row refused when written hold the row as the
// file spells it, not the record it became.
func TestEngineWriteRefusalOfCSVRowIsItsLine(t *testing.T) {
	fx := newFixture()
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
	fx.specs[testDataset] = &spec
	refuseAtWrite(fx, 2)
	const key = "ingest/ds1/a.csv"
	fx.objects.data[key] = "personalEmail.address,person.name.firstName\nu1@example.com,U1\nu2@example.com,\"U,2\"\n"
	if err := fx.handle(hourCtx(t), upload(key, "e1", "0A", "", time.UnixMilli(5000))); err != nil {
		t.Fatal(err)
	}
	b := onlyBatch(t, fx)
	if b.Status != catalog.BatchSuccess || b.Metrics.FailedRecordCount != 1 || b.Metrics.OutputRecordCount != 1 {
		t.Fatalf("batch %s %+v, want success with 1 of 2 rows failed", b.Status, b.Metrics)
	}
	got := diagnosticsOf(t, fx, b.ID)
	want := []diagnostic{{Corrupt: `u2@example.com,"U,2"`, Errors: []diagnosticErr{{Code: tooLarge, Message: tooLargeMsg}}, Filename: key, Row: 2}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("diagnostics (-want +got):\n%s", d)
	}
	if _, ok := fx.objects.data[WriteDiagnosticsKey(b.ID, 0, 0, 2)]; !ok {
		t.Errorf("no object %s", WriteDiagnosticsKey(b.ID, 0, 0, 2))
	}
}

// summarise counts write refusals as failed rows by code and leaves the
// rows to write as the scan found them.
func TestSummariseCountsWriteRefusals(t *testing.T) {
	files := []catalog.BatchFile{{Name: "f", Size: 10}}
	parts := []store.BatchPart{
		{Part: 0, Rows: 10, Refused: []int{3}, Errors: []catalog.BatchError{{Code: "XDM-TYPE", Description: "d", Rows: 1}}},
		{Part: 1, Rows: 5, Refused: []int{11, 12, 13, 14, 15}, Errors: []catalog.BatchError{{Code: "XDM-TYPE", Description: "d", Rows: 5}}},
	}
	refused := []catalog.BatchError{{Code: tooLarge, Description: "m", Rows: 1}, {Code: "XDM-TYPE", Description: "other", Rows: 2}}
	s := summarise(files, parts, refused)
	want := catalog.BatchMetrics{InputByteSize: 10, InputFileCount: 1, InputRecordCount: 15, FailedRecordCount: 9, OutputRecordCount: 6}
	if d := cmp.Diff(want, s.metrics); d != "" {
		t.Errorf("metrics (-want +got):\n%s", d)
	}
	wantErrs := []catalog.BatchError{{Code: tooLarge, Description: "m", Rows: 1}, {Code: "XDM-TYPE", Description: "d", Rows: 8}}
	if d := cmp.Diff(wantErrs, s.errors); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
	if s.writeRefused != 3 || len(s.toWrite) != 1 || s.toWrite[0].Part != 0 {
		t.Errorf("writeRefused %d, toWrite %+v; want 3 and part 0", s.writeRefused, s.toWrite)
	}
}
