package cloud

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// repoRoot is found from this file, so tests run from any directory.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// findRIE returns $MOSAIC_RIE or <repo>/bin/aws-lambda-rie.
func findRIE(t *testing.T) (string, error) {
	p := os.Getenv("MOSAIC_RIE")
	if p == "" {
		p = filepath.Join(repoRoot(t), "bin", "aws-lambda-rie")
	}
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("aws-lambda-rie not found (make tools): " + err.Error())
	}
	return p, nil
}

// buildEcho builds testdata/echofn as the bootstrap of every named function.
func buildEcho(t *testing.T, names ...string) string {
	t.Helper()
	dist := t.TempDir()
	bin := filepath.Join(dist, "echofn")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./testdata/echofn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build echofn: %v\n%s", err, out)
	}
	for _, n := range names {
		os.MkdirAll(filepath.Join(dist, n), 0o755)
		if err := os.Link(bin, filepath.Join(dist, n, "bootstrap")); err != nil {
			t.Fatal(err)
		}
	}
	return dist
}

func testFunctions() []topology.Function {
	env := map[string]string{topology.EnvCatalogTable: topology.CatalogTable, topology.EnvLandingBucket: topology.LandingBucket}
	return []topology.Function{
		{Name: "api-fn", Timeout: 10 * time.Second, Env: env, Concurrency: 2, Routes: []topology.Route{
			{Method: "GET", Path: "/items/{id}"}, {Method: "GET", Path: "/items/special"}, {Method: "POST", Path: "/items"},
		}},
		{Name: "s3-fn", Timeout: 10 * time.Second, Env: env, Concurrency: 1,
			S3: &topology.S3Trigger{Bucket: topology.LandingBucket, Prefix: topology.IngestPrefix}},
		{Name: "stream-fn", Timeout: 10 * time.Second, Env: env, Concurrency: 1,
			Stream: &topology.StreamTrigger{Stream: topology.IngestStream, BatchSize: 10, MaxRetries: 1, Bisect: true}},
	}
}

func startTestCloud(t *testing.T) *Cloud {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		emulator.SkipOrFail(t, err)
	}
	if _, err := emulator.ToolsDir(); err != nil {
		emulator.SkipOrFail(t, err)
	}
	rie, err := findRIE(t)
	if err != nil {
		emulator.SkipOrFail(t, err)
	}
	fns := testFunctions()
	names := make([]string, len(fns))
	for i, f := range fns {
		names[i] = f.Name
	}
	dist := buildEcho(t, names...)
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := Start(ctx, Config{
		Edge: "127.0.0.1:0", DataDir: data, OutputsFile: filepath.Join(data, "outputs.json"),
		DistDir: dist, RIE: rie, Env: "test", Functions: fns, Logger: failureLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func awsCLI(t *testing.T, edge string, args ...string) string {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", edge}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// eventually polls check until it returns nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCloudEndToEnd(t *testing.T) {
	c := startTestCloud(t)
	stopped := false
	defer func() {
		if !stopped {
			c.Stop()
		}
	}()
	edge := c.EdgeURL()
	landing, stream := c.Name(topology.LandingBucket), c.Name(topology.IngestStream)
	if landing != "mosaic-test-landing" || stream != "mosaic-test-ingest" || c.Name(topology.CatalogTable) != "mosaic-test-catalog" {
		t.Fatalf("names %q %q", landing, stream)
	}
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint, o.UsePathStyle = aws.String(edge), true
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	kin := kinesis.NewFromConfig(awsCfg, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(edge) })
	ctx := context.Background()
	getObject := func(key string) ([]byte, error) {
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(landing), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}

	t.Run("outputs file", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(filepath.Dir(c.LogsDir()), "outputs.json"))
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]map[string]string
		json.Unmarshal(raw, &out)
		if out["MosaicData-test"][topology.OutputLandingBucket] != landing || out["MosaicApp-test"][topology.OutputAPIURL] != edge ||
			out["MosaicApp-test"][topology.OutputInletID] != topology.DefaultInletID("", "prod") {
			t.Errorf("got %s", raw)
		}
	})

	t.Run("api", func(t *testing.T) {
		call := func(method, path string, sign bool) (int, []byte, http.Header) {
			req, _ := http.NewRequest(method, edge+path, nil)
			if sign {
				sum := sha256.Sum256(nil)
				v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now())
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b, resp.Header
		}
		status, body, hdr := call("GET", "/items/a%2Fb?x=1", true)
		if status != 200 || hdr.Get("X-Fn") != "echo" || hdr.Get("Set-Cookie") != "a=1" {
			t.Fatalf("got %d %s %v", status, body, hdr)
		}
		var echo struct {
			Event   events.APIGatewayV2HTTPRequest `json:"event"`
			Sandbox string                         `json:"sandbox"`
			Catalog string                         `json:"catalog"`
		}
		json.Unmarshal(body, &echo)
		if echo.Event.RouteKey != "GET /items/{id}" || echo.Event.PathParameters["id"] != "a/b" || echo.Sandbox != "prod" || echo.Catalog != "mosaic-test-catalog" {
			t.Errorf("got %+v", echo)
		}
		if status, _, _ := call("GET", "/items/special", true); status != 200 {
			t.Errorf("literal route: got %d", status)
		}
		if status, body, _ := call("GET", "/items/x", false); status != 403 {
			t.Errorf("unsigned: got %d %s", status, body)
		}
		if status, body, _ := call("GET", "/items/fail", true); status != 502 || !strings.Contains(string(body), "Internal Server Error") {
			t.Errorf("function error: got %d %s", status, body)
		}
		if status, _, _ := call("DELETE", "/items/x", true); status != 404 {
			t.Errorf("no route: got %d", status)
		}
		if status, body, _ := call("GET", "/nothing/here", false); status != 404 || string(body) != `{"message":"Not Found"}` {
			t.Errorf("no route, unsigned: got %d %s", status, body)
		}
		// A '+' reaches the function as a plus sign, written literally or
		// as %2B, and the signature made over %2B holds for both.
		for _, wire := range []string{"entityId=jane%2Btag%40example.com&n=a%20b", "entityId=jane+tag@example.com&n=a%20b"} {
			req, _ := http.NewRequest("GET", edge+"/items/q?entityId=jane%2Btag%40example.com&n=a%20b", nil)
			sum := sha256.Sum256(nil)
			v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now())
			req.URL.RawQuery = wire
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var echo struct {
				Event events.APIGatewayV2HTTPRequest `json:"event"`
			}
			json.Unmarshal(b, &echo)
			if q := echo.Event.QueryStringParameters; resp.StatusCode != 200 || q["entityId"] != "jane+tag@example.com" || q["n"] != "a b" {
				t.Errorf("query %s: got %d %v", wire, resp.StatusCode, q)
			}
		}
		// A dead function process is restarted for the next invocation.
		pool := c.pools["api-fn"]
		for _, p := range pool.procs {
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		for i := 0; i < 3; i++ {
			if status, body, _ := call("GET", "/items/again", true); status != 200 {
				t.Errorf("after kill: got %d %s", status, body)
			}
		}
	})

	t.Run("s3 event via aws cli", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "f.json")
		os.WriteFile(f, []byte(`{"a":1}`), 0o644)
		awsCLI(t, edge, "s3", "cp", f, "s3://"+landing+"/ingest/ds1/my file.json")
		awsCLI(t, edge, "s3", "cp", f, "s3://"+landing+"/other/ignored.json")
		var ev events.S3Event
		eventually(t, 10*time.Second, func() error {
			raw, err := getObject("seen/ingest/ds1/my file.json")
			if err != nil {
				return err
			}
			return json.Unmarshal(raw, &ev)
		})
		r := ev.Records[0]
		if r.EventName != "ObjectCreated:Put" || r.S3.Object.Key != "ingest/ds1/my+file.json" || r.S3.Object.Size != 7 || r.S3.Bucket.Name != landing {
			t.Errorf("got %+v", r)
		}
		if _, err := getObject("seen/other/ignored.json"); err == nil {
			t.Error("object outside the trigger prefix produced an event")
		}
	})

	t.Run("s3 multipart completion", func(t *testing.T) {
		key := "ingest/ds2/big.json"
		up, err := s3c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(landing), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		part, err := s3c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(landing), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte(`{"b":2}`))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s3c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(landing), Key: aws.String(key), UploadId: up.UploadId,
			MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
			t.Fatal(err)
		}
		var ev events.S3Event
		eventually(t, 10*time.Second, func() error {
			raw, err := getObject("seen/" + key)
			if err != nil {
				return err
			}
			return json.Unmarshal(raw, &ev)
		})
		if r := ev.Records[0]; r.EventName != "ObjectCreated:CompleteMultipartUpload" || r.S3.Object.Size != 7 {
			t.Errorf("got %+v", r)
		}
	})

	t.Run("kinesis via aws cli", func(t *testing.T) {
		awsCLI(t, edge, "kinesis", "put-record", "--stream-name", stream, "--partition-key", "p1", "--data", "hello")
		eventually(t, 10*time.Second, func() error {
			raw, err := getObject("kinesis/p1")
			if err == nil && string(raw) != "hello" {
				t.Fatalf("got %q", raw)
			}
			return err
		})
		// A record the function keeps failing ends in the on-failure file.
		if _, err := kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("p2"), Data: []byte("fail")}); err != nil {
			t.Fatal(err)
		}
		failFile := filepath.Join(filepath.Dir(c.LogsDir()), "stream-failures.jsonl")
		eventually(t, 10*time.Second, func() error {
			raw, err := os.ReadFile(failFile)
			if err != nil {
				return err
			}
			if !strings.Contains(string(raw), `"reason":"partial batch failure"`) {
				return errors.New("no failure record yet")
			}
			return nil
		})
	})

	t.Run("dynamodb via aws cli", func(t *testing.T) {
		if out := awsCLI(t, edge, "dynamodb", "list-tables"); !strings.Contains(out, "mosaic-test-profile") {
			t.Errorf("got %s", out)
		}
	})

	t.Run("edge verifies every service", func(t *testing.T) {
		raw := func(req *http.Request) (int, string, string) {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
		}
		target := func(service, op string) string {
			if service == "dynamodb" {
				return "DynamoDB_20120810." + op
			}
			return "Kinesis_20131202." + op
		}
		apiCall := func(service, op, body string) *http.Request {
			req, _ := http.NewRequest("POST", edge+"/", strings.NewReader(body))
			req.Header.Set("X-Amz-Target", target(service, op))
			req.Header.Set("Content-Type", "application/x-amz-json-1.0")
			if service == "kinesis" {
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			}
			return req
		}
		sign := func(req *http.Request, body, service, secret string) *http.Request {
			sum := sha256.Sum256([]byte(body))
			if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "test", SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			return req
		}
		// DynamoDB and Kinesis: unsigned, wrong secret, unknown key and a
		// body changed after signing are refused with the service's JSON
		// error; the same call signed right goes through.
		for _, service := range []string{"dynamodb", "kinesis"} {
			op, body := "ListTables", `{}`
			if service == "kinesis" {
				op = "ListStreams"
			}
			cases := []struct {
				name     string
				req      *http.Request
				wantType string
			}{
				{"unsigned", apiCall(service, op, body), "MissingAuthenticationTokenException"},
				{"wrong secret", sign(apiCall(service, op, body), body, service, "wrong"), "InvalidSignatureException"},
				{"unknown key", func() *http.Request {
					req := apiCall(service, op, body)
					sum := sha256.Sum256([]byte(body))
					v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "nobody", SecretAccessKey: "test"}, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now())
					return req
				}(), "UnrecognizedClientException"},
				{"tampered body", func() *http.Request {
					req := sign(apiCall(service, op, body), body, service, "test")
					req.Body, req.ContentLength = io.NopCloser(strings.NewReader(`{ }`)), 3
					return req
				}(), "InvalidSignatureException"},
			}
			for _, tc := range cases {
				status, ctype, b := raw(tc.req)
				var e struct {
					Type    string `json:"__type"`
					Message string `json:"message"`
				}
				json.Unmarshal([]byte(b), &e)
				if status != 400 || !strings.HasSuffix(e.Type, "#"+tc.wantType) || e.Message == "" || !strings.HasPrefix(ctype, "application/x-amz-json") {
					t.Errorf("%s %s: got %d %s %s, want 400 %s", service, tc.name, status, ctype, b, tc.wantType)
				}
			}
			if status, _, b := raw(sign(apiCall(service, op, body), body, service, "test")); status != 200 {
				t.Errorf("%s signed: got %d %s", service, status, b)
			}
		}

		// S3: the same refusals in S3's XML; the object is never written.
		key := "edge/secret.json"
		objURL := edge + "/" + landing + "/" + key
		put := func(body string) *http.Request {
			req, _ := http.NewRequest("PUT", objURL, strings.NewReader(body))
			sum := sha256.Sum256([]byte(body))
			req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			return req
		}
		signS3 := func(req *http.Request, body, key, secret string) *http.Request {
			sum := sha256.Sum256([]byte(body))
			if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), "s3", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			return req
		}
		for _, tc := range []struct {
			name       string
			req        *http.Request
			wantStatus int
			wantCode   string
		}{
			{"unsigned put", put("x"), 403, "AccessDenied"},
			{"unsigned get", func() *http.Request { r, _ := http.NewRequest("GET", edge+"/"+landing+"/seen/x", nil); return r }(), 403, "AccessDenied"},
			{"wrong secret", signS3(put("x"), "x", "test", "wrong"), 403, "SignatureDoesNotMatch"},
			{"unknown key", signS3(put("x"), "x", "nobody", "test"), 403, "InvalidAccessKeyId"},
			{"claims s3 but signed for kinesis", func() *http.Request {
				req := put("x")
				sum := sha256.Sum256([]byte("x"))
				v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req, hex.EncodeToString(sum[:]), "s3", "us-east-1", time.Now())
				req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "/s3/", "/kinesis/", 1))
				return req
			}(), 400, "InvalidSignatureException"},
			{"tampered body", func() *http.Request {
				req := signS3(put("hello"), "hello", "test", "test")
				req.Body = io.NopCloser(strings.NewReader("HELLO"))
				return req
			}(), 400, "XAmzContentSHA256Mismatch"},
			{"expired presigned url", func() *http.Request {
				req, _ := http.NewRequest("GET", objURL+"?X-Amz-Expires=60", nil)
				u, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now().Add(-10*time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				r, _ := http.NewRequest("GET", u, nil)
				return r
			}(), 403, "AccessDenied"},
		} {
			status, _, b := raw(tc.req)
			if status != tc.wantStatus || (tc.wantCode != "" && !strings.Contains(b, "<Code>"+tc.wantCode+"</Code>") && !strings.Contains(b, tc.wantCode)) {
				t.Errorf("s3 %s: got %d %s, want %d %s", tc.name, status, b, tc.wantStatus, tc.wantCode)
			}
		}
		if _, err := getObject(key); err == nil {
			t.Error("an unverified PUT wrote the object")
		}

		// A body signed chunk by chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)
		// is stored as its data; a changed chunk is refused.
		for _, tc := range []struct {
			name, key string
			change    bool
			want      int
		}{{"streaming", "edge/chunked.txt", false, 200}, {"streaming, changed chunk", "edge/chunked-bad.txt", true, 400}} {
			creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
			now := time.Now()
			req, _ := http.NewRequest("PUT", edge+"/"+landing+"/"+tc.key, nil)
			req.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Decoded-Content-Length", "11")
			if err := v4.NewSigner().SignHTTP(ctx, creds, req, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "s3", "us-east-1", now); err != nil {
				t.Fatal(err)
			}
			auth := req.Header.Get("Authorization")
			seed, _ := hex.DecodeString(auth[strings.LastIndex(auth, "Signature=")+len("Signature="):])
			signer := v4.NewStreamSigner(creds, "s3", "us-east-1", seed)
			var body bytes.Buffer
			for _, c := range []string{"hello ", "world", ""} {
				sig, _ := signer.GetSignature(ctx, nil, []byte(c), now)
				if tc.change && c == "world" {
					c = "WORLD"
				}
				fmt.Fprintf(&body, "%x;chunk-signature=%x\r\n%s\r\n", len(c), sig, c)
			}
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body.Bytes())), int64(body.Len())
			status, _, b := raw(req)
			got, _ := getObject(tc.key)
			if status != tc.want || (tc.want == 200) != (string(got) == "hello world") {
				t.Errorf("%s: got %d %s, stored %q", tc.name, status, b, got)
			}
		}

		// Presigned URLs made by the SDK work for PUT and GET.
		presign := s3.NewPresignClient(s3c)
		pput, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(landing), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("PUT", pput.URL, strings.NewReader("presigned"))
		if status, _, b := raw(req); status != 200 {
			t.Fatalf("presigned put: got %d %s", status, b)
		}
		pget, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(landing), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		req, _ = http.NewRequest("GET", pget.URL, nil)
		if status, _, b := raw(req); status != 200 || b != "presigned" {
			t.Errorf("presigned get: got %d %s", status, b)
		}

		// The AWS CLI's multipart upload (parts of 8 MB) goes through.
		f := filepath.Join(t.TempDir(), "big.bin")
		os.WriteFile(f, bytes.Repeat([]byte("0123456789abcdef"), (9<<20)/16), 0o644)
		awsCLI(t, edge, "s3", "cp", f, "s3://"+landing+"/edge/big.bin")
		if got, err := getObject("edge/big.bin"); err != nil || len(got) != 9<<20 {
			t.Errorf("multipart via cli: got %d bytes, %v", len(got), err)
		}
		// The SDK's signed calls are refused with a wrong secret.
		bad := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "wrong", "")}, func(o *s3.Options) {
			o.BaseEndpoint, o.UsePathStyle = aws.String(edge), true
		})
		_, err = bad.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(landing), Key: aws.String(key)})
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "SignatureDoesNotMatch" {
			t.Errorf("sdk with wrong secret: got %v", err)
		}
	})

	t.Run("stop leaves no process", func(t *testing.T) {
		var pids []int
		for _, p := range c.pools {
			for _, rp := range p.procs {
				pids = append(pids, rp.cmd.Process.Pid)
			}
		}
		stopped = true
		c.Stop()
		for _, pid := range pids {
			if err := syscall.Kill(pid, 0); err == nil {
				t.Errorf("process %d still running", pid)
			}
		}
		if _, err := http.Get(edge); err == nil {
			t.Error("edge still answering")
		}
	})
}

// lockedBuffer collects the cloud's log, which goroutines write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// failureLogger keeps the cloud's warnings and prints them only when the
// test fails, so that a failure says why a call went wrong.
func failureLogger(t *testing.T) *slog.Logger {
	b := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			b.mu.Lock()
			t.Logf("local cloud log:\n%s", b.buf.String())
			b.mu.Unlock()
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
