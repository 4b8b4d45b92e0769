package cloud

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"
)

// keyedRecords are n records with sequence numbers 1..n, record i under
// partition key "key<i mod keys>".
func keyedRecords(n, keys int) []ktypes.Record {
	out := make([]ktypes.Record, n)
	for i := range out {
		seq := strconv.Itoa(i + 1)
		out[i] = ktypes.Record{SequenceNumber: aws.String(seq), PartitionKey: aws.String(fmt.Sprintf("key%d", (i+1)%keys)), Data: []byte("d" + seq)}
	}
	return out
}

// laneFunction is a stream function for the lane tests: it answers each
// batch through fail (the index of the first record it fails, -1 for
// none, or an error), records which records it processed (those before
// the first failure) per partition key, and checks that no record it is
// given is already behind the shard's checkpoint.
type laneFunction struct {
	p        *poller
	mu       sync.Mutex
	byKey    map[string][]int // partition key → sequence numbers processed, in order
	count    map[int]int      // sequence number → times processed
	behind   []string         // records delivered although checkpointed
	inFlight int
	maxIn    int
	fail     func(seqs []int) (int, error)
}

func (f *laneFunction) invoke(_ context.Context, payload []byte) ([]byte, error) {
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	var seqs []int
	for _, r := range ev.Records {
		n, _ := strconv.Atoi(r.Kinesis.SequenceNumber)
		seqs = append(seqs, n)
	}
	cp, _ := strconv.Atoi(f.p.cp.get("shard-0"))
	f.mu.Lock()
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	for _, s := range seqs {
		if s <= cp {
			f.behind = append(f.behind, strconv.Itoa(s))
		}
	}
	f.mu.Unlock()
	first, err := f.fail(seqs)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
	if err != nil {
		return nil, err
	}
	done := len(seqs)
	if first >= 0 {
		done = first
	}
	for i, r := range ev.Records[:done] {
		f.byKey[r.Kinesis.PartitionKey] = append(f.byKey[r.Kinesis.PartitionKey], seqs[i])
		f.count[seqs[i]]++
	}
	if first < 0 {
		return nil, nil
	}
	return failures(ev.Records[first].Kinesis.SequenceNumber), nil
}

func newLaneTest(t *testing.T, recs []ktypes.Record, parallel, batch, maxRetries int, fail func([]int) (int, error)) (*poller, *laneFunction, string) {
	t.Helper()
	f := &laneFunction{byKey: map[string][]int{}, count: map[int]int{}, fail: fail}
	p, fpath := testPoller(t, &fakeFunction{}, maxRetries, true)
	p.invoke, p.parallel, p.batchSize, p.listEvery, p.retryBase = f.invoke, parallel, batch, time.Hour, time.Millisecond
	p.client = &reshardedKinesis{shards: []ktypes.Shard{{ShardId: aws.String("shard-0")}}, recs: map[string][]ktypes.Record{"shard-0": recs}}
	f.p = p
	return p, f, fpath
}

// wantInKeyOrder checks that each key's processed records are exactly its
// records of recs but skip, in shard order, each processed once.
func (f *laneFunction) wantInKeyOrder(t *testing.T, recs []ktypes.Record, skip map[int]bool) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	want := map[string][]int{}
	for _, r := range recs {
		n, _ := strconv.Atoi(aws.ToString(r.SequenceNumber))
		if !skip[n] {
			want[aws.ToString(r.PartitionKey)] = append(want[aws.ToString(r.PartitionKey)], n)
		}
	}
	if diff := cmp.Diff(want, f.byKey); diff != "" {
		t.Errorf("records processed per partition key (-want +got):\n%s", diff)
	}
	for s, n := range f.count {
		if n != 1 {
			t.Errorf("record %d processed %d times", s, n)
		}
	}
	if len(f.behind) > 0 {
		t.Errorf("records delivered after the checkpoint had passed them: %v", f.behind)
	}
}

// TestPollerParallelLanesKeepKeyOrderUnderFailures: with a
// ParallelizationFactor of 4, batches of one shard run at once, yet every
// key's records are processed in shard order, each exactly once, through
// partial batch failures and function errors at random; the checkpoint
// never passes a record still to be delivered and ends on the last.
func TestPollerParallelLanesKeepKeyOrderUnderFailures(t *testing.T) {
	recs := keyedRecords(400, 13)
	rng := rand.New(rand.NewPCG(1, 2))
	var rmu sync.Mutex
	// The first invocation waits for a second one to start, which can
	// only happen when two lanes run at once.
	second := make(chan struct{})
	var once sync.Once
	calls := 0
	p, f, fpath := newLaneTest(t, recs, 4, 10, -1, func(seqs []int) (int, error) {
		rmu.Lock()
		calls++
		call := calls
		roll := rng.IntN(10)
		at := rng.IntN(len(seqs))
		rmu.Unlock()
		switch call {
		case 1:
			select {
			case <-second:
			case <-time.After(5 * time.Second):
				t.Error("no second batch ran while the first was in flight")
			}
		case 2:
			once.Do(func() { close(second) })
		}
		switch {
		case roll < 2:
			return at, nil // partial batch failure
		case roll < 3:
			return 0, &FunctionError{Type: "Runtime.ExitError"}
		}
		return -1, nil
	})
	runUntil(t, p, func() bool { return p.cp.get("shard-0") == "400" })
	f.wantInKeyOrder(t, recs, nil)
	if f.maxIn < 2 {
		t.Errorf("at most %d invocations at once, want several", f.maxIn)
	}
	if _, err := os.Stat(fpath); err == nil {
		t.Error("on-failure record written although every record was retried until processed")
	}
}

// TestPollerParallelPoisonGoesToOnFailureInItsLane: a record that always
// fails its batch is bisected down and sent to the on-failure destination
// once its retries are exhausted; every other record is processed once, in
// key order, and the shard moves on.
func TestPollerParallelPoisonGoesToOnFailureInItsLane(t *testing.T) {
	recs := keyedRecords(120, 7)
	p, f, fpath := newLaneTest(t, recs, 3, 8, 5, func(seqs []int) (int, error) {
		for _, s := range seqs {
			if s == 50 {
				return 0, &FunctionError{Type: "errorString"}
			}
		}
		return -1, nil
	})
	runUntil(t, p, func() bool { return p.cp.get("shard-0") == "120" })
	f.wantInKeyOrder(t, recs, map[int]bool{50: true})
	raw, err := os.ReadFile(fpath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"startSequenceNumber":"50"`) || !strings.Contains(lines[0], `"endSequenceNumber":"50"`) {
		t.Errorf("on-failure records %s, want one for record 50 alone", raw)
	}
}

// TestPollerParallelCheckpointWaitsForSlowestLane: while one lane is stuck
// on its first record, other lanes finish theirs, and the checkpoint stays
// before the stuck record.
func TestPollerParallelCheckpointWaitsForSlowestLane(t *testing.T) {
	recs := keyedRecords(40, 5)
	stuck := lane(aws.ToString(recs[0].PartitionKey), 4)
	release := make(chan struct{})
	others := 0
	for _, r := range recs {
		if lane(aws.ToString(r.PartitionKey), 4) != stuck {
			others++
		}
	}
	if others == 0 {
		t.Fatal("every key hashed to one lane; pick other keys")
	}
	var mu sync.Mutex
	processedOthers := 0
	var pp *poller
	p, f, _ := newLaneTest(t, recs, 4, 100, -1, func(seqs []int) (int, error) {
		if seqs[0] == 1 {
			<-release
			return -1, nil
		}
		mu.Lock()
		processedOthers += len(seqs)
		n := processedOthers
		mu.Unlock()
		if n == others {
			if cp := pp.cp.get("shard-0"); cp != "" {
				t.Errorf("checkpoint %s while record 1 is in flight", cp)
			}
			close(release)
		}
		return -1, nil
	})
	pp = p
	runUntil(t, p, func() bool { return p.cp.get("shard-0") == "40" })
	f.wantInKeyOrder(t, recs, nil)
}

func TestLaneOfPartitionKey(t *testing.T) {
	seen := map[int]bool{}
	for i := range 200 {
		key := "identity-" + strconv.Itoa(i)
		l := lane(key, 10)
		if l < 0 || l >= 10 || l != lane(key, 10) {
			t.Fatalf("lane(%q) = %d, not stable in [0,10)", key, l)
		}
		seen[l] = true
		if lane(key, 1) != 0 {
			t.Fatalf("one lane: lane(%q) = %d", key, lane(key, 1))
		}
	}
	if len(seen) != 10 {
		t.Errorf("200 keys used %d of 10 lanes", len(seen))
	}
}
