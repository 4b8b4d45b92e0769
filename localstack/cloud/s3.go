package cloud

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// diskBackend keeps objects in gofakes3's memory backend and mirrors every
// bucket and object to a folder, reloading it at start, so a -data
// directory survives restarts without a dependency beyond gofakes3.
type diskBackend struct {
	gofakes3.Backend
	dir string
	mu  sync.Mutex
}

type diskMeta struct {
	Bucket   string            `json:"bucket"`
	Key      string            `json:"key"`
	Metadata map[string]string `json:"metadata"`
}

func newS3Backend(dir string) (gofakes3.Backend, error) {
	mem := s3mem.New()
	if dir == "" {
		return mem, nil
	}
	b := &diskBackend{Backend: mem, dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	buckets, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, bd := range buckets {
		if !bd.IsDir() {
			continue
		}
		if err := mem.CreateBucket(bd.Name()); err != nil {
			return nil, err
		}
		files, _ := filepath.Glob(filepath.Join(dir, bd.Name(), "*.meta"))
		for _, mf := range files {
			raw, err := os.ReadFile(mf)
			if err != nil {
				return nil, err
			}
			var m diskMeta
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("s3 data %s: %w", mf, err)
			}
			data, err := os.ReadFile(strings.TrimSuffix(mf, ".meta") + ".data")
			if err != nil {
				return nil, err
			}
			if _, err := mem.PutObject(m.Bucket, m.Key, m.Metadata, bytes.NewReader(data), int64(len(data)), nil); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

func (b *diskBackend) objectPath(bucket, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(b.dir, bucket, hex.EncodeToString(sum[:16]))
}

func (b *diskBackend) CreateBucket(name string) error {
	if err := b.Backend.CreateBucket(name); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Join(b.dir, name), 0o755)
}

func (b *diskBackend) DeleteBucket(name string) error {
	if err := b.Backend.DeleteBucket(name); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(b.dir, name))
}

func (b *diskBackend) ForceDeleteBucket(name string) error {
	if err := b.Backend.ForceDeleteBucket(name); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(b.dir, name))
}

func (b *diskBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	data, err := io.ReadAll(input)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	res, err := b.Backend.PutObject(bucket, key, meta, bytes.NewReader(data), int64(len(data)), cond)
	if err != nil {
		return res, err
	}
	return res, b.persist(bucket, key, meta, data)
}

func (b *diskBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	res, err := b.Backend.CopyObject(srcBucket, srcKey, dstBucket, dstKey, meta)
	if err != nil {
		return res, err
	}
	obj, err := b.Backend.GetObject(dstBucket, dstKey, nil)
	if err != nil {
		return res, err
	}
	defer obj.Contents.Close()
	data, err := io.ReadAll(obj.Contents)
	if err != nil {
		return res, err
	}
	return res, b.persist(dstBucket, dstKey, obj.Metadata, data)
}

func (b *diskBackend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	res, err := b.Backend.DeleteObject(bucket, key)
	if err == nil {
		b.remove(bucket, key)
	}
	return res, err
}

func (b *diskBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	res, err := b.Backend.DeleteMulti(bucket, keys...)
	if err == nil {
		for _, d := range res.Deleted {
			b.remove(bucket, d.Key)
		}
	}
	return res, err
}

func (b *diskBackend) persist(bucket, key string, meta map[string]string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.objectPath(bucket, key)
	m, _ := json.Marshal(diskMeta{Bucket: bucket, Key: key, Metadata: meta})
	if err := writeFileAtomic(p+".data", data); err != nil {
		return err
	}
	return writeFileAtomic(p+".meta", m)
}

func (b *diskBackend) remove(bucket, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.objectPath(bucket, key)
	_ = os.Remove(p + ".meta")
	_ = os.Remove(p + ".data")
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

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

// asyncQueue delivers events to a function the way Lambda's asynchronous
// invocation does: queued, retried twice with backoff on error, and, when
// they finally fail, sent to the on-failure destination (or reported in the
// failure log when there is none or it cannot take them).
type asyncQueue struct {
	function string
	invoke   func(context.Context, []byte) ([]byte, error)
	failures *failureLog
	log      *slog.Logger
	backoff  []time.Duration
	dest     *destination
	ch       chan asyncEvent
	wg       sync.WaitGroup
	pending  atomic.Int64
}

// destination stands for an on-failure destination that is an SQS queue
// consumed by a function. The local cloud has no SQS: the invocation
// record Lambda would send to the queue is given straight to the consuming
// function as the SQS event its event source mapping would deliver, and
// given again, as SQS would after the visibility timeout, while the
// function fails or names the message in its partial batch response.
type destination struct {
	functionArn string // of the function whose event was discarded
	queueArn    string
	region      string
	invoke      func(context.Context, []byte) ([]byte, error)
	attempts    int
	backoff     time.Duration
}

// destinationRecord is Lambda's invocation record of a discarded event
// ("Capturing records of Lambda asynchronous invocations", AWS Lambda
// Developer Guide).
type destinationRecord struct {
	Version        string `json:"version"`
	Timestamp      string `json:"timestamp"`
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponseContext struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError,omitempty"`
	} `json:"responseContext"`
	ResponsePayload json.RawMessage `json:"responsePayload,omitempty"`
}

// send delivers the record of an event that failed attempts times with
// last error err. It reports whether the consuming function took it.
func (d *destination) send(ctx context.Context, payload []byte, attempts int, err error, now time.Time) error {
	var rec destinationRecord
	rec.Version = "1.0"
	rec.Timestamp = now.UTC().Format("2006-01-02T15:04:05.000Z")
	rec.RequestContext.RequestID = randomID()
	rec.RequestContext.FunctionArn = d.functionArn + ":$LATEST"
	rec.RequestContext.Condition = "RetriesExhausted"
	rec.RequestContext.ApproximateInvokeCount = attempts
	rec.RequestPayload = payload
	rec.ResponseContext.StatusCode = http.StatusOK
	rec.ResponseContext.ExecutedVersion = "$LATEST"
	var fe *FunctionError
	if errors.As(err, &fe) {
		rec.ResponseContext.FunctionError = "Unhandled"
		rec.ResponsePayload, _ = json.Marshal(fe)
	} else {
		rec.ResponseContext.StatusCode = http.StatusInternalServerError
	}
	body, mErr := json.Marshal(rec)
	if mErr != nil {
		return mErr
	}
	sent := now.UnixMilli()
	msg := events.SQSMessage{
		MessageId:     randomID(),
		ReceiptHandle: randomID(),
		Body:          string(body),
		Md5OfBody:     fmt.Sprintf("%x", md5.Sum(body)),
		Attributes: map[string]string{
			"SentTimestamp": strconv.FormatInt(sent, 10), "ApproximateFirstReceiveTimestamp": strconv.FormatInt(sent, 10),
			"SenderId": "AROALOCAL:awslambda", "ApproximateReceiveCount": "1",
		},
		MessageAttributes: map[string]events.SQSMessageAttribute{},
		EventSource:       "aws:sqs",
		EventSourceARN:    d.queueArn,
		AWSRegion:         d.region,
	}
	var last error
	for i := 1; i <= max(d.attempts, 1); i++ {
		msg.Attributes["ApproximateReceiveCount"] = strconv.Itoa(i)
		ev, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{msg}})
		out, err := d.invoke(ctx, ev)
		if err == nil {
			var resp events.SQSEventResponse
			if json.Unmarshal(out, &resp) == nil && len(resp.BatchItemFailures) > 0 {
				err = fmt.Errorf("the function reported the message as failed")
			}
		}
		if err == nil {
			return nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(d.backoff):
		}
	}
	return last
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type asyncEvent struct {
	payload     []byte
	bucket, key string
}

func newAsyncQueue(ctx context.Context, function string, workers int, invoke func(context.Context, []byte) ([]byte, error), failures *failureLog, log *slog.Logger) *asyncQueue {
	q := &asyncQueue{
		function: function, invoke: invoke, failures: failures, log: log,
		backoff: []time.Duration{200 * time.Millisecond, time.Second},
		ch:      make(chan asyncEvent, 100000),
	}
	if workers < 1 {
		workers = 1
	}
	for i := 0; i < workers; i++ {
		q.wg.Add(1)
		go q.work(ctx)
	}
	return q
}

func (q *asyncQueue) enqueue(payload []byte, bucket, key string) {
	q.pending.Add(1)
	select {
	case q.ch <- asyncEvent{payload: payload, bucket: bucket, key: key}:
	default:
		q.pending.Add(-1)
		q.fail(asyncEvent{bucket: bucket, key: key}, 0, "queue full")
	}
}

func (q *asyncQueue) work(ctx context.Context) {
	defer q.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-q.ch:
			q.deliver(ctx, ev)
			q.pending.Add(-1)
		}
	}
}

func (q *asyncQueue) deliver(ctx context.Context, ev asyncEvent) {
	var err error
	for attempt := 0; ; attempt++ {
		_, err = q.invoke(ctx, ev.payload)
		if err == nil || ctx.Err() != nil {
			break
		}
		if attempt >= len(q.backoff) {
			break
		}
		q.log.WarnContext(ctx, "s3 event failed, retrying", "function", q.function, "bucket", ev.bucket, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(q.backoff[attempt]):
		}
	}
	if err == nil {
		return
	}
	attempts := len(q.backoff) + 1
	if ctx.Err() != nil {
		q.fail(ev, attempts, "local cloud stopped")
		return
	}
	if q.dest != nil {
		q.log.WarnContext(ctx, "s3 event discarded after its retries; sending its record to the on-failure destination",
			"function", q.function, "bucket", ev.bucket, "attempts", attempts, "err", err)
		derr := q.dest.send(ctx, ev.payload, attempts, err, time.Now())
		if derr == nil {
			return
		}
		q.fail(ev, attempts, err.Error()+"; on-failure destination: "+derr.Error())
		return
	}
	q.fail(ev, attempts, err.Error())
}

func (q *asyncQueue) fail(ev asyncEvent, attempts int, reason string) {
	q.log.Error("s3 event not delivered", "function", q.function, "bucket", ev.bucket, "key", ev.key, "attempts", attempts, "reason", reason)
	q.failures.write(map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "source": "aws:s3", "function": q.function,
		"bucket": ev.bucket, "key": ev.key, "attempts": attempts, "reason": reason,
	})
}

// stop waits for the workers after their context is cancelled and reports
// the events still queued, so none is lost silently.
func (q *asyncQueue) stop() {
	q.wg.Wait()
	for {
		select {
		case ev := <-q.ch:
			q.fail(ev, 0, "local cloud stopped")
		default:
			return
		}
	}
}

// failureLog appends JSON lines to the on-failure file.
type failureLog struct {
	mu   sync.Mutex
	path string
}

func (f *failureLog) write(v any) {
	if f == nil {
		return
	}
	line, err := json.Marshal(v)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fh, err := os.OpenFile(f.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		slog.Error("write failure record", "path", f.path, "err", err)
		return
	}
	defer fh.Close()
	fh.Write(append(line, '\n'))
}
