//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// apiResponse is an answer of the HTTPS API.
type apiResponse struct {
	Status int
	Body   []byte
	Header http.Header
}

func (r apiResponse) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode answer %s: %v", r.Body, err)
	}
}

// call sends a request signed with AWS Signature V4 for execute-api, as any
// AWS SDK user would; secret overrides the signing secret when not empty.
func call(t *testing.T, method, path string, body any, secret string) apiResponse {
	t.Helper()
	var payload []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		payload = b
	case string:
		payload = []byte(b)
	default:
		var err error
		if payload, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, tgt.APIURL+path, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tgt.Sandbox != "" {
		req.Header.Set("x-sandbox-name", tgt.Sandbox)
	}
	if secret == "" {
		secret = tgt.Secret
	}
	sum := sha256.Sum256(payload)
	creds := aws.Credentials{AccessKeyID: tgt.AccessID, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", tgt.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// callUnsigned sends a request with no signature at all.
func callUnsigned(t *testing.T, method, path string) apiResponse {
	t.Helper()
	req, err := http.NewRequest(method, tgt.APIURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) apiResponse {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiResponse{Status: resp.StatusCode, Body: b, Header: resp.Header}
}

// must calls and fails the test unless the status is want.
func must(t *testing.T, want int, method, path string, body any) apiResponse {
	t.Helper()
	r := call(t, method, path, body, "")
	if r.Status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.Status, r.Body, want)
	}
	return r
}

// awsCLI runs the real AWS CLI against the target.
func awsCLI(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatalf("the AWS CLI is not installed ('make tools' installs it): %v", err)
	}
	if tgt.Edge != "" {
		args = append([]string{"--endpoint-url", tgt.Edge}, args...)
	}
	cmd := exec.Command("aws", args...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+tgt.AccessID, "AWS_SECRET_ACCESS_KEY="+tgt.Secret,
		"AWS_DEFAULT_REGION="+tgt.Region, "AWS_REGION="+tgt.Region, "AWS_PAGER=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// cliV2 reports whether the installed AWS CLI is version 2, which reads
// blob arguments as base64 unless told otherwise.
func cliV2(t *testing.T) bool {
	t.Helper()
	out, err := exec.Command("aws", "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("aws --version: %v", err)
	}
	return strings.HasPrefix(string(out), "aws-cli/2")
}

// putRecord puts one record on the ingest stream with the AWS CLI.
func putRecord(t *testing.T, partitionKey string, data []byte) {
	t.Helper()
	args := []string{"kinesis", "put-record", "--stream-name", tgt.Stream, "--partition-key", partitionKey, "--data", string(data)}
	if cliV2(t) {
		args = append(args, "--cli-binary-format", "raw-in-base64-out")
	}
	awsCLI(t, args...)
}

// eventually polls check until it returns nil or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	wait := 50 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v: %v", what, within, err)
		}
		time.Sleep(wait) // polling a remote state with a deadline: there is nothing to wait on
		if wait < 500*time.Millisecond {
			wait *= 2
		}
	}
}

// dig walks a decoded JSON value by keys.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
