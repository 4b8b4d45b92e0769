package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// kinesisAPI is the slice of the Kinesis client the poller uses.
type kinesisAPI interface {
	ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// checkpoints remembers, per shard, the last sequence number a mapping is
// done with, in a JSON file when the cloud persists data.
type checkpoints struct {
	mu   sync.Mutex
	path string
	seqs map[string]string
}

func loadCheckpoints(path string) (*checkpoints, error) {
	c := &checkpoints{path: path, seqs: map[string]string{}}
	if path == "" {
		return c, nil
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &c.seqs); err != nil {
		return nil, fmt.Errorf("checkpoints %s: %w", path, err)
	}
	return c, nil
}

func (c *checkpoints) get(shard string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seqs[shard]
}

func (c *checkpoints) set(shard, seq string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seqs[shard] = seq
	if c.path == "" {
		return nil
	}
	raw, _ := json.Marshal(c.seqs)
	return writeFileAtomic(c.path, raw)
}

// poller is a Kinesis event source mapping: it reads every shard of a
// stream in order and invokes a function with batches, with Lambda's
// semantics for partial batch failures, retries, bisection and on-failure
// records.
type poller struct {
	function     string
	streamName   string
	streamARN    string
	region       string
	batchSize    int
	maxRetries   int // negative: retry until success
	bisect       bool
	client       kinesisAPI
	invoke       func(context.Context, []byte) ([]byte, error)
	cp           *checkpoints
	failures     *failureLog
	log          *slog.Logger
	pollInterval time.Duration
	backoff      func(retry int) time.Duration
	listEvery    time.Duration
}

// run polls until ctx is cancelled.
func (p *poller) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	started := map[string]bool{}
	for {
		shards, err := p.listShards(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.WarnContext(ctx, "list shards failed", "stream", p.streamName, "err", err)
		}
		for _, id := range shards {
			if !started[id] {
				started[id] = true
				wg.Add(1)
				go func() {
					defer wg.Done()
					p.runShard(ctx, id)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.listEvery):
		}
	}
}

func (p *poller) listShards(ctx context.Context) ([]string, error) {
	var ids []string
	in := &kinesis.ListShardsInput{StreamName: aws.String(p.streamName)}
	for {
		out, err := p.client.ListShards(ctx, in)
		if err != nil {
			return ids, err
		}
		for _, s := range out.Shards {
			ids = append(ids, aws.ToString(s.ShardId))
		}
		if out.NextToken == nil {
			return ids, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

func (p *poller) iterator(ctx context.Context, shard string) (*string, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(p.streamName), ShardId: aws.String(shard),
		ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon}
	if seq := p.cp.get(shard); seq != "" {
		in.ShardIteratorType = ktypes.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(seq)
	}
	out, err := p.client.GetShardIterator(ctx, in)
	if err != nil && in.StartingSequenceNumber != nil && ctx.Err() == nil {
		// A checkpoint the stream no longer knows (its data was not
		// persisted) must not stop the mapping: start from the oldest record.
		p.log.WarnContext(ctx, "checkpoint unknown to stream, reading from trim horizon", "shardId", shard, "err", err)
		in.ShardIteratorType, in.StartingSequenceNumber = ktypes.ShardIteratorTypeTrimHorizon, nil
		out, err = p.client.GetShardIterator(ctx, in)
	}
	if err != nil {
		return nil, err
	}
	return out.ShardIterator, nil
}

func (p *poller) runShard(ctx context.Context, shard string) {
	var iter *string
	for ctx.Err() == nil {
		if iter == nil {
			it, err := p.iterator(ctx, shard)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				p.log.WarnContext(ctx, "get shard iterator failed", "shardId", shard, "err", err)
				p.sleep(ctx, time.Second)
				continue
			}
			if it == nil {
				return
			}
			iter = it
		}
		out, err := p.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(p.batchSize))})
		if err != nil {
			if ctx.Err() == nil {
				p.log.WarnContext(ctx, "get records failed", "shardId", shard, "err", err)
			}
			iter = nil
			p.sleep(ctx, 500*time.Millisecond)
			continue
		}
		if len(out.Records) > 0 {
			// Every fetched record ends either processed or in the
			// on-failure file before the next fetch, so the iterator can move on.
			if !p.handle(ctx, shard, out.Records, 0) {
				return
			}
		}
		if out.NextShardIterator == nil {
			return // the shard was closed by resharding and is fully read
		}
		iter = out.NextShardIterator
		if len(out.Records) == 0 {
			p.sleep(ctx, p.pollInterval)
		}
	}
}

func (p *poller) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// handle delivers recs (in order) until each has been processed or given
// up on. retries is how many retries this batch's records have had already
// (a bisected half inherits its parent's count, which keeps the total
// bounded). It returns false only when ctx ended.
func (p *poller) handle(ctx context.Context, shard string, recs []ktypes.Record, retries int) bool {
	for len(recs) > 0 {
		if ctx.Err() != nil {
			return false
		}
		payload, err := json.Marshal(p.event(shard, recs))
		if err != nil {
			p.giveUp(shard, recs, "event encoding failed: "+err.Error())
			return true
		}
		body, err := p.invoke(ctx, payload)
		if ctx.Err() != nil {
			return false
		}
		var reason string
		if err == nil {
			failed := lowestFailed(body, recs)
			if failed < 0 {
				p.checkpoint(shard, recs[len(recs)-1])
				return true
			}
			if failed > 0 {
				// Records before the lowest failure are done: checkpoint
				// just before it and retry from there.
				p.checkpoint(shard, recs[failed-1])
				recs = recs[failed:]
			}
			reason = "partial batch failure"
		} else {
			reason = err.Error()
		}
		if p.maxRetries >= 0 && retries >= p.maxRetries {
			p.giveUp(shard, recs, reason)
			return true
		}
		retries++
		p.log.WarnContext(ctx, "batch failed, retrying", "function", p.function, "shardId", shard, "records", len(recs), "retry", retries)
		if err != nil && p.bisect && len(recs) > 1 {
			mid := len(recs) / 2
			if !p.handle(ctx, shard, recs[:mid], retries) {
				return false
			}
			return p.handle(ctx, shard, recs[mid:], retries)
		}
		p.sleep(ctx, p.backoff(retries))
	}
	return true
}

// lowestFailed returns the index of the first record reported in
// batchItemFailures, -1 when none failed, and 0 when the response names a
// record the batch does not hold (Lambda then retries the whole batch).
func lowestFailed(body []byte, recs []ktypes.Record) int {
	var resp events.KinesisEventResponse
	if len(body) == 0 || json.Unmarshal(body, &resp) != nil || len(resp.BatchItemFailures) == 0 {
		return -1
	}
	index := make(map[string]int, len(recs))
	for i, r := range recs {
		index[aws.ToString(r.SequenceNumber)] = i
	}
	lowest := -1
	var lowestSeq *big.Int
	for _, f := range resp.BatchItemFailures {
		i, ok := index[f.ItemIdentifier]
		if !ok {
			return 0
		}
		seq, ok := new(big.Int).SetString(f.ItemIdentifier, 10)
		if !ok {
			return 0
		}
		if lowestSeq == nil || seq.Cmp(lowestSeq) < 0 {
			lowest, lowestSeq = i, seq
		}
	}
	return lowest
}

func (p *poller) checkpoint(shard string, r ktypes.Record) {
	if err := p.cp.set(shard, aws.ToString(r.SequenceNumber)); err != nil {
		p.log.Error("write checkpoint", "shardId", shard, "err", err)
	}
}

func (p *poller) giveUp(shard string, recs []ktypes.Record, reason string) {
	first, last := aws.ToString(recs[0].SequenceNumber), aws.ToString(recs[len(recs)-1].SequenceNumber)
	p.log.Error("stream records sent to on-failure destination", "function", p.function, "stream", p.streamName,
		"shardId", shard, "records", len(recs), "reason", reason)
	p.failures.write(map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "source": "aws:kinesis", "function": p.function,
		"streamArn": p.streamARN, "shardId": shard, "startSequenceNumber": first, "endSequenceNumber": last,
		"batchSize": len(recs), "reason": reason,
	})
	p.checkpoint(shard, recs[len(recs)-1])
}

// event builds the KinesisEvent Lambda would send for recs.
func (p *poller) event(shard string, recs []ktypes.Record) events.KinesisEvent {
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(recs))}
	for i, r := range recs {
		seq := aws.ToString(r.SequenceNumber)
		var arrival time.Time
		if r.ApproximateArrivalTimestamp != nil {
			arrival = *r.ApproximateArrivalTimestamp
		}
		ev.Records[i] = events.KinesisEventRecord{
			AwsRegion:         p.region,
			EventID:           shard + ":" + seq,
			EventName:         "aws:kinesis:record",
			EventSource:       "aws:kinesis",
			EventSourceArn:    p.streamARN,
			EventVersion:      "1.0",
			InvokeIdentityArn: "arn:aws:iam::" + accountID + ":role/" + p.function,
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: arrival},
				Data:                        r.Data,
				PartitionKey:                aws.ToString(r.PartitionKey),
				SequenceNumber:              seq,
				KinesisSchemaVersion:        "1.0",
			},
		}
	}
	return ev
}
