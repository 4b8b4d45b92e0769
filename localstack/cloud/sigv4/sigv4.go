// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests,
// both the Authorization-header form and presigned URLs, so the local cloud
// can refuse unsigned or wrongly signed calls the way AWS does: the API as
// API Gateway with IAM authorization, and S3, DynamoDB and Kinesis as those
// services (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html).
// It also reads the credential scope of a request, which the local edge
// uses to route calls by service.
//
// Signatures are recomputed with the AWS SDK's own v4 signer
// (aws/signer/v4), so canonicalisation is AWS's; this package parses the
// Authorization header or the query, checks scope, time, expiry and payload
// hash, and compares signatures in constant time; the one canonical form
// the SDK cannot produce, curl 7.x's unsorted query, is re-hashed from the
// SDK's own canonical request. Files: sigv4.go (parsing
// and checks), recompute.go (signing a copy of the request with the SDK),
// payload.go (the readers that check a body against its signed hash or
// chunk signatures).
package sigv4

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

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
			r.Body = &chunkChecker{ReadCloser: r.Body, in: bufio.NewReader(r.Body), at: sig.at,
				stream: v4.NewStreamSigner(sig.creds, sig.service, sig.region, sig.seed)}
		}
	}
	return id, declared, nil
}

// verify checks everything but the payload, whose signed hash candidates
// payloads gives (presigned tells which form the request uses).
func (v *Verifier) verify(r *http.Request, payloads func(presigned bool) ([]string, error)) (Identity, error) {
	id, _, err := v.verifySigned(r, payloads)
	return id, err
}

// signing is what a verified request was signed with, for checking the
// chunk signatures of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body, which
// chain from the request's signature (seed).
type signing struct {
	signature4
	seed []byte
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

	names := strings.Split(signedHeaders, ";")
	if !contains(names, "host") {
		return Identity{}, signing{}, fail(MsgSignature)
	}
	candidates, err := payloads(presigned)
	if err != nil {
		return Identity{}, signing{}, err
	}
	want, err := hex.DecodeString(signature)
	if err != nil {
		return Identity{}, signing{}, fail(MsgSignature)
	}
	creds := aws.Credentials{AccessKeyID: scope.AccessKey, SecretAccessKey: secret}
	s := signature4{creds: creds, service: scope.Service, region: scope.Region, at: signedAt}
	for _, path := range candidatePaths(r) {
		for _, escape := range []bool{false, true} {
			for _, payload := range candidates {
				for _, sent := range []bool{false, true} {
					got, err := s.recompute(r, presigned, names, path, escape, payload, sent)
					if err != nil {
						return Identity{}, signing{}, err
					}
					if got != nil && hmac.Equal(got, want) {
						return Identity{AccessKey: scope.AccessKey}, signing{signature4: s, seed: want}, nil
					}
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

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// UnsignedPayload is the payload hash of a request whose body is not
// signed (S3 pre-signed URLs, or a client's choice over TLS).
const UnsignedPayload = unsignedPayload
