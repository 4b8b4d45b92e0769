package cloud

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// StreamPollInterval is how long the local poller waits after a
// GetRecords call that returned no records before it asks the shard again.
const StreamPollInterval = 150 * time.Millisecond

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
	function   string
	streamName string
	streamARN  string
	region     string
	batchSize  int
	maxRetries int // negative: retry until success
	bisect     bool
	// parallel is the ParallelizationFactor: how many batches of one shard
	// are processed at once (1 to 10; below 1 counts as 1).
	parallel     int
	client       kinesisAPI
	invoke       func(context.Context, []byte) ([]byte, error)
	cp           *checkpoints
	failures     *failureLog
	dest         *destination // the on-failure queue's consumer; nil: the failure log only
	log          *slog.Logger
	pollInterval time.Duration
	backoff      func(retry int) time.Duration // between retries of a failed batch
	retryBase    time.Duration                 // fixed wait between failed Kinesis calls; zero: kinesisBackoff's doubling
	listEvery    time.Duration

	mu       sync.Mutex
	progress map[string]*shardProgress // shard → the fetched records being processed
}

// run polls until ctx is cancelled. Each shard is read by its own
// goroutine; a shard created by resharding starts only once its parent
// shards (ParentShardId, AdjacentParentShardId) are fully read, so that the
// records of one partition key reach the function in order, as Lambda's
// Kinesis event source does. A parent the stream no longer lists (past its
// retention) counts as read.
func (p *poller) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	started, finished := map[string]bool{}, map[string]bool{}
	closed := make(chan string)
	var known []ktypes.Shard
	for {
		shards, err := p.listShards(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.WarnContext(ctx, "list shards failed", "stream", p.streamName, "err", err)
		}
		if err == nil {
			known = shards
		}
		listed := make(map[string]bool, len(known))
		for _, s := range known {
			listed[aws.ToString(s.ShardId)] = true
		}
		for _, s := range known {
			id := aws.ToString(s.ShardId)
			if started[id] || !parentsRead(s, listed, finished) {
				continue
			}
			started[id] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				if p.runShard(ctx, id) {
					select {
					case closed <- id:
					case <-ctx.Done():
					}
				}
			}()
		}
		select {
		case <-ctx.Done():
			return
		case id := <-closed:
			// A closed shard may have children waiting for it: list again.
			finished[id] = true
		case <-time.After(p.listEvery):
		}
	}
}

// parentsRead reports whether every parent of s that the stream still
// lists has been read to its end.
func parentsRead(s ktypes.Shard, listed, finished map[string]bool) bool {
	for _, parent := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
		if id := aws.ToString(parent); id != "" && listed[id] && !finished[id] {
			return false
		}
	}
	return true
}

func (p *poller) listShards(ctx context.Context) ([]ktypes.Shard, error) {
	var shards []ktypes.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(p.streamName)}
	for {
		out, err := p.client.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// iterator returns an iterator just after the shard's checkpoint, or at
// its oldest record when it has none. Only an InvalidArgumentException for
// the checkpoint's sequence number (one the stream does not hold: its data
// was not persisted, or the records are past retention) moves a
// checkpointed shard back to TRIM_HORIZON; any other error (throttling,
// 5xx, network) is returned for the caller to retry, because starting over
// would deliver the whole retained shard again.
func (p *poller) iterator(ctx context.Context, shard string) (*string, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(p.streamName), ShardId: aws.String(shard),
		ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon}
	seq := p.cp.get(shard)
	if seq != "" {
		in.ShardIteratorType = ktypes.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(seq)
	}
	out, err := p.client.GetShardIterator(ctx, in)
	var invalid *ktypes.InvalidArgumentException
	if err != nil && seq != "" && ctx.Err() == nil && errors.As(err, &invalid) {
		p.log.WarnContext(ctx, "checkpoint sequence number unknown to the stream, reading the shard from its oldest record",
			"function", p.function, "stream", p.streamName, "shardId", shard, "err", err)
		in.ShardIteratorType, in.StartingSequenceNumber = ktypes.ShardIteratorTypeTrimHorizon, nil
		out, err = p.client.GetShardIterator(ctx, in)
	}
	if err != nil {
		return nil, err
	}
	return out.ShardIterator, nil
}

// runShard reads one shard until ctx ends (false) or the shard is closed
// and fully read (true). Failed Kinesis calls are retried with backoff.
func (p *poller) runShard(ctx context.Context, shard string) bool {
	var iter *string
	failures := 0
	retryLater := func(what string, err error) {
		failures++
		if ctx.Err() == nil {
			p.log.WarnContext(ctx, what+" failed, retrying", "shardId", shard, "attempt", failures, "err", err)
		}
		p.sleep(ctx, p.kinesisBackoff(failures))
	}
	for ctx.Err() == nil {
		if iter == nil {
			it, err := p.iterator(ctx, shard)
			if err != nil {
				retryLater("get shard iterator", err)
				continue
			}
			if it == nil {
				return true
			}
			iter = it
		}
		out, err := p.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(p.fetchLimit()))})
		if err != nil {
			// A new iterator from the checkpoint also replaces an expired one.
			iter = nil
			retryLater("get records", err)
			continue
		}
		failures = 0
		// Every fetched record ends either processed or in the on-failure
		// file before the next fetch, so the iterator can move on.
		if !p.process(ctx, shard, out.Records) {
			return false
		}
		if out.NextShardIterator == nil {
			return true // the shard was closed by resharding and is fully read
		}
		iter = out.NextShardIterator
		if len(out.Records) == 0 {
			p.sleep(ctx, p.pollInterval)
		}
	}
	return false
}

// maxGetRecords is the most records one GetRecords call returns
// (GetRecords, Amazon Kinesis Data Streams API Reference).
const maxGetRecords = 10000

// fetchLimit is how many records one fetch asks for: a batch for each lane.
func (p *poller) fetchLimit() int {
	return min(p.batchSize*p.lanes(), maxGetRecords)
}

func (p *poller) lanes() int { return min(max(p.parallel, 1), 10) }

// lane is the lane of a partition key: the MD5 hash of the key, as Kinesis
// maps keys to shards, modulo the lanes. Records of one key always share a
// lane, so they reach the function in shard order, as Lambda keeps order
// per partition key with a ParallelizationFactor above 1 ("Using AWS
// Lambda with Amazon Kinesis", AWS Lambda Developer Guide).
func lane(partitionKey string, lanes int) int {
	if lanes <= 1 {
		return 0
	}
	sum := md5.Sum([]byte(partitionKey))
	return int(binary.BigEndian.Uint64(sum[:8]) % uint64(lanes))
}

// process delivers fetched records, in shard order, split into lanes by
// partition key; each lane's batches run one after another, the lanes at
// the same time. The shard's checkpoint moves only past records every
// lane is done with (processed, or given up on). It returns false only
// when ctx ended.
func (p *poller) process(ctx context.Context, shard string, recs []ktypes.Record) bool {
	if len(recs) == 0 {
		return true
	}
	n := p.lanes()
	byLane := make([][]ktypes.Record, n)
	for _, r := range recs {
		l := lane(aws.ToString(r.PartitionKey), n)
		byLane[l] = append(byLane[l], r)
	}
	pr := newShardProgress(recs)
	p.mu.Lock()
	if p.progress == nil {
		p.progress = map[string]*shardProgress{}
	}
	p.progress[shard] = pr
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.progress, shard)
		p.mu.Unlock()
	}()
	var wg sync.WaitGroup
	ok := make([]bool, n)
	for l, laneRecs := range byLane {
		if len(laneRecs) == 0 {
			ok[l] = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(laneRecs) > 0 {
				size := min(len(laneRecs), p.batchSize)
				for _, batch := range p.batches(shard, laneRecs[:size]) {
					if !p.handle(ctx, shard, batch, 0) {
						return
					}
				}
				laneRecs = laneRecs[size:]
			}
			ok[l] = true
		}()
	}
	wg.Wait()
	for _, v := range ok {
		if !v {
			return false
		}
	}
	return true
}

// shardProgress tracks which fetched records of a shard are done, so that
// the checkpoint is the last record of the longest done prefix.
type shardProgress struct {
	mu    sync.Mutex
	recs  []ktypes.Record
	index map[string]int
	done  []bool
	next  int // records before next are all done
}

func newShardProgress(recs []ktypes.Record) *shardProgress {
	pr := &shardProgress{recs: recs, index: make(map[string]int, len(recs)), done: make([]bool, len(recs))}
	for i, r := range recs {
		pr.index[aws.ToString(r.SequenceNumber)] = i
	}
	return pr
}

// finish marks recs done and returns the record the checkpoint may move
// to, or nil when the done prefix did not grow.
func (pr *shardProgress) finish(recs []ktypes.Record) *ktypes.Record {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, r := range recs {
		if i, ok := pr.index[aws.ToString(r.SequenceNumber)]; ok {
			pr.done[i] = true
		}
	}
	before := pr.next
	for pr.next < len(pr.done) && pr.done[pr.next] {
		pr.next++
	}
	if pr.next == before {
		return nil
	}
	return &pr.recs[pr.next-1]
}

// finished records that recs (records of one batch, in order) are done:
// processed, or given up on. Outside process (a batch handled on its own)
// the checkpoint moves to the last of them.
func (p *poller) finished(shard string, recs []ktypes.Record) {
	if len(recs) == 0 {
		return
	}
	p.mu.Lock()
	pr := p.progress[shard]
	p.mu.Unlock()
	if pr == nil {
		p.checkpoint(shard, recs[len(recs)-1])
		return
	}
	if r := pr.finish(recs); r != nil {
		p.checkpoint(shard, *r)
	}
}

// kinesisBackoff is the wait before retry n (from 1) of a failed Kinesis
// call: doubling from 100 ms, at most 5 s.
func (p *poller) kinesisBackoff(n int) time.Duration {
	if p.retryBase > 0 {
		return p.retryBase
	}
	return min(100*time.Millisecond<<min(n-1, 6), 5*time.Second)
}

// batches splits fetched records, in order, into invocations whose
// KinesisEvent stays within Lambda's 6 MB request limit (maxInvokeRequest):
// a record's data may be 1 MB and grows by 4/3 as base64 in the event, so
// the batch size alone does not bound the payload.
func (p *poller) batches(shard string, recs []ktypes.Record) [][]ktypes.Record {
	// {"Records":[ ... ]} around entries separated by commas.
	const envelope = len(`{"Records":[]}`)
	var out [][]ktypes.Record
	start, size := 0, envelope
	for i, r := range recs {
		entry, err := json.Marshal(p.event(shard, []ktypes.Record{r}).Records[0])
		n := len(entry) + 1
		if err != nil {
			n = 0 // handle reports the encoding error for the batch
		}
		if i > start && size+n > maxInvokeRequest {
			out = append(out, recs[start:i])
			start, size = i, envelope
		}
		size += n
	}
	if start < len(recs) {
		out = append(out, recs[start:])
	}
	return out
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
			p.giveUp(ctx, shard, recs, "event encoding failed: "+err.Error(), retries, err)
			return true
		}
		body, err := p.invoke(ctx, payload)
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, errRequestTooLarge) && len(recs) > 1 {
			// Lambda refused the payload before the function ran: split
			// it, which costs no retry.
			mid := len(recs) / 2
			if !p.handle(ctx, shard, recs[:mid], retries) {
				return false
			}
			return p.handle(ctx, shard, recs[mid:], retries)
		}
		var reason string
		if err == nil {
			failed := lowestFailed(body, recs)
			if failed < 0 {
				p.finished(shard, recs)
				return true
			}
			if failed > 0 {
				// Records before the lowest failure are done: checkpoint
				// just before it and retry from there.
				p.finished(shard, recs[:failed])
				recs = recs[failed:]
			}
			reason = "partial batch failure"
		} else {
			reason = err.Error()
		}
		if p.maxRetries >= 0 && retries >= p.maxRetries {
			p.giveUp(ctx, shard, recs, reason, retries+1, err)
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

// giveUp moves the shard past recs, whose retries are exhausted after
// attempts invocations (the last failing with err, nil for a partial batch
// failure): Lambda's on-failure record of the batch goes to the
// destination's consumer, or to the failure log when there is none or it
// cannot take it.
func (p *poller) giveUp(ctx context.Context, shard string, recs []ktypes.Record, reason string, attempts int, err error) {
	first, last := aws.ToString(recs[0].SequenceNumber), aws.ToString(recs[len(recs)-1].SequenceNumber)
	p.log.Error("stream records sent to on-failure destination", "function", p.function, "stream", p.streamName,
		"shardId", shard, "records", len(recs), "reason", reason)
	if p.dest != nil {
		body, mErr := json.Marshal(p.onFailureRecord(shard, recs, attempts, err, time.Now()))
		if mErr == nil {
			mErr = p.dest.deliver(ctx, body, time.Now())
		}
		if mErr == nil {
			p.finished(shard, recs)
			return
		}
		reason += "; on-failure destination: " + mErr.Error()
	}
	p.failures.write(map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "source": "aws:kinesis", "function": p.function,
		"streamArn": p.streamARN, "shardId": shard, "startSequenceNumber": first, "endSequenceNumber": last,
		"batchSize": len(recs), "reason": reason,
	})
	p.finished(shard, recs)
}

// onFailureRecord is the record Lambda sends to a Kinesis event source
// mapping's on-failure destination: the invocation's context and the
// batch's shard and sequence range, not its data ("Retain discarded batch
// records for a Kinesis Data Streams event source in Lambda", AWS Lambda
// Developer Guide).
func (p *poller) onFailureRecord(shard string, recs []ktypes.Record, attempts int, err error, now time.Time) map[string]any {
	arrival := func(r ktypes.Record) string {
		if r.ApproximateArrivalTimestamp == nil {
			return ""
		}
		return r.ApproximateArrivalTimestamp.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	resp := map[string]any{"statusCode": 200, "executedVersion": "$LATEST"}
	var fe *FunctionError
	if errors.As(err, &fe) {
		resp["functionError"] = "Unhandled"
	}
	return map[string]any{
		"version":   "1.0",
		"timestamp": now.UTC().Format("2006-01-02T15:04:05.000Z"),
		"requestContext": map[string]any{
			"requestId":              randomID(),
			"functionArn":            p.dest.functionArn,
			"condition":              "RetryAttemptsExhausted",
			"approximateInvokeCount": attempts,
		},
		"responseContext": resp,
		"KinesisBatchInfo": map[string]any{
			"shardId":                         shard,
			"startSequenceNumber":             aws.ToString(recs[0].SequenceNumber),
			"endSequenceNumber":               aws.ToString(recs[len(recs)-1].SequenceNumber),
			"approximateArrivalOfFirstRecord": arrival(recs[0]),
			"approximateArrivalOfLastRecord":  arrival(recs[len(recs)-1]),
			"batchSize":                       len(recs),
			"streamArn":                       p.streamARN,
		},
	}
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

func (c *Cloud) startPoller(ctx context.Context, f topology.Function, kin *kinesis.Client, pool *lambdaPool, failures *failureLog) error {
	stream := c.names[f.Stream.Stream]
	cpPath := ""
	if c.cfg.DataDir != "" {
		dir := filepath.Join(c.cfg.DataDir, "esm")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		cpPath = filepath.Join(dir, f.Name+"-"+stream+".json")
	}
	cp, err := loadCheckpoints(cpPath)
	if err != nil {
		return err
	}
	batch := f.Stream.BatchSize
	if batch <= 0 {
		batch = 100
	}
	p := &poller{
		function: f.Name, streamName: stream, region: c.cfg.Region,
		streamARN: "arn:aws:kinesis:" + c.cfg.Region + ":" + accountID + ":stream/" + stream,
		batchSize: batch, maxRetries: f.Stream.MaxRetries, bisect: f.Stream.Bisect, parallel: f.Stream.ParallelizationFactor,
		client: kin, invoke: pool.Invoke, cp: cp, failures: failures, log: c.cfg.Logger,
		dest:         c.queueDestination(f.Stream.OnFailure, f.ID),
		pollInterval: StreamPollInterval, listEvery: 10 * time.Second,
		backoff: func(retry int) time.Duration { return min(time.Duration(retry)*200*time.Millisecond, 2*time.Second) },
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		p.run(ctx)
	}()
	return nil
}
