package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func TestAsyncQueueRetriesThenRecordsFailure(t *testing.T) {
	var attempts atomic.Int32
	path := filepath.Join(t.TempDir(), "failures.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := newAsyncQueue(ctx, "fn", 1, func(context.Context, []byte) ([]byte, error) {
		attempts.Add(1)
		return nil, &FunctionError{Type: "x"}
	}, &failureLog{path: path}, discardLogger())
	q.backoff = []time.Duration{time.Millisecond, time.Millisecond}
	q.enqueue([]byte("{}"), "b", "k")
	deadline := time.Now().Add(5 * time.Second)
	for q.pending.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("got %d attempts, want 3 (1 + 2 retries)", n)
	}
	raw, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(raw, []byte(`"key":"k"`)) {
		t.Errorf("failure record: %q %v", raw, err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestAsyncQueueSendsDestinationRecord: an event that fails every attempt
// reaches the draining function as an SQS event holding Lambda's invocation
// record, given again while the drain fails, and is not left in the failure
// log once taken.
func TestAsyncQueueSendsDestinationRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "failures.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := newAsyncQueue(ctx, "fn", 1, func(context.Context, []byte) ([]byte, error) {
		return nil, &FunctionError{Type: "Runtime.ExitError", Message: "signal: killed"}
	}, &failureLog{path: path}, discardLogger())
	q.backoff = []time.Duration{time.Millisecond, time.Millisecond}
	var drains []events.SQSEvent
	q.dest = &destination{functionArn: "arn:aws:lambda:us-east-1:000000000000:function:fn", queueArn: "arn:aws:sqs:us-east-1:000000000000:q",
		region: "us-east-1", attempts: 3, backoff: time.Millisecond,
		invoke: func(_ context.Context, p []byte) ([]byte, error) {
			dec := json.NewDecoder(bytes.NewReader(p))
			dec.DisallowUnknownFields()
			var ev events.SQSEvent
			if err := dec.Decode(&ev); err != nil {
				t.Errorf("SQS event does not decode strictly: %v", err)
			}
			drains = append(drains, ev)
			if len(drains) == 1 {
				return []byte(`{"batchItemFailures":[{"itemIdentifier":"` + ev.Records[0].MessageId + `"}]}`), nil
			}
			return []byte(`{"batchItemFailures":[]}`), nil
		}}
	payload := []byte(`{"Records":[{"eventSource":"aws:s3","s3":{"object":{"key":"ingest/ds/f.json","sequencer":"0A"}}}]}`)
	q.enqueue(payload, "b", "ingest/ds/f.json")
	deadline := time.Now().Add(5 * time.Second)
	for q.pending.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(drains) != 2 {
		t.Fatalf("drain invoked %d times, want 2 (the first reported the message failed)", len(drains))
	}
	m := drains[1].Records[0]
	if m.EventSource != "aws:sqs" || m.EventSourceARN != "arn:aws:sqs:us-east-1:000000000000:q" || m.Attributes["ApproximateReceiveCount"] != "2" || m.MessageId != drains[0].Records[0].MessageId {
		t.Errorf("message %+v", m)
	}
	var rec struct {
		Version        string `json:"version"`
		Timestamp      string `json:"timestamp"`
		RequestContext struct {
			RequestID              string `json:"requestId"`
			FunctionArn            string `json:"functionArn"`
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		RequestPayload  json.RawMessage `json:"requestPayload"`
		ResponseContext struct {
			StatusCode      int    `json:"statusCode"`
			ExecutedVersion string `json:"executedVersion"`
			FunctionError   string `json:"functionError"`
		} `json:"responseContext"`
		ResponsePayload struct {
			ErrorType    string `json:"errorType"`
			ErrorMessage string `json:"errorMessage"`
		} `json:"responsePayload"`
	}
	dec := json.NewDecoder(strings.NewReader(m.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		t.Fatalf("record %s: %v", m.Body, err)
	}
	c := rec.RequestContext
	if c.Condition != "RetriesExhausted" || c.ApproximateInvokeCount != 3 || c.FunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST" || c.RequestID == "" {
		t.Errorf("requestContext %+v", c)
	}
	if string(rec.RequestPayload) != string(payload) {
		t.Errorf("requestPayload %s, want the event as sent", rec.RequestPayload)
	}
	if rec.ResponseContext.FunctionError != "Unhandled" || rec.ResponsePayload.ErrorType != "Runtime.ExitError" || rec.Version != "1.0" {
		t.Errorf("response %+v %+v", rec.ResponseContext, rec.ResponsePayload)
	}
	if _, err := time.Parse(time.RFC3339, rec.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", rec.Timestamp, err)
	}
	if raw, err := os.ReadFile(path); err == nil && len(raw) > 0 {
		t.Errorf("failure log %s, want nothing: the destination took the record", raw)
	}
}
