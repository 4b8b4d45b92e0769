// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests,
// both the Authorization-header form and presigned URLs, so the local cloud
// can refuse unsigned or wrongly signed calls the way AWS does: the API as
// API Gateway with IAM authorization, and S3, DynamoDB and Kinesis as those
// services (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html).
// It also reads the credential scope of a request, which the local edge
// uses to route calls by service.
package sigv4

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	timeFormat      = "20060102T150405Z"
	dateFormat      = "20060102"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// DefaultMaxSkew is how far a request's signing time may be from the
	// server clock, as AWS allows.
	DefaultMaxSkew = 15 * time.Minute
)

// Messages AWS answers with; callers match behaviour on them in tests.
const (
	MsgMissingToken  = "Missing Authentication Token"
	MsgSignature     = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	MsgInvalidToken  = "The security token included in the request is invalid."
	MsgIncompleteSig = "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."
)

// Reason is why a request failed verification; each service turns it
// into its own error code (S3's InvalidAccessKeyId, DynamoDB's
// UnrecognizedClientException, ...).
type Reason int

const (
	ReasonSignature  Reason = iota // the signature does not match, or its form is wrong
	ReasonMissing                  // no signature at all
	ReasonUnknownKey               // the access key ID is not known
	ReasonExpired                  // signed too long ago or in the future, or a presigned URL expired
	ReasonPayload                  // the declared payload hash is not one of the body
)

// Error is a verification failure with the message AWS would give.
type Error struct {
	Message string
	Reason  Reason
}

func (e *Error) Error() string { return e.Message }

func fail(format string, args ...any) *Error { return &Error{Message: fmt.Sprintf(format, args...)} }

func failWith(r Reason, format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...), Reason: r}
}

// Scope is the credential scope of a signed request.
type Scope struct {
	AccessKey string
	Date      string
	Region    string
	Service   string
}

// Identity is who signed a verified request.
type Identity struct {
	AccessKey string
}

// Verifier checks signatures for one service and region against known keys.
type Verifier struct {
	Service string
	Region  string
	// Secrets maps access key IDs to secret keys.
	Secrets map[string]string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSkew is the allowed clock difference; zero means DefaultMaxSkew.
	MaxSkew time.Duration
}

// ScopeOf returns the credential scope a request claims, from the
// Authorization header or the X-Amz-Credential query parameter. ok is false
// for unsigned requests.
func ScopeOf(r *http.Request) (Scope, bool) {
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, algorithm+" ") {
		p := parseAuth(auth)
		return parseScope(p["Credential"])
	}
	if c := queryOf(r).Get("X-Amz-Credential"); c != "" {
		return parseScope(c)
	}
	return Scope{}, false
}

// queryOf decodes the request's query with the one decoding the API's
// functions use too (a '+' is a plus sign). A malformed query has no
// parameters.
func queryOf(r *http.Request) url.Values {
	q, err := apigw.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return url.Values{}
	}
	return q
}

func parseScope(cred string) (Scope, bool) {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return Scope{}, false
	}
	return Scope{AccessKey: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}, true
}

func parseAuth(auth string) map[string]string {
	out := map[string]string{}
	rest := strings.TrimSpace(strings.TrimPrefix(auth, algorithm))
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok {
			out[k] = v
		}
	}
	return out
}

// Verify checks r, whose complete body is body. It returns the signer's
// identity, or an *Error carrying AWS's message.
func (v *Verifier) Verify(r *http.Request, body []byte) (Identity, error) {
	bodyHash := sha256Hex(body)
	return v.verify(r, func(presigned bool) ([]string, error) {
		h := r.Header.Get("X-Amz-Content-Sha256")
		switch {
		case h == unsignedPayload:
			return []string{unsignedPayload}, nil
		case h != "":
			// The signature covers the declared hash, not the bytes; a
			// declared hash that does not match the body means the body
			// was changed.
			if h != bodyHash {
				return nil, failWith(ReasonPayload, "The provided 'x-amz-content-sha256' header does not match what was computed.")
			}
			return []string{h}, nil
		case presigned:
			return []string{unsignedPayload, bodyHash}, nil
		}
		return []string{bodyHash}, nil
	})
}

// VerifyDeclared checks r as S3 does, without reading its body first: the
// signature covers the payload hash the request declares in
// x-amz-content-sha256 (required with an Authorization header), which is
// the body's hex SHA-256, UNSIGNED-PAYLOAD, or one of the STREAMING-*
// forms; a presigned URL signs UNSIGNED-PAYLOAD
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html).
// It returns the declared hash, and replaces r.Body with a reader that
// checks what was signed: the SHA-256 (newHashChecker), or each chunk's
// signature of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body (passed on as
// sent, still aws-chunked). Reading such a body to its end fails with an
// *Error of ReasonPayload when it is not the one signed.
func (v *Verifier) VerifyDeclared(r *http.Request) (Identity, string, error) {
	var declared string
	id, sig, err := v.verifySigned(r, func(presigned bool) ([]string, error) {
		if presigned {
			declared = unsignedPayload
			return []string{unsignedPayload}, nil
		}
		h := r.Header.Get("X-Amz-Content-Sha256")
		switch {
		case h == "":
			return nil, fail("Missing required header for this request: x-amz-content-sha256")
		case h == unsignedPayload, h == streamingUnsignedTrailer, h == streamingSigned, isSHA256Hex(h):
			declared = h
			return []string{h}, nil
		case strings.HasPrefix(h, "STREAMING-"):
			// Signed trailers and SigV4a chunks are not checked here; taking
			// them unchecked would let their content change on the way.
			return nil, fail("x-amz-content-sha256 %s is not supported by this endpoint; sign the payload's SHA-256, UNSIGNED-PAYLOAD or STREAMING-AWS4-HMAC-SHA256-PAYLOAD.", h)
		}
		return nil, fail("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
	})
	if err != nil {
		return id, declared, err
	}
	if r.Body != nil && r.Body != http.NoBody {
		switch {
		case isSHA256Hex(declared):
			r.Body = newHashChecker(r.Body, declared)
		case declared == streamingSigned:
			r.Body = &chunkChecker{ReadCloser: r.Body, in: bufio.NewReader(r.Body), sig: sig, prev: sig.signature}
		}
	}
	return id, declared, nil
}

// Payload hashes of aws-chunked bodies: every chunk signed, chaining from
// the request's signature; or no chunk signed, with a trailing checksum.
const (
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// maxChunk bounds one chunk of an aws-chunked body (clients send 64 KB to
// a few MB).
const maxChunk = 16 << 20

// chunkChecker passes an aws-chunked body through unchanged while checking
// every chunk's signature
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html):
// "<hex size>;chunk-signature=<sig>\r\n<data>\r\n", ending with a chunk of
// size 0; each signature is the HMAC of
// "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous sig>\n<sha256 of ”>\n<sha256 of data>".
type chunkChecker struct {
	io.ReadCloser
	in      *bufio.Reader
	sig     signing
	prev    string
	pending []byte
	done    bool
	err     error
}

func (c *chunkChecker) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		c.pending, c.err = c.next()
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// next reads, checks and returns the raw bytes of one chunk.
func (c *chunkChecker) next() ([]byte, error) {
	bad := failWith(ReasonPayload, "The chunk signature we calculated does not match the signature you provided.")
	header, err := c.in.ReadSlice('\n')
	if err != nil || len(header) > 256 {
		return nil, bad
	}
	sizeHex, params, _ := strings.Cut(strings.TrimRight(string(header), "\r\n"), ";")
	size, err := strconv.ParseInt(sizeHex, 16, 64)
	sigHex, ok := strings.CutPrefix(params, "chunk-signature=")
	if err != nil || size < 0 || size > maxChunk || !ok {
		return nil, bad
	}
	raw := make([]byte, 0, len(header)+int(size)+2)
	raw = append(raw, header...)
	data := make([]byte, size)
	if _, err := io.ReadFull(c.in, data); err != nil {
		return nil, bad
	}
	raw = append(raw, data...)
	crlf := make([]byte, 2)
	if _, err := io.ReadFull(c.in, crlf); err != nil || string(crlf) != "\r\n" {
		return nil, bad
	}
	raw = append(raw, crlf...)
	sts := strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", c.sig.amzDate, c.sig.scope, c.prev, sha256Hex(nil), sha256Hex(data)}, "\n")
	want, err := hex.DecodeString(sigHex)
	if err != nil || !hmac.Equal(hmacSHA256(c.sig.key, []byte(sts)), want) {
		return nil, bad
	}
	c.prev = sigHex
	if size == 0 {
		if _, err := c.in.ReadByte(); err != io.EOF {
			return nil, bad // nothing may follow the final chunk
		}
		c.done = true
	}
	return raw, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// newHashChecker wraps a request body whose SHA-256 was declared: reading it
// to the end fails with an *Error (ReasonPayload) instead of io.EOF when
// the bytes are not the ones signed, so a consumer that reads the whole
// body never accepts tampered data.
func newHashChecker(body io.ReadCloser, declared string) io.ReadCloser {
	return &hashChecker{ReadCloser: body, h: sha256.New(), want: declared}
}

type hashChecker struct {
	io.ReadCloser
	h    hash.Hash
	want string
}

func (c *hashChecker) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF && hex.EncodeToString(c.h.Sum(nil)) != c.want {
		return n, failWith(ReasonPayload, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return n, err
}

// verify checks everything but the payload, whose signed hash candidates
// payloads gives (presigned tells which form the request uses).
func (v *Verifier) verify(r *http.Request, payloads func(presigned bool) ([]string, error)) (Identity, error) {
	id, _, err := v.verifySigned(r, payloads)
	return id, err
}

// signing is what a verified request was signed with, for checking the
// chunk signatures of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body.
type signing struct {
	key                       []byte
	amzDate, scope, signature string
}

func (v *Verifier) verifySigned(r *http.Request, payloads func(presigned bool) ([]string, error)) (Identity, signing, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew == 0 {
		skew = DefaultMaxSkew
	}

	var (
		cred, signedHeaders, signature, amzDate string
		presigned                               bool
		expires                                 time.Duration
	)
	query := queryOf(r)
	if auth := r.Header.Get("Authorization"); auth != "" {
		if !strings.HasPrefix(auth, algorithm+" ") {
			return Identity{}, signing{}, fail("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		}
		p := parseAuth(auth)
		cred, signedHeaders, signature = p["Credential"], p["SignedHeaders"], p["Signature"]
		if cred == "" || signedHeaders == "" || signature == "" {
			return Identity{}, signing{}, fail(MsgIncompleteSig)
		}
		amzDate = r.Header.Get("X-Amz-Date")
		if amzDate == "" {
			if d, err := http.ParseTime(r.Header.Get("Date")); err == nil {
				amzDate = d.UTC().Format(timeFormat)
			}
		}
	} else if query.Get("X-Amz-Signature") != "" || query.Get("X-Amz-Credential") != "" {
		presigned = true
		if alg := query.Get("X-Amz-Algorithm"); alg != algorithm {
			return Identity{}, signing{}, fail("X-Amz-Algorithm only supports \"%s\"", algorithm)
		}
		cred, signedHeaders, signature = query.Get("X-Amz-Credential"), query.Get("X-Amz-SignedHeaders"), query.Get("X-Amz-Signature")
		amzDate = query.Get("X-Amz-Date")
		if cred == "" || signedHeaders == "" || signature == "" || amzDate == "" {
			return Identity{}, signing{}, failWith(ReasonMissing, MsgMissingToken)
		}
		secs, err := strconv.Atoi(query.Get("X-Amz-Expires"))
		if err != nil || secs < 1 || secs > 604800 {
			return Identity{}, signing{}, fail("X-Amz-Expires must be a number of seconds between 1 and 604800")
		}
		expires = time.Duration(secs) * time.Second
	} else {
		return Identity{}, signing{}, failWith(ReasonMissing, MsgMissingToken)
	}

	scope, ok := parseScope(cred)
	if !ok {
		return Identity{}, signing{}, fail("Credential should be scoped to a valid region.")
	}
	secret, known := v.Secrets[scope.AccessKey]
	if !known {
		return Identity{}, signing{}, failWith(ReasonUnknownKey, MsgInvalidToken)
	}
	if scope.Service != v.Service {
		return Identity{}, signing{}, fail("Credential should be scoped to correct service: '%s'.", v.Service)
	}
	if scope.Region != v.Region {
		return Identity{}, signing{}, fail("Credential should be scoped to a valid region.")
	}
	signedAt, err := time.Parse(timeFormat, amzDate)
	if err != nil {
		return Identity{}, signing{}, fail("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if scope.Date != signedAt.Format(dateFormat) {
		return Identity{}, signing{}, fail("Credential should be scoped to a valid date.")
	}
	t := now().UTC()
	if presigned {
		if t.After(signedAt.Add(expires)) {
			return Identity{}, signing{}, failWith(ReasonExpired, "Request has expired")
		}
		if signedAt.After(t.Add(skew)) {
			return Identity{}, signing{}, failWith(ReasonExpired, "Request is not yet valid")
		}
	} else if signedAt.Before(t.Add(-skew)) || signedAt.After(t.Add(skew)) {
		return Identity{}, signing{}, failWith(ReasonExpired, "Signature expired: %s is now earlier than %s (%s - %s.)",
			amzDate, t.Add(-skew).Format(timeFormat), t.Format(timeFormat), skew)
	}

	headerNames := strings.Split(signedHeaders, ";")
	if !contains(headerNames, "host") {
		return Identity{}, signing{}, fail(MsgSignature)
	}
	canonHeaders, err := canonicalHeaders(r, headerNames)
	if err != nil {
		return Identity{}, signing{}, err
	}
	candidates, err := payloads(presigned)
	if err != nil {
		return Identity{}, signing{}, err
	}

	queries := canonicalQueries(r.URL.RawQuery, presigned)
	key := signingKey(secret, scope)
	credScope := strings.Join([]string{scope.Date, scope.Region, scope.Service, "aws4_request"}, "/")
	want, err := hex.DecodeString(signature)
	if err != nil {
		return Identity{}, signing{}, fail(MsgSignature)
	}
	for _, path := range candidatePaths(r) {
		for _, canonQuery := range queries {
			for _, payload := range candidates {
				creq := strings.Join([]string{r.Method, path, canonQuery, canonHeaders, signedHeaders, payload}, "\n")
				sts := strings.Join([]string{algorithm, amzDate, credScope, sha256Hex([]byte(creq))}, "\n")
				if hmac.Equal(hmacSHA256(key, []byte(sts)), want) {
					return Identity{AccessKey: scope.AccessKey}, signing{key: key, amzDate: amzDate, scope: credScope, signature: signature}, nil
				}
			}
		}
	}
	return Identity{}, signing{}, fail(MsgSignature)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func canonicalHeaders(r *http.Request, names []string) (string, error) {
	var b strings.Builder
	for _, n := range names {
		if n == "" || n != strings.ToLower(n) {
			return "", fail(MsgSignature)
		}
		var vals []string
		switch n {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = r.Header.Values("Content-Length")
			if len(vals) == 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			vals = r.Header.Values(n)
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(strings.Join(vals, ","))
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// candidatePaths are the canonical URIs a legitimate client may have
// signed. The Go SDK escapes the already-escaped path a second time for
// every service but S3, while curl and botocore sign it escaped once; both
// are genuine AWS behaviour, so either is accepted.
func candidatePaths(r *http.Request) []string {
	raw := r.URL.EscapedPath()
	if raw == "" {
		raw = "/"
	}
	segs := strings.Split(raw, "/")
	once := make([]string, len(segs))
	for i, s := range segs {
		if d, err := url.PathUnescape(s); err == nil {
			s = d
		}
		once[i] = uriEncode(s, false)
	}
	encodedOnce := strings.Join(once, "/")
	out := []string{encodedOnce, uriEncode(encodedOnce, true)}
	if raw != encodedOnce {
		out = append(out, raw, uriEncode(raw, true))
	}
	return out
}

// canonicalQueries returns the canonical query string — parameters
// encoded, sorted by name then value, the signature itself left out for
// presigned URLs — and, as a second candidate, the same parameters in the
// order sent, because curl before 8.x signs them unsorted.
func canonicalQueries(raw string, presigned bool) []string {
	if raw == "" {
		return []string{""}
	}
	type kv struct{ k, v string }
	var params []kv
	decoded, err := apigw.QueryParams(raw)
	if err != nil {
		return nil // no canonical form: nothing can match
	}
	for _, p := range decoded {
		if presigned && p.Name == "X-Amz-Signature" {
			continue
		}
		params = append(params, kv{uriEncode(p.Name, false), uriEncode(p.Value, false)})
	}
	join := func() string {
		parts := make([]string, len(params))
		for i, p := range params {
			parts[i] = p.k + "=" + p.v
		}
		return strings.Join(parts, "&")
	}
	unsorted := join()
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	sorted := join()
	if sorted == unsorted {
		return []string{sorted}
	}
	return []string{sorted, unsorted}
}

// uriEncode is AWS's UriEncode: everything but unreserved characters is
// percent-encoded with upper-case hex; keepSlash leaves '/' alone.
func uriEncode(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func signingKey(secret string, s Scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(s.Date))
	k = hmacSHA256(k, []byte(s.Region))
	k = hmacSHA256(k, []byte(s.Service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// UnsignedPayload is the payload hash of a request whose body is not
// signed (S3 pre-signed URLs, or a client's choice over TLS).
const UnsignedPayload = unsignedPayload
