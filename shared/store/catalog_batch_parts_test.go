package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/records"
)

func TestBatchParts(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		// A part of MaxPartRows rows, every other one refused, one far
		// after its predecessor: the refusals survive the round trip in an
		// item DynamoDB accepts.
		var refused []int
		for n := 100_001; n <= 100_000+MaxPartRows; n += 2 {
			refused = append(refused, n)
		}
		refused = append(refused, 100_000+MaxPartRows+1<<20)
		errs := make([]catalog.BatchError, 60)
		for i := range errs {
			errs[i] = catalog.BatchError{Code: fmt.Sprintf("ROW-%02d", i), Description: "d", Rows: 1}
		}
		big := BatchPart{File: 1, Part: 7, Start: records.Position{Offset: 123456789, Number: 100_000},
			End: records.Position{Offset: 999999999, Number: 100_000 + MaxPartRows}, Rows: MaxPartRows,
			Refused: refused, Errors: errs, Warnings: []catalog.BatchError{{Code: "W", Rows: 3}},
			Diagnostics: "diagnostics/b/row_errors/part-00001-000007.json"}
		created, err := c.PutBatchPart(ctx, "b1", big)
		if err != nil || !created {
			t.Fatalf("PutBatchPart = %v, %v; want created", created, err)
		}
		got, err := c.GetBatchPart(ctx, "b1", 1, 7)
		if err != nil {
			t.Fatal(err)
		}
		want := big
		want.Errors = boundErrors(errs)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("part read back (-want +got):\n%s", d)
		}
		if len(got.Errors) != MaxBatchErrors+1 {
			t.Errorf("%d error entries stored, want them bounded to %d", len(got.Errors), MaxBatchErrors+1)
		}

		t.Run("a part is created once", func(t *testing.T) {
			other := BatchPart{File: 1, Part: 7, Rows: 1}
			created, err := c.PutBatchPart(ctx, "b1", other)
			if err != nil || created {
				t.Fatalf("second PutBatchPart = %v, %v; want not created", created, err)
			}
			if got, _ := c.GetBatchPart(ctx, "b1", 1, 7); got.Rows != MaxPartRows {
				t.Errorf("second create replaced the part: rows %d", got.Rows)
			}
		})
		t.Run("bounds", func(t *testing.T) {
			_, err := c.PutBatchPart(ctx, "b1", BatchPart{Part: 1, Rows: MaxPartRows + 1})
			catWantFault(t, err, fault.Invalid, "BATCH-PART-ROWS")
			_, err = c.PutBatchPart(ctx, "b1", BatchPart{Part: 2, Rows: 3, Refused: []int{2, 1}})
			catWantFault(t, err, fault.Invalid, "BATCH-PART-REFUSED")
			_, err = c.GetBatchPart(ctx, "b1", 9, 9)
			catWantFault(t, err, fault.NotFound, "BATCH-PART-NOT-FOUND")
		})
		t.Run("list by file and all, in order", func(t *testing.T) {
			for _, k := range [][2]int{{0, 1}, {2, 0}, {0, 0}, {1, 2}} {
				if _, err := c.PutBatchPart(ctx, "b1", BatchPart{File: k[0], Part: k[1], Rows: 1}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.PutBatchPart(ctx, "b2", BatchPart{Rows: 1}); err != nil {
				t.Fatal(err)
			}
			all, err := c.ListBatchParts(ctx, "b1", -1)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, p := range all {
				keys = append(keys, PartKey(p.File, p.Part))
			}
			if d := cmp.Diff([]string{"00000#000000", "00000#000001", "00001#000002", "00001#000007", "00002#000000"}, keys); d != "" {
				t.Errorf("all parts (-want +got):\n%s", d)
			}
			one, err := c.ListBatchParts(ctx, "b1", 1)
			if err != nil || len(one) != 2 || one[0].Part != 2 || one[1].Part != 7 {
				t.Errorf("parts of file 1 = %+v, %v", one, err)
			}
		})
		t.Run("the watermark only rises", func(t *testing.T) {
			for _, m := range []int{100_500, 100_400, 100_900, 100_900} {
				if err := c.SetBatchPartMark(ctx, "b1", 1, 7, m); err != nil {
					t.Fatal(err)
				}
			}
			if got, _ := c.GetBatchPart(ctx, "b1", 1, 7); got.Mark != 100_900 {
				t.Errorf("mark %d, want 100900", got.Mark)
			}
			catWantFault(t, c.SetBatchPartMark(ctx, "b1", 5, 5, 1), fault.NotFound, "BATCH-PART-NOT-FOUND")
		})
	})
}

func TestBatchRun(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		_, err := c.AddScannedFile(ctx, "b1", 0)
		catWantFault(t, err, fault.NotFound, "BATCH-RUN-NOT-FOUND")
		if err := c.StartBatchRun(ctx, "b1", 3, "batch:x"); err != nil {
			t.Fatal(err)
		}
		if err := c.StartBatchRun(ctx, "b1", 9, "other"); err != nil {
			t.Fatal(err)
		}
		// Scans of the three files end at once, one of them twice: exactly
		// one add sees the set complete first, and the repeated add also
		// sees it complete (it changes nothing).
		var mu sync.Mutex
		complete := 0
		var wg sync.WaitGroup
		for _, f := range []int{0, 1, 2, 2} {
			wg.Add(1)
			add := func() {
				defer wg.Done()
				r, err := c.AddScannedFile(ctx, "b1", f)
				if err != nil {
					t.Error(err)
					return
				}
				if r.ScanDone() {
					mu.Lock()
					complete++
					mu.Unlock()
				}
			}
			if serializesUpdates(t) {
				go add()
			} else {
				add()
			}
		}
		wg.Wait()
		if complete < 1 || complete > 2 {
			t.Errorf("%d adds saw the scan complete, want 1 or 2", complete)
		}
		r, err := c.GetBatchRun(ctx, "b1")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(BatchRun{Files: 3, Scanned: []int{0, 1, 2}, Src: "batch:x"}, r, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("run (-want +got):\n%s", d)
		}

		r, won, err := c.ClaimBatchDecision(ctx, "b1", "write", 2)
		if err != nil || !won || r.Decided != "write" || r.Parts != 2 {
			t.Fatalf("first claim = %+v, %v, %v", r, won, err)
		}
		r, won, err = c.ClaimBatchDecision(ctx, "b1", "failed", 0)
		if err != nil || won || r.Decided != "write" || r.Parts != 2 {
			t.Fatalf("second claim = %+v, %v, %v; want lost with the first decision", r, won, err)
		}
		if err := c.SetBatchFanned(ctx, "b1"); err != nil {
			t.Fatal(err)
		}
		r, err = c.AddWrittenPart(ctx, "b1", 0, 1)
		if err != nil || r.WriteDone() || !r.Fanned || !r.HasWritten(0, 1) {
			t.Fatalf("after one part: %+v, %v", r, err)
		}
		for range 2 {
			if r, err = c.AddWrittenPart(ctx, "b1", 1, 0); err != nil {
				t.Fatal(err)
			}
		}
		if !r.WriteDone() || len(r.Written) != 2 {
			t.Errorf("after both parts (one twice): %+v, want done with 2 written", r)
		}
		_, err = c.GetBatchRun(ctx, "nope")
		catWantFault(t, err, fault.NotFound, "BATCH-RUN-NOT-FOUND")
	})
}
