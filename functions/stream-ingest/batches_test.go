package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/storetest"
)

const otherDataset = "65a1b2c3d4e5f60718293a4c"

// newBatchHandler is newTestHandler with a second dataset of the same
// schema and the streaming batch stores.
func newBatchHandler() (*handler, *storetest.Failed, *storetest.Batches, *storetest.StreamCounts) {
	h, _, failed := newTestHandler()
	specs := h.specs.(storetest.Specs)
	other := *specs[testDataset]
	other.DatasetID = otherDataset
	specs[otherDataset] = &other
	batches, counts := storetest.NewBatches(), storetest.NewStreamCounts()
	h.batches, h.counts = batches, counts
	return h, failed, batches, counts
}

func messageTo(ds, email string) string {
	return fmt.Sprintf(`{"header":{"datasetId":%q},"body":{"xdmEntity":{"personalEmail":{"address":%q}}}}`, ds, email)
}

// badMessageTo has no primary identity.
func badMessageTo(ds string) string {
	return fmt.Sprintf(`{"header":{"datasetId":%q},"body":{"xdmEntity":{"person":{}}}}`, ds)
}

// arrivalEvent is a Kinesis event whose records arrived at the given
// times, sequence numbers 0001….
func arrivalEvent(shard string, recs ...struct {
	data string
	at   time.Time
}) events.KinesisEvent {
	var ev events.KinesisEvent
	for i, rc := range recs {
		seq := fmt.Sprintf("%04d", i+1)
		var r events.KinesisEventRecord
		r.EventID = shard + ":" + seq
		r.Kinesis.SequenceNumber = seq
		r.Kinesis.Data = []byte(rc.data)
		r.Kinesis.ApproximateArrivalTimestamp = events.SecondsEpochTime{Time: rc.at}
		ev.Records = append(ev.Records, r)
	}
	return ev
}

type rec = struct {
	data string
	at   time.Time
}

func TestHandleGroupsMessagesIntoStreamingBatches(t *testing.T) {
	h, failed, batches, counts := newBatchHandler()
	w1 := time.Date(2026, 2, 1, 10, 0, 5, 0, time.UTC)
	w2 := time.Date(2026, 2, 1, 10, 15, 0, 0, time.UTC) // the next window
	ev := arrivalEvent("shardId-000000000001",
		rec{messageTo(testDataset, "a@example.com"), w1},
		rec{badMessageTo(testDataset), w1},
		rec{`{"messages":[` + messageTo(otherDataset, "b@example.com") + `,` + badMessageTo(otherDataset) + `,` + messageTo(testDataset, "c@example.com") + `]}`, w1},
		rec{`not json`, w1},
		rec{messageTo("65a1b2c3d4e5f60718290000", "d@example.com"), w1},
		rec{`{"body":{}}`, w2},
		rec{badMessageTo(testDataset), w2},
		// Unreadable (no body), naming a dataset that does not exist, then
		// one that does.
		rec{`{"header":{"datasetId":"65a1b2c3d4e5f60718290000"}}`, w2},
		rec{`{"header":{"datasetId":"` + otherDataset + `"}}`, w2},
	)
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %v, %+v; want every record done", err, resp)
	}
	ds1w1 := catalog.StreamBatchID(testDataset, w1)
	ds2w1 := catalog.StreamBatchID(otherDataset, w1)
	unkw1 := catalog.StreamBatchID(catalog.StreamUnknownDataset, w1)
	unkw2 := catalog.StreamBatchID(catalog.StreamUnknownDataset, w2)
	ds1w2 := catalog.StreamBatchID(testDataset, w2)
	ds2w2 := catalog.StreamBatchID(otherDataset, w2)
	if ds1w1 == ds1w2 || unkw1 == unkw2 {
		t.Fatalf("windows share a batch id: %s %s", ds1w1, ds1w2)
	}

	gotFailed := map[string]string{}
	for k, r := range failed.Recs {
		gotFailed[k] = r.Batch
	}
	wantFailed := map[string]string{
		"shardId-000000000001|0002|0": ds1w1,
		"shardId-000000000001|0003|1": ds2w1,
		"shardId-000000000001|0004|0": unkw1,
		"shardId-000000000001|0005|0": unkw1, // a dataset that does not exist
		"shardId-000000000001|0006|0": unkw2, // no header
		"shardId-000000000001|0007|0": ds1w2,
		"shardId-000000000001|0008|0": unkw2,
		"shardId-000000000001|0009|0": ds2w2,
	}
	if diff := cmp.Diff(wantFailed, gotFailed); diff != "" {
		t.Errorf("failed records' batches (-want +got):\n%s", diff)
	}
	if r := failed.Recs["shardId-000000000001|0005|0"]; r.Dataset != "65a1b2c3d4e5f60718290000" {
		t.Errorf("unknown dataset's failed record names dataset %q, want the one the message named", r.Dataset)
	}

	wantInput := map[string]int{ds1w1: 3, ds2w1: 2, unkw1: 2, unkw2: 2, ds1w2: 1, ds2w2: 1}
	gotInput := map[string]int{}
	for id := range counts.M {
		gotInput[id] = counts.Input(id)
	}
	if diff := cmp.Diff(wantInput, gotInput); diff != "" {
		t.Errorf("input messages by batch (-want +got):\n%s", diff)
	}

	for id := range wantInput {
		b, ok := batches.M[id]
		if !ok {
			t.Errorf("batch %s not created", id)
			continue
		}
		ds, start, _ := catalog.ParseStreamBatchID(id)
		if ds == catalog.StreamUnknownDataset {
			ds = ""
		}
		if b.DatasetID != ds || b.Status != catalog.BatchProcessing || b.Created != start.UnixMilli() || b.Origin != catalog.BatchOriginStream {
			t.Errorf("batch %s = %+v, want dataset %q, processing, created %d, origin stream", id, b, ds, start.UnixMilli())
		}
	}
	if len(batches.M) != len(wantInput) {
		t.Errorf("%d batches created, want %d", len(batches.M), len(wantInput))
	}

	// The same event delivered again counts nothing twice.
	if _, err := newRedelivery(h).Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for id, n := range wantInput {
		if got := counts.Input(id); got != n {
			t.Errorf("after a redelivery batch %s counts %d messages, want %d", id, got, n)
		}
	}
}

// newRedelivery is h as another function instance sees it: no batch
// known to exist yet.
func newRedelivery(h *handler) *handler {
	c := *h
	c.created = nil
	return &c
}

type failingCounts struct{ err error }

func (f failingCounts) PutStreamCounts(context.Context, string, string, []store.SeqCount) error {
	return f.err
}

func TestHandleRetriesEverythingWhenCountsFail(t *testing.T) {
	h, _, _, _ := newBatchHandler()
	h.counts = failingCounts{fault.E(fault.Throttled, "STORE-THROTTLED", "throttled")}
	at := time.Date(2026, 2, 1, 10, 0, 5, 0, time.UTC)
	ev := arrivalEvent("shardId-000000000001", rec{messageTo(testDataset, "a@example.com"), at}, rec{badMessageTo(testDataset), at})
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	if diff := cmp.Diff([]string{"0001", "0002"}, got); diff != "" {
		t.Errorf("batch item failures (-want +got):\n%s", diff)
	}
}
