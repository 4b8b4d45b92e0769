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
		name    string
		start   func(context.Context, Options) (*Process, error)
		body    string
		persist bool
	}{
		{"dynamodb persisted", StartDynamoDB, `{}`, true},
		{"dynamodb in memory", StartDynamoDB, `{}`, false},
		{"kinesis persisted", StartKinesis, `{}`, true},
		{"kinesis in memory", StartKinesis, `{}`, false},
		{"moto", StartMoto, `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			if tt.persist {
				o.DataDir = t.TempDir()
			}
			p, err := tt.start(ctx, o)
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

// Where moto_server is missing, the error says how to install it, so that
// SkipOrFail's message (a failure under MOSAIC_REQUIRE_EMULATORS=1, a skip
// otherwise) tells what to do.
func TestMotoMissingSaysHowToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	_, err := StartMoto(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), MotoInstall) {
		t.Fatalf("StartMoto without moto_server = %v, want an error naming %s", err, MotoInstall)
	}
}
