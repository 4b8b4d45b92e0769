package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"
)

func records(seqs ...int) []ktypes.Record {
	out := make([]ktypes.Record, len(seqs))
	for i, s := range seqs {
		out[i] = ktypes.Record{SequenceNumber: aws.String(strconv.Itoa(s)), PartitionKey: aws.String("pk"), Data: []byte("d" + strconv.Itoa(s))}
	}
	return out
}

// fakeFunction answers each invocation with the next scripted outcome and
// records the sequence numbers it was given.
type fakeFunction struct {
	mu      sync.Mutex
	batches [][]string
	answer  func(call int, seqs []string) ([]byte, error)
}

func (f *fakeFunction) invoke(_ context.Context, payload []byte) ([]byte, error) {
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	var seqs []string
	for _, r := range ev.Records {
		seqs = append(seqs, r.Kinesis.SequenceNumber)
	}
	f.mu.Lock()
	f.batches = append(f.batches, seqs)
	call := len(f.batches)
	f.mu.Unlock()
	return f.answer(call, seqs)
}

func failures(seqs ...string) []byte {
	var resp events.KinesisEventResponse
	for _, s := range seqs {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: s})
	}
	b, _ := json.Marshal(resp)
	return b
}

func testPoller(t *testing.T, fn *fakeFunction, maxRetries int, bisect bool) (*poller, string) {
	t.Helper()
	dir := t.TempDir()
	cp, err := loadCheckpoints(filepath.Join(dir, "cp.json"))
	if err != nil {
		t.Fatal(err)
	}
	fpath := filepath.Join(dir, "failures.jsonl")
	return &poller{
		function: "fn", streamName: "s", streamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/s", region: "us-east-1",
		batchSize: 10, maxRetries: maxRetries, bisect: bisect, invoke: fn.invoke, cp: cp,
		failures: &failureLog{path: fpath}, log: discardLogger(), pollInterval: time.Millisecond,
		backoff: func(int) time.Duration { return 0 },
	}, fpath
}

func TestESMPartialFailureRestartsAtLowestFailed(t *testing.T) {
	fn := &fakeFunction{answer: func(call int, seqs []string) ([]byte, error) {
		if call == 1 {
			return failures("5", "3"), nil // unordered on purpose
		}
		return failures(), nil
	}}
	p, _ := testPoller(t, fn, 3, true)
	var seen []string
	cpSeen := func() { seen = append(seen, p.cp.get("shard-0")) }
	if !p.handle(context.Background(), "shard-0", records(1, 2, 3, 4, 5), 0) {
		t.Fatal("handle stopped")
	}
	cpSeen()
	want := [][]string{{"1", "2", "3", "4", "5"}, {"3", "4", "5"}}
	if diff := cmp.Diff(want, fn.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	if seen[0] != "5" {
		t.Errorf("checkpoint %q, want 5", seen[0])
	}
	raw, _ := os.ReadFile(p.cp.path)
	if !strings.Contains(string(raw), `"shard-0":"5"`) {
		t.Errorf("persisted checkpoint %s", raw)
	}
}

func TestESMRetriesBoundedThenOnFailure(t *testing.T) {
	fn := &fakeFunction{answer: func(call int, seqs []string) ([]byte, error) {
		return failures("2"), nil
	}}
	p, fpath := testPoller(t, fn, 2, true)
	p.handle(context.Background(), "shard-0", records(1, 2, 3), 0)
	want := [][]string{{"1", "2", "3"}, {"2", "3"}, {"2", "3"}}
	if diff := cmp.Diff(want, fn.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	raw, err := os.ReadFile(fpath)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("failure record %q: %v", raw, err)
	}
	if rec["startSequenceNumber"] != "2" || rec["endSequenceNumber"] != "3" || rec["shardId"] != "shard-0" || rec["reason"] != "partial batch failure" {
		t.Errorf("got %v", rec)
	}
	if got := p.cp.get("shard-0"); got != "3" {
		t.Errorf("checkpoint %q, want 3 (the shard moves on)", got)
	}
}

func TestESMBisectOnFunctionError(t *testing.T) {
	// Record 3 is poison: any batch holding it fails.
	fn := &fakeFunction{answer: func(call int, seqs []string) ([]byte, error) {
		for _, s := range seqs {
			if s == "3" {
				return nil, &FunctionError{Type: "errorString"}
			}
		}
		return nil, nil
	}}
	p, fpath := testPoller(t, fn, 3, true)
	p.handle(context.Background(), "shard-0", records(1, 2, 3, 4), 0)
	want := [][]string{{"1", "2", "3", "4"}, {"1", "2"}, {"3", "4"}, {"3"}, {"3"}, {"4"}}
	if diff := cmp.Diff(want, fn.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	raw, _ := os.ReadFile(fpath)
	if strings.Count(string(raw), "\n") != 1 || !strings.Contains(string(raw), `"startSequenceNumber":"3"`) {
		t.Errorf("failure records %s", raw)
	}
	if got := p.cp.get("shard-0"); got != "4" {
		t.Errorf("checkpoint %q, want 4", got)
	}
}

func TestESMNoBisectRetriesWholeBatch(t *testing.T) {
	fn := &fakeFunction{answer: func(call int, seqs []string) ([]byte, error) {
		if call < 3 {
			return nil, &FunctionError{Type: "x"}
		}
		return nil, nil
	}}
	p, fpath := testPoller(t, fn, 5, false)
	p.handle(context.Background(), "shard-0", records(1, 2), 0)
	if len(fn.batches) != 3 {
		t.Errorf("got %d invocations, want 3", len(fn.batches))
	}
	if _, err := os.Stat(fpath); err == nil {
		t.Error("on-failure record written for a batch that succeeded")
	}
}

func TestLowestFailedUnknownIdentifier(t *testing.T) {
	if got := lowestFailed(failures("99"), records(1, 2)); got != 0 {
		t.Errorf("got %d, want 0 (retry whole batch)", got)
	}
	if got := lowestFailed([]byte("null"), records(1, 2)); got != -1 {
		t.Errorf("got %d, want -1", got)
	}
}

// fakeKinesis serves one shard's records, in pages of the requested limit.
type fakeKinesis struct {
	mu   sync.Mutex
	recs []ktypes.Record
}

func (k *fakeKinesis) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return &kinesis.ListShardsOutput{Shards: []ktypes.Shard{{ShardId: aws.String("shard-0")}}}, nil
}

func (k *fakeKinesis) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	pos := 0
	if in.ShardIteratorType == ktypes.ShardIteratorTypeAfterSequenceNumber {
		n, _ := strconv.Atoi(*in.StartingSequenceNumber)
		pos = n // sequence numbers are 1-based positions
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(strconv.Itoa(pos))}, nil
}

func (k *fakeKinesis) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	pos, _ := strconv.Atoi(*in.ShardIterator)
	end := min(pos+int(*in.Limit), len(k.recs))
	return &kinesis.GetRecordsOutput{Records: k.recs[pos:end], NextShardIterator: aws.String(strconv.Itoa(end))}, nil
}

func TestPollerReadsInOrderAndResumesFromCheckpoint(t *testing.T) {
	fn := &fakeFunction{answer: func(int, []string) ([]byte, error) { return nil, nil }}
	p, _ := testPoller(t, fn, 1, true)
	p.batchSize, p.listEvery = 2, time.Hour
	p.client = &fakeKinesis{recs: records(1, 2, 3, 4, 5)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for p.cp.get("shard-0") != "5" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	want := [][]string{{"1", "2"}, {"3", "4"}, {"5"}}
	if diff := cmp.Diff(want, fn.batches); diff != "" {
		t.Fatalf("batches (-want +got):\n%s", diff)
	}
	// A new mapping over the same checkpoints starts after record 5.
	cp, _ := loadCheckpoints(p.cp.path)
	p2, _ := testPoller(t, fn, 1, true)
	p2.cp, p2.client = cp, &fakeKinesis{recs: records(1, 2, 3, 4, 5, 6)}
	it, err := p2.iterator(context.Background(), "shard-0")
	if err != nil || *it != "5" {
		t.Errorf("resume iterator %v %v, want position 5", *it, err)
	}
}

// reshardedKinesis serves several shards, each either open or closed
// (NextShardIterator nil once read), and can fail GetShardIterator calls.
type reshardedKinesis struct {
	mu       sync.Mutex
	shards   []ktypes.Shard
	recs     map[string][]ktypes.Record
	closed   map[string]bool
	iterErr  func(call int, in *kinesis.GetShardIteratorInput) error
	iterIn   []kinesis.GetShardIteratorInput
	iterCall int
}

func (k *reshardedKinesis) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return &kinesis.ListShardsOutput{Shards: k.shards}, nil
}

func (k *reshardedKinesis) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.iterCall++
	k.iterIn = append(k.iterIn, *in)
	if k.iterErr != nil {
		if err := k.iterErr(k.iterCall, in); err != nil {
			return nil, err
		}
	}
	shard := aws.ToString(in.ShardId)
	pos := 0
	if in.ShardIteratorType == ktypes.ShardIteratorTypeAfterSequenceNumber {
		for i, r := range k.recs[shard] {
			if aws.ToString(r.SequenceNumber) == aws.ToString(in.StartingSequenceNumber) {
				pos = i + 1
			}
		}
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(shard + "/" + strconv.Itoa(pos))}, nil
}

func (k *reshardedKinesis) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	shard, p, _ := strings.Cut(*in.ShardIterator, "/")
	pos, _ := strconv.Atoi(p)
	recs := k.recs[shard]
	end := min(pos+int(*in.Limit), len(recs))
	out := &kinesis.GetRecordsOutput{Records: recs[pos:end], NextShardIterator: aws.String(shard + "/" + strconv.Itoa(end))}
	if end == len(recs) && k.closed[shard] {
		out.NextShardIterator = nil
	}
	return out, nil
}

// runUntil runs p until done reports true or 10 s pass.
func runUntil(t *testing.T, p *poller, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { p.run(ctx); close(stopped) }()
	deadline := time.Now().Add(10 * time.Second)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-stopped
	if !done() {
		t.Fatal("poller did not finish within 10s")
	}
}

func TestPollerRetriesTransientIteratorErrorsFromCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"throttled", &ktypes.ProvisionedThroughputExceededException{Message: aws.String("Rate exceeded")}},
		{"limit", &ktypes.LimitExceededException{Message: aws.String("limit")}},
		{"5xx or network", errors.New("http 500: internal failure")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fn := &fakeFunction{answer: func(int, []string) ([]byte, error) { return nil, nil }}
			p, _ := testPoller(t, fn, 1, true)
			p.listEvery, p.retryBase = time.Hour, time.Millisecond
			k := &reshardedKinesis{shards: []ktypes.Shard{{ShardId: aws.String("shard-0")}},
				recs: map[string][]ktypes.Record{"shard-0": records(1, 2, 3, 4, 5)},
				iterErr: func(call int, _ *kinesis.GetShardIteratorInput) error {
					if call <= 3 {
						return tc.err
					}
					return nil
				}}
			p.client = k
			p.cp.set("shard-0", "3")
			runUntil(t, p, func() bool { return p.cp.get("shard-0") == "5" })
			if diff := cmp.Diff([][]string{{"4", "5"}}, fn.batches); diff != "" {
				t.Errorf("batches (-want +got):\n%s", diff)
			}
			for _, in := range k.iterIn {
				if in.ShardIteratorType != ktypes.ShardIteratorTypeAfterSequenceNumber || aws.ToString(in.StartingSequenceNumber) != "3" {
					t.Errorf("iterator asked %s %v, want AFTER_SEQUENCE_NUMBER 3 every time", in.ShardIteratorType, aws.ToString(in.StartingSequenceNumber))
				}
			}
		})
	}
}

func TestPollerUnknownCheckpointRestartsAtTrimHorizon(t *testing.T) {
	fn := &fakeFunction{answer: func(int, []string) ([]byte, error) { return nil, nil }}
	p, _ := testPoller(t, fn, 1, true)
	p.listEvery, p.retryBase = time.Hour, time.Millisecond
	k := &reshardedKinesis{shards: []ktypes.Shard{{ShardId: aws.String("shard-0")}},
		recs: map[string][]ktypes.Record{"shard-0": records(1, 2)},
		iterErr: func(_ int, in *kinesis.GetShardIteratorInput) error {
			if in.StartingSequenceNumber != nil {
				return &ktypes.InvalidArgumentException{Message: aws.String("StartingSequenceNumber 99 used in GetShardIterator on shard shard-0 is invalid.")}
			}
			return nil
		}}
	p.client = k
	p.cp.set("shard-0", "99")
	runUntil(t, p, func() bool { return p.cp.get("shard-0") == "2" })
	if diff := cmp.Diff([][]string{{"1", "2"}}, fn.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
}

func TestPollerReadsChildShardsAfterTheirParents(t *testing.T) {
	var mu sync.Mutex
	var order []string
	fn := &fakeFunction{answer: func(_ int, seqs []string) ([]byte, error) {
		mu.Lock()
		order = append(order, seqs...)
		mu.Unlock()
		return nil, nil
	}}
	p, _ := testPoller(t, fn, 1, true)
	p.batchSize, p.listEvery, p.retryBase = 1, time.Hour, time.Millisecond
	// shard-0 and shard-1 were merged into shard-2, which was then split
	// into shard-3 and shard-4. Children are listed first on purpose.
	p.client = &reshardedKinesis{
		shards: []ktypes.Shard{
			{ShardId: aws.String("shard-3"), ParentShardId: aws.String("shard-2")},
			{ShardId: aws.String("shard-4"), ParentShardId: aws.String("shard-2")},
			{ShardId: aws.String("shard-2"), ParentShardId: aws.String("shard-0"), AdjacentParentShardId: aws.String("shard-1")},
			{ShardId: aws.String("shard-0")},
			{ShardId: aws.String("shard-1")},
		},
		recs: map[string][]ktypes.Record{
			"shard-0": records(1, 2, 3), "shard-1": records(4, 5, 6), "shard-2": records(7, 8),
			"shard-3": records(9), "shard-4": records(10),
		},
		closed: map[string]bool{"shard-0": true, "shard-1": true, "shard-2": true},
	}
	runUntil(t, p, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 10
	})
	pos := map[string]int{}
	for i, s := range order {
		pos[s] = i
	}
	for _, parent := range []string{"1", "2", "3", "4", "5", "6"} {
		for _, child := range []string{"7", "8"} {
			if pos[parent] > pos[child] {
				t.Errorf("record %s of a parent shard delivered after record %s of its child: %v", parent, child, order)
			}
		}
	}
	for _, child := range []string{"9", "10"} {
		if pos["8"] > pos[child] {
			t.Errorf("record 8 of shard-2 delivered after record %s of its child: %v", child, order)
		}
	}
}

// TestPollerBoundsBatchesByPayloadSize: records of 1 MB are delivered in
// batches whose event fits Lambda's 6 MB request limit, in order, each once.
func TestPollerBoundsBatchesByPayloadSize(t *testing.T) {
	var sizes []int
	fn := &fakeFunction{answer: func(int, []string) ([]byte, error) { return nil, nil }}
	p, _ := testPoller(t, fn, 1, true)
	p.batchSize, p.listEvery, p.retryBase = 100, time.Hour, time.Millisecond
	inner := fn.invoke
	p.invoke = func(ctx context.Context, payload []byte) ([]byte, error) {
		sizes = append(sizes, len(payload))
		if len(payload) > maxInvokeRequest {
			return nil, errRequestTooLarge
		}
		return inner(ctx, payload)
	}
	recs := records(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	for i := range recs {
		recs[i].Data = []byte(strings.Repeat(strconv.Itoa(i%10), 1<<20))
	}
	p.client = &reshardedKinesis{shards: []ktypes.Shard{{ShardId: aws.String("shard-0")}}, recs: map[string][]ktypes.Record{"shard-0": recs}}
	runUntil(t, p, func() bool { return p.cp.get("shard-0") == "12" })
	var got []string
	for _, b := range fn.batches {
		got = append(got, b...)
	}
	if diff := cmp.Diff([]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}, got); diff != "" {
		t.Errorf("records delivered (-want +got):\n%s", diff)
	}
	for i, n := range sizes {
		if n > maxInvokeRequest {
			t.Errorf("invocation %d carried %d bytes, over Lambda's %d", i, n, maxInvokeRequest)
		}
	}
	if len(fn.batches) > 4 {
		t.Errorf("%d batches for 12 MB of records, want the fewest that fit (3 or 4)", len(fn.batches))
	}
}

// TestPollerFunctionAnswerTooLargeIsRetried: an answer over Lambda's limit
// is a function error, retried like any other.
func TestPollerFunctionAnswerTooLargeIsRetried(t *testing.T) {
	fn := &fakeFunction{answer: func(call int, _ []string) ([]byte, error) {
		if call == 1 {
			return nil, &FunctionError{Type: errResponseSize}
		}
		return nil, nil
	}}
	p, fpath := testPoller(t, fn, 2, false)
	p.handle(context.Background(), "shard-0", records(1, 2), 0)
	if len(fn.batches) != 2 || p.cp.get("shard-0") != "2" {
		t.Errorf("got %v batches, checkpoint %q", fn.batches, p.cp.get("shard-0"))
	}
	if _, err := os.Stat(fpath); err == nil {
		t.Error("on-failure record for a batch that succeeded on retry")
	}
}

// TestESMOnFailureRecordGoesToTheQueueConsumer: with an on-failure queue
// that a function drains, the batch's on-failure record (shard, sequence
// range, attempts, as Lambda writes it) is given to that function as an SQS
// message, and nothing goes to the failure log; a consumer that keeps
// failing leaves the record in the log.
func TestESMOnFailureRecordGoesToTheQueueConsumer(t *testing.T) {
	for _, consumerFails := range []bool{false, true} {
		fn := &fakeFunction{answer: func(call int, seqs []string) ([]byte, error) { return failures("2"), nil }}
		p, fpath := testPoller(t, fn, 2, true)
		var got []events.SQSEvent
		p.dest = &destination{functionArn: "arn:aws:lambda:us-east-1:000000000000:function:fn", queueArn: "arn:aws:sqs:us-east-1:000000000000:q",
			region: "us-east-1", attempts: 2,
			invoke: func(_ context.Context, payload []byte) ([]byte, error) {
				var ev events.SQSEvent
				if err := json.Unmarshal(payload, &ev); err != nil {
					t.Fatal(err)
				}
				got = append(got, ev)
				if consumerFails {
					return nil, &FunctionError{Type: "Unhandled"}
				}
				return []byte(`{"batchItemFailures":[]}`), nil
			}}
		p.handle(context.Background(), "shard-0", records(1, 2, 3), 0)
		wantCalls := 1
		if consumerFails {
			wantCalls = 2
		}
		if len(got) != wantCalls || len(got[0].Records) != 1 {
			t.Fatalf("consumer got %d events, want %d of one message", len(got), wantCalls)
		}
		var rec struct {
			RequestContext struct {
				Condition              string `json:"condition"`
				ApproximateInvokeCount int    `json:"approximateInvokeCount"`
			} `json:"requestContext"`
			KinesisBatchInfo struct {
				ShardID   string `json:"shardId"`
				Start     string `json:"startSequenceNumber"`
				End       string `json:"endSequenceNumber"`
				BatchSize int    `json:"batchSize"`
				StreamArn string `json:"streamArn"`
			} `json:"KinesisBatchInfo"`
		}
		msg := got[0].Records[0]
		if err := json.Unmarshal([]byte(msg.Body), &rec); err != nil {
			t.Fatal(err)
		}
		b := rec.KinesisBatchInfo
		if msg.EventSource != "aws:sqs" || rec.RequestContext.Condition != "RetryAttemptsExhausted" || rec.RequestContext.ApproximateInvokeCount != 3 ||
			b.ShardID != "shard-0" || b.Start != "2" || b.End != "3" || b.BatchSize != 2 || b.StreamArn != p.streamARN {
			t.Errorf("message %+v, record %+v", msg, rec)
		}
		_, err := os.Stat(fpath)
		if logged := err == nil; logged != consumerFails {
			t.Errorf("consumer fails %v: failure log written %v", consumerFails, logged)
		}
		if got := p.cp.get("shard-0"); got != "3" {
			t.Errorf("checkpoint %q, want 3", got)
		}
	}
}
