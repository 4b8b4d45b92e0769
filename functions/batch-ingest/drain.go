package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/lambdaevent"
)

// Reason codes of a batch ended by the on-failure destination.
const (
	// CodeRetriesExhausted: every attempt at the file failed (an error, a
	// timeout or a crash of the function) and Lambda gave up.
	CodeRetriesExhausted = "BATCH-RETRIES-EXHAUSTED"
	// CodeEventExpired: the S3 event waited in Lambda's asynchronous queue
	// longer than its maximum event age and was never (fully) processed.
	CodeEventExpired = "BATCH-EVENT-EXPIRED"
	// CodeNotProcessed: any other reason Lambda names for discarding the event.
	CodeNotProcessed = "BATCH-NOT-PROCESSED"
)

// maxReasonBytes bounds the function's error message quoted in a batch
// error, so that the batch item stays far below DynamoDB's 400 KB item limit.
const maxReasonBytes = 512

// The invocation records of the on-failure destination; RequestPayload
// is the discarded S3 event.
type (
	DestinationRecord   = lambdaevent.DestinationRecord
	DestinationRequest  = lambdaevent.DestinationRequest
	DestinationResponse = lambdaevent.DestinationResponse
)

// Invoke is the function's entry point: S3 events are ingested (Handle),
// SQS events from the on-failure queue end the batches whose events Lambda
// discarded (Drain).
func (h *handler) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	return lambdaevent.S3OrSQS(ctx, raw, h.Handle, h.Drain)
}

// Drain reads the on-failure destination's records and marks the batch of
// every object of each discarded S3 event failed, with a reason code,
// unless the batch is already final. A message whose batches could not be
// written for a transient reason is named in the partial batch response, so
// SQS delivers it again; a message that is not a destination record can
// never succeed and is dropped with a warning.
func (h *handler) Drain(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	return lambdaevent.Drain(ctx, ev, "on-failure record", h.drainOne)
}

func (h *handler) drainOne(ctx context.Context, msg events.SQSMessage) error {
	var rec DestinationRecord
	if err := json.Unmarshal([]byte(msg.Body), &rec); err != nil {
		slog.WarnContext(ctx, "dropped a message that is not an invocation record", "messageId", msg.MessageId)
		return nil
	}
	var s3ev events.S3Event
	if err := json.Unmarshal(rec.RequestPayload, &s3ev); err != nil || len(s3ev.Records) == 0 {
		slog.WarnContext(ctx, "dropped an invocation record without an S3 event", "messageId", msg.MessageId)
		return nil
	}
	code, desc := discardReason(rec)
	for _, r := range s3ev.Records {
		if err := h.endBatch(ctx, r, code, desc); err != nil {
			return err
		}
	}
	return nil
}

// discardReason turns the record's condition and the function's last error
// into a batch error.
func discardReason(rec DestinationRecord) (code, desc string) {
	c := rec.RequestContext
	switch c.Condition {
	case "RetriesExhausted":
		code = CodeRetriesExhausted
		desc = fmt.Sprintf("the file could not be processed: all %d attempts failed (%s)", c.ApproximateInvokeCount, c.Condition)
	case "EventAgeExceeded":
		code = CodeEventExpired
		desc = fmt.Sprintf("the file was not processed before its event expired after %d attempts (%s)", c.ApproximateInvokeCount, c.Condition)
	default:
		code = CodeNotProcessed
		desc = fmt.Sprintf("the file was not processed (%s)", c.Condition)
	}
	var last struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal(rec.ResponsePayload, &last) == nil && (last.Type != "" || last.Message != "") {
		desc += "; last error: " + truncateUTF8(strings.TrimSpace(last.Type+": "+last.Message), maxReasonBytes)
	}
	return code, desc
}

// endBatch marks the batch of one S3 event record failed, creating it when
// the function never got as far as opening it.
func (h *handler) endBatch(ctx context.Context, r events.S3EventRecord, code, desc string) error {
	if !strings.HasPrefix(strings.TrimPrefix(r.EventName, "s3:"), "ObjectCreated:") {
		return nil
	}
	bucket := r.S3.Bucket.Name
	key, err := url.QueryUnescape(r.S3.Object.Key)
	if err != nil {
		return nil
	}
	if t, ok := taskOf(key); ok {
		return h.endTaskBatch(ctx, t, code, desc)
	}
	datasetID, ok := datasetOf(key)
	if !ok {
		return nil
	}
	now := h.now().UnixMilli()
	created := r.EventTime
	if created.IsZero() {
		created = time.UnixMilli(now)
	}
	failure := catalog.BatchError{Code: code, Description: desc}
	b := catalog.Batch{
		ID:                      BatchID(bucket, key, uploadOf(r)),
		DatasetID:               datasetID,
		Status:                  catalog.BatchFailed,
		Created:                 created.UnixMilli(),
		Updated:                 now,
		Completed:               now,
		InputFormat:             "json",
		PartialIngestionPercent: defaultPartialPercent,
		Source:                  "s3://" + bucket + "/" + key,
		ETag:                    strings.Trim(r.S3.Object.ETag, `"`),
		Metrics:                 catalog.BatchMetrics{InputFileCount: 1},
		Errors:                  []catalog.BatchError{failure},
	}
	isNew, existing, err := h.batches.CreateBatch(ctx, b)
	if err != nil || isNew {
		return err
	}
	switch existing.Status {
	case catalog.BatchSuccess, catalog.BatchFailed, catalog.BatchAborted:
		return nil
	}
	existing.Status = catalog.BatchFailed
	existing.Updated, existing.Completed = now, now
	existing.Metrics = catalog.BatchMetrics{InputFileCount: 1}
	existing.Errors = append(existing.Errors, failure)
	if err := h.batches.PutBatch(ctx, existing); err != nil {
		return err
	}
	slog.WarnContext(ctx, "batch failed: its event was discarded", "batchId", existing.ID, "datasetId", datasetID, "code", code)
	return nil
}

// endTaskBatch marks the batch of a discarded manifest or task failed,
// with the metrics its parts give as far as they are stored, unless it is
// final or unknown.
func (h *handler) endTaskBatch(ctx context.Context, t task, code, desc string) error {
	b, err := h.batches.GetBatch(ctx, t.batch)
	if fault.KindOf(err) == fault.NotFound {
		slog.WarnContext(ctx, "discarded task of an unknown batch dropped", "batchId", t.batch)
		return nil
	}
	if err != nil {
		return err
	}
	if final(b.Status) {
		return nil
	}
	s, err := h.summaryOf(ctx, b.ID)
	if err != nil {
		return err
	}
	b.Metrics = s.metrics
	b.Status = catalog.BatchFailed
	b.Updated = h.now().UnixMilli()
	b.Completed = b.Updated
	b.Errors = []catalog.BatchError{{Code: code, Description: desc}}
	if err := h.batches.PutBatch(ctx, b); err != nil && !finishedMeanwhile(err) {
		return err
	}
	slog.WarnContext(ctx, "batch failed: its task was discarded", "batchId", b.ID, "datasetId", b.DatasetID, "task", t.kind, "code", code)
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
