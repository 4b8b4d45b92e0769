package cloud

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/johannesboyne/gofakes3"
	"github.com/mosaic-cdp/mosaic/localstack/cloud/sigv4"
)

// maxServiceBody bounds the request bodies the edge reads to verify a
// DynamoDB or Kinesis call: DynamoDB's largest request (BatchWriteItem,
// 25 items of 400 KB) and Kinesis's (PutRecords, 5 MB) fit well within it.
const maxServiceBody = 32 << 20

// edge routes each call by the service of its SigV4 credential scope and
// verifies every AWS API call against the cloud's credentials before it
// reaches S3, DynamoDB or Kinesis, as AWS does: a call that only claims a
// scope, or whose signature, key, time or payload hash is wrong, is refused
// in that service's own error format (refuseS3, refuseJSON). An unsigned
// call is known as a DynamoDB or Kinesis call by its X-Amz-Target header
// and as an S3 call by a bucket in its path; any other goes to the API
// front, which answers 404 or 403 as API Gateway does.
func (c *Cloud) edge(s3 *s3Hook, api http.Handler) http.Handler {
	proxy := func(target string) http.Handler {
		u, _ := url.Parse(target)
		return &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.Out.Host = pr.In.Host // the signature covers the Host header
			},
			FlushInterval: -1,
		}
	}
	secrets := map[string]string{c.cfg.AccessKey: c.cfg.SecretKey}
	verifier := func(service string) *sigv4.Verifier {
		return &sigv4.Verifier{Service: service, Region: c.cfg.Region, Secrets: secrets}
	}
	s3v, dynamoV, kinV := verifier("s3"), verifier("dynamodb"), verifier("kinesis")
	dynamo, kin := proxy(c.dynamo.Endpoint), proxy(c.kinesis.Endpoint)
	jsonService := func(w http.ResponseWriter, r *http.Request, v *sigv4.Verifier, contentType string, next http.Handler) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxServiceBody))
		if err != nil {
			refuseJSON(w, contentType, http.StatusRequestEntityTooLarge, "SerializationException", "request body too large or unreadable")
			return
		}
		if _, err := v.Verify(r, body); err != nil {
			refuseSigV4JSON(w, contentType, err)
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		next.ServeHTTP(w, r)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service := ""
		if scope, ok := sigv4.ScopeOf(r); ok {
			service = scope.Service
		} else {
			service = unsignedService(r, s3.backend)
		}
		switch service {
		case "s3":
			_, declared, err := s3v.VerifyDeclared(r)
			if err != nil {
				refuseS3(w, r, err)
				return
			}
			if declared != sigv4.UnsignedPayload && r.Body != nil && r.Body != http.NoBody {
				if !checkS3Body(w, r) {
					return
				}
			}
			s3.ServeHTTP(w, r)
		case "dynamodb":
			jsonService(w, r, dynamoV, "application/x-amz-json-1.0", dynamo)
		case "kinesis":
			jsonService(w, r, kinV, "application/x-amz-json-1.1", kin)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// maxCheckedS3Body is the largest S3 body the edge reads in full to check
// it against its signature (VerifyDeclared) before S3 sees it, covering
// single PUTs and the parts of the SDKs' and the AWS CLI's multipart
// uploads; a larger body is checked as it streams, and S3 fails the request
// when it does not match.
const maxCheckedS3Body = 64 << 20

// checkS3Body makes sure the body S3 will store is the one signed. It
// answers the request itself and returns false when not.
func checkS3Body(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength < 0 || r.ContentLength > maxCheckedS3Body {
		return true
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		refuseS3(w, r, err)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// unsignedService names the AWS service an unsigned request is meant for,
// or "" for the API front.
func unsignedService(r *http.Request, backend gofakes3.Backend) string {
	target := r.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "DynamoDB_"):
		return "dynamodb"
	case strings.HasPrefix(target, "Kinesis_"):
		return "kinesis"
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if host, _, _ := strings.Cut(r.Host, ":"); strings.HasSuffix(host, ".localhost") {
		bucket = strings.TrimSuffix(host, ".localhost") // virtual-hosted style
	}
	if bucket != "" {
		if ok, _ := backend.BucketExists(bucket); ok {
			return "s3"
		}
	}
	return ""
}

// refuseS3 answers a failed verification as S3 does: 403 with an XML
// error whose code says why
// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
func refuseS3(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusForbidden, "SignatureDoesNotMatch", err.Error()
	var e *sigv4.Error
	if errors.As(err, &e) {
		switch e.Reason {
		case sigv4.ReasonMissing:
			code, msg = "AccessDenied", "Access Denied"
		case sigv4.ReasonUnknownKey:
			code, msg = "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
		case sigv4.ReasonExpired:
			code = "AccessDenied"
			if r.Header.Get("Authorization") != "" {
				code, msg = "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."
			}
		case sigv4.ReasonPayload:
			status, code = http.StatusBadRequest, "XAmzContentSHA256Mismatch"
		}
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	_ = xml.NewEncoder(&b).Encode(struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		RequestID string `xml:"RequestId"`
	}{Code: code, Message: msg, RequestID: requestID()})
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// refuseSigV4JSON answers a failed verification as DynamoDB and Kinesis do:
// HTTP 400 with a JSON __type of the coral service exception
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).
func refuseSigV4JSON(w http.ResponseWriter, contentType string, err error) {
	typ, msg := "InvalidSignatureException", err.Error()
	var e *sigv4.Error
	if errors.As(err, &e) {
		switch e.Reason {
		case sigv4.ReasonMissing:
			typ, msg = "MissingAuthenticationTokenException", "Request is missing Authentication Token"
		case sigv4.ReasonUnknownKey:
			typ = "UnrecognizedClientException"
		}
	}
	refuseJSON(w, contentType, http.StatusBadRequest, typ, msg)
}

func refuseJSON(w http.ResponseWriter, contentType string, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]string{"__type": "com.amazon.coral.service#" + typ, "message": msg})
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(status)
	w.Write(b)
}
