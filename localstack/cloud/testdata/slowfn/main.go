// Command slowfn is a stand-in Lambda for the local cloud's failure tests.
// It needs no AWS service. Its answer depends on the event it is given: an
// event holding the text "outlive" runs past the function's timeout, one
// holding "crash" exits the process mid-invocation, and anything else
// succeeds with an empty Kinesis batch response.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, raw json.RawMessage) (any, error) {
		var ev events.KinesisEvent
		_ = json.Unmarshal(raw, &ev)
		text := raw
		for _, r := range ev.Records {
			text = append(text, r.Kinesis.Data...)
		}
		switch {
		case bytes.Contains(text, []byte("outlive")):
			deadline, _ := ctx.Deadline()
			time.Sleep(time.Until(deadline) + 2*time.Second)
		case bytes.Contains(text, []byte("crash")):
			os.Exit(3)
		}
		return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}, nil
	})
}
