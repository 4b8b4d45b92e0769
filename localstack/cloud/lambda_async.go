package cloud

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// asyncFailures applies a function's asynchronous configuration to its
// queue: the number of retries, and the on-failure destination, delivered
// to the function that consumes that queue (see destination).
func (c *Cloud) asyncFailures(q *asyncQueue, f topology.Function) {
	if f.Async == nil {
		return
	}
	if n := f.Async.MaxRetries; n >= 0 && n < len(q.backoff) {
		q.backoff = q.backoff[:n]
	}
	q.dest = c.queueDestination(f.Async.OnFailure, f.ID)
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
	return d.deliver(ctx, body, now)
}

// deliver gives body to the consuming function as one SQS message of its
// queue, again as SQS would while the function fails or names it in its
// partial batch response, at most d.attempts times.
func (d *destination) deliver(ctx context.Context, body []byte, now time.Time) error {
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

// queueDestination is the destination for the queue with the given ID
// when a function of the cloud consumes it, else nil; functionID is the
// logical ID of the function whose failures go there.
func (c *Cloud) queueDestination(queueID, functionID string) *destination {
	if queueID == "" {
		return nil
	}
	for _, g := range c.cfg.Functions {
		if g.Queue == nil || g.Queue.Queue != queueID {
			continue
		}
		return &destination{
			functionArn: "arn:aws:lambda:" + c.cfg.Region + ":" + accountID + ":function:" + PhysicalName(c.cfg.Env, functionID),
			queueArn:    "arn:aws:sqs:" + c.cfg.Region + ":" + accountID + ":" + PhysicalName(c.cfg.Env, queueID),
			region:      c.cfg.Region,
			invoke:      c.pools[g.Name].Invoke,
			attempts:    3,
			backoff:     time.Second,
		}
	}
	return nil
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
