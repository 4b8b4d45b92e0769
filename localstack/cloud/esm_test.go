package cloud

import (
	"context"
	"encoding/json"
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
