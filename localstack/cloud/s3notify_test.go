package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/johannesboyne/gofakes3"
)

func TestS3EventKeyEncoding(t *testing.T) {
	tests := map[string]string{
		"ingest/ds1/file.json":       "ingest/ds1/file.json",
		"ingest/ds 1/my file+v2.csv": "ingest/ds+1/my+file%2Bv2.csv",
		"ingest/d/é=1&x.json":        "ingest/d/%C3%A9%3D1%26x.json",
	}
	for key, want := range tests {
		if got := s3EventKey(key); got != want {
			t.Errorf("s3EventKey(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestS3EventShape(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	raw, _ := json.Marshal(s3Event("us-east-1", "b", "ingest/a b.json", "ObjectCreated:Put", "abc", 42, 7, now))
	var generic map[string][]map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	rec := generic["Records"][0]
	if rec["eventTime"] != "2026-01-02T03:04:05Z" || rec["eventName"] != "ObjectCreated:Put" || rec["eventVersion"] != "2.1" || rec["eventSource"] != "aws:s3" {
		t.Errorf("got %v", rec)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var ev events.S3Event
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	o := ev.Records[0].S3
	if o.Bucket.Arn != "arn:aws:s3:::b" || o.Object.Key != "ingest/a+b.json" || o.Object.Size != 42 || o.Object.ETag != "abc" || o.Object.Sequencer == "" {
		t.Errorf("got %+v", o)
	}
}

// TestS3HookEvents drives gofakes3 through the hook with real S3 requests
// shapes and checks which events reach the queue.
func TestS3HookEvents(t *testing.T) {
	dir := t.TempDir()
	backend, err := newS3Backend(dir)
	if err != nil {
		t.Fatal(err)
	}
	backend.CreateBucket("land")
	var got []events.S3Event
	calls := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	q := newAsyncQueue(ctx, "fn", 1, func(_ context.Context, p []byte) ([]byte, error) {
		var ev events.S3Event
		json.Unmarshal(p, &ev)
		got = append(got, ev)
		calls <- struct{}{}
		return nil, nil
	}, nil, discardLogger())
	h := &s3Hook{s3: gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server(), backend: backend, region: "us-east-1", now: time.Now,
		triggers: []s3Trigger{{bucket: "land", prefix: "ingest/", queue: q}}}
	for _, path := range []string{"/land/ingest/ds/a%20b.json", "/land/other/x.json", "/nobucket/ingest/x"} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", path, bytes.NewReader([]byte("hello")))
		req.Header.Set("Content-Length", "5")
		h.ServeHTTP(w, req)
	}
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no event delivered")
	}
	cancel()
	q.stop()
	if len(got) != 1 {
		t.Fatalf("got %d events, want 1", len(got))
	}
	o := got[0].Records[0].S3.Object
	if o.Key != "ingest/ds/a+b.json" || o.Size != 5 || o.ETag != "5d41402abc4b2a76b9719d911017c592" {
		t.Errorf("got %+v", o)
	}
	// The disk backend keeps the object for the next start.
	again, err := newS3Backend(dir)
	if err != nil {
		t.Fatal(err)
	}
	if obj, err := again.HeadObject("land", "ingest/ds/a b.json"); err != nil || obj.Size != 5 {
		t.Errorf("reloaded object: %v %v", obj, err)
	}
}

// TestS3HookSequencers checks the sequencer of the events of one key: hex,
// increasing with every upload, also across a restart of a local cloud that
// keeps its data, shared by every notification of one upload, and kept by a
// redelivery (a retry of the same event).
func TestS3HookSequencers(t *testing.T) {
	dir := t.TempDir()
	type delivery struct{ trigger, sequencer string }
	var mu sync.Mutex
	var got []delivery
	failOnce := map[string]bool{}
	queue := func(ctx context.Context, name string) *asyncQueue {
		q := newAsyncQueue(ctx, name, 1, func(_ context.Context, p []byte) ([]byte, error) {
			var ev events.S3Event
			if err := json.Unmarshal(p, &ev); err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			seq := ev.Records[0].S3.Object.Sequencer
			got = append(got, delivery{name, seq})
			if name == "a" && !failOnce[seq] {
				failOnce[seq] = true
				return nil, &FunctionError{Type: "Runtime.ExitError"}
			}
			return nil, nil
		}, nil, discardLogger())
		q.backoff = []time.Duration{time.Millisecond, time.Millisecond}
		return q
	}
	put := func(restartAt time.Time, bodies ...string) {
		backend, err := newS3Backend(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := backend.BucketExists("land"); !ok {
			backend.CreateBucket("land")
		}
		ctx, cancel := context.WithCancel(context.Background())
		qa, qb := queue(ctx, "a"), queue(ctx, "b")
		h := &s3Hook{s3: gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server(), backend: backend, region: "us-east-1",
			now:      func() time.Time { return restartAt },
			triggers: []s3Trigger{{bucket: "land", prefix: "ingest/", queue: qa}, {bucket: "land", prefix: "ingest/ds/", queue: qb}}}
		for _, body := range bodies {
			w := httptest.NewRecorder()
			req := httptest.NewRequest("PUT", "/land/ingest/ds/f.json", strings.NewReader(body))
			req.Header.Set("Content-Length", strconv.Itoa(len(body)))
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				t.Fatalf("PUT answered %d", w.Code)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for (qa.pending.Load() != 0 || qb.pending.Load() != 0) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		qa.stop()
		qb.stop()
	}
	// Each run sees a clock that stands still: the uploads of one run come
	// within one clock tick, and the second run starts a microsecond later,
	// with a fresh hook, as after a restart.
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	put(t0, "A", "B", "A")
	put(t0.Add(time.Microsecond), "C")

	perTrigger := map[string][]string{}
	seen := map[string]map[string]int{}
	for _, d := range got {
		if seen[d.trigger] == nil {
			seen[d.trigger] = map[string]int{}
		}
		if seen[d.trigger][d.sequencer]++; seen[d.trigger][d.sequencer] == 1 {
			perTrigger[d.trigger] = append(perTrigger[d.trigger], d.sequencer)
		}
	}
	if len(perTrigger["a"]) != 4 || len(perTrigger["b"]) != 4 {
		t.Fatalf("distinct sequencers per trigger: %v; want 4 uploads each", perTrigger)
	}
	for seq, n := range seen["a"] {
		if n != 2 {
			t.Errorf("sequencer %s delivered %d times to the failing trigger, want 2 (the retry keeps it)", seq, n)
		}
	}
	pad := func(s string) string { return strings.Repeat("0", 32-len(s)) + s }
	for i, seq := range perTrigger["a"] {
		if _, err := strconv.ParseUint(seq, 16, 64); err != nil || strings.ToUpper(seq) != seq {
			t.Errorf("sequencer %q is not upper-case hex", seq)
		}
		if perTrigger["b"][i] != seq {
			t.Errorf("upload %d: triggers saw sequencers %s and %s, want one per upload", i, seq, perTrigger["b"][i])
		}
		if i > 0 && pad(seq) <= pad(perTrigger["a"][i-1]) {
			t.Errorf("sequencer %s of upload %d does not sort after %s", seq, i, perTrigger["a"][i-1])
		}
	}
}
