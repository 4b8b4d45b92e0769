package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// slowPool runs testdata/slowfn behind RIE with a one-second timeout.
func slowPool(t *testing.T) *lambdaPool {
	t.Helper()
	rie, err := findRIE(t)
	if err != nil {
		emulator.SkipOrFail(t, err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./testdata/slowfn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build slowfn: %v\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(dir, "fn.log"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	env := []string{"PATH=" + os.Getenv("PATH"), "AWS_LAMBDA_FUNCTION_NAME=slow", "AWS_LAMBDA_FUNCTION_TIMEOUT=1"}
	pool, err := newLambdaPool(ctx, "slow", rie, bin, 1, env, logFile, time.Second, discardLogger())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		pool.stop()
		logFile.Close()
	})
	return pool
}

func TestInvokeFailuresAreFunctionErrors(t *testing.T) {
	pool := slowPool(t)
	ctx := context.Background()
	if _, err := pool.Invoke(ctx, []byte(`{"say":"hello"}`)); err != nil {
		t.Fatalf("plain call: %v", err)
	}
	for _, tc := range []struct{ payload, wantType string }{
		{`{"say":"outlive"}`, "Sandbox.Timedout"},
		{`{"say":"crash"}`, "Runtime.ExitError"},
	} {
		body, err := pool.Invoke(ctx, []byte(tc.payload))
		var fe *FunctionError
		if !errors.As(err, &fe) || fe.Type != tc.wantType {
			t.Errorf("%s: got body %q err %v, want a function error of type %s", tc.payload, body, err, tc.wantType)
		}
		// The next call finds a working function again.
		if _, err := pool.Invoke(ctx, []byte(`{"say":"hello"}`)); err != nil {
			t.Errorf("after %s: %v", tc.payload, err)
		}
	}
	// A caller that gives up mid-invocation gets its context's error, and
	// the process still busy with that call does not fail the next one.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := pool.Invoke(short, []byte(`{"say":"outlive"}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("abandoned call: got %v, want the context's error", err)
	}
	if _, err := pool.Invoke(ctx, []byte(`{"say":"hello"}`)); err != nil {
		t.Errorf("after an abandoned call: %v", err)
	}
}

// TestInvokeAnswersRIEGivesForErrors covers the answers of a runtime
// interface that are not a handler's JSON result.
func TestInvokeAnswersRIEGivesForErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		wantType string
	}{
		{"timeout text", 200, "Task timed out after 3.00 seconds", "Sandbox.Timedout"},
		{"other text", 200, "something went wrong", "Runtime.InvalidResponse"},
		{"empty", 200, "", "Runtime.InvalidResponse"},
		{"error object", 200, `{"errorMessage":"x","errorType":"errorString"}`, "errorString"},
		{"exit", 502, `{"errorType":"Runtime.ExitError","errorMessage":"exit status 3"}`, "Runtime.ExitError"},
		{"bad gateway text", 502, "bad gateway", "Runtime.Unavailable"},
		{"too large", 200, `"` + strings.Repeat("a", maxInvokeResponse) + `"`, "Function.ResponseSizeTooLarge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			rp := &rieProc{pool: &lambdaPool{name: "fn"}, invokeURL: srv.URL}
			body, err := rp.invoke(context.Background(), srv.Client(), []byte(`{}`))
			var fe *FunctionError
			if !errors.As(err, &fe) || fe.Type != tc.wantType {
				t.Errorf("got body %.40q err %v, want a function error of type %s", body, err, tc.wantType)
			}
		})
	}
	t.Run("process gone", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
		}))
		defer srv.Close()
		rp := &rieProc{pool: &lambdaPool{name: "fn"}, invokeURL: srv.URL}
		_, err := rp.invoke(context.Background(), srv.Client(), []byte(`{}`))
		var fe *FunctionError
		if !errors.As(err, &fe) {
			t.Errorf("got %v, want a function error", err)
		}
	})
	t.Run("request too large", func(t *testing.T) {
		rp := &rieProc{pool: &lambdaPool{name: "fn"}, invokeURL: "http://127.0.0.1:1"}
		_, err := rp.invoke(context.Background(), http.DefaultClient, make([]byte, maxInvokeRequest+1))
		if !errors.Is(err, errRequestTooLarge) {
			t.Errorf("got %v, want errRequestTooLarge", err)
		}
	})
}

// TestStreamRetriesAFunctionThatOutlivesItsTimeout runs a real function
// behind RIE: a record that makes it time out is retried, bisected and
// finally sent to the on-failure file, and the records around it are
// processed, as Lambda's Kinesis event source does.
func TestStreamRetriesAFunctionThatOutlivesItsTimeout(t *testing.T) {
	pool := slowPool(t)
	var calls atomic.Int32
	fn := &fakeFunction{answer: func(int, []string) ([]byte, error) { return nil, nil }}
	p, fpath := testPoller(t, fn, 2, true)
	p.invoke = func(ctx context.Context, payload []byte) ([]byte, error) {
		calls.Add(1)
		return pool.Invoke(ctx, payload)
	}
	recs := records(1, 2, 3)
	recs[1].Data = []byte("outlive")
	if !p.handle(context.Background(), "shard-0", recs, 0) {
		t.Fatal("handle stopped")
	}
	raw, err := os.ReadFile(fpath)
	if err != nil {
		t.Fatalf("no on-failure record: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var rec map[string]any
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil {
		t.Fatalf("failure records %s", raw)
	}
	if rec["startSequenceNumber"] != "2" || rec["endSequenceNumber"] != "2" || !strings.Contains(rec["reason"].(string), "Sandbox.Timedout") {
		t.Errorf("got %v", rec)
	}
	if got := p.cp.get("shard-0"); got != "3" {
		t.Errorf("checkpoint %q, want 3", got)
	}
	// [1 2 3] times out, then [1] succeeds, [2 3] times out, [2] times out, [3] succeeds.
	if n := calls.Load(); n != 5 {
		t.Errorf("%d invocations, want 5", n)
	}
}

// TestS3EventRetriesAFunctionThatOutlivesItsTimeout: an S3 event whose
// function times out is tried three times and then recorded as failed.
func TestS3EventRetriesAFunctionThatOutlivesItsTimeout(t *testing.T) {
	pool := slowPool(t)
	var calls atomic.Int32
	fpath := filepath.Join(t.TempDir(), "s3-failures.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := newAsyncQueue(ctx, "slow", 1, func(ctx context.Context, payload []byte) ([]byte, error) {
		calls.Add(1)
		return pool.Invoke(ctx, payload)
	}, &failureLog{path: fpath}, discardLogger())
	q.backoff = []time.Duration{time.Millisecond, time.Millisecond}
	payload, _ := json.Marshal(s3Event("us-east-1", "land", "ingest/outlive.json", "ObjectCreated:Put", "e", 1, 1, time.Now()))
	q.enqueue(payload, "land", "ingest/outlive.json")
	eventually(t, 30*time.Second, func() error {
		if q.pending.Load() != 0 {
			return errors.New("event still queued")
		}
		return nil
	})
	if n := calls.Load(); n != 3 {
		t.Errorf("%d invocations, want 3 (one try and two retries)", n)
	}
	raw, err := os.ReadFile(fpath)
	if err != nil {
		t.Fatalf("no failure record: %v", err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil || rec["key"] != "ingest/outlive.json" || !strings.Contains(rec["reason"].(string), "Sandbox.Timedout") {
		t.Errorf("failure record %s (%v)", raw, err)
	}
}

func TestAsFunctionError(t *testing.T) {
	if fe := asFunctionError([]byte(`{"errorMessage":"boom","errorType":"errorString"}`)); fe == nil || fe.Type != "errorString" {
		t.Errorf("got %v, want errorString", fe)
	}
	for _, ok := range []string{`{"statusCode":200,"body":"x"}`, `{"batchItemFailures":[]}`, `null`, `"x"`} {
		if fe := asFunctionError([]byte(ok)); fe != nil {
			t.Errorf("%s: got function error %v", ok, fe)
		}
	}
}

// TestFunctionEnvCarriesTopology checks that a function process gets what
// the CDK app gives the deployed function: its resources by local name, the
// tenant id and its settings.
func TestFunctionEnvCarriesTopology(t *testing.T) {
	c := &Cloud{
		cfg:     Config{Env: "local", Sandbox: "prod", Tenant: "acme", Region: "us-east-1", AccessKey: "k", SecretKey: "s"},
		names:   map[string]string{topology.CatalogTable: "mosaic-local-catalog"},
		dynamo:  &emulator.Process{Endpoint: "http://127.0.0.1:1"},
		kinesis: &emulator.Process{Endpoint: "http://127.0.0.1:2"},
		edgeURL: "http://127.0.0.1:3",
	}
	f := topology.Function{
		Name:     "batch-ingest",
		Env:      map[string]string{topology.EnvCatalogTable: topology.CatalogTable},
		Settings: map[string]string{topology.EnvMaxClockSkew: "90m"},
	}
	env := c.functionEnv(f)
	for _, want := range []string{
		topology.EnvCatalogTable + "=mosaic-local-catalog",
		topology.EnvTenantID + "=acme",
		topology.EnvMaxClockSkew + "=90m",
		"AWS_LAMBDA_FUNCTION_NAME=batch-ingest",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("function env lacks %q; got %q", want, env)
		}
	}
}
