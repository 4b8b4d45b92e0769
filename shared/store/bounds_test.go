package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// A failed record is stored whatever the size of what it points at: a
// 1,010-byte S3 key (over the sort key limit with its row), a 420 KB
// message, long stream pointers. Records stay in row order within a file,
// keep the full file name, and every text is cut at a UTF-8 boundary.
func TestFailedRecordsBoundSizes(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		f := NewFailedRecords(db, table)
		longA := "ingest/ds/" + strings.Repeat("a", 1000)          // 1,010 bytes
		longB := "ingest/ds/" + strings.Repeat("a", 999) + "b"     // same start, another file
		huge := strings.Repeat("unknown field \U0001F600 ", 20000) // about 420 KB
		var recs []catalog.FailedRecord
		for _, file := range []string{longB, longA, "ingest/ds/short.json"} {
			for row := 12; row >= 1; row-- {
				recs = append(recs, catalog.FailedRecord{Batch: "b1", Dataset: "ds", File: file, Row: row, Code: "ROW-FIELD", Message: huge, At: 1})
			}
		}
		recs = append(recs, catalog.FailedRecord{Batch: "stream-ds-20260201T0000Z", Shard: strings.Repeat("s", 2000), Seq: strings.Repeat("9", 2000), Index: 3, Code: "ROW-JSON", Message: huge})
		if err := f.PutFailed(ctx, recs); err != nil {
			t.Fatalf("PutFailed: %v", err)
		}
		got, err := f.Failed(ctx, "b1", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 36 {
			t.Fatalf("got %d failed records, want 36", len(got))
		}
		rows := map[string][]int{}
		for _, r := range got {
			rows[r.File] = append(rows[r.File], r.Row)
			if len(r.Message) > MaxFailedMessageBytes || !utf8.ValidString(r.Message) || !strings.HasPrefix(huge, strings.TrimSuffix(r.Message, "…")) {
				t.Fatalf("message of %d bytes (valid UTF-8 %v), want at most %d bytes cut from the original", len(r.Message), utf8.ValidString(r.Message), MaxFailedMessageBytes)
			}
		}
		for _, file := range []string{longA, longB, "ingest/ds/short.json"} {
			rs := rows[file]
			if len(rs) != 12 {
				t.Fatalf("file of %d bytes: %d records, want 12 (full file name kept)", len(file), len(rs))
			}
			for i, r := range rs {
				if r != i+1 {
					t.Fatalf("file of %d bytes: rows %v, want 1..12 in order", len(file), rs)
				}
			}
		}
		st, err := f.Failed(ctx, "stream-ds-20260201T0000Z", 10)
		if err != nil || len(st) != 1 {
			t.Fatalf("stream records: %v, %v; want 1", st, err)
		}
		if len(st[0].Shard) > MaxFailedPointerBytes || len(st[0].Seq) > MaxFailedPointerBytes || st[0].Index != 3 {
			t.Errorf("stream pointers of %d and %d bytes, want at most %d", len(st[0].Shard), len(st[0].Seq), MaxFailedPointerBytes)
		}
	})
}

// A batch's error summary is bounded in entries and bytes, and the rows it
// no longer names are still counted.
func TestCatalogBatchErrorsBounded(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		b := catalog.Batch{ID: "b-errors", DatasetID: "ds", Status: catalog.BatchProcessing, Created: 1}
		if _, _, err := c.CreateBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		total := 0
		for i := 0; i < 500; i++ {
			b.Errors = append(b.Errors, catalog.BatchError{
				Code: "CODE-" + strings.Repeat("X", 300) + string(rune('A'+i%26)), Description: strings.Repeat("\U0001F600", 5000), Rows: i + 1,
			})
			total += i + 1
		}
		b.Status = catalog.BatchFailed
		if err := c.PutBatch(ctx, b); err != nil {
			t.Fatalf("PutBatch: %v", err)
		}
		got, err := c.GetBatch(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Errors) > MaxBatchErrors+1 {
			t.Fatalf("%d error entries, want at most %d", len(got.Errors), MaxBatchErrors+1)
		}
		sum := 0
		for _, e := range got.Errors {
			sum += e.Rows
			if len(e.Description) > MaxBatchErrorBytes || len(e.Code) > MaxBatchErrorBytes || !utf8.ValidString(e.Description) {
				t.Fatalf("error entry of %d+%d bytes, want at most %d each, valid UTF-8", len(e.Code), len(e.Description), MaxBatchErrorBytes)
			}
		}
		if sum != total {
			t.Errorf("error rows sum to %d, want %d", sum, total)
		}
	})
}

// A batch in a final state (success, failed, aborted) is never written
// again: a duplicate delivery cannot move it back to processing, and the
// refusal is Conflict BATCH-FINAL. Unfinished states move freely.
func TestCatalogBatchFinalStateIsKept(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		for i, final := range []string{catalog.BatchSuccess, catalog.BatchFailed, catalog.BatchAborted} {
			b := catalog.Batch{ID: fmt.Sprintf("b-final-%d", i), DatasetID: "ds", Status: catalog.BatchLoading, Created: 1}
			if _, _, err := c.CreateBatch(ctx, b); err != nil {
				t.Fatal(err)
			}
			b.Status = catalog.BatchProcessing
			if err := c.PutBatch(ctx, b); err != nil {
				t.Fatalf("loading → processing: %v", err)
			}
			b.Status, b.Metrics.InputRecordCount = final, 7
			if err := c.PutBatch(ctx, b); err != nil {
				t.Fatalf("processing → %s: %v", final, err)
			}
			for _, next := range []string{catalog.BatchProcessing, catalog.BatchLoading, catalog.BatchFailed, catalog.BatchSuccess} {
				again := b
				again.Status, again.Metrics.InputRecordCount = next, 0
				err := c.PutBatch(ctx, again)
				catWantFault(t, err, fault.Conflict, CodeBatchFinal)
			}
			got, err := c.GetBatch(ctx, b.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != final || got.Metrics.InputRecordCount != 7 {
				t.Errorf("batch %s: status %s records %d, want %s with 7", b.ID, got.Status, got.Metrics.InputRecordCount, final)
			}
		}
	})
}
