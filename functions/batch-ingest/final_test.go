package main

import (
	"context"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/storetest"
)

// finishingBatches is the store seen by a duplicate delivery: another
// delivery finishes the batch after this one read it unfinished, so
// PutBatch refuses from write number finishAt on, as the store does for a
// batch in a final state.
type finishingBatches struct {
	*storetest.Batches
	puts, finishAt int
}

func (f *finishingBatches) PutBatch(ctx context.Context, b catalog.Batch) error {
	f.puts++
	if f.puts >= f.finishAt {
		return fault.E(fault.Conflict, store.CodeBatchFinal, "the batch has already finished")
	}
	return f.Batches.PutBatch(ctx, b)
}

// A delivery that finds its batch finished by another delivery stops
// there and succeeds: it neither fails the invocation (which would retry
// it) nor overwrites the finished batch.
func TestHandleBatchFinishedMeanwhileIsSkipped(t *testing.T) {
	for _, tt := range []struct {
		name      string
		finishAt  int
		wantParts int
	}{
		{"before processing starts", 1, 0},
		{"before the scan's result is written", 2, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			key := "ingest/ds1/f.json"
			fx.objects.data[key] = lines(rowJSON("jane@example.com", "Jane"))
			fb := &finishingBatches{Batches: fx.batches, finishAt: tt.finishAt}
			fx.h.batches = fb
			if err := fx.handle(context.Background(), s3Event(key, "e1", time.UnixMilli(1000))); err != nil {
				t.Fatalf("Handle = %v, want nil: the batch is already finished", err)
			}
			if fx.parts.PartPuts != tt.wantParts {
				t.Errorf("%d parts scanned, want %d", fx.parts.PartPuts, tt.wantParts)
			}
			if fx.prof.Writes != 0 {
				t.Errorf("%d rows written for a batch another delivery finished", fx.prof.Writes)
			}
			if b := onlyBatch(t, fx); b.Status == catalog.BatchSuccess || b.Status == catalog.BatchFailed {
				t.Errorf("this delivery wrote the final status %s over the other's", b.Status)
			}
		})
	}
}
