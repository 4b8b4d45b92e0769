package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
	"github.com/mosaic-cdp/mosaic/shared/lambdaevent"
)

// Drain reads the on-failure queue's invocation records (Lambda's records
// of task events it discarded after its retries) and ends each job whose
// step was given up in ERROR. A message that could not be applied for a
// transient reason is named in the partial batch response, so SQS
// delivers it again; one that is not an invocation record of a task can
// never apply and is dropped with a warning.
func (h *handler) Drain(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	return lambdaevent.Drain(ctx, ev, "on-failure record", h.drainOne)
}

func (h *handler) drainOne(ctx context.Context, msg events.SQSMessage) error {
	var rec lambdaevent.DestinationRecord
	if err := json.Unmarshal([]byte(msg.Body), &rec); err != nil {
		slog.WarnContext(ctx, "dropped a message that is not an invocation record", "messageId", msg.MessageId)
		return nil
	}
	var s3ev events.S3Event
	if err := json.Unmarshal(rec.RequestPayload, &s3ev); err != nil || len(s3ev.Records) == 0 {
		slog.WarnContext(ctx, "dropped an invocation record without an S3 event", "messageId", msg.MessageId)
		return nil
	}
	for _, r := range s3ev.Records {
		id, step, ok := taskOf(r)
		if !ok {
			continue
		}
		if err := h.discarded(ctx, id, step, rec); err != nil {
			return err
		}
	}
	return nil
}

// discarded ends job id in ERROR when its step n, whose event Lambda gave
// up on, is still the job's step. When step n was saved but the task of
// step n+1 may never have been written (the step's hand-on failed each
// time), that task is written now and the job goes on. A job that moved
// further, ended or is gone is left as it is: the record was of a
// duplicate.
func (h *handler) discarded(ctx context.Context, id string, n int, rec lambdaevent.DestinationRecord) error {
	j, err := h.store.GetJob(ctx, id)
	if fault.KindOf(err) == fault.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if jobs.Final(j.Status) {
		return nil
	}
	switch j.Step {
	case n + 1:
		return jobs.EnsureTask(ctx, h.objects, h.bucket, id, n+1)
	case n:
	default:
		return nil
	}
	c := rec.RequestContext
	j.Status = jobs.StatusError
	j.Error = fmt.Sprintf("step %d was given up after %d attempts (%s); the profile-jobs logs of request %s say why. The job may be created again: deletes are idempotent",
		n, c.ApproximateInvokeCount, c.Condition, c.RequestID)
	j.SetMetrics(h.now())
	if ok, err := h.save(ctx, j, n); !ok {
		return err
	}
	slog.ErrorContext(ctx, "job failed: its step was discarded", "jobId", id, "step", n, "condition", c.Condition)
	return nil
}
