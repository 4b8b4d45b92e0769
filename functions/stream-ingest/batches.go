package main

import (
	"context"
	"sort"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// batchCreator creates a streaming batch unless it exists
// (store.Catalog.CreateBatch).
type batchCreator interface {
	CreateBatch(ctx context.Context, b catalog.Batch) (bool, catalog.Batch, error)
}

// streamCounter records the finished records of a streaming batch
// (store.FailedRecords.PutStreamCounts).
type streamCounter interface {
	PutStreamCounts(ctx context.Context, batchID, shard string, recs []store.SeqCount) error
}

// maxCreated bounds the ids of batches known to exist that a warm
// function keeps; past it the set starts again (a create is idempotent).
const maxCreated = 1000

// streamCounts are an invocation's finished records by batch, then
// shard, in stream order.
type streamCounts map[string]map[string][]store.SeqCount

func (c streamCounts) add(rec events.KinesisEventRecord, perBatch map[string]int) {
	shard := shardOf(rec)
	for id, n := range perBatch {
		if c[id] == nil {
			c[id] = map[string][]store.SeqCount{}
		}
		c[id][shard] = append(c[id][shard], store.SeqCount{Seq: rec.Kinesis.SequenceNumber, Messages: n})
	}
}

// count makes sure each batch of counts exists, then records its
// finished records. Batch ids are created at most once per warm function.
func (h *handler) count(ctx context.Context, counts streamCounts) error {
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if h.batches != nil && !h.created[id] {
			dataset, start, ok := catalog.ParseStreamBatchID(id)
			if !ok {
				return fault.Errorf(fault.Internal, "STREAM-BATCH-ID", "%q is not a streaming batch id", id)
			}
			if _, _, err := h.batches.CreateBatch(ctx, catalog.NewStreamBatch(dataset, start, h.run.Now())); err != nil {
				return err
			}
			if h.created == nil || len(h.created) >= maxCreated {
				h.created = map[string]bool{}
			}
			h.created[id] = true
		}
		if h.counts == nil {
			continue
		}
		for shard, recs := range counts[id] {
			if err := h.counts.PutStreamCounts(ctx, id, shard, recs); err != nil {
				return err
			}
		}
	}
	return nil
}
