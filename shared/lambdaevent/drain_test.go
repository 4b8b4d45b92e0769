package lambdaevent

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestDrainNamesWhatFailed: the partial batch response names exactly the
// messages whose apply failed, in order, and none that applied.
func TestDrainNamesWhatFailed(t *testing.T) {
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "a"}, {MessageId: "b"}, {MessageId: "c"}, {MessageId: "d"}}}
	var seen []string
	resp := Drain(context.Background(), ev, "record", func(_ context.Context, m events.SQSMessage) error {
		seen = append(seen, m.MessageId)
		if m.MessageId == "b" || m.MessageId == "d" {
			return errors.New("throttled")
		}
		return nil
	})
	if len(seen) != 4 {
		t.Fatalf("applied %v, want every message once", seen)
	}
	if got := resp.BatchItemFailures; len(got) != 2 || got[0].ItemIdentifier != "b" || got[1].ItemIdentifier != "d" {
		t.Errorf("batch item failures %+v, want b and d", got)
	}
}

// TestS3OrSQS: an SQS event goes to onSQS and its answer is returned; an
// S3 event goes to onS3; an event that is not a JSON object is an error.
func TestS3OrSQS(t *testing.T) {
	var got string
	onS3 := func(_ context.Context, ev events.S3Event) error {
		got = "s3:" + ev.Records[0].S3.Object.Key
		return nil
	}
	onSQS := func(_ context.Context, ev events.SQSEvent) events.SQSEventResponse {
		got = "sqs:" + ev.Records[0].MessageId
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "m1"}}}
	}
	out, err := S3OrSQS(context.Background(), []byte(`{"Records":[{"eventSource":"aws:sqs","messageId":"m1"}]}`), onS3, onSQS)
	if r, ok := out.(events.SQSEventResponse); err != nil || !ok || got != "sqs:m1" || len(r.BatchItemFailures) != 1 {
		t.Errorf("SQS event: %v %v %q", out, err, got)
	}
	out, err = S3OrSQS(context.Background(), []byte(`{"Records":[{"eventSource":"aws:s3","s3":{"object":{"key":"jobs/x/000001.json"}}}]}`), onS3, onSQS)
	if err != nil || out != nil || got != "s3:jobs/x/000001.json" {
		t.Errorf("S3 event: %v %v %q", out, err, got)
	}
	if _, err := S3OrSQS(context.Background(), []byte(`"no"`), onS3, onSQS); err == nil {
		t.Error("an event that is not an object was accepted")
	}
}
