package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// seqs is records first..last of a shard, each with n messages.
func seqs(first, last, n int) []SeqCount {
	var out []SeqCount
	for i := first; i <= last; i++ {
		out = append(out, SeqCount{Seq: fmt.Sprintf("496%020d", i), Messages: n})
	}
	return out
}

func TestStreamTotalsAreExactUnderRedeliveryAndOverlap(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		f := NewFailedRecords(db, table)
		const batch = "stream-ds-20260201T1000Z"
		// One Kinesis batch of records 1..10 (2 messages each) on shard A:
		// delivered, delivered again, bisected (1..5, 6..10), retried from
		// a batchItemFailure at 7, and records 8..12 written at once by a
		// concurrent invocation; records 1..3 of shard B.
		writes := []struct {
			shard string
			recs  []SeqCount
		}{
			{"shardId-A", seqs(1, 10, 2)},
			{"shardId-A", seqs(1, 10, 2)},
			{"shardId-A", seqs(1, 5, 2)},
			{"shardId-A", seqs(6, 10, 2)},
			{"shardId-A", seqs(7, 10, 2)},
			{"shardId-A", seqs(8, 12, 2)},
			{"shardId-B", seqs(1, 3, 1)},
		}
		var wg sync.WaitGroup
		errs := make([]error, len(writes))
		for i, w := range writes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = f.PutStreamCounts(ctx, batch, w.shard, w.recs)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// Failed records, one written twice.
		failed := []catalog.FailedRecord{
			{Batch: batch, Dataset: "ds", Shard: "shardId-A", Seq: seqs(2, 2, 0)[0].Seq, Index: 1, Code: "XDM-TYPE", Message: "first"},
			{Batch: batch, Dataset: "ds", Shard: "shardId-A", Seq: seqs(9, 9, 0)[0].Seq, Index: 0, Code: "XDM-TYPE", Message: "second"},
			{Batch: batch, Dataset: "ds", Shard: "shardId-B", Seq: seqs(3, 3, 0)[0].Seq, Index: 0, Code: "IDENTITY-NO-PRIMARY", Message: "no primary"},
		}
		for range 2 {
			if err := f.PutFailed(ctx, failed); err != nil {
				t.Fatal(err)
			}
		}
		got, err := f.StreamTotals(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		want := StreamTotals{Input: 12*2 + 3, Failed: 3, Errors: []catalog.BatchError{
			{Code: "IDENTITY-NO-PRIMARY", Description: "no primary", Rows: 1},
			{Code: "XDM-TYPE", Description: "first", Rows: 2},
		}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("totals (-want +got):\n%s", diff)
		}
		// Another batch's partition is apart.
		if other, err := f.StreamTotals(ctx, "stream-ds-20260201T1015Z"); err != nil || other.Input != 0 || other.Failed != 0 {
			t.Errorf("next window's totals = %+v, %v; want none", other, err)
		}
	})
}

func TestStreamCountsChunkLargeBatches(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		f := NewFailedRecords(db, table)
		const batch = "stream-ds-20260201T1000Z"
		n := 2*StreamCountChunk + 7
		if err := f.PutStreamCounts(ctx, batch, "shardId-A", seqs(1, n, 1)); err != nil {
			t.Fatal(err)
		}
		// A retry from the middle of the second chunk overlaps two chunks.
		if err := f.PutStreamCounts(ctx, batch, "shardId-A", seqs(StreamCountChunk+10, n, 1)); err != nil {
			t.Fatal(err)
		}
		got, err := f.StreamTotals(ctx, batch)
		if err != nil || got.Input != n {
			t.Errorf("totals %+v, %v; want input %d", got, err, n)
		}
	})
}

func TestStreamItemsExpire(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		now := time.Now()
		f := NewFailedRecords(db, table)
		const batch = "stream-ds-20260201T1000Z"
		// Written longer ago than the retention: expired.
		f.Now = func() time.Time { return now.Add(-catalog.FailedRetention - time.Minute) }
		if err := f.PutStreamCounts(ctx, batch, "shardId-A", seqs(1, 4, 1)); err != nil {
			t.Fatal(err)
		}
		if err := f.PutFailed(ctx, []catalog.FailedRecord{{Batch: batch, Shard: "shardId-A", Seq: "1", Code: "OLD", Message: "old"}}); err != nil {
			t.Fatal(err)
		}
		// Written just now: live.
		f.Now = func() time.Time { return now }
		if err := f.PutStreamCounts(ctx, batch, "shardId-B", seqs(1, 2, 1)); err != nil {
			t.Fatal(err)
		}
		if err := f.PutFailed(ctx, []catalog.FailedRecord{{Batch: batch, Shard: "shardId-B", Seq: "2", Code: "NEW", Message: "new"}}); err != nil {
			t.Fatal(err)
		}
		got, err := f.StreamTotals(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if got.Input != 2 || got.Failed != 1 || len(got.Errors) != 1 || got.Errors[0].Code != "NEW" {
			t.Errorf("totals %+v; want the live items only: input 2, one failed NEW", got)
		}
		recs, err := f.Failed(ctx, batch, 10)
		if err != nil || len(recs) != 1 || recs[0].Code != "NEW" {
			t.Errorf("failed records %+v, %v; want the live one only", recs, err)
		}
		// Just before the retention ends the old items are still there.
		f.Now = func() time.Time { return now.Add(-time.Minute - time.Second) }
		if recs, err := f.Failed(ctx, batch, 10); err != nil || len(recs) != 2 {
			t.Errorf("failed records before expiry: %d, %v; want 2", len(recs), err)
		}
	})
}

func TestFailedPagePages(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		f := NewFailedRecords(db, table)
		const batch = "stream-ds-20260201T1000Z"
		var recs []catalog.FailedRecord
		for i := 1; i <= 7; i++ {
			recs = append(recs, catalog.FailedRecord{Batch: batch, Shard: "shardId-A", Seq: fmt.Sprintf("%04d", i), Code: "C", Message: "m"})
		}
		if err := f.PutFailed(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if err := f.PutStreamCounts(ctx, batch, "shardId-A", seqs(1, 7, 1)); err != nil {
			t.Fatal(err)
		}
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			page, next, err := f.FailedPage(ctx, batch, after, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				got = append(got, r.Seq)
			}
			if next == "" {
				break
			}
			after = next
		}
		if diff := cmp.Diff([]string{"0001", "0002", "0003", "0004", "0005", "0006", "0007"}, got); diff != "" {
			t.Errorf("paged records (-want +got):\n%s", diff)
		}
		// A cursor no page gave: refused, never the count items (which
		// sort before the failed records) nor a silent empty page.
		for _, bad := range []string{"garbage", "C#shardId-A#0001"} {
			if _, _, err := f.FailedPage(ctx, batch, bad, 3); fault.As(err).Code != CodeCursor {
				t.Errorf("cursor %q: %v, want %s", bad, err, CodeCursor)
			}
		}
	})
}
