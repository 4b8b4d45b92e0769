package main

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/storetest"
)

// fakeShard is one shard of a stream holding records 1..n (sequence
// number = position), of which the oldest trimmed are gone; reads fail
// while fail > 0.
type fakeShard struct {
	data    map[int][]byte
	n       int
	trimmed int
	fail    int
	arrival time.Time
}

func (f *fakeShard) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	if f.fail > 0 {
		f.fail--
		return nil, &ktypes.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	}
	seq, _ := strconv.Atoi(aws.ToString(in.StartingSequenceNumber))
	if aws.ToString(in.ShardId) != "shardId-000000000001" {
		return nil, &ktypes.ResourceNotFoundException{Message: aws.String("no shard")}
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(strconv.Itoa(max(seq, f.trimmed+1)))}, nil
}

func (f *fakeShard) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	from, _ := strconv.Atoi(aws.ToString(in.ShardIterator))
	var out kinesis.GetRecordsOutput
	for i := from; i <= f.n && i < from+2; i++ { // two a page, to page
		at := f.arrival.Add(time.Duration(i) * time.Second)
		out.Records = append(out.Records, ktypes.Record{SequenceNumber: aws.String(strconv.Itoa(i)), Data: f.data[i], ApproximateArrivalTimestamp: &at})
	}
	next := from + len(out.Records)
	out.NextShardIterator = aws.String(strconv.Itoa(next))
	out.MillisBehindLatest = aws.Int64(0)
	if next <= f.n {
		out.MillisBehindLatest = aws.Int64(1000)
	}
	return &out, nil
}

func onFailureMessage(t *testing.T, shard, start, end string) events.SQSEvent {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"version": "1.0", "timestamp": "2026-02-01T00:20:00.000Z",
		"requestContext": map[string]any{"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f",
			"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 4},
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST"},
		"KinesisBatchInfo": map[string]any{"shardId": shard, "startSequenceNumber": start, "endSequenceNumber": end,
			"approximateArrivalOfFirstRecord": "2026-02-01T00:14:59.000Z", "approximateArrivalOfLastRecord": "2026-02-01T00:15:30.000Z",
			"batchSize": 3, "streamArn": "arn:aws:kinesis:us-east-1:000000000000:stream/ingest"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(body), EventSource: "aws:sqs"}}}
}

type failedAt struct{ Batch, Dataset, Seq, Code string }

func failedList(recs map[string]catalog.FailedRecord) []failedAt {
	var out []failedAt
	for _, r := range recs {
		out = append(out, failedAt{r.Batch, r.Dataset, r.Seq, r.Code})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Seq < out[j].Seq || out[i].Seq == out[j].Seq && out[i].Batch < out[j].Batch
	})
	return out
}

// TestDrainRecordsEachDiscardedMessage: each message of the discarded
// range (and only of it) becomes one STREAM-RETRIES-EXHAUSTED failed record
// in the streaming batch of its dataset and arrival window; a record that
// is not JSON goes to the unknown dataset's batch; a second delivery
// changes nothing. Each discarded record also counts as input of its
// batch, once.
func TestDrainRecordsEachDiscardedMessage(t *testing.T) {
	h, _, failed := newTestHandler()
	counts := storetest.NewStreamCounts()
	h.counts = counts
	arrival := time.Date(2026, 2, 1, 0, 14, 57, 0, time.UTC) // record 3 arrives 00:15:00, a new window
	h.kin = &fakeShard{n: 6, arrival: arrival, data: map[int][]byte{
		1: []byte(message("a@x.com", "A", "")), 2: []byte(message("b@x.com", "B", "")),
		3: []byte(message("c@x.com", "C", "")), 4: []byte("not json"), 5: []byte(message("e@x.com", "E", "")),
		6: []byte(message("f@x.com", "F", "")),
	}}
	ev := onFailureMessage(t, "shardId-000000000001", "2", "5")
	for range 2 {
		if resp := h.Drain(context.Background(), ev); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("drain failed: %+v", resp)
		}
	}
	w1 := catalog.StreamBatchID(testDataset, arrival.Add(2*time.Second))
	w2 := catalog.StreamBatchID(testDataset, arrival.Add(3*time.Second))
	if w1 == w2 {
		t.Fatal("records 2 and 3 should fall in two windows")
	}
	want := []failedAt{
		{w1, testDataset, "2", CodeRetriesExhausted},
		{w2, testDataset, "3", CodeRetriesExhausted},
		{catalog.StreamBatchID(catalog.StreamUnknownDataset, arrival.Add(4*time.Second)), "", "4", CodeRetriesExhausted},
		{w2, testDataset, "5", CodeRetriesExhausted},
	}
	if diff := cmp.Diff(want, failedList(failed.Recs)); diff != "" {
		t.Errorf("failed records (-want +got):\n%s", diff)
	}
	wantCounts := map[string]map[string]int{
		w1: {"shardId-000000000001|2": 1},
		w2: {"shardId-000000000001|3": 1, "shardId-000000000001|5": 1},
		catalog.StreamBatchID(catalog.StreamUnknownDataset, arrival.Add(4*time.Second)): {"shardId-000000000001|4": 1},
	}
	if diff := cmp.Diff(wantCounts, counts.M); diff != "" {
		t.Errorf("input counts (-want +got):\n%s", diff)
	}
}

// TestDrainExpiredRange: records the stream no longer holds become one
// STREAM-RECORDS-EXPIRED failed record for their range, in the unknown
// dataset's batch of the first record's arrival; the rest of the range is
// recorded message by message.
func TestDrainExpiredRange(t *testing.T) {
	h, _, failed := newTestHandler()
	arrival := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	h.kin = &fakeShard{n: 6, trimmed: 3, arrival: arrival, data: map[int][]byte{4: []byte(message("d@x.com", "D", ""))}}
	if resp := h.Drain(context.Background(), onFailureMessage(t, "shardId-000000000001", "2", "4")); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("drain failed: %+v", resp)
	}
	first, _ := time.Parse(time.RFC3339, "2026-02-01T00:14:59Z")
	want := []failedAt{
		{catalog.StreamBatchID(catalog.StreamUnknownDataset, first), "", "2", CodeRecordsExpired},
		{catalog.StreamBatchID(testDataset, arrival.Add(4*time.Second)), testDataset, "4", CodeRetriesExhausted},
	}
	if diff := cmp.Diff(want, failedList(failed.Recs)); diff != "" {
		t.Errorf("failed records (-want +got):\n%s", diff)
	}

	// A shard the stream no longer lists: the whole range.
	failed.Recs = map[string]catalog.FailedRecord{}
	if resp := h.Drain(context.Background(), onFailureMessage(t, "shardId-000000000009", "2", "4")); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("drain failed: %+v", resp)
	}
	want = []failedAt{{catalog.StreamBatchID(catalog.StreamUnknownDataset, first), "", "2", CodeRecordsExpired}}
	if diff := cmp.Diff(want, failedList(failed.Recs)); diff != "" {
		t.Errorf("failed records (-want +got):\n%s", diff)
	}
}

// TestDrainRetriesWhatItCannotReadYet: a failed read names the message in
// the partial batch response and writes nothing; a body that is not an
// on-failure record is dropped.
func TestDrainRetriesWhatItCannotReadYet(t *testing.T) {
	h, _, failed := newTestHandler()
	h.kin = &fakeShard{n: 2, fail: 1, data: map[int][]byte{1: []byte(message("a@x.com", "A", ""))}}
	resp := h.Drain(context.Background(), onFailureMessage(t, "shardId-000000000001", "1", "1"))
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m1" || len(failed.Recs) != 0 {
		t.Fatalf("got %+v and %d failed records, want the message retried and nothing written", resp, len(failed.Recs))
	}
	if resp := h.Drain(context.Background(), onFailureMessage(t, "shardId-000000000001", "1", "1")); len(resp.BatchItemFailures) != 0 || len(failed.Recs) != 1 {
		t.Fatalf("second delivery: %+v, %d failed records", resp, len(failed.Recs))
	}
	junk := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "j", Body: "{}", EventSource: "aws:sqs"}}}
	if resp := h.Drain(context.Background(), junk); len(resp.BatchItemFailures) != 0 {
		t.Errorf("junk message retried: %+v", resp)
	}
}

// TestInvokeDispatchesByEventSource: SQS events are drained, Kinesis
// events ingested.
func TestInvokeDispatchesByEventSource(t *testing.T) {
	h, _, _ := newTestHandler()
	h.kin = &fakeShard{}
	raw, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "j", Body: "{}", EventSource: "aws:sqs"}}})
	out, err := h.Invoke(context.Background(), raw)
	if _, ok := out.(events.SQSEventResponse); !ok || err != nil {
		t.Errorf("SQS event answered %T, %v", out, err)
	}
	raw, _ = json.Marshal(kinesisEvent(message("a@x.com", "A", "")))
	out, err = h.Invoke(context.Background(), raw)
	if _, ok := out.(events.KinesisEventResponse); !ok || err != nil {
		t.Errorf("Kinesis event answered %T, %v", out, err)
	}
	if _, err := h.Invoke(context.Background(), []byte(`[1]`)); err == nil || errors.Is(err, context.Canceled) {
		t.Error("an event that is not an object was accepted")
	}
}
