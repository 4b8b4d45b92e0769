// Package apigw adapts API Gateway HTTP API (payload format 2.0) events to
// Mosaic's handlers: it routes on the route key, decodes request bodies
// strictly and within a size limit, checks the sandbox header, and owns the
// one table that maps error kinds to HTTP statuses and the one error body.
// Handlers return (status, value, error); they never return a Go error to the
// Lambda runtime, which would become a bare 500.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// MaxBodyBytes is the largest JSON request body a route accepts.
const MaxBodyBytes = 1 << 20

// MaxRawBodyBytes is the largest raw body (a file or a chunk) a route that
// takes one accepts: Lambda's synchronous request payload is 6 MB ("Lambda
// quotas"), and API Gateway hands binary bodies over base64-encoded, so in
// practice about 4.5 MiB of raw bytes arrive; this bound only guards the
// decoded copy.
const MaxRawBodyBytes = 6 << 20

// Raw is a route's answer that is not one JSON value: a redirect, a JSON
// Lines body, extra headers. A handler returns it as its value; Serve sends
// it with the handler's status, Header as given and Body base64-encoded (so
// that its size in the response is known: 4/3 of Body, nothing escaped).
type Raw struct {
	Header map[string]string
	Body   []byte
}

// Request is what a route handler sees of an HTTP request.
type Request struct {
	RouteKey  string
	Path      string
	Params    map[string]string // path parameters, URL-decoded
	Query     url.Values
	Header    http.Header
	Body      []byte
	RequestID string
}

// Param returns a path parameter, decoded once more when it still holds
// percent-escapes: a URL-encoded $id may arrive encoded once or twice. A
// second decoding that would give bytes that are not UTF-8 is not made.
func (r *Request) Param(name string) string {
	v := r.Params[name]
	if strings.Contains(v, "%") {
		if d, err := url.PathUnescape(v); err == nil && utf8.ValidString(d) {
			return d
		}
	}
	return v
}

// Errors of GreedyParam.
var (
	ErrPathEscape = errors.New("path holds a malformed percent-escape")
	ErrPathUTF8   = errors.New("path is not valid UTF-8 once percent-decoded")
	ErrPathRoute  = errors.New("path does not match the route")
)

// GreedyParam returns the greedy path parameter {name+} of the request's
// route (RouteKey "METHOD /a/{b}/{name+}"), read from the raw path and
// percent-decoded here (RFC 3986 §2.1) rather than taken from Params: in
// the event, bytes that are not UTF-8 have already become U+FFFD (JSON
// strings are Unicode, RFC 8259 §8.1) and a trailing '/' may have been
// dropped, so "a%FFb" and "a%FEb" would be one name and "dir/" would be
// "dir". The raw path may carry leading segments the route does not name
// (a stage or a base path mapping). Errors: ErrPathEscape, ErrPathUTF8,
// ErrPathRoute (the raw path does not match the route key).
func (r *Request) GreedyParam(name string) (string, error) {
	_, tmpl, _ := strings.Cut(r.RouteKey, " ")
	tsegs := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
	g := -1
	for i, s := range tsegs {
		if s == "{"+name+"+}" {
			g = i
			break
		}
	}
	if g < 0 {
		return "", ErrPathRoute
	}
	rsegs := strings.Split(strings.TrimPrefix(r.Path, "/"), "/")
	for off := 0; off+g < len(rsegs); off++ {
		if !segmentsMatch(tsegs[:g], rsegs[off:off+g]) {
			continue
		}
		d, err := url.PathUnescape(strings.Join(rsegs[off+g:], "/"))
		if err != nil {
			return "", ErrPathEscape
		}
		if !utf8.ValidString(d) {
			return "", ErrPathUTF8
		}
		return d, nil
	}
	return "", ErrPathRoute
}

// segmentsMatch reports whether raw path segments match template segments:
// literals equal, parameters ({x}) any non-empty segment.
func segmentsMatch(tmpl, raw []string) bool {
	for i, t := range tmpl {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if raw[i] == "" {
				return false
			}
			continue
		}
		if t != raw[i] {
			return false
		}
	}
	return true
}

// Decode decodes the JSON body into v strictly: unknown fields are refused
// unless v is a map, trailing data is refused, and the size limit holds.
func (r *Request) Decode(v any) error {
	if len(r.Body) == 0 {
		return fault.E(fault.Invalid, "REQ-BODY", "a JSON request body is required")
	}
	if len(r.Body) > MaxBodyBytes {
		return fault.E(fault.TooLarge, "REQ-SIZE", "request body is over 1 MB")
	}
	if !utf8.Valid(r.Body) {
		// encoding/json would store U+FFFD in place of the bad bytes.
		return fault.E(fault.Invalid, "REQ-UTF8", "request body is not valid UTF-8 (RFC 8259 §8.1)")
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fault.Wrap(err, fault.Invalid, "REQ-JSON", "request body is not valid JSON for this route: "+jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fault.E(fault.Invalid, "REQ-JSON", "request body has data after the JSON value")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the payload.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		if strings.Contains(syn.Error(), "exceeded max depth") {
			return "nested too deeply"
		}
		return "syntax error"
	case errors.As(err, &typ):
		if typ.Field != "" {
			return "field " + typ.Field + " must be " + typ.Type.Kind().String()
		}
		return "wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return "malformed JSON"
}

// HandlerFunc serves one route. It returns the status and the value to encode
// as the JSON body (nil for no body), or an error.
type HandlerFunc func(ctx context.Context, r *Request) (int, any, error)

// Router dispatches on the API Gateway route key.
type Router struct {
	routes map[string]HandlerFunc
	raw    map[string]bool
	// Sandbox, when set, must equal the x-sandbox-name header when one is sent.
	Sandbox string
}

// RouterOf is NewRouter for the function topology declares under name.
func RouterOf(name, sandbox string, handlers map[string]HandlerFunc) (*Router, error) {
	fn, ok := topology.FunctionByName(name)
	if !ok {
		return nil, fmt.Errorf("no function %q in the topology", name)
	}
	return NewRouter(fn, sandbox, handlers)
}

// NewRouter builds the router of fn for the given sandbox name: handlers
// maps each route key fn declares (topology.Route.Key, such as
// "GET /data/core/ups/access/entities") to the func that serves it. It fails
// when a declared route has no handler or a handler is given for a route fn
// does not declare, so a function whose code and topology disagree never
// starts; the error names every such route.
func NewRouter(fn topology.Function, sandbox string, handlers map[string]HandlerFunc) (*Router, error) {
	rt := &Router{routes: make(map[string]HandlerFunc, len(fn.Routes)), Sandbox: sandbox}
	declared := make(map[string]bool, len(fn.Routes))
	var missing, extra []string
	for _, r := range fn.Routes {
		declared[r.Key()] = true
		if h := handlers[r.Key()]; h != nil {
			rt.routes[r.Key()] = h
		} else {
			missing = append(missing, r.Key())
		}
	}
	for k := range handlers {
		if !declared[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("%s: no handler for declared routes %q", fn.Name, missing))
	}
	if len(extra) > 0 {
		errs = append(errs, fmt.Errorf("%s: handlers for undeclared routes %q (declare them in shared/topology)", fn.Name, extra))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rt, nil
}

// TakeRawBodies makes the routes with the given keys take a raw body of at
// most MaxRawBodyBytes (Request.Body holds its bytes) rather than a JSON
// body of at most MaxBodyBytes.
func (rt *Router) TakeRawBodies(keys ...string) {
	if rt.raw == nil {
		rt.raw = map[string]bool{}
	}
	for _, k := range keys {
		rt.raw[k] = true
	}
}

// Serve is the Lambda handler.
func (rt *Router) Serve(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	reqID := ev.RequestContext.RequestID
	h, ok := rt.routes[ev.RouteKey]
	if !ok {
		return ErrorResponse(ctx, reqID, fault.E(fault.NotFound, "ROUTE-404", "no such route")), nil
	}
	limit := MaxBodyBytes
	if rt.raw[ev.RouteKey] {
		limit = MaxRawBodyBytes
	}
	req, err := newRequest(ev, limit)
	if err != nil {
		return ErrorResponse(ctx, reqID, err), nil
	}
	if sb := req.Header.Get("x-sandbox-name"); sb != "" && rt.Sandbox != "" && sb != rt.Sandbox {
		return ErrorResponse(ctx, reqID, fault.Errorf(fault.Forbidden, "SANDBOX", "sandbox %q is not served here", sb)), nil
	}
	status, v, err := h(ctx, req)
	if err != nil {
		return ErrorResponse(ctx, reqID, err), nil
	}
	if raw, ok := v.(Raw); ok {
		return rawResponse(status, raw), nil
	}
	return JSON(status, v), nil
}

func rawResponse(status int, raw Raw) events.APIGatewayV2HTTPResponse {
	resp := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{}}
	for k, v := range raw.Header {
		resp.Headers[strings.ToLower(k)] = v
	}
	if len(raw.Body) > 0 {
		resp.Body = base64.StdEncoding.EncodeToString(raw.Body)
		resp.IsBase64Encoded = true
	}
	return resp
}

func newRequest(ev events.APIGatewayV2HTTPRequest, limit int) (*Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fault.E(fault.Invalid, "REQ-BODY", "request body is not valid base64")
		}
		body = b
	}
	if len(body) > limit {
		return nil, fault.Errorf(fault.TooLarge, "REQ-SIZE", "request body is over %d bytes", limit)
	}
	q, err := ParseQuery(ev.RawQueryString)
	if err != nil {
		return nil, fault.E(fault.Invalid, "REQ-QUERY", "query string is malformed")
	}
	h := http.Header{}
	for k, v := range ev.Headers {
		h.Set(k, v)
	}
	return &Request{
		RouteKey:  ev.RouteKey,
		Path:      ev.RawPath,
		Params:    ev.PathParameters,
		Query:     q,
		Header:    h,
		Body:      body,
		RequestID: ev.RequestContext.RequestID,
	}, nil
}

// statusOf is the one table from error kinds to HTTP statuses.
var statusOf = map[fault.Kind]int{
	fault.Invalid:       http.StatusBadRequest,
	fault.NotFound:      http.StatusNotFound,
	fault.Conflict:      http.StatusConflict,
	fault.Forbidden:     http.StatusForbidden,
	fault.Throttled:     http.StatusTooManyRequests,
	fault.Unavailable:   http.StatusServiceUnavailable,
	fault.TooLarge:      http.StatusRequestEntityTooLarge,
	fault.Unprocessable: http.StatusUnprocessableEntity,
	fault.Internal:      http.StatusInternalServerError,
}

// ErrorBody is the one JSON shape of every error answer.
type ErrorBody struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

// ErrorResponse turns err into the error answer, logging internals once.
func ErrorResponse(ctx context.Context, requestID string, err error) events.APIGatewayV2HTTPResponse {
	kind := fault.KindOf(err)
	status := statusOf[kind]
	code, msg := fault.Public(err)
	if kind == fault.Internal {
		slog.ErrorContext(ctx, "request failed", "err", err)
	} else if kind.Transient() {
		slog.WarnContext(ctx, "request failed", "kind", kind.String(), "err", err)
	}
	return JSON(status, ErrorBody{Status: status, Code: code, Title: http.StatusText(status), Message: msg, RequestID: requestID})
}

// JSON builds a response with v encoded as the body.
func JSON(status int, v any) events.APIGatewayV2HTTPResponse {
	resp := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{}}
	if v == nil {
		return resp
	}
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "err", err)
		resp.StatusCode = http.StatusInternalServerError
		b = []byte(`{"status":500,"code":"INTERNAL","title":"Internal Server Error","message":"internal error"}`)
	}
	resp.Headers["content-type"] = "application/json"
	resp.Body = string(b)
	return resp
}
