// Package lambdaevent tells apart the events a function with two triggers
// receives: its own source's, and the SQS events of an on-failure queue it
// drains (batch-ingest: S3 and SQS; stream-ingest: Kinesis and SQS).
package lambdaevent

import (
	"encoding/json"
	"fmt"

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
