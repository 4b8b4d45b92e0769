package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// server answers 200 "ok" when the request verifies, else 403 and the message.
func server(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := v.Verify(r, body); err != nil {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, err.Error())
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func verifier() *Verifier {
	return &Verifier{Service: "execute-api", Region: "us-east-1", Secrets: map[string]string{"test": "test"}}
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type signOpts struct {
	key, secret, service, region string
	at                           time.Time
	tamper                       func(*http.Request)
	body                         string
}

func signed(t *testing.T, method, url string, o signOpts) *http.Request {
	t.Helper()
	if o.key == "" {
		o.key, o.secret = "test", "test"
	}
	if o.service == "" {
		o.service = "execute-api"
	}
	if o.region == "" {
		o.region = "us-east-1"
	}
	if o.at.IsZero() {
		o.at = time.Now()
	}
	req, err := http.NewRequest(method, url, strings.NewReader(o.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Custom", "a  b")
	creds := aws.Credentials{AccessKeyID: o.key, SecretAccessKey: o.secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hashHex([]byte(o.body)), o.service, o.region, o.at); err != nil {
		t.Fatal(err)
	}
	if o.tamper != nil {
		o.tamper(req)
	}
	return req
}

func TestVerifySDKSignatures(t *testing.T) {
	srv := server(t, verifier())
	tests := []struct {
		name, method, path string
		o                  signOpts
		wantStatus         int
		wantMsg            string
	}{
		{name: "get", method: "GET", path: "/data/core/ups/access/entities", wantStatus: 200},
		{name: "query sorted and encoded", method: "GET", path: "/x?b=2&a=1&a=0&space=a%20b&slash=%2F&empty", wantStatus: 200},
		{name: "encoded slash in segment", method: "GET", path: "/data/foundation/schemaregistry/tenant/schemas/https:%2F%2Fns.adobe.com%2Ft%2Fs", wantStatus: 200},
		{name: "space and unicode in path", method: "GET", path: "/a%20b/%C3%A9t%C3%A9", wantStatus: 200},
		{name: "post body", method: "POST", path: "/p", o: signOpts{body: `{"a":1}`}, wantStatus: 200},
		{name: "tampered body", method: "POST", path: "/p", o: signOpts{body: `{"a":1}`, tamper: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"a":2}`))
		}}, wantStatus: 403, wantMsg: "does not match"},
		{name: "tampered signed header", method: "GET", path: "/p", o: signOpts{tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", time.Now().Add(time.Second).UTC().Format(timeFormat))
		}}, wantStatus: 403, wantMsg: "signature we calculated"},
		{name: "tampered path", method: "GET", path: "/p", o: signOpts{tamper: func(r *http.Request) { r.URL.Path = "/q" }},
			wantStatus: 403, wantMsg: "signature we calculated"},
		{name: "tampered query", method: "GET", path: "/p?a=1", o: signOpts{tamper: func(r *http.Request) { r.URL.RawQuery = "a=2" }},
			wantStatus: 403, wantMsg: "signature we calculated"},
		{name: "wrong secret", method: "GET", path: "/p", o: signOpts{key: "test", secret: "nope"}, wantStatus: 403, wantMsg: "signature we calculated"},
		{name: "unknown key", method: "GET", path: "/p", o: signOpts{key: "AKIDUNKNOWN", secret: "test"}, wantStatus: 403, wantMsg: MsgInvalidToken},
		{name: "wrong service", method: "GET", path: "/p", o: signOpts{service: "s3"}, wantStatus: 403, wantMsg: "correct service"},
		{name: "wrong region", method: "GET", path: "/p", o: signOpts{region: "eu-west-1"}, wantStatus: 403, wantMsg: "valid region"},
		{name: "clock skew within 15 min", method: "GET", path: "/p", o: signOpts{at: time.Now().Add(-14 * time.Minute)}, wantStatus: 200},
		{name: "clock skew beyond 15 min", method: "GET", path: "/p", o: signOpts{at: time.Now().Add(-16 * time.Minute)}, wantStatus: 403, wantMsg: "Signature expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := do(t, signed(t, tc.method, srv.URL+tc.path, tc.o))
			if status != tc.wantStatus || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("got %d %q, want %d containing %q", status, msg, tc.wantStatus, tc.wantMsg)
			}
		})
	}
}

func TestVerifyUnsigned(t *testing.T) {
	srv := server(t, verifier())
	req, _ := http.NewRequest("GET", srv.URL+"/p", nil)
	if status, msg := do(t, req); status != 403 || msg != MsgMissingToken {
		t.Errorf("got %d %q, want 403 %q", status, msg, MsgMissingToken)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/p", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/execute-api/aws4_request")
	if status, _ := do(t, req); status != 403 {
		t.Errorf("incomplete header: got %d, want 403", status)
	}
}

func TestVerifyPresigned(t *testing.T) {
	srv := server(t, verifier())
	for _, tc := range []struct {
		name   string
		at     time.Time
		expire string
		want   int
	}{
		{"valid", time.Now(), "300", 200},
		{"expired", time.Now().Add(-10 * time.Minute), "60", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/a%2Fb/c?x=1&X-Amz-Expires="+tc.expire, nil)
			url, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"},
				req, "UNSIGNED-PAYLOAD", "execute-api", "us-east-1", tc.at)
			if err != nil {
				t.Fatal(err)
			}
			get, _ := http.NewRequest("GET", url, nil)
			if status, msg := do(t, get); status != tc.want {
				t.Errorf("got %d %q, want %d", status, msg, tc.want)
			}
		})
	}
}

func TestVerifyCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not on PATH")
	}
	srv := server(t, verifier())
	for _, tc := range []struct {
		name, user, path, body string
		want                   string
	}{
		{"get", "test:test", "/data/core/ups/access/entities?schema.name=_xdm.context.profile&entityId=a%40b.com", "", "ok"},
		{"encoded slash", "test:test", "/tenant/schemas/https:%2F%2Fns%2Fx", "", "ok"},
		{"post", "test:test", "/p", `{"a":1}`, "ok"},
		{"wrong secret", "test:bad", "/p", "", "signature we calculated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-s", "--aws-sigv4", "aws:amz:us-east-1:execute-api", "--user", tc.user}
			if tc.body != "" {
				args = append(args, "-H", "Content-Type: application/json", "--data-binary", tc.body)
			}
			out, err := exec.Command("curl", append(args, srv.URL+tc.path)...).CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v %s", err, out)
			}
			if !bytes.Contains(out, []byte(tc.want)) {
				t.Errorf("got %q, want %q", out, tc.want)
			}
		})
	}
}

func TestScopeOf(t *testing.T) {
	req := signed(t, "GET", "http://localhost/x", signOpts{service: "kinesis"})
	s, ok := ScopeOf(req)
	if !ok || s.Service != "kinesis" || s.Region != "us-east-1" || s.AccessKey != "test" {
		t.Errorf("got %+v %v, want kinesis scope", s, ok)
	}
	plain, _ := http.NewRequest("GET", "http://localhost/x", nil)
	if _, ok := ScopeOf(plain); ok {
		t.Error("unsigned request has a scope")
	}
}

// TestVerifyDeclared checks S3's form: the signature covers the declared
// payload hash, and HashChecker refuses a body that is not the one hashed.
func TestVerifyDeclared(t *testing.T) {
	v := &Verifier{Service: "s3", Region: "us-east-1", Secrets: map[string]string{"test": "test"}}
	sign := func(body, payloadHash string, tamper func(*http.Request)) *http.Request {
		req, _ := http.NewRequest("PUT", "http://localhost/bucket/key", strings.NewReader(body))
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"},
			req, payloadHash, "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		if tamper != nil {
			tamper(req)
		}
		return req
	}
	for _, tc := range []struct {
		name       string
		req        *http.Request
		wantReason Reason
		wantErr    bool
		wantBody   bool // reading the body succeeds
	}{
		{name: "sha256", req: sign("hello", hashHex([]byte("hello")), nil), wantBody: true},
		{name: "unsigned payload", req: sign("hello", unsignedPayload, nil), wantBody: true},
		{name: "streaming", req: streaming(t, []string{"hello ", "world"}, nil), wantBody: true},
		{name: "streaming, chunk changed", req: streaming(t, []string{"hello ", "world"}, func(b []byte) []byte {
			return bytes.Replace(b, []byte("world"), []byte("WORLD"), 1)
		})},
		{name: "streaming, chunk dropped", req: streaming(t, []string{"hello ", "world"}, func(b []byte) []byte {
			i := bytes.Index(b, []byte("\r\nhello \r\n")) + len("\r\nhello \r\n")
			j := bytes.Index(b, []byte("\r\nworld\r\n")) + len("\r\nworld\r\n")
			return append(append([]byte{}, b[:i]...), b[j:]...)
		})},
		{name: "streaming, data after the last chunk", req: streaming(t, []string{"hello"}, func(b []byte) []byte {
			return append(b, "extra"...)
		})},
		{name: "streaming, garbage", req: streaming(t, []string{"hello"}, func([]byte) []byte { return []byte("hello") })},
		{name: "tampered body", req: sign("hello", hashHex([]byte("hello")), func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("HELLO"))
		})},
		{name: "declared hash changed", req: sign("hello", hashHex([]byte("hello")), func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", hashHex([]byte("other")))
		}), wantErr: true, wantReason: ReasonSignature},
		{name: "signed trailer, not checked so refused", req: sign("hello", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", nil), wantErr: true, wantReason: ReasonSignature},
		{name: "no declared hash", req: sign("hello", hashHex([]byte("hello")), func(r *http.Request) {
			r.Header.Del("X-Amz-Content-Sha256")
		}), wantErr: true, wantReason: ReasonSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, declared, err := v.VerifyDeclared(tc.req)
			if tc.wantErr {
				var e *Error
				if !errors.As(err, &e) || e.Reason != tc.wantReason {
					t.Fatalf("got %v, want reason %d", err, tc.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_ = declared
			_, err = io.ReadAll(tc.req.Body)
			var e *Error
			if tc.wantBody && err != nil {
				t.Errorf("reading body: %v", err)
			}
			if !tc.wantBody && (!errors.As(err, &e) || e.Reason != ReasonPayload) {
				t.Errorf("reading a tampered body: got %v, want a payload error", err)
			}
		})
	}
}

func TestVerifyReasons(t *testing.T) {
	v := verifier()
	for _, tc := range []struct {
		name string
		req  *http.Request
		want Reason
	}{
		{"unsigned", func() *http.Request { r, _ := http.NewRequest("GET", "http://h/p", nil); return r }(), ReasonMissing},
		{"unknown key", signed(t, "GET", "http://h/p", signOpts{key: "nobody", secret: "x"}), ReasonUnknownKey},
		{"wrong secret", signed(t, "GET", "http://h/p", signOpts{key: "test", secret: "x"}), ReasonSignature},
		{"old", signed(t, "GET", "http://h/p", signOpts{at: time.Now().Add(-time.Hour)}), ReasonExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.req, nil)
			var e *Error
			if !errors.As(err, &e) || e.Reason != tc.want {
				t.Errorf("got %v, want reason %d", err, tc.want)
			}
		})
	}
}

// streaming builds a PUT with a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body of
// the given chunks, signed by the SDK's signers, and lets change alter the
// bytes sent.
func streaming(t *testing.T, chunks []string, change func([]byte) []byte) *http.Request {
	t.Helper()
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	now := time.Now()
	req, _ := http.NewRequest("PUT", "http://localhost/bucket/key", nil)
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	req.Header.Set("Content-Encoding", "aws-chunked")
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	auth := req.Header.Get("Authorization")
	seed, _ := hex.DecodeString(auth[strings.LastIndex(auth, "Signature=")+len("Signature="):])
	signer := v4.NewStreamSigner(creds, "s3", "us-east-1", seed)
	var body bytes.Buffer
	for _, c := range append(chunks, "") {
		sig, err := signer.GetSignature(context.Background(), nil, []byte(c), now)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&body, "%x;chunk-signature=%x\r\n%s\r\n", len(c), sig, c)
	}
	b := body.Bytes()
	if change != nil {
		b = change(b)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	return req
}

// TestVerifyLiteralPlus checks that a '+' sent literally in the query is a
// plus sign (RFC 3986), as the client that signed %2B meant it: the SDK's
// signer alone would read it as a space.
func TestVerifyLiteralPlus(t *testing.T) {
	srv := server(t, verifier())
	for _, tc := range []struct {
		name, signedQuery, wire string
		want                    int
	}{
		{"plus sign", "entityId=jane%2Btag%40example.com", "entityId=jane+tag@example.com", 200},
		{"space is not a plus", "name=a%20b", "name=a+b", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := signed(t, "GET", srv.URL+"/p?"+tc.signedQuery, signOpts{})
			req.URL.RawQuery = tc.wire
			if status, msg := do(t, req); status != tc.want {
				t.Errorf("got %d %q, want %d", status, msg, tc.want)
			}
		})
	}
}
