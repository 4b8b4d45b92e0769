package cloud

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/johannesboyne/gofakes3"
)

// s3Trigger routes object creations under Prefix of Bucket to a function.
type s3Trigger struct {
	bucket, prefix string
	queue          *asyncQueue
}

// s3Hook serves S3 through gofakes3 and turns each successful object
// creation into an S3 event for the functions whose trigger matches.
type s3Hook struct {
	s3       http.Handler
	backend  gofakes3.Backend
	region   string
	triggers []s3Trigger
	// seq is the last sequencer given (see nextSequencer).
	seq atomic.Uint64
	now func() time.Time
}

// nextSequencer numbers one object creation. S3 gives every event of a key
// a sequencer, a hex string that grows with each later event of the key and
// stays the same on a redelivery ("Event message structure", Amazon S3 User
// Guide); functions use it to tell a new upload from a redelivered event.
// The number is the wall clock in nanoseconds, or one more than the last
// one when the clock has not moved, so that uploads made after a restart of
// a local cloud that keeps its data (-data) still sort after earlier ones.
func (h *s3Hook) nextSequencer() uint64 {
	now := uint64(h.now().UnixNano())
	for {
		last := h.seq.Load()
		next := max(last+1, now)
		if h.seq.CompareAndSwap(last, next) {
			return next
		}
	}
}

// responseRecorder remembers the status and, for small bodies, the body of
// gofakes3's answer, to learn the ETag of a completed multipart upload.
type responseRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	keep   bool
}

func (r *responseRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.keep && r.body.Len() < 64<<10 {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

func (h *s3Hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Virtual-hosted style (bucket.localhost:4566) is rewritten to path
	// style, the only form gofakes3 routes without configuration.
	if host, _, _ := strings.Cut(r.Host, ":"); strings.HasSuffix(host, ".localhost") {
		bucket := strings.TrimSuffix(host, ".localhost")
		r.URL.Path = "/" + bucket + r.URL.Path
		r.URL.RawPath = ""
	}
	eventName := createEventName(r)
	if eventName == "" {
		h.s3.ServeHTTP(w, r)
		return
	}
	rec := &responseRecorder{ResponseWriter: w, keep: eventName == "ObjectCreated:CompleteMultipartUpload"}
	h.s3.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK // nothing written: net/http answers 200
	}
	if rec.status < 200 || rec.status > 299 {
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if eventName == "ObjectCreated:CompleteMultipartUpload" && bytes.Contains(rec.body.Bytes(), []byte("<Error>")) {
		return
	}
	etag := strings.Trim(w.Header().Get("ETag"), `"`)
	if rec.keep {
		var res struct {
			ETag string `xml:"ETag"`
		}
		if xml.Unmarshal(rec.body.Bytes(), &res) == nil && res.ETag != "" {
			etag = strings.Trim(res.ETag, `"`)
		}
	}
	h.objectCreated(bucket, key, eventName, etag)
}

// createEventName names the S3 event a request creates, or "" when it
// creates no object.
func createEventName(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	if bucket == "" || key == "" {
		return ""
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodPut:
		if q.Has("uploadId") || q.Has("partNumber") || q.Has("tagging") || q.Has("acl") {
			return ""
		}
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return "ObjectCreated:Copy"
		}
		return "ObjectCreated:Put"
	case http.MethodPost:
		if q.Has("uploadId") {
			return "ObjectCreated:CompleteMultipartUpload"
		}
	}
	return ""
}

func (h *s3Hook) objectCreated(bucket, key, eventName, etag string) {
	var size int64
	if obj, err := h.backend.HeadObject(bucket, key); err == nil {
		size = obj.Size
		if etag == "" {
			etag = strings.Trim(gofakes3.FormatETag(obj.Hash), `"`)
		}
		if obj.Contents != nil {
			obj.Contents.Close()
		}
	}
	// One upload, one sequencer, whichever triggers it reaches.
	seq := h.nextSequencer()
	for _, t := range h.triggers {
		if t.bucket != bucket || !strings.HasPrefix(key, t.prefix) {
			continue
		}
		ev := s3Event(h.region, bucket, key, eventName, etag, size, seq, h.now())
		payload, err := json.Marshal(ev)
		if err != nil {
			continue
		}
		t.queue.enqueue(payload, bucket, key)
	}
}

// s3Event builds the notification AWS sends for one created object.
func s3Event(region, bucket, key, eventName, etag string, size int64, seq uint64, now time.Time) events.S3Event {
	return events.S3Event{Records: []events.S3EventRecord{{
		EventVersion: "2.1",
		EventSource:  "aws:s3",
		AWSRegion:    region,
		EventTime:    now.UTC().Truncate(time.Millisecond),
		EventName:    eventName,
		PrincipalID:  events.S3UserIdentity{PrincipalID: "AWS:" + accountID},
		RequestParameters: events.S3RequestParameters{
			SourceIPAddress: "127.0.0.1",
		},
		ResponseElements: map[string]string{
			"x-amz-request-id": strconv.FormatUint(seq, 16),
			"x-amz-id-2":       "local",
		},
		S3: events.S3Entity{
			SchemaVersion:   "1.0",
			ConfigurationID: "mosaic-local",
			Bucket: events.S3Bucket{
				Name:          bucket,
				OwnerIdentity: events.S3UserIdentity{PrincipalID: accountID},
				Arn:           "arn:aws:s3:::" + bucket,
			},
			Object: events.S3Object{
				Key:       s3EventKey(key),
				Size:      size,
				ETag:      etag,
				Sequencer: fmt.Sprintf("%016X", seq),
			},
		},
	}}}
}

// s3EventKey encodes a key as S3 notifications do: form encoding, so a
// space becomes '+', while '/' stays readable.
func s3EventKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}
