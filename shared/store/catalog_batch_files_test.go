package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
)

func TestCatalogBatchFiles(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		chunked := catalog.BatchFile{Name: "dir/b.json", Created: 1000, Objects: []catalog.FileObject{
			{Key: "staging/b1/ds/dir/b.json.chunks/00000000000000000000-00000000000000000009", Offset: 0, Size: 10},
			{Key: "staging/b1/ds/dir/b.json.chunks/00000000000000000010-00000000000000000019", Offset: 10, Size: 10},
		}}
		whole := catalog.BatchFile{Name: "a.json", Created: 900, Size: 5, Complete: true,
			Objects: []catalog.FileObject{{Key: "staging/b1/ds/a.json", Size: 5}}}
		other := catalog.BatchFile{Name: "a.json", Created: 1, Complete: true}
		for _, f := range []catalog.BatchFile{chunked, whole} {
			if err := c.PutBatchFile(ctx, "b1", f); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.PutBatchFile(ctx, "b2", other); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetBatchFile(ctx, "b1", "dir/b.json")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(chunked, got); diff != "" {
			t.Errorf("get (-want +got):\n%s", diff)
		}
		// A put replaces the file of that name.
		chunked.Complete, chunked.Size = true, 20
		if err := c.PutBatchFile(ctx, "b1", chunked); err != nil {
			t.Fatal(err)
		}
		list, err := c.ListBatchFiles(ctx, "b1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]catalog.BatchFile{whole, chunked}, list); diff != "" {
			t.Errorf("list (-want +got):\n%s", diff)
		}
		if list, err := c.ListBatchFiles(ctx, "none"); err != nil || len(list) != 0 {
			t.Errorf("ListBatchFiles(none) = %v, %v; want none", list, err)
		}
		_, err = c.GetBatchFile(ctx, "b1", "missing")
		catWantFault(t, err, fault.NotFound, CodeBatchFileNotFound)
		err = c.PutBatchFile(ctx, "b1", catalog.BatchFile{Name: strings.Repeat("x", MaxBatchFileNameBytes+1)})
		catWantFault(t, err, fault.Invalid, "BATCH-FILE-NAME")
		if err := c.PutBatchFile(ctx, "b1", catalog.BatchFile{Name: strings.Repeat("é", MaxBatchFileNameBytes/2)}); err != nil {
			t.Errorf("a %d-byte name: %v", MaxBatchFileNameBytes, err)
		}
	})
}

// TestCatalogBatchFilesPaged lists more files than one DynamoDB page holds
// (1 MB): every file comes back, in name order.
func TestCatalogBatchFilesPaged(t *testing.T) {
	ctx := context.Background()
	c := catTestCatalog(t)
	pad := strings.Repeat("k", 300)
	var want []string
	for i := range 40 {
		f := catalog.BatchFile{Name: fmt.Sprintf("f%03d", i), Complete: true}
		for j := range 100 {
			f.Objects = append(f.Objects, catalog.FileObject{Key: fmt.Sprintf("%s/%d", pad, j), Size: 1})
		}
		if err := c.PutBatchFile(ctx, "big", f); err != nil {
			t.Fatal(err)
		}
		want = append(want, f.Name)
	}
	list, err := c.ListBatchFiles(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range list {
		got = append(got, f.Name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

func TestCatalogQueryBatches(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		statuses := []string{catalog.BatchLoading, catalog.BatchSuccess, catalog.BatchFailed}
		for i := range 9 {
			ds := "dsA"
			if i%2 == 1 {
				ds = "dsB"
			}
			b := catalog.Batch{ID: fmt.Sprintf("b%d", i), DatasetID: ds, Status: statuses[i%3], Created: int64(1000 * (i + 1))}
			if _, _, err := c.CreateBatch(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name string
			q    BatchQuery
			want string
		}{
			{"all newest first", BatchQuery{}, "b8 b7 b6 b5 b4 b3 b2 b1 b0"},
			{"status", BatchQuery{Status: catalog.BatchSuccess}, "b7 b4 b1"},
			{"dataset and status", BatchQuery{DatasetID: "dsA", Status: catalog.BatchLoading}, "b6 b0"},
			{"created after is strict", BatchQuery{CreatedAfter: 8000}, "b8"},
			{"created after and dataset", BatchQuery{DatasetID: "dsB", CreatedAfter: 3000}, "b7 b5 b3"},
			{"limit", BatchQuery{Limit: 2}, "b8 b7"},
			{"start", BatchQuery{Limit: 2, Start: 2}, "b6 b5"},
			{"start with a filter", BatchQuery{Status: catalog.BatchFailed, Start: 1}, "b5 b2"},
			{"start past the end", BatchQuery{Start: 20}, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := c.QueryBatches(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, b := range got {
					ids = append(ids, b.ID)
				}
				if diff := cmp.Diff(tc.want, strings.Join(ids, " ")); diff != "" {
					t.Errorf("ids (-want +got):\n%s", diff)
				}
			})
		}
	})
}
