package cloud

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/localstack/cloud/sigv4"
	"github.com/mosaic-cdp/mosaic/shared/apigw"
)

// MaxRequestBody is API Gateway HTTP API's payload limit, 10 MB
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html);
// a larger body is answered 413 before anything else. A body under it can
// still make an event over Lambda's 6 MB invocation limit (maxInvokeRequest;
// a binary body grows by 4/3 in base64): that is answered 413 too, with API
// Gateway's "Request Too Long", and the function is not invoked.
const MaxRequestBody = 10 << 20

// route is one compiled route of the HTTP API.
type route struct {
	key      string // "GET /a/{id}"
	method   string
	segments []string
	function string
}

// routeTable matches requests to routes the way API Gateway HTTP APIs do:
// literal segments beat parameters, a greedy {name+} matches the rest.
type routeTable struct{ routes []route }

func (t *routeTable) add(function, method, path string) {
	t.routes = append(t.routes, route{
		key: method + " " + path, method: method, function: function,
		segments: strings.Split(strings.Trim(path, "/"), "/"),
	})
}

// match returns the best route for a method and URL-decoded path segments,
// and the path parameters it binds.
func (t *routeTable) match(method string, segs []string) (*route, map[string]string, bool) {
	var best *route
	var bestScore []int
	var bestParams map[string]string
	for i := range t.routes {
		r := &t.routes[i]
		if r.method != method && r.method != "ANY" {
			continue
		}
		params, score, ok := r.bind(segs)
		if !ok {
			continue
		}
		if best == nil || better(score, bestScore) {
			best, bestScore, bestParams = r, score, params
		}
	}
	return best, bestParams, best != nil
}

// bind scores each segment: 2 literal, 1 parameter, 0 greedy.
func (r *route) bind(segs []string) (map[string]string, []int, bool) {
	params := map[string]string{}
	score := make([]int, 0, len(r.segments))
	for i, s := range r.segments {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}") {
			if i >= len(segs) {
				return nil, nil, false
			}
			params[s[1:len(s)-2]] = strings.Join(segs[i:], "/")
			return params, append(score, 0), true
		}
		if i >= len(segs) {
			return nil, nil, false
		}
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			if segs[i] == "" {
				return nil, nil, false
			}
			params[s[1:len(s)-1]] = segs[i]
			score = append(score, 1)
			continue
		}
		if s != segs[i] {
			return nil, nil, false
		}
		score = append(score, 2)
	}
	if len(segs) != len(r.segments) {
		return nil, nil, false
	}
	return params, score, true
}

func better(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return len(a) > len(b)
}

// splitPath splits an escaped path into URL-decoded segments.
func splitPath(escaped string) []string {
	parts := strings.Split(strings.Trim(escaped, "/"), "/")
	for i, p := range parts {
		if d, err := url.PathUnescape(p); err == nil {
			parts[i] = d
		}
	}
	return parts
}

// apiFront is the HTTP API: it verifies SigV4, builds the payload 2.0
// event, invokes the route's function and writes its answer back.
type apiFront struct {
	routes   routeTable
	verifier *sigv4.Verifier
	invoke   func(ctx context.Context, function string, payload []byte) ([]byte, error)
	log      *slog.Logger
	now      func() time.Time
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusForbidden {
		w.Header().Set("X-Amzn-ErrorType", "ForbiddenException")
	}
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Write(b)
}

func (a *apiFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		writeMessage(w, http.StatusBadRequest, "Bad Request")
		return
	}
	// API Gateway matches the route before it authorizes: a path no route
	// serves is 404 for signed and unsigned calls alike, and only a matched
	// route with IAM authorization answers 403.
	rt, params, ok := a.routes.match(r.Method, splitPath(r.URL.EscapedPath()))
	if !ok {
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	id, err := a.verifier.Verify(r, body)
	if err != nil {
		writeMessage(w, http.StatusForbidden, err.Error())
		return
	}
	ev := buildAPIEvent(r, body, rt.key, params, id.AccessKey, a.now())
	payload, err := json.Marshal(ev)
	if err != nil {
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if len(payload) > maxInvokeRequest {
		// The body fits the HTTP API but the event does not fit Lambda's
		// request limit; API Gateway answers 413 without invoking.
		writeMessage(w, http.StatusRequestEntityTooLarge, "Request Too Long")
		return
	}
	out, err := a.invoke(r.Context(), rt.function, payload)
	if err != nil {
		a.log.WarnContext(r.Context(), "api function failed", "function", rt.function, "routeKey", rt.key, "err", err)
		writeMessage(w, http.StatusBadGateway, "Internal Server Error")
		return
	}
	if err := writeAPIResponse(w, out); err != nil {
		a.log.WarnContext(r.Context(), "api function answer unusable", "function", rt.function, "routeKey", rt.key, "err", err)
		writeMessage(w, http.StatusBadGateway, "Internal Server Error")
	}
}

// buildAPIEvent builds the event API Gateway HTTP API (payload format 2.0)
// sends for r.
func buildAPIEvent(r *http.Request, body []byte, routeKey string, params map[string]string, accessKey string, now time.Time) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	for name, vals := range r.Header {
		headers[strings.ToLower(name)] = strings.Join(vals, ",")
	}
	headers["host"] = r.Host
	if r.ContentLength > 0 {
		headers["content-length"] = strconv.FormatInt(r.ContentLength, 10)
	}
	var cookies []string
	if c, ok := headers["cookie"]; ok {
		// Payload 2.0 moves cookies out of the headers into their own list.
		for _, part := range strings.Split(c, ";") {
			if part = strings.TrimSpace(part); part != "" {
				cookies = append(cookies, part)
			}
		}
		delete(headers, "cookie")
	}
	var query map[string]string
	if r.URL.RawQuery != "" {
		query = map[string]string{}
		// A malformed query leaves the parameters out; the function sees
		// rawQueryString and refuses it.
		values, _ := apigw.ParseQuery(r.URL.RawQuery)
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			query[k] = strings.Join(values[k], ",")
		}
	}
	if len(params) == 0 {
		params = nil
	}
	sourceIP, _, _ := net.SplitHostPort(r.RemoteAddr)
	domain := r.Host
	if h, _, err := net.SplitHostPort(domain); err == nil {
		domain = h
	}
	prefix, _, _ := strings.Cut(domain, ".")
	rawPath := r.URL.EscapedPath()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               rawPath,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    accountID,
			Stage:        "$default",
			RequestID:    requestID(),
			APIID:        "local",
			DomainName:   domain,
			DomainPrefix: prefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      rawPath,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
					AccessKey: accessKey,
					AccountID: accountID,
					CallerID:  accessKey,
					UserARN:   "arn:aws:iam::" + accountID + ":user/" + accessKey,
					UserID:    accessKey,
				},
			},
		},
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type"), body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isText reports whether API Gateway would pass a body of this content
// type as text rather than base64.
func isText(contentType string, body []byte) bool {
	if contentType == "" {
		return utf8.Valid(body)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/x-www-form-urlencoded",
		mt == "application/javascript", mt == "application/x-ndjson", mt == "application/jsonl":
		return utf8.Valid(body)
	}
	return false
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeAPIResponse turns a function's answer into HTTP. As API Gateway
// does for payload 2.0, an answer without statusCode is taken as a JSON
// body with status 200.
func writeAPIResponse(w http.ResponseWriter, out []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(out, &probe); err != nil || probe["statusCode"] == nil {
		if !json.Valid(out) {
			return errors.New("answer is not JSON")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(out)
		return nil
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return err
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return errors.New("status code out of range")
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return err
		}
	}
	h := w.Header()
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	if h.Get("Content-Type") == "" && len(body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
	return nil
}
