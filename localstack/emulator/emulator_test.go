package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestDynamoDBAndKinesisStartAndStop(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		start func(context.Context, Options) (*Process, error)
		body  string
	}{
		{"dynamodb", StartDynamoDB, `{}`},
		{"kinesis", StartKinesis, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.start(ctx, Options{DataDir: t.TempDir()})
			if err != nil {
				SkipOrFail(t, err)
			}
			resp, err := http.Post(p.Endpoint, "application/x-amz-json-1.0", strings.NewReader(tt.body))
			if err != nil {
				t.Fatalf("emulator not answering: %v", err)
			}
			resp.Body.Close()
			p.Stop()
			select {
			case <-p.Done():
			default:
				t.Fatal("process still running after Stop")
			}
			if _, err := http.Post(p.Endpoint, "application/x-amz-json-1.0", strings.NewReader(tt.body)); err == nil {
				t.Error("emulator still answering after Stop")
			}
		})
	}
}
