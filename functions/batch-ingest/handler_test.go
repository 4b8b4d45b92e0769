package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/eventsample"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
)

func s3Event(key, etag string, at time.Time) events.S3Event {
	var ev events.S3Event
	ev.Records = []events.S3EventRecord{{EventName: "ObjectCreated:Put", EventTime: at}}
	ev.Records[0].S3.Bucket.Name = "landing"
	ev.Records[0].S3.Object.Key = key
	ev.Records[0].S3.Object.ETag = etag
	return ev
}

func rowJSON(email, name string) string {
	return fmt.Sprintf(`{"personalEmail":{"address":%q},"person":{"name":{"firstName":%q}}}`, email, name)
}

func lines(rows ...string) string { return strings.Join(rows, "\n") + "\n" }

func onlyBatch(t *testing.T, fx *fixture) catalog.Batch {
	t.Helper()
	if len(fx.batches.M) != 1 {
		t.Fatalf("got %d batches, want 1", len(fx.batches.M))
	}
	for _, b := range fx.batches.M {
		return b
	}
	return catalog.Batch{}
}

func TestHandleFileOutcomes(t *testing.T) {
	good := rowJSON("jane@example.com", "Jane")
	many := make([]string, 0, 100)
	for i := range 99 {
		many = append(many, rowJSON(fmt.Sprintf("u%d@example.com", i), "U"))
	}
	tests := []struct {
		name       string
		body       string
		wantStatus string
		wantM      catalog.BatchMetrics
		wantCodes  []string
	}{
		{"all good", lines(good, rowJSON("john@example.com", "John")), catalog.BatchSuccess,
			catalog.BatchMetrics{InputFileCount: 1, InputRecordCount: 2, OutputRecordCount: 2}, nil},
		{"one bad of two is over 5%", lines(good, `{"truncated":`), catalog.BatchFailed,
			catalog.BatchMetrics{InputFileCount: 1, InputRecordCount: 2, FailedRecordCount: 1}, []string{CodeTooManyFailed, "ROW-JSON"}},
		{"one bad of a hundred is within 5%", lines(append(many, `{"person":{}}`)...), catalog.BatchSuccess,
			catalog.BatchMetrics{InputFileCount: 1, InputRecordCount: 100, OutputRecordCount: 99, FailedRecordCount: 1}, []string{identity.CodeNoPrimary}},
		{"invalid UTF-8 and blocked identity", lines(good, "{\"a\":\"\xff\"}", rowJSON("null", "x")), catalog.BatchFailed,
			catalog.BatchMetrics{InputFileCount: 1, InputRecordCount: 3, FailedRecordCount: 2},
			[]string{CodeTooManyFailed, identity.CodeBlockedValue, ingest.CodeRowUTF8}},
		{"oversize line", lines(good, `{"x":"`+strings.Repeat("a", ingest.MaxLineBytes+10)+`"}`), catalog.BatchFailed,
			catalog.BatchMetrics{InputFileCount: 1, InputRecordCount: 2, FailedRecordCount: 1}, []string{CodeTooManyFailed, ingest.CodeRowTooLarge}},
		{"empty file", "\n\n", catalog.BatchFailed, catalog.BatchMetrics{InputFileCount: 1}, []string{"FILE-EMPTY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			fx.objects.data["ingest/ds1/f.json"] = tt.body
			if err := fx.handle(context.Background(), s3Event("ingest/ds1/f.json", `"e1"`, time.UnixMilli(1000))); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			b := onlyBatch(t, fx)
			if b.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", b.Status, tt.wantStatus)
			}
			tt.wantM.InputByteSize = int64(len(tt.body))
			if diff := cmp.Diff(tt.wantM, b.Metrics); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
			var codes []string
			for _, e := range b.Errors {
				codes = append(codes, e.Code)
			}
			if diff := cmp.Diff(tt.wantCodes, codes); diff != "" {
				t.Errorf("error codes (-want +got):\n%s", diff)
			}
			if len(fx.failed.Recs) != 0 {
				t.Errorf("%d failed-record items stored, want none: a batch's refusals are its diagnostics", len(fx.failed.Recs))
			}
			diags := diagnosticsOf(t, fx, b.ID)
			if len(diags) != tt.wantM.FailedRecordCount {
				t.Errorf("%d row diagnostics, want %d", len(diags), tt.wantM.FailedRecordCount)
			}
			for _, d := range diags {
				if d.Filename != "ingest/ds1/f.json" || d.Row == 0 || len(d.Errors) != 1 || d.Errors[0].Code == "" || strings.Contains(d.Errors[0].Message, "@example.com") {
					t.Errorf("row diagnostic lacks its location or leaks a value: %+v", d)
				}
			}
		})
	}
}

// upload is the event S3 sends for one upload of key: its own sequencer
// (hex, as S3 writes it) and, on a versioned bucket, its version.
func upload(key, etag, sequencer, version string, at time.Time) events.S3Event {
	ev := s3Event(key, etag, at)
	ev.Records[0].S3.Object.Sequencer = sequencer
	ev.Records[0].S3.Object.VersionID = version
	return ev
}

func TestHandleRedeliveryIsSkipped(t *testing.T) {
	fx := newFixture()
	key := "ingest/ds1/f.json"
	fx.objects.data[key] = lines(rowJSON("jane@example.com", "Jane"))
	ctx := context.Background()
	ev := upload(key, "e1", "0055AED6DCD90281E5", "", time.UnixMilli(1000))
	if err := fx.handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	first := onlyBatch(t, fx)
	reads := fx.objects.reads
	if err := fx.handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if fx.objects.reads != reads {
		t.Errorf("file read %d more times: a redelivery of a finished batch is skipped", fx.objects.reads-reads)
	}
	if diff := cmp.Diff(first, onlyBatch(t, fx)); diff != "" {
		t.Errorf("batch changed by a redelivery (-want +got):\n%s", diff)
	}
	if fr := fx.prof.Frags["Email#jane@example.com|ds1"]; fr.TS != 1000 {
		t.Errorf("fragment ordering time %d, want the object's creation time 1000", fr.TS)
	}
}

func TestHandleEveryUploadIsNewData(t *testing.T) {
	key := "ingest/ds1/f.json"
	a := lines(rowJSON("jane@example.com", "Ann"))
	b := lines(rowJSON("jane@example.com", "Bea"))
	// The three uploads carry the same event time (one millisecond), so only
	// their sequencers can order them; the third is a shorter hex string
	// than the second and still later once padded.
	tests := []struct {
		name    string
		uploads []events.S3Event
	}{
		{"sequencer", []events.S3Event{
			upload(key, "etag-a", "0000000000000000F0", "", time.UnixMilli(1000)),
			upload(key, "etag-b", "0000000000000000FF", "", time.UnixMilli(1000)),
			upload(key, "etag-a", "100", "", time.UnixMilli(1000)),
		}},
		{"version", []events.S3Event{
			upload(key, "etag-a", "0A", "v-first", time.UnixMilli(1000)),
			upload(key, "etag-b", "0B", "v-second", time.UnixMilli(1000)),
			upload(key, "etag-a", "0C", "v-third", time.UnixMilli(1000)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			for i, ev := range tt.uploads {
				fx.objects.data[key] = []string{a, b, a}[i]
				if err := fx.handle(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
			if len(fx.batches.M) != 3 {
				t.Fatalf("%d batches; want each of 3 uploads read as its own batch", len(fx.batches.M))
			}
			fr := fx.prof.Frags["Email#jane@example.com|ds1"]
			if !strings.Contains(string(fr.Raw), `"Ann"`) {
				t.Errorf("profile holds %s, want the last upload (Ann)", fr.Raw)
			}
		})
	}
}

func TestHandleUnchangedFileAfterFixIsProcessed(t *testing.T) {
	fx := newFixture()
	key := "ingest/later/f.json"
	fx.objects.data[key] = lines(rowJSON("jane@example.com", "Jane"))
	ctx := context.Background()
	if err := fx.handle(ctx, upload(key, "e1", "01", "", time.UnixMilli(1000))); err != nil {
		t.Fatal(err)
	}
	if b := onlyBatch(t, fx); b.Status != catalog.BatchFailed {
		t.Fatalf("first drop: status %q, want failed (no such dataset)", b.Status)
	}
	// The operator fixes the cause and drops the very same file again.
	fx.specs["later"] = &catalog.IngestSpec{DatasetID: "later", Class: catalog.ProfileClass, ProfileEnabled: true, IdentityEnabled: true,
		Identities: []catalog.IdentityField{{Path: "/personalEmail/address", Namespace: "Email", Primary: true}}}
	if err := fx.handle(ctx, upload(key, "e1", "02", "", time.UnixMilli(2000))); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, b := range fx.batches.M {
		statuses = append(statuses, b.Status)
	}
	sort.Strings(statuses)
	if diff := cmp.Diff([]string{catalog.BatchFailed, catalog.BatchSuccess}, statuses); diff != "" {
		t.Errorf("batch statuses (-want +got):\n%s", diff)
	}
	if _, ok := fx.prof.Frags["Email#jane@example.com|later"]; !ok {
		t.Error("the re-dropped file's row was not ingested")
	}
}

func TestHandleUnfinishedBatchIsReprocessedWithItsTime(t *testing.T) {
	fx := newFixture()
	key := "ingest/ds1/f.json"
	fx.objects.data[key] = lines(rowJSON("jane@example.com", "Jane"))
	id := BatchID("landing", key, uploadOf(s3Event(key, "e1", time.UnixMilli(9000)).Records[0]))
	fx.batches.M[id] = catalog.Batch{ID: id, DatasetID: testDataset, Status: catalog.BatchProcessing, Created: 700}
	if err := fx.handle(context.Background(), s3Event(key, "e1", time.UnixMilli(9000))); err != nil {
		t.Fatal(err)
	}
	if b := fx.batches.M[id]; b.Status != catalog.BatchSuccess || b.Metrics.OutputRecordCount != 1 {
		t.Errorf("got status %q, %d records; want success, 1", b.Status, b.Metrics.OutputRecordCount)
	}
	if ts := fx.prof.Frags["Email#jane@example.com|ds1"].TS; ts != 700 {
		t.Errorf("fragment ordering time %d, want the stored batch's created time 700", ts)
	}
}

func TestHandleDatasetProblemsFailTheBatch(t *testing.T) {
	tests := []struct{ key, wantCode string }{
		{"ingest/nope/f.json", "DATASET-NOT-FOUND"},
		{"ingest/lake-only/f.json", ingest.CodeNotEnabled},
	}
	for _, tt := range tests {
		t.Run(tt.wantCode, func(t *testing.T) {
			fx := newFixture()
			fx.objects.data[tt.key] = lines(rowJSON("jane@example.com", "Jane"))
			if err := fx.handle(context.Background(), s3Event(tt.key, "e1", time.UnixMilli(1))); err != nil {
				t.Fatalf("Handle: %v (want the batch failed, not an error)", err)
			}
			b := onlyBatch(t, fx)
			if b.Status != catalog.BatchFailed || len(b.Errors) != 1 || b.Errors[0].Code != tt.wantCode {
				t.Errorf("got %q %+v, want failed with %s", b.Status, b.Errors, tt.wantCode)
			}
		})
	}
}

func TestHandleTransientErrorIsRetried(t *testing.T) {
	fx := newFixture()
	fx.prof.Fail = fault.E(fault.Throttled, "STORE-THROTTLED", "throttled")
	fx.objects.data["ingest/ds1/f.json"] = lines(rowJSON("jane@example.com", "Jane"))
	err := fx.handle(context.Background(), s3Event("ingest/ds1/f.json", "e1", time.UnixMilli(1)))
	if fault.KindOf(err) != fault.Throttled {
		t.Fatalf("got %v, want a throttled error so that Lambda retries", err)
	}
	if b := onlyBatch(t, fx); b.Status == catalog.BatchSuccess || b.Status == catalog.BatchFailed {
		t.Errorf("batch is %q after a transient failure, want unfinished", b.Status)
	}
	// The retry succeeds and finishes the batch.
	fx.prof.Fail = nil
	if err := fx.handle(context.Background(), s3Event("ingest/ds1/f.json", "e1", time.UnixMilli(1))); err != nil {
		t.Fatal(err)
	}
	if b := onlyBatch(t, fx); b.Status != catalog.BatchSuccess {
		t.Errorf("batch is %q after the retry, want success", b.Status)
	}
}

func TestHandleKeysAndEventNames(t *testing.T) {
	tests := []struct {
		name, eventName, key string
		wantBatch            bool
	}{
		{"url-encoded key with plus", "ObjectCreated:Put", "ingest/ds1/my+file%281%29.json", true},
		{"s3: prefix", "s3:ObjectCreated:CompleteMultipartUpload", "ingest/ds1/a.json", true},
		{"removal ignored", "ObjectRemoved:Delete", "ingest/ds1/a.json", false},
		{"outside ingest/", "ObjectCreated:Put", "other/ds1/a.json", false},
		{"no file name", "ObjectCreated:Put", "ingest/ds1/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			fx.objects.data["ingest/ds1/my file(1).json"] = lines(rowJSON("a@example.com", "A"))
			fx.objects.data["ingest/ds1/a.json"] = lines(rowJSON("a@example.com", "A"))
			ev := s3Event(tt.key, "e", time.UnixMilli(1))
			ev.Records[0].EventName = tt.eventName
			if err := fx.handle(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			if got := len(fx.batches.M) == 1; got != tt.wantBatch {
				t.Fatalf("batch opened %v, want %v", got, tt.wantBatch)
			}
			if tt.wantBatch {
				if b := onlyBatch(t, fx); b.Status != catalog.BatchSuccess {
					t.Errorf("status %q, want success", b.Status)
				}
			}
		})
	}
}

func TestSampleEventDecodesStrictly(t *testing.T) {
	var ev events.S3Event
	eventsample.Decode(t, "batch-ingest-s3-put.json", &ev)
	if len(ev.Records) != 1 || ev.Records[0].S3.Object.Key == "" || ev.Records[0].EventTime.IsZero() {
		t.Fatalf("sample event lacks a record with a key and a time: %+v", ev)
	}
	if _, ok := datasetOf(ev.Records[0].S3.Object.Key); !ok {
		t.Errorf("sample key is not under ingest/<datasetId>/")
	}
}

func TestNewHandlerNamesMissingEnv(t *testing.T) {
	_, err := newHandler(context.Background(), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "MOSAIC_PROFILE_TABLE") {
		t.Fatalf("got %v, want an error naming MOSAIC_PROFILE_TABLE", err)
	}
}
