package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/aws/smithy-go/logging"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
)

// signature4 is what the SDK's signer needs besides the request.
type signature4 struct {
	creds           aws.Credentials
	service, region string
	at              time.Time
}

// sdkUnsignable are the headers the SDK's signer never signs
// (aws/signer/internal/v4 IgnoredHeaders); a request listing one cannot be
// recomputed.
var sdkUnsignable = map[string]bool{"authorization": true, "user-agent": true, "x-amzn-trace-id": true, "expect": true, "transfer-encoding": true}

// recompute signs a copy of r with the SDK's v4 signer, as its client
// would have, and returns the signature. The copy carries exactly the
// headers r lists as signed (the signer signs every header it is given,
// plus host, and content-length when the length is positive), the
// canonical URI path (escaped a second time when escape is set, as the
// SDK does for every service but S3), and r's query decoded as the API's
// functions decode it: the signer re-reads RawQuery with url.ParseQuery,
// where '+' is a space, so the copy's query is re-encoded with
// url.Values.Encode, which writes a literal '+' as %2B.
//
// With sent set, the query is taken in the order sent rather than sorted,
// as curl 7.x signs it (7.88 does); the SDK always sorts, so its canonical
// request is taken from its signing log and only the query line, the
// string to sign and the HMAC are done here (sentOrder). It returns nil
// when sent is set and the query sent is already sorted.
//
// Two forms the SDK cannot reproduce are refused: a request dated only by
// its Date header (the signer always signs x-amz-date), and one listing
// content-length with a length of 0 (the signer signs it only when
// positive). The AWS SDKs, the AWS CLI and curl send neither.
func (s signature4) recompute(r *http.Request, presigned bool, names []string, path string, escape bool, payload string, sent bool) ([]byte, error) {
	c := &http.Request{Method: r.Method, Host: r.Host, Header: http.Header{}, URL: &url.URL{}}
	// GetURIPath reads the path after the host of an opaque URL as is.
	c.URL.Opaque = "//" + r.Host + path
	for _, n := range names {
		switch {
		case n == "" || n != strings.ToLower(n) || sdkUnsignable[n]:
			return nil, fail(MsgSignature)
		case n == "host":
		case n == "content-length":
			c.ContentLength = r.ContentLength
			if v := r.Header.Get("Content-Length"); v != "" {
				c.ContentLength, _ = strconv.ParseInt(v, 10, 64)
			}
		default:
			c.Header[textproto.CanonicalMIMEHeaderKey(n)] = append([]string(nil), r.Header.Values(n)...)
		}
	}
	params, err := apigw.QueryParams(r.URL.RawQuery)
	if err != nil {
		return nil, fail(MsgSignature)
	}
	q := url.Values{}
	for _, p := range params {
		if presigned && p.Name == "X-Amz-Signature" {
			continue
		}
		q.Add(p.Name, p.Value)
	}
	c.URL.RawQuery = q.Encode()

	var unsorted string
	if sent {
		var ok bool
		if unsorted, ok = sentQuery(params, presigned); !ok {
			return nil, nil
		}
	}
	var log canonicalLog
	signer := v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = !escape
		o.DisableHeaderHoisting = true
		o.LogSigning, o.Logger = sent, &log
	})
	var sig string
	if presigned {
		signedURL, _, err := signer.PresignHTTP(context.Background(), s.creds, c, payload, s.service, s.region, s.at)
		if err != nil {
			return nil, fail(MsgSignature)
		}
		i := strings.LastIndex(signedURL, "X-Amz-Signature=")
		if i < 0 {
			return nil, fail(MsgSignature)
		}
		sig = signedURL[i+len("X-Amz-Signature="):]
	} else {
		if err := signer.SignHTTP(context.Background(), s.creds, c, payload, s.service, s.region, s.at); err != nil {
			return nil, fail(MsgSignature)
		}
		sig = parseAuth(c.Header.Get("Authorization"))["Signature"]
	}
	if sent {
		return s.sentOrder(log.canonical, unsorted)
	}
	b, err := hex.DecodeString(sig)
	if err != nil {
		return nil, fail(MsgSignature)
	}
	return b, nil
}

// sentQuery is the canonical query in the order sent
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html:
// name=value pairs, each UriEncoded, joined by '&'); ok is false when that
// order is the sorted one, which the SDK's signer already covers.
func sentQuery(params []apigw.QueryParam, presigned bool) (line string, ok bool) {
	var pairs []string
	for _, p := range params {
		if presigned && p.Name == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, httpbinding.EscapePath(p.Name, true)+"="+httpbinding.EscapePath(p.Value, true))
	}
	sorted := slices.IsSortedFunc(pairs, func(a, b string) int {
		ka, va, _ := strings.Cut(a, "=")
		kb, vb, _ := strings.Cut(b, "=")
		if c := strings.Compare(ka, kb); c != 0 {
			return c
		}
		return strings.Compare(va, vb)
	})
	return strings.Join(pairs, "&"), !sorted
}

// canonicalLog keeps the canonical request the SDK's signer logs with
// LogSigning: the first argument of its message.
type canonicalLog struct{ canonical string }

func (l *canonicalLog) Logf(_ logging.Classification, _ string, v ...interface{}) {
	if len(v) > 0 {
		l.canonical, _ = v[0].(string)
	}
}

// sentOrder signs the SDK's canonical request with its query line (the
// third) replaced by query, as SigV4 does: the HMAC-SHA256 of the string to
// sign under the key derived from the secret, date, region and service.
func (s signature4) sentOrder(canonical, query string) ([]byte, error) {
	lines := strings.Split(canonical, "\n")
	if len(lines) < 3 {
		return nil, fail(MsgSignature)
	}
	lines[2] = query
	date := s.at.UTC().Format(dateFormat)
	scope := strings.Join([]string{date, s.region, s.service, "aws4_request"}, "/")
	sts := strings.Join([]string{algorithm, s.at.UTC().Format(timeFormat), scope, sha256Hex([]byte(strings.Join(lines, "\n")))}, "\n")
	key := []byte("AWS4" + s.creds.SecretAccessKey)
	for _, part := range []string{date, s.region, s.service, "aws4_request", sts} {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(part))
		key = m.Sum(nil)
	}
	return key, nil
}

// candidatePaths are the request paths a legitimate client may have
// signed: as sent, and with each segment decoded and escaped as AWS's
// UriEncode does (curl and botocore escape the path once, the SDK for all
// services but S3 twice; recompute tries both).
func candidatePaths(r *http.Request) []string {
	raw := r.URL.EscapedPath()
	if raw == "" {
		raw = "/"
	}
	segs := strings.Split(raw, "/")
	for i, s := range segs {
		if d, err := url.PathUnescape(s); err == nil {
			s = d
		}
		segs[i] = httpbinding.EscapePath(s, true)
	}
	once := strings.Join(segs, "/")
	if once == raw {
		return []string{once}
	}
	return []string{once, raw}
}
