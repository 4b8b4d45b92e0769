// Package lambdaevent tells apart the events a function with two triggers
// receives: its own source's, and the SQS events of an on-failure queue it
// drains (batch-ingest and profile-jobs: S3 and SQS; stream-ingest:
// Kinesis and SQS), and answers an SQS event with a partial batch response.
package lambdaevent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
)

// SQS reads raw as an SQS event when its first record's eventSource is
// "aws:sqs" (the shape Lambda gives an SQS trigger); ok is false for any
// other event, which the caller decodes as its own source's. An event
// that is not a JSON object with Records, or an SQS event that does not
// decode, is an error.
func SQS(raw json.RawMessage) (ev events.SQSEvent, ok bool, err error) {
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return ev, false, fmt.Errorf("event is not a JSON object with Records: %w", err)
	}
	if len(probe.Records) == 0 || probe.Records[0].EventSource != "aws:sqs" {
		return ev, false, nil
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, false, fmt.Errorf("decode SQS event: %w", err)
	}
	return ev, true, nil
}

// S3OrSQS serves the two triggers of a function that hands its work on
// through S3 objects and drains its own on-failure queue: an SQS event
// goes to onSQS, whose partial batch response is the answer; anything
// else is decoded as an S3 event for onS3.
func S3OrSQS(ctx context.Context, raw json.RawMessage,
	onS3 func(context.Context, events.S3Event) error,
	onSQS func(context.Context, events.SQSEvent) events.SQSEventResponse) (any, error) {
	if sqs, ok, err := SQS(raw); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return onSQS(ctx, sqs), nil
	}
	var ev events.S3Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("decode S3 event: %w", err)
	}
	return nil, onS3(ctx, ev)
}

// Drain applies each message of an SQS event and answers Lambda's partial
// batch response: a message whose apply failed is named in it, with a
// warning, so that SQS delivers it again after its visibility timeout
// ("Handling errors for an SQS event source in Lambda", AWS Lambda
// Developer Guide). apply returns nil for a message that can never apply
// (after logging why), so that it is not delivered forever.
func Drain(ctx context.Context, ev events.SQSEvent, what string, apply func(context.Context, events.SQSMessage) error) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for _, msg := range ev.Records {
		if err := apply(ctx, msg); err != nil {
			slog.WarnContext(ctx, what+" not applied; it will be delivered again", "messageId", msg.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
		}
	}
	return resp
}
