package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/eventsample"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
	"github.com/mosaic-cdp/mosaic/shared/lambdaevent"
)

// failureOf is the SQS event of Lambda's record of the discarded event
// of task step of job id.
func failureOf(t *testing.T, id string, step int) []byte {
	t.Helper()
	rec := lambdaevent.DestinationRecord{
		Version:         "1.0",
		RequestContext:  lambdaevent.DestinationRequest{RequestID: "req-7", Condition: "RetriesExhausted", ApproximateInvokeCount: 3},
		RequestPayload:  s3Event(jobs.TaskKey(id, step)),
		ResponseContext: lambdaevent.DestinationResponse{StatusCode: 200, FunctionError: "Unhandled"},
	}
	body, _ := json.Marshal(rec)
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body), EventSource: "aws:sqs"}}}
	raw, _ := json.Marshal(ev)
	return raw
}

func drain(t *testing.T, f *fixture, raw []byte) events.SQSEventResponse {
	t.Helper()
	out, err := f.h.Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	resp, ok := out.(events.SQSEventResponse)
	if !ok {
		t.Fatalf("answer %T, want a partial batch response", out)
	}
	return resp
}

// The on-failure record of a job's current step ends the job in ERROR,
// saying which step, how many attempts and where the logs are.
func TestDrainEndsJobInError(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 40, 1)
	j := f.start(t, jobs.NewDatasetDelete("ds1"))
	for range 2 {
		key, _ := f.objects.next()
		if err := f.deliver(key); err != nil {
			t.Fatal(err)
		}
	}
	if resp := drain(t, f, failureOf(t, j.ID, 2)); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("drain failed: %+v", resp)
	}
	got := f.jobs.get(t, j.ID)
	if got.Status != jobs.StatusError || got.Step != 2 {
		t.Fatalf("job %+v, want ERROR at step 2", got)
	}
	for _, want := range []string{"step 2", "3 attempts", "RetriesExhausted", "req-7"} {
		if !strings.Contains(got.Error, want) {
			t.Errorf("error %q does not say %q", got.Error, want)
		}
	}
	// The pending task of step 2 now does nothing.
	f.drive(t)
	if after := f.jobs.get(t, j.ID); after.Status != jobs.StatusError || after.Step != 2 {
		t.Errorf("job went on after ERROR: %+v", after)
	}
}

// Records of steps that are not the job's current one are duplicates:
// the job is left as it is. A step saved whose next task was never
// written gets that task.
func TestDrainOfOtherSteps(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 40, 1)
	j := f.start(t, jobs.NewDatasetDelete("ds1"))
	for range 3 {
		key, _ := f.objects.next()
		if err := f.deliver(key); err != nil {
			t.Fatal(err)
		}
	}
	before := f.jobs.get(t, j.ID) // at step 3, task 3 pending
	drain(t, f, failureOf(t, j.ID, 0))
	drain(t, f, failureOf(t, j.ID, 2))
	if got := f.jobs.get(t, j.ID); got.Status != before.Status || got.Step != 3 {
		t.Errorf("job %+v after stale records, want it unchanged", got)
	}
	if n := len(f.objects.puts); n != 4 {
		t.Errorf("%d tasks written, want 4 (the existing task 3 not written again)", n)
	}
	// Step 3 saved, task 4 lost: the record of step 3 writes it.
	key, _ := f.objects.next()
	f.objects.failPuts = 3
	for range 3 {
		_ = f.deliver(key)
	}
	if got := f.jobs.get(t, j.ID); got.Step != 4 {
		t.Fatalf("step %d, want 4 saved", got.Step)
	}
	drain(t, f, failureOf(t, j.ID, 3))
	if _, ok := f.objects.objects[jobs.TaskKey(j.ID, 4)]; !ok {
		t.Fatal("task 4 not written by the drain")
	}
	f.drive(t)
	if got := f.jobs.get(t, j.ID); got.Status != jobs.StatusCompleted {
		t.Errorf("job %+v, want COMPLETED", got)
	}
}

// A task write that keeps failing is reported in the partial batch
// response, so SQS delivers the record again.
func TestDrainRetriesWhenTaskCannotBeWritten(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 40, 1)
	j := f.start(t, jobs.NewDatasetDelete("ds1"))
	key, _ := f.objects.next()
	f.objects.failPuts = 4
	for range 3 {
		_ = f.deliver(key)
	}
	resp := drain(t, f, failureOf(t, j.ID, 0))
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m1" {
		t.Errorf("response %+v, want m1 named", resp)
	}
}

// Messages that are no task's record, and records of unknown or finished
// jobs, are dropped without failing the batch.
func TestDrainDropsWhatCannotApply(t *testing.T) {
	f := newFixture(t)
	f.jobs.put(jobs.Job{ID: "done", Status: jobs.StatusCompleted, Step: 2})
	for name, raw := range map[string][]byte{
		"not a record":  []byte(`{"Records":[{"eventSource":"aws:sqs","messageId":"m1","body":"hello"}]}`),
		"unknown job":   failureOf(t, "0194a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", 0),
		"finished job":  failureOf(t, "done", 2),
		"not a task":    []byte(`{"Records":[{"eventSource":"aws:sqs","messageId":"m1","body":"{\"requestPayload\":{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"object\":{\"key\":\"ingest/x.json\"}}}]}}"}]}`),
		"empty payload": []byte(`{"Records":[{"eventSource":"aws:sqs","messageId":"m1","body":"{\"requestPayload\":{}}"}]}`),
	} {
		if resp := drain(t, f, raw); len(resp.BatchItemFailures) != 0 {
			t.Errorf("%s: %+v", name, resp)
		}
	}
	if got := f.jobs.get(t, "done"); got.Status != jobs.StatusCompleted {
		t.Errorf("finished job changed: %+v", got)
	}
}

// The sample on-failure message decodes strictly and ends its job.
func TestSampleDestinationRecord(t *testing.T) {
	var ev events.SQSEvent
	eventsample.Decode(t, "profile-jobs-sqs-destination.json", &ev)
	var rec lambdaevent.DestinationRecord
	if err := json.Unmarshal([]byte(ev.Records[0].Body), &rec); err != nil {
		t.Fatal(err)
	}
	var s3ev events.S3Event
	if err := json.Unmarshal(rec.RequestPayload, &s3ev); err != nil {
		t.Fatal(err)
	}
	id, step, ok := taskOf(s3ev.Records[0])
	if !ok {
		t.Fatal("the sample's payload is no task event")
	}
	f := newFixture(t)
	f.jobs.put(jobs.Job{ID: id, Status: jobs.StatusProcessing, Step: step, DataSetID: "ds1"})
	raw, _ := json.Marshal(ev)
	drain(t, f, raw)
	if got := f.jobs.get(t, id); got.Status != jobs.StatusError {
		t.Errorf("job %+v, want ERROR", got)
	}
}
