package store

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// listRefusals collects EachBatchWriteRefusal's refusals.
func listRefusals(ctx context.Context, c *Catalog, batchID string, file, part int) ([]WriteRefusal, error) {
	var out []WriteRefusal
	err := c.EachBatchWriteRefusal(ctx, batchID, file, part, func(r WriteRefusal) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

func TestBatchWriteRefusals(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		long := strings.Repeat("é", MaxBatchErrorBytes) // twice the bound in bytes
		puts := []WriteRefusal{
			{File: 1, Part: 0, Row: 12, Code: "FRAGMENT-TOO-LARGE", Message: "m12"},
			{File: 0, Part: 2, Row: 7, Code: "FRAGMENT-TOO-LARGE", Message: "m7"},
			{File: 0, Part: 2, Row: 3, Code: "XDM-TYPE", Message: long},
			{File: 0, Part: 10, Row: 1_000_000_000, Code: "OTHER"},
			// The same row again, as a retried write records it: it
			// replaces the first record.
			{File: 0, Part: 2, Row: 7, Code: "FRAGMENT-TOO-LARGE", Message: "m7 again"},
		}
		for _, r := range puts {
			if err := c.PutBatchWriteRefusal(ctx, "b1", r); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.PutBatchWriteRefusal(ctx, "b2", WriteRefusal{Row: 1, Code: "X"}); err != nil {
			t.Fatal(err)
		}
		all, err := listRefusals(ctx, c, "b1", -1, -1)
		if err != nil {
			t.Fatal(err)
		}
		want := []WriteRefusal{
			{File: 0, Part: 2, Row: 3, Code: "XDM-TYPE", Message: xdm.Truncate(long, MaxBatchErrorBytes)},
			{File: 0, Part: 2, Row: 7, Code: "FRAGMENT-TOO-LARGE", Message: "m7 again"},
			{File: 0, Part: 10, Row: 1_000_000_000, Code: "OTHER"},
			{File: 1, Part: 0, Row: 12, Code: "FRAGMENT-TOO-LARGE", Message: "m12"},
		}
		if d := cmp.Diff(want, all); d != "" {
			t.Errorf("all refusals (-want +got):\n%s", d)
		}
		one, err := listRefusals(ctx, c, "b1", 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want[:2], one); d != "" {
			t.Errorf("refusals of part 0/2 (-want +got):\n%s", d)
		}

		t.Run("delete is idempotent", func(t *testing.T) {
			for range 2 {
				if err := c.DeleteBatchWriteRefusal(ctx, "b1", 0, 2, 7); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.DeleteBatchWriteRefusal(ctx, "b1", 4, 4, 4); err != nil {
				t.Fatal(err)
			}
			got, err := listRefusals(ctx, c, "b1", 0, 2)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want[:1], got); d != "" {
				t.Errorf("after the delete (-want +got):\n%s", d)
			}
		})
		t.Run("an error of the callback stops the listing", func(t *testing.T) {
			stop := fault.E(fault.Internal, "STOP", "stop")
			calls := 0
			err := c.EachBatchWriteRefusal(ctx, "b1", -1, -1, func(WriteRefusal) error { calls++; return stop })
			if err != stop || calls != 1 {
				t.Errorf("got %v after %d calls, want the callback's error after 1", err, calls)
			}
		})
		t.Run("bounds", func(t *testing.T) {
			catWantFault(t, c.PutBatchWriteRefusal(ctx, "b1", WriteRefusal{Row: -1, Code: "X"}), fault.Invalid, "BATCH-WRITE-REFUSAL")
			catWantFault(t, c.PutBatchWriteRefusal(ctx, "b1", WriteRefusal{Row: 1}), fault.Invalid, "BATCH-WRITE-REFUSAL")
			none, err := listRefusals(ctx, c, "nope", -1, -1)
			if err != nil || len(none) != 0 {
				t.Errorf("refusals of an unknown batch = %v, %v; want none", none, err)
			}
		})
	})
}
