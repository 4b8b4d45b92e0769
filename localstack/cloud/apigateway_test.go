package cloud

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/localstack/cloud/sigv4"
)

func testRoutes() *routeTable {
	t := &routeTable{}
	t.add("schema", "GET", "/reg/tenant/schemas")
	t.add("schema", "GET", "/reg/tenant/schemas/{id}")
	t.add("schema", "GET", "/reg/tenant/schemas/special")
	t.add("schema", "PATCH", "/reg/tenant/schemas/{id}")
	t.add("files", "GET", "/files/{path+}")
	return t
}

func TestRouteMatch(t *testing.T) {
	tests := []struct {
		method, path string
		wantKey      string
		wantParams   map[string]string
	}{
		{"GET", "/reg/tenant/schemas", "GET /reg/tenant/schemas", map[string]string{}},
		{"GET", "/reg/tenant/schemas/abc", "GET /reg/tenant/schemas/{id}", map[string]string{"id": "abc"}},
		{"GET", "/reg/tenant/schemas/special", "GET /reg/tenant/schemas/special", map[string]string{}},
		{"GET", "/reg/tenant/schemas/https:%2F%2Fns%2Fx", "GET /reg/tenant/schemas/{id}", map[string]string{"id": "https://ns/x"}},
		{"PATCH", "/reg/tenant/schemas/a%20b", "PATCH /reg/tenant/schemas/{id}", map[string]string{"id": "a b"}},
		{"GET", "/files/a/b/c", "GET /files/{path+}", map[string]string{"path": "a/b/c"}},
		{"DELETE", "/reg/tenant/schemas/abc", "", nil},
		{"GET", "/reg/tenant/schemas/abc/extra", "", nil},
		{"GET", "/reg/tenant", "", nil},
	}
	rt := testRoutes()
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r, params, ok := rt.match(tc.method, splitPath(tc.path))
			if tc.wantKey == "" {
				if ok {
					t.Fatalf("got match %s, want none", r.key)
				}
				return
			}
			if !ok || r.key != tc.wantKey {
				t.Fatalf("got %v %v, want %s", r, ok, tc.wantKey)
			}
			if diff := cmp.Diff(tc.wantParams, params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildAPIEventStrict(t *testing.T) {
	body := []byte{0xff, 0x00, 0x01}
	r := httptest.NewRequest("POST", "http://abc.local:4566/reg/tenant/schemas/https:%2F%2Fns%2Fx?b=2&a=1&a=3", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/octet-stream")
	r.Header.Add("X-Multi", "1")
	r.Header.Add("X-Multi", "2")
	r.Header.Set("Cookie", "c1=v1; c2=v2")
	r.Header.Set("User-Agent", "ua/1")
	now := time.Unix(1700000000, 0)
	ev := buildAPIEvent(r, body, "POST /reg/tenant/schemas/{id}", map[string]string{"id": "https://ns/x"}, "test", now)
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var got events.APIGatewayV2HTTPRequest
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"version", got.Version, "2.0"},
		{"routeKey", got.RouteKey, "POST /reg/tenant/schemas/{id}"},
		{"rawPath", got.RawPath, "/reg/tenant/schemas/https:%2F%2Fns%2Fx"},
		{"rawQueryString", got.RawQueryString, "b=2&a=1&a=3"},
		{"query a", got.QueryStringParameters["a"], "1,3"},
		{"path id", got.PathParameters["id"], "https://ns/x"},
		{"multi header", got.Headers["x-multi"], "1,2"},
		{"host", got.Headers["host"], "abc.local:4566"},
		{"stage", got.RequestContext.Stage, "$default"},
		{"account", got.RequestContext.AccountID, "000000000000"},
		{"http method", got.RequestContext.HTTP.Method, "POST"},
		{"user agent", got.RequestContext.HTTP.UserAgent, "ua/1"},
		{"domainPrefix", got.RequestContext.DomainPrefix, "abc"},
		{"iam access key", got.RequestContext.Authorizer.IAM.AccessKey, "test"},
		{"time", got.RequestContext.Time, "14/Nov/2023:22:13:20 +0000"},
		{"body", got.Body, "/wAB"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if !got.IsBase64Encoded {
		t.Error("binary body not base64-encoded")
	}
	if _, ok := got.Headers["cookie"]; ok {
		t.Error("cookie header left in headers")
	}
	if diff := cmp.Diff([]string{"c1=v1", "c2=v2"}, got.Cookies); diff != "" {
		t.Errorf("cookies (-want +got):\n%s", diff)
	}
	if got.RequestContext.TimeEpoch != now.UnixMilli() || got.RequestContext.RequestID == "" {
		t.Errorf("got epoch %d id %q", got.RequestContext.TimeEpoch, got.RequestContext.RequestID)
	}

	r = httptest.NewRequest("POST", "http://h/x", strings.NewReader(`{"a":1}`))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	if ev := buildAPIEvent(r, []byte(`{"a":1}`), "POST /x", nil, "test", now); ev.IsBase64Encoded || ev.Body != `{"a":1}` || ev.PathParameters != nil || ev.QueryStringParameters != nil {
		t.Errorf("json body: got %+v", ev)
	}
}

func TestWriteAPIResponse(t *testing.T) {
	tests := []struct {
		name       string
		out        string
		wantErr    bool
		wantStatus int
		wantBody   string
		wantHeader map[string][]string
	}{
		{name: "structured", out: `{"statusCode":201,"headers":{"X-A":"1"},"multiValueHeaders":{"X-B":["1","2"]},"cookies":["s=1","t=2"],"body":"{\"ok\":true}"}`,
			wantStatus: 201, wantBody: `{"ok":true}`, wantHeader: map[string][]string{"X-A": {"1"}, "X-B": {"1", "2"}, "Set-Cookie": {"s=1", "t=2"}, "Content-Type": {"application/json"}}},
		{name: "base64", out: `{"statusCode":200,"headers":{"Content-Type":"application/octet-stream"},"body":"/wAB","isBase64Encoded":true}`,
			wantStatus: 200, wantBody: "\xff\x00\x01"},
		{name: "bare json", out: `{"hello":"world"}`, wantStatus: 200, wantBody: `{"hello":"world"}`},
		{name: "not json", out: `hello`, wantErr: true},
		{name: "bad base64", out: `{"statusCode":200,"body":"!!","isBase64Encoded":true}`, wantErr: true},
		{name: "bad status", out: `{"statusCode":42}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			err := writeAPIResponse(w, []byte(tc.out))
			if tc.wantErr {
				if err == nil {
					t.Fatal("got no error, want one")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.wantStatus || w.Body.String() != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tc.wantStatus, tc.wantBody)
			}
			for k, v := range tc.wantHeader {
				if diff := cmp.Diff(v, w.Result().Header.Values(k)); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

func TestAPIFrontStatuses(t *testing.T) {
	a := &apiFront{routes: *testRoutes(), now: time.Now, log: discardLogger(),
		verifier: &sigv4.Verifier{Service: "execute-api", Region: "us-east-1", Secrets: map[string]string{"test": "test"}},
		invoke: func(_ context.Context, fn string, payload []byte) ([]byte, error) {
			var ev events.APIGatewayV2HTTPRequest
			json.Unmarshal(payload, &ev)
			switch ev.PathParameters["id"] {
			case "fail":
				return nil, &FunctionError{Type: "errorString", Message: "boom"}
			case "garbage":
				return []byte("not json"), nil
			case "huge":
				return nil, &FunctionError{Type: errResponseSize}
			}
			return json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: fn + " " + ev.RouteKey})
		}}
	srv := httptest.NewServer(a)
	defer srv.Close()
	sign := func(req *http.Request, body []byte) *http.Request {
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"},
			req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}
	big := bytes.Repeat([]byte("a"), MaxRequestBody+1)
	// Under the HTTP API's 10 MB, but over Lambda's 6 MB once base64-encoded.
	binary := bytes.Repeat([]byte{0xff}, 5<<20)
	wrongSecret := func(req *http.Request) *http.Request {
		sum := sha256.Sum256(nil)
		v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "wrong"},
			req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now())
		return req
	}
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantBody   string
	}{
		{"unsigned", func() *http.Request { r, _ := http.NewRequest("GET", srv.URL+"/reg/tenant/schemas", nil); return r }, 403, `{"message":"Missing Authentication Token"}`},
		{"ok", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/reg/tenant/schemas/x", nil)
			return sign(r, nil)
		}, 200, "schema GET /reg/tenant/schemas/{id}"},
		{"no route", func() *http.Request { r, _ := http.NewRequest("GET", srv.URL+"/nope", nil); return sign(r, nil) }, 404, `{"message":"Not Found"}`},
		{"no route unsigned", func() *http.Request { r, _ := http.NewRequest("GET", srv.URL+"/nope", nil); return r }, 404, `{"message":"Not Found"}`},
		{"no route wrong secret", func() *http.Request {
			r, _ := http.NewRequest("DELETE", srv.URL+"/reg/tenant/schemas/x", nil)
			return wrongSecret(r)
		}, 404, `{"message":"Not Found"}`},
		{"route wrong secret", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/reg/tenant/schemas/x", nil)
			return wrongSecret(r)
		}, 403, `{"message":"` + sigv4.MsgSignature + `"}`},
		{"answer over 6 MB", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/reg/tenant/schemas/huge", nil)
			return sign(r, nil)
		}, 502, `{"message":"Internal Server Error"}`},
		{"event over 6 MB", func() *http.Request {
			r, _ := http.NewRequest("PATCH", srv.URL+"/reg/tenant/schemas/x", bytes.NewReader(binary))
			r.Header.Set("Content-Type", "application/octet-stream")
			return sign(r, binary)
		}, 413, `{"message":"Request Too Long"}`},
		{"function error", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/reg/tenant/schemas/fail", nil)
			return sign(r, nil)
		}, 502, `{"message":"Internal Server Error"}`},
		{"garbage answer", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/reg/tenant/schemas/garbage", nil)
			return sign(r, nil)
		}, 502, `{"message":"Internal Server Error"}`},
		{"too large", func() *http.Request {
			r, _ := http.NewRequest("PATCH", srv.URL+"/reg/tenant/schemas/x", bytes.NewReader(big))
			return sign(r, big)
		}, 413, `{"message":"Request Entity Too Large"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tc.req())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || string(b) != tc.wantBody {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, b, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

// TestAPIFrontQueryDecoding: a '+' in the query is a plus sign for the
// signature check and for the function, written literally or as %2B; %20
// is a space.
func TestAPIFrontQueryDecoding(t *testing.T) {
	a := &apiFront{routes: *testRoutes(), now: time.Now, log: discardLogger(),
		verifier: &sigv4.Verifier{Service: "execute-api", Region: "us-east-1", Secrets: map[string]string{"test": "test"}},
		invoke: func(_ context.Context, fn string, payload []byte) ([]byte, error) {
			var ev events.APIGatewayV2HTTPRequest
			json.Unmarshal(payload, &ev)
			body, _ := json.Marshal(ev.QueryStringParameters)
			return json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: string(body)})
		}}
	srv := httptest.NewServer(a)
	defer srv.Close()
	const signedQuery = "entityId=jane%2Btag%40example.com&name=a%20b&x=1%2B1"
	for _, wire := range []string{
		signedQuery, // as the Go SDK sends it
		"entityId=jane+tag%40example.com&name=a%20b&x=1+1", // '+' written literally
		"entityId=jane+tag@example.com&name=a%20b&x=1%2B1",
	} {
		t.Run(wire, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/reg/tenant/schemas/x?"+signedQuery, nil)
			sum := sha256.Sum256(nil)
			if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"},
				req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			req.URL.RawQuery = wire
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("got %d %s", resp.StatusCode, b)
			}
			var q map[string]string
			json.Unmarshal(b, &q)
			want := map[string]string{"entityId": "jane+tag@example.com", "name": "a b", "x": "1+1"}
			if diff := cmp.Diff(want, q); diff != "" {
				t.Errorf("query parameters (-want +got):\n%s", diff)
			}
		})
	}
	// A space signed as %20 is not a '+' on the wire.
	req, _ := http.NewRequest("GET", srv.URL+"/reg/tenant/schemas/x?name=a%20b", nil)
	sum := sha256.Sum256(nil)
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"},
		req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now())
	req.URL.RawQuery = "name=a+b"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("'+' accepted for a signed space: got %d", resp.StatusCode)
	}
}
