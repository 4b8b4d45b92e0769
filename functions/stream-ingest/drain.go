package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/lambdaevent"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// Codes of the failed records written for records whose batch Lambda
// discarded (docs/streaming.md, "Failure semantics").
const (
	// CodeRetriesExhausted: every attempt at the record's batch failed
	// (throttling, an unavailable table, timeouts, crashes) and the event
	// source mapping gave up on it after its retries.
	CodeRetriesExhausted = "STREAM-RETRIES-EXHAUSTED"
	// CodeRecordsExpired: the discarded records had already left the
	// stream (past its retention) when they were read back; one failed
	// record stands for the whole range.
	CodeRecordsExpired = "STREAM-RECORDS-EXPIRED"
)

// readBackLimit is GetRecords' Limit while reading a discarded range back
// (at most 10,000 per call, Kinesis API Reference, GetRecords).
const readBackLimit = 1000

// kinesisReader is the slice of the Kinesis client that reads a discarded
// range back.
type kinesisReader interface {
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// StreamFailureRecord is what Lambda sends to a Kinesis event source
// mapping's on-failure destination once it discards a batch: the
// invocation's context and the batch's shard and sequence range, without
// the data ("Retain discarded batch records for a Kinesis Data Streams
// event source in Lambda", AWS Lambda Developer Guide).
type StreamFailureRecord struct {
	Version        string `json:"version"`
	Timestamp      string `json:"timestamp"`
	RequestContext struct {
		RequestID   string `json:"requestId"`
		FunctionArn string `json:"functionArn"`
		// Condition is "RetryAttemptsExhausted", or another reason Lambda
		// names for discarding the batch.
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	KinesisBatchInfo *KinesisBatchInfo `json:"KinesisBatchInfo"`
}

// KinesisBatchInfo locates a discarded batch: sequence numbers are
// decimal strings, arrival times RFC 3339 in UTC.
type KinesisBatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamArn                       string `json:"streamArn"`
}

// Invoke is the function's entry point: Kinesis events are ingested
// (Handle); SQS events from the stream's on-failure queue report the
// records of discarded batches as failed records (Drain).
func (h *handler) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	if sqs, ok, err := lambdaevent.SQS(raw); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return h.Drain(ctx, sqs), nil
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("decode Kinesis event: %w", err)
	}
	return h.Handle(ctx, ev)
}

// Drain reads each on-failure record, reads its records back from the
// stream and writes one failed record per message with
// CodeRetriesExhausted, in the streaming batch of its dataset and arrival
// window (catalog.StreamBatchID). Records the stream no longer holds become
// one failed record for their range (CodeRecordsExpired). Writing the same
// failed records again leaves them as they are, so a message delivered
// twice is harmless. A message that could not be applied for a transient
// reason is named in the partial batch response, so SQS delivers it
// again; one that is not an on-failure record can never succeed and is
// dropped with a warning.
func (h *handler) Drain(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	written := 0
	resp := lambdaevent.Drain(ctx, ev, "stream on-failure record", func(ctx context.Context, msg events.SQSMessage) error {
		n, err := h.drainOne(ctx, msg)
		if err == nil {
			written += n
		}
		return err
	})
	slog.InfoContext(ctx, "stream on-failure records drained", "messages", len(ev.Records), "failedRecords", written, "retried", len(resp.BatchItemFailures))
	return resp
}

// drainOne applies one on-failure record and returns how many failed
// records it wrote.
func (h *handler) drainOne(ctx context.Context, msg events.SQSMessage) (int, error) {
	var rec StreamFailureRecord
	if err := json.Unmarshal([]byte(msg.Body), &rec); err != nil || rec.KinesisBatchInfo == nil {
		slog.WarnContext(ctx, "dropped a message that is not a Kinesis on-failure record", "messageId", msg.MessageId)
		return 0, nil
	}
	info := *rec.KinesisBatchInfo
	start, ok1 := new(big.Int).SetString(info.StartSequenceNumber, 10)
	end, ok2 := new(big.Int).SetString(info.EndSequenceNumber, 10)
	stream := streamName(info.StreamArn)
	if !ok1 || !ok2 || stream == "" || info.ShardID == "" {
		slog.WarnContext(ctx, "dropped a Kinesis on-failure record without a readable range", "messageId", msg.MessageId)
		return 0, nil
	}
	code, desc := CodeRetriesExhausted, fmt.Sprintf("the record was not ingested: its batch failed %d attempts and Lambda discarded it (%s); send it again once the cause is fixed",
		rec.RequestContext.ApproximateInvokeCount, rec.RequestContext.Condition)
	now := h.now()
	var out []catalog.FailedRecord
	expired := func(from, to string, arrival time.Time) {
		out = append(out, catalog.FailedRecord{
			Batch: catalog.StreamBatchID(catalog.StreamUnknownDataset, arrival), Shard: info.ShardID, Seq: from,
			Code:    CodeRecordsExpired,
			Message: fmt.Sprintf("records %s to %s of the shard were discarded after their retries and had left the stream before they could be read back (%s)", from, to, rec.RequestContext.Condition),
			At:      now.UnixMilli(),
		})
	}
	firstArrival := parseArrival(info.ApproximateArrivalOfFirstRecord, now)

	it, err := h.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(info.ShardID),
		ShardIteratorType: ktypes.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(info.StartSequenceNumber)})
	var invalid *ktypes.InvalidArgumentException
	var notFound *ktypes.ResourceNotFoundException
	switch {
	case errors.As(err, &invalid), errors.As(err, &notFound):
		expired(info.StartSequenceNumber, info.EndSequenceNumber, firstArrival)
		return h.putFailed(ctx, out)
	case err != nil:
		return 0, fault.Wrap(err, fault.Unavailable, "STREAM-READ-BACK", "the discarded records could not be read back")
	}
	iter := it.ShardIterator
	specs := map[string]bool{}
	first := true
	for iter != nil {
		page, err := h.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(readBackLimit)})
		if err != nil {
			return 0, fault.Wrap(err, fault.Unavailable, "STREAM-READ-BACK", "the discarded records could not be read back")
		}
		for _, r := range page.Records {
			seq, ok := new(big.Int).SetString(aws.ToString(r.SequenceNumber), 10)
			if !ok {
				continue
			}
			if first {
				first = false
				if seq.Cmp(start) > 0 {
					// The oldest records of the range were trimmed.
					expired(info.StartSequenceNumber, before(seq), firstArrival)
				}
			}
			if seq.Cmp(end) > 0 {
				return h.putFailed(ctx, out)
			}
			recs, err := h.failedOf(ctx, info.ShardID, r, code, desc, now, specs)
			if err != nil {
				return 0, err
			}
			out = append(out, recs...)
		}
		if len(page.Records) == 0 && aws.ToInt64(page.MillisBehindLatest) == 0 {
			break // at the tip of the shard: the range holds nothing more
		}
		iter = page.NextShardIterator
	}
	if first {
		expired(info.StartSequenceNumber, info.EndSequenceNumber, firstArrival)
	}
	return h.putFailed(ctx, out)
}

// failedOf is the failed records of one Kinesis record read back: one per
// message of each user record, or one for a record that cannot be read
// (its dataset unknown).
func (h *handler) failedOf(ctx context.Context, shard string, r ktypes.Record, code, desc string, now time.Time, known map[string]bool) ([]catalog.FailedRecord, error) {
	arrival := now
	if r.ApproximateArrivalTimestamp != nil {
		arrival = *r.ApproximateArrivalTimestamp
	}
	at := catalog.FailedRecord{Shard: shard, Seq: aws.ToString(r.SequenceNumber), Code: code, Message: desc, At: now.UnixMilli()}
	var out []catalog.FailedRecord
	add := func(f catalog.FailedRecord, dataset string) error {
		ds, err := h.knownDataset(ctx, dataset, known)
		if err != nil {
			return err
		}
		if ds != catalog.StreamUnknownDataset {
			f.Dataset = ds
		}
		f.Batch = catalog.StreamBatchID(ds, arrival)
		out = append(out, f)
		return nil
	}
	users, err := ingest.SplitRecord(r.Data)
	if err != nil {
		return out, add(at, "")
	}
	for _, u := range users {
		uat := at
		uat.SubSequence = u.SubSequence
		if u.Err != nil {
			if err := add(uat, ""); err != nil {
				return nil, err
			}
			continue
		}
		ms, err := ingest.ParseMessages(u.Data)
		if err != nil || len(ms) == 0 {
			if err := add(uat, ""); err != nil {
				return nil, err
			}
			continue
		}
		for _, m := range ms {
			mat := uat
			mat.Index = m.Index
			if err := add(mat, m.DatasetID); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// knownDataset is id when the dataset exists, else
// catalog.StreamUnknownDataset; a transient failure to tell is returned.
func (h *handler) knownDataset(ctx context.Context, id string, known map[string]bool) (string, error) {
	if id == "" {
		return catalog.StreamUnknownDataset, nil
	}
	ok, seen := known[id]
	if !seen {
		_, err := h.specs.Spec(ctx, id)
		if err != nil && ingest.Transient(err) {
			return "", err
		}
		ok = err == nil || fault.As(err).Code != datasetNotFound
		known[id] = ok
	}
	if !ok {
		return catalog.StreamUnknownDataset, nil
	}
	return id, nil
}

// putFailed writes recs, then counts their Kinesis records in their
// streaming batches (each message of a record is one failed record), as
// Handle counts the records it finishes, so that a batch's input counts
// the discarded records too; it returns how many failed records it wrote.
// Both writes are idempotent: a redelivered on-failure record changes
// nothing.
func (h *handler) putFailed(ctx context.Context, recs []catalog.FailedRecord) (int, error) {
	counts := streamCounts{}
	for _, r := range recs {
		byShard := counts[r.Batch]
		if byShard == nil {
			byShard = map[string][]store.SeqCount{}
			counts[r.Batch] = byShard
		}
		seqs := byShard[r.Shard]
		if n := len(seqs); n > 0 && seqs[n-1].Seq == r.Seq {
			seqs[n-1].Messages++
		} else {
			seqs = append(seqs, store.SeqCount{Seq: r.Seq, Messages: 1})
		}
		byShard[r.Shard] = seqs
	}
	total := len(recs)
	for len(recs) > 0 {
		n := min(len(recs), ingest.FlushEvery)
		if err := h.run.Failed.PutFailed(ctx, recs[:n]); err != nil {
			return 0, err
		}
		recs = recs[n:]
	}
	if err := h.count(ctx, counts); err != nil {
		return 0, err
	}
	return total, nil
}

func (h *handler) now() time.Time { return h.run.Now() }

// streamName is the stream's name from its ARN
// (arn:aws:kinesis:<region>:<account>:stream/<name>).
func streamName(arn string) string {
	_, name, ok := strings.Cut(arn, ":stream/")
	if !ok {
		return ""
	}
	return name
}

// before is the sequence number just before seq.
func before(seq *big.Int) string {
	return new(big.Int).Sub(seq, big.NewInt(1)).String()
}

func parseArrival(s string, fallback time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	return fallback
}
