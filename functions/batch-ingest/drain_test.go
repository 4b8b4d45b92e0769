package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/eventsample"
	"github.com/mosaic-cdp/mosaic/shared/fault"
)

const destinationSample = "batch-ingest-sqs-destination.json"

func strictJSON(t *testing.T, what string, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s does not decode strictly into %T: %v", what, v, err)
	}
}

// destinationEvent wraps an invocation record of the S3 event ev in an SQS
// event, as the on-failure queue delivers it.
func destinationEvent(t *testing.T, ev events.S3Event, condition string, responsePayload string) events.SQSEvent {
	t.Helper()
	payload, _ := json.Marshal(ev)
	rec := DestinationRecord{
		Version: "1.0", Timestamp: "2026-01-15T10:27:02.113Z",
		RequestContext:  DestinationRequest{RequestID: "r1", FunctionArn: "arn:aws:lambda:us-east-1:1:function:f:$LATEST", Condition: condition, ApproximateInvokeCount: 3},
		RequestPayload:  payload,
		ResponseContext: DestinationResponse{StatusCode: 200, FunctionError: "Unhandled"},
	}
	if responsePayload != "" {
		rec.ResponsePayload = json.RawMessage(responsePayload)
	}
	body, _ := json.Marshal(rec)
	return events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body), EventSource: "aws:sqs"}}}
}

func TestSampleDestinationRecordDecodesStrictly(t *testing.T) {
	var ev events.SQSEvent
	eventsample.Decode(t, destinationSample, &ev)
	if len(ev.Records) != 1 {
		t.Fatalf("sample has %d messages, want 1", len(ev.Records))
	}
	var rec DestinationRecord
	strictJSON(t, "the sample message body", []byte(ev.Records[0].Body), &rec)
	var s3ev events.S3Event
	strictJSON(t, "the sample's requestPayload", rec.RequestPayload, &s3ev)
	if rec.RequestContext.Condition != "RetriesExhausted" || len(s3ev.Records) != 1 {
		t.Fatalf("sample record: %+v", rec.RequestContext)
	}

	// Through the entry point, as Lambda gives it.
	raw, err := os.ReadFile(filepath.Join(eventsample.Dir(), destinationSample))
	if err != nil {
		t.Fatal(err)
	}
	fx := newFixture()
	out, err := fx.h.Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if resp, ok := out.(events.SQSEventResponse); !ok || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("answer %#v, want an SQS response with no failures", out)
	}
	b := onlyBatch(t, fx)
	if b.Status != catalog.BatchFailed || len(b.Errors) != 1 || b.Errors[0].Code != CodeRetriesExhausted {
		t.Fatalf("batch %q %+v, want failed with %s", b.Status, b.Errors, CodeRetriesExhausted)
	}
	if !strings.Contains(b.Errors[0].Description, "RetriesExhausted") || !strings.Contains(b.Errors[0].Description, "BATCH-DEADLINE") {
		t.Errorf("description %q does not name the condition and the last error", b.Errors[0].Description)
	}
	r := s3ev.Records[0]
	if want := BatchID(r.S3.Bucket.Name, "ingest/65a1b2c3d4e5f60718293a4b/crm export 2026-01-15.json", uploadOf(r)); b.ID != want {
		t.Errorf("batch id %s, want the id the S3 event itself opens (%s)", b.ID, want)
	}
	if b.DatasetID != "65a1b2c3d4e5f60718293a4b" || b.Completed == 0 {
		t.Errorf("batch %+v lacks its dataset or completion time", b)
	}
}

func TestDrainEndsOnlyUnfinishedBatches(t *testing.T) {
	key := "ingest/ds1/f.json"
	ev := upload(key, "e1", "0A", "", time.UnixMilli(1000))
	id := BatchID("landing", key, uploadOf(ev.Records[0]))
	tests := []struct {
		name       string
		stored     *catalog.Batch
		condition  string
		wantStatus string
		wantCode   string
	}{
		{"processing ends failed", &catalog.Batch{ID: id, DatasetID: testDataset, Status: catalog.BatchProcessing, Created: 700},
			"RetriesExhausted", catalog.BatchFailed, CodeRetriesExhausted},
		{"loading ends failed", &catalog.Batch{ID: id, DatasetID: testDataset, Status: catalog.BatchLoading, Created: 700},
			"EventAgeExceeded", catalog.BatchFailed, CodeEventExpired},
		{"never opened", nil, "RetriesExhausted", catalog.BatchFailed, CodeRetriesExhausted},
		{"success stays", &catalog.Batch{ID: id, DatasetID: testDataset, Status: catalog.BatchSuccess, Created: 700, Completed: 900},
			"RetriesExhausted", catalog.BatchSuccess, ""},
		{"failed keeps its reason", &catalog.Batch{ID: id, DatasetID: testDataset, Status: catalog.BatchFailed, Created: 700, Completed: 900,
			Errors: []catalog.BatchError{{Code: "DATASET-NOT-FOUND"}}}, "RetriesExhausted", catalog.BatchFailed, "DATASET-NOT-FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			if tt.stored != nil {
				fx.batches.M[id] = *tt.stored
			}
			resp := fx.h.Drain(context.Background(), destinationEvent(t, ev, tt.condition, `{"errorType":"Runtime.ExitError","errorMessage":"signal: killed"}`))
			if len(resp.BatchItemFailures) != 0 {
				t.Fatalf("item failures %+v, want none", resp.BatchItemFailures)
			}
			b := onlyBatch(t, fx)
			if b.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", b.Status, tt.wantStatus)
			}
			var codes []string
			for _, e := range b.Errors {
				codes = append(codes, e.Code)
			}
			if tt.wantCode == "" && len(codes) != 0 || tt.wantCode != "" && (len(codes) == 0 || codes[len(codes)-1] != tt.wantCode) {
				t.Errorf("error codes %v, want last %q", codes, tt.wantCode)
			}
			if tt.stored != nil && b.Created != tt.stored.Created {
				t.Errorf("created %d, want the stored %d", b.Created, tt.stored.Created)
			}
			if fx.objects.reads != 0 {
				t.Error("draining read the file")
			}
		})
	}
}

// brokenBatches fails every write with err.
type brokenBatches struct {
	batchStore
	err error
}

func (b brokenBatches) CreateBatch(context.Context, catalog.Batch) (bool, catalog.Batch, error) {
	return false, catalog.Batch{}, b.err
}

func TestDrainReportsTransientFailuresOnly(t *testing.T) {
	fx := newFixture()
	fx.h.batches = brokenBatches{fx.batches, fault.E(fault.Throttled, "STORE-THROTTLED", "throttled")}
	good := destinationEvent(t, upload("ingest/ds1/f.json", "e1", "0A", "", time.UnixMilli(1)), "RetriesExhausted", "")
	ev := events.SQSEvent{Records: []events.SQSMessage{
		good.Records[0],
		{MessageId: "not-a-record", Body: "hello", EventSource: "aws:sqs"},
	}}
	resp := fx.h.Drain(context.Background(), ev)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m1" {
		t.Fatalf("item failures %+v, want only m1 (the store was throttled); a body that is no record can never succeed", resp.BatchItemFailures)
	}
}

func TestInvokeStillIngestsS3Events(t *testing.T) {
	fx := newFixture()
	key := "ingest/ds1/f.json"
	fx.objects.data[key] = lines(rowJSON("jane@example.com", "Jane"))
	ev := upload(key, "e1", "0A", "", time.UnixMilli(1000))
	ev.Records[0].S3.Object.Size = int64(len(fx.objects.data[key]))
	raw, _ := json.Marshal(ev)
	var generic map[string][]map[string]any
	json.Unmarshal(raw, &generic)
	generic["Records"][0]["eventSource"] = "aws:s3"
	raw, _ = json.Marshal(generic)
	if _, err := fx.h.Invoke(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	if b := onlyBatch(t, fx); b.Status != catalog.BatchSuccess {
		t.Errorf("status %q, want success", b.Status)
	}
}
