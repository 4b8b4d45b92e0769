package cloud

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
)

// faultyDynamo starts dynalite behind a fault proxy and returns the proxy
// and a client of it with the SDK's standard retries (attempts: the
// SDK's maximum attempts per call, 1 for none).
func faultyDynamo(t *testing.T, f Faults, attempts int) (*faultProxy, *dynamodb.Client) {
	t.Helper()
	ddb, err := emulator.StartDynamoDB(context.Background(), emulator.Options{})
	if err != nil {
		emulator.SkipOrFail(t, err)
	}
	t.Cleanup(ddb.Stop)
	p, err := newFaultProxy(f, ddb.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	client := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   awshttp.NewBuildableClient().WithTimeout(time.Minute),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = 10 * time.Millisecond
		}),
	})
	return p, client
}

// TestFaultProxyAnswersAsDynamoDB: each fault reaches the SDK as the typed
// error DynamoDB's answer gives (the SDK checks the CRC32 header against
// the body, and would fail otherwise), and the SDK classifies throttling,
// 500s and lost answers as retryable, as it does on AWS.
func TestFaultProxyAnswersAsDynamoDB(t *testing.T) {
	for _, kind := range FaultKinds {
		t.Run(kind, func(t *testing.T) {
			p, client := faultyDynamo(t, Faults{Rate: 1, Kinds: []string{kind}, Delay: 50 * time.Millisecond}, 1)
			_, err := client.ListTables(context.Background(), &dynamodb.ListTablesInput{})
			if err == nil {
				t.Fatal("call succeeded through a proxy failing every call")
			}
			var api smithy.APIError
			switch kind {
			case FaultThrottle:
				var pte *types.ProvisionedThroughputExceededException
				if !errors.As(err, &pte) {
					t.Fatalf("got %v, want ProvisionedThroughputExceededException", err)
				}
			case FaultInternal:
				var ise *types.InternalServerError
				if !errors.As(err, &ise) {
					t.Fatalf("got %v, want InternalServerError", err)
				}
			case FaultTimeout:
				if errors.As(err, &api) {
					t.Fatalf("got the service error %v, want no answer", err)
				}
			}
			if !retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool() && !isThrottle(err) {
				t.Errorf("%v is not retryable for the SDK", err)
			}
			if got := p.counts(); got.Calls != 1 {
				t.Errorf("counts %+v, want 1 call", got)
			}
		})
	}
}

func isThrottle(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ProvisionedThroughputExceededException"
}

// TestFaultProxyRetriedCallsSucceed: at a 20 % rate, the SDK's standard
// retries (4 attempts, the DynamoDB client's default) carry most calls
// through; every call the proxy saw is counted, and the draws of one seed
// repeat.
func TestFaultProxyRetriedCallsSucceed(t *testing.T) {
	f := Faults{Rate: 0.2, Seed: 7, Delay: 10 * time.Millisecond}
	p, client := faultyDynamo(t, f, 4)
	failed := 0
	for range 100 {
		if _, err := client.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
			failed++
		}
	}
	c := p.counts()
	faults := c.Throttled + c.Internal + c.Timeout
	// Every call ends in one answered attempt or in faults only.
	if faults == 0 || c.Calls != 100-int64(failed)+faults {
		t.Errorf("counts %+v with %d failed calls", c, failed)
	}
	if failed > 5 {
		t.Errorf("%d of 100 calls failed after 4 attempts at a 20%% fault rate", failed)
	}
	// The same seed draws the same faults.
	a, _ := newFaultProxy(f, "http://127.0.0.1:1")
	b, _ := newFaultProxy(f, "http://127.0.0.1:1")
	for i := range 1000 {
		ka, aa := a.draw()
		kb, ab := b.draw()
		if ka != kb || aa != ab {
			t.Fatalf("draw %d: %q/%v and %q/%v with one seed", i, ka, aa, kb, ab)
		}
	}
}

func TestFaultsValidate(t *testing.T) {
	if _, err := ParseFaultKinds("throttle,slow"); err == nil {
		t.Error("unknown kind accepted")
	}
	if k, err := ParseFaultKinds("throttle, timeout"); err != nil || len(k) != 2 {
		t.Errorf("got %v, %v", k, err)
	}
	if err := (Faults{Rate: 1.5}).validate(); err == nil {
		t.Error("rate 1.5 accepted")
	}
	if (Faults{Rate: 0.2, Functions: []string{"stream-ingest"}}).applies("schema-api") {
		t.Error("faults apply to a function not named")
	}
}
