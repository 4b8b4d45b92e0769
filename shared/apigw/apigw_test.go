package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// newTestRouter builds the router of a function that declares one route.
func newTestRouter(t *testing.T, sandbox, routeKey string, h HandlerFunc) *Router {
	t.Helper()
	method, path, _ := strings.Cut(routeKey, " ")
	fn := topology.Function{Name: "test-api", Routes: []topology.Route{{Method: method, Path: path}}}
	rt, err := NewRouter(fn, sandbox, map[string]HandlerFunc{routeKey: h})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func request(routeKey, body string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		RouteKey:       routeKey,
		RawPath:        "/x",
		Body:           body,
		Headers:        map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "req-1"},
	}
}

func decodeError(t *testing.T, resp events.APIGatewayV2HTTPResponse) ErrorBody {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal([]byte(resp.Body), &e); err != nil {
		t.Fatalf("error body %q: %v", resp.Body, err)
	}
	return e
}

func TestServeMapsKindsToStatuses(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{"invalid", fault.E(fault.Invalid, "X-BAD", "field a is wrong"), 400, "X-BAD", "field a is wrong"},
		{"not found", fault.E(fault.NotFound, "X-404", "no such thing"), 404, "X-404", "no such thing"},
		{"conflict", fault.E(fault.Conflict, "X-DUP", "exists"), 409, "X-DUP", "exists"},
		{"forbidden", fault.E(fault.Forbidden, "X-NO", "no"), 403, "X-NO", "no"},
		{"throttled", fault.E(fault.Throttled, "X-SLOW", "slow down"), 429, "X-SLOW", "slow down"},
		{"unavailable", fault.E(fault.Unavailable, "X-DOWN", "try later"), 503, "X-DOWN", "try later"},
		{"too large", fault.E(fault.TooLarge, "X-BIG", "too big"), 413, "X-BIG", "too big"},
		// Internals never reach the caller: not the cause, not the message.
		{"internal with details", fault.Wrap(errors.New("dial tcp: table mosaic-prod-profile"), fault.Internal, "STORE", "table mosaic-prod-profile broke"), 500, "INTERNAL", "internal error"},
		{"plain Go error", errors.New("runtime: nil map"), 500, "INTERNAL", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newTestRouter(t, "", "GET /x", func(context.Context, *Request) (int, any, error) { return 0, nil, tt.err })
			resp, err := rt.Serve(context.Background(), request("GET /x", ""))
			if err != nil {
				t.Fatalf("Serve returned a Go error: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			e := decodeError(t, resp)
			if e.Code != tt.wantCode || e.Message != tt.wantMsg || e.RequestID != "req-1" || e.Status != tt.wantStatus {
				t.Errorf("body = %+v, want code %q message %q requestId req-1", e, tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(resp.Body, "mosaic-prod") || strings.Contains(resp.Body, "dial tcp") {
				t.Errorf("body leaks internals: %s", resp.Body)
			}
		})
	}
}

func TestServeRoutesAndEncodes(t *testing.T) {
	rt := newTestRouter(t, "prod", "GET /items/{id}", func(_ context.Context, r *Request) (int, any, error) {
		return http.StatusOK, map[string]string{"id": r.Param("id"), "q": r.Query.Get("q")}, nil
	})
	ev := request("GET /items/{id}", "")
	ev.PathParameters = map[string]string{"id": "https%3A%2F%2Fns.example%2Fa"}
	ev.RawQueryString = "q=a%40b.c"
	resp, _ := rt.Serve(context.Background(), ev)
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d %s, want 200", resp.StatusCode, resp.Body)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatal(err)
	}
	if got["id"] != "https://ns.example/a" || got["q"] != "a@b.c" {
		t.Errorf("got %v, want the decoded $id and query value", got)
	}
	if resp.Headers["content-type"] != "application/json" {
		t.Errorf("content-type = %q, want application/json", resp.Headers["content-type"])
	}

	if resp, _ := rt.Serve(context.Background(), request("GET /nowhere", "")); resp.StatusCode != 404 {
		t.Errorf("unknown route = %d, want 404", resp.StatusCode)
	}
}

func TestServeChecksSandbox(t *testing.T) {
	rt := newTestRouter(t, "prod", "GET /x", func(context.Context, *Request) (int, any, error) { return 204, nil, nil })
	tests := []struct {
		header string
		want   int
	}{{"", 204}, {"prod", 204}, {"dev", 403}}
	for _, tt := range tests {
		t.Run("sandbox="+tt.header, func(t *testing.T) {
			ev := request("GET /x", "")
			if tt.header != "" {
				ev.Headers["x-sandbox-name"] = tt.header
			}
			if resp, _ := rt.Serve(context.Background(), ev); resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestDecodeIsStrict(t *testing.T) {
	type body struct {
		Name string `json:"name"`
	}
	tests := []struct {
		name     string
		body     string
		base64   bool
		wantKind fault.Kind
		wantOK   bool
	}{
		{"valid", `{"name":"a"}`, false, 0, true},
		{"valid base64", base64.StdEncoding.EncodeToString([]byte(`{"name":"a"}`)), true, 0, true},
		{"unknown field", `{"name":"a","extra":1}`, false, fault.Invalid, false},
		{"trailing data", `{"name":"a"} {}`, false, fault.Invalid, false},
		{"truncated", `{"name":`, false, fault.Invalid, false},
		{"wrong type", `{"name":1}`, false, fault.Invalid, false},
		{"empty", ``, false, fault.Invalid, false},
		{"invalid UTF-8", "{\"name\":\"\xff\xfe\"}", false, fault.Invalid, false},
		{"nested too deeply", strings.Repeat(`{"name":`, 10001), false, fault.Invalid, false},
		{"too large", `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, false, fault.TooLarge, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var decoded body
			rt := newTestRouter(t, "", "POST /x", func(_ context.Context, r *Request) (int, any, error) {
				if err := r.Decode(&decoded); err != nil {
					return 0, nil, err
				}
				return http.StatusCreated, decoded, nil
			})
			ev := request("POST /x", tt.body)
			ev.IsBase64Encoded = tt.base64
			resp, _ := rt.Serve(context.Background(), ev)
			if tt.wantOK {
				if resp.StatusCode != http.StatusCreated || decoded.Name != "a" {
					t.Errorf("status = %d, decoded = %+v, want 201 and name a", resp.StatusCode, decoded)
				}
				return
			}
			want := statusOf[tt.wantKind]
			if resp.StatusCode != want {
				t.Errorf("status = %d %s, want %d", resp.StatusCode, resp.Body, want)
			}
			if strings.Contains(resp.Body, strings.Repeat("a", 100)) {
				t.Error("error body echoes the payload")
			}
		})
	}
}

func TestQueryPlusIsAPlusSign(t *testing.T) {
	ev := events.APIGatewayV2HTTPRequest{RouteKey: "GET /x", RawQueryString: "entityId=jane+tag@example.com&b=%2B&c=a%20b&c=d&flag"}
	req, err := newRequest(ev, MaxBodyBytes)
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"entityId": {"jane+tag@example.com"}, "b": {"+"}, "c": {"a b", "d"}, "flag": {""}}
	if diff := cmp.Diff(want, req.Query); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	if _, err := newRequest(events.APIGatewayV2HTTPRequest{RawQueryString: "a=%zz"}, MaxBodyBytes); err == nil {
		t.Error("malformed escape accepted")
	}
}

// TestNewRouterChecksRoutesAgainstTopology: a function whose handlers and
// declared routes differ fails to start, with an error naming the routes.
func TestNewRouterChecksRoutesAgainstTopology(t *testing.T) {
	fn := topology.Function{Name: "test-api", Routes: []topology.Route{
		{Method: "GET", Path: "/items"},
		{Method: "GET", Path: "/items/{id}"},
	}}
	ok := func(context.Context, *Request) (int, any, error) { return http.StatusNoContent, nil, nil }
	tests := []struct {
		name     string
		handlers map[string]HandlerFunc
		wantErr  []string // substrings of the error; none means no error
	}{
		{"every route served", map[string]HandlerFunc{"GET /items": ok, "GET /items/{id}": ok}, nil},
		{"missing handler", map[string]HandlerFunc{"GET /items": ok},
			[]string{"test-api", "no handler", "GET /items/{id}"}},
		{"nil handler", map[string]HandlerFunc{"GET /items": ok, "GET /items/{id}": nil},
			[]string{"no handler", "GET /items/{id}"}},
		{"extra handler", map[string]HandlerFunc{"GET /items": ok, "GET /items/{id}": ok, "DELETE /items/{id}": ok},
			[]string{"test-api", "undeclared", "DELETE /items/{id}"}},
		{"both", map[string]HandlerFunc{"GET /items": ok, "POST /items": ok},
			[]string{"no handler", "GET /items/{id}", "undeclared", "POST /items"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := NewRouter(fn, "", tt.handlers)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("NewRouter: %v", err)
				}
				for _, r := range fn.Routes {
					if resp, _ := rt.Serve(context.Background(), request(r.Key(), "")); resp.StatusCode != http.StatusNoContent {
						t.Errorf("%s = %d, want 204", r.Key(), resp.StatusCode)
					}
				}
				return
			}
			if err == nil || rt != nil {
				t.Fatalf("NewRouter = %v, %v; want no router and an error", rt, err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRouterOfNamesAnUnknownFunction(t *testing.T) {
	if _, err := RouterOf("no-such-function", "", nil); err == nil || !strings.Contains(err.Error(), "no-such-function") {
		t.Errorf("RouterOf an undeclared function: %v, want an error naming it", err)
	}
}
