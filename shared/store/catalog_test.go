package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

func catWantFault(t *testing.T, err error, kind fault.Kind, code string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != kind || fe.Code != code {
		t.Errorf("got %v, want %v %s", err, kind, code)
	}
}

// catTestCatalog is a Catalog on a fresh table, once the table is active.
func catTestCatalog(t *testing.T) *Catalog {
	t.Helper()
	db, table := newTestTable(t)
	return NewCatalog(db, table)
}

func catNewSchema(t *testing.T) xdm.Schema {
	t.Helper()
	s, err := xdm.NewSchema(xdm.SchemaInput{Title: "CRM", Type: "object", AllOf: []xdm.Ref{{Ref: xdm.ProfileClass}, {Ref: xdm.PersonalDetailsFieldGroup}}}, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCatalogSchemas(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		s := catNewSchema(t)
		if err := c.Schemas.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		t.Run("duplicate create conflicts", func(t *testing.T) {
			catWantFault(t, c.Schemas.Create(ctx, s), fault.Conflict, "SCHEMA-EXISTS")
		})
		t.Run("get by altId and $id", func(t *testing.T) {
			for _, id := range []string{s.AltID, s.ID} {
				got, err := c.Schemas.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(s, got); d != "" {
					t.Errorf("GetSchema(%q) (-want +got):\n%s", id, d)
				}
			}
		})
		t.Run("unknown", func(t *testing.T) {
			for _, id := range []string{"_mosaic.schemas.nope", "https://ns.adobe.com/mosaic/schemas/nope", "nope"} {
				_, err := c.Schemas.Get(ctx, id)
				catWantFault(t, err, fault.NotFound, "SCHEMA-NOT-FOUND")
			}
		})
		t.Run("update with optimistic concurrency", func(t *testing.T) {
			n, err := s.Patch([]xdm.PatchOp{{Op: "replace", Path: "/title", Value: []byte(`"CRM v2"`)}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Schemas.Update(ctx, n, s.Version); err != nil {
				t.Fatal(err)
			}
			stale, _ := s.Patch([]xdm.PatchOp{{Op: "replace", Path: "/title", Value: []byte(`"lost"`)}}, time.Now())
			catWantFault(t, c.Schemas.Update(ctx, stale, s.Version), fault.Conflict, "SCHEMA-VERSION-CONFLICT")
			got, _ := c.Schemas.Get(ctx, s.ID)
			if got.Title != "CRM v2" || got.Version != "1.1" {
				t.Errorf("got title %q version %q, want CRM v2 1.1", got.Title, got.Version)
			}
			missing := n
			missing.AltID = "_mosaic.schemas.missing"
			catWantFault(t, c.Schemas.Update(ctx, missing, "1.0"), fault.NotFound, "SCHEMA-NOT-FOUND")
		})
		t.Run("list", func(t *testing.T) {
			s2 := catNewSchema(t)
			if err := c.Schemas.Create(ctx, s2); err != nil {
				t.Fatal(err)
			}
			got, err := c.Schemas.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Errorf("got %d schemas, want 2", len(got))
			}
		})
	})
}

func TestCatalogDescriptors(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		a, b := "https://ns.adobe.com/mosaic/schemas/a", "https://ns.adobe.com/mosaic/schemas/b"
		d1 := xdm.Descriptor{ID: "d1", Type: xdm.DescriptorIdentity, SourceSchema: a, SourceProperty: "/personalEmail/address", Namespace: "Email", IsPrimary: true}
		d2 := xdm.Descriptor{ID: "d2", Type: xdm.DescriptorIdentity, SourceSchema: a, SourceProperty: "/mobilePhone/number", Namespace: "Phone"}
		d3 := xdm.Descriptor{ID: "d3", Type: xdm.DescriptorIdentity, SourceSchema: b, SourceProperty: "/personID", Namespace: "CRMID", IsPrimary: true}
		for _, d := range []xdm.Descriptor{d1, d2, d3} {
			if err := c.CreateDescriptor(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		t.Run("one primary per schema", func(t *testing.T) {
			p := xdm.Descriptor{ID: "d4", Type: xdm.DescriptorIdentity, SourceSchema: a, SourceProperty: "/personID", Namespace: "CRMID", IsPrimary: true}
			catWantFault(t, c.CreateDescriptor(ctx, p), fault.Conflict, "XDM-PRIMARY-EXISTS")
		})
		t.Run("concurrent primaries: exactly one wins", func(t *testing.T) {
			const n = 6
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					errs[i] = c.CreateDescriptor(ctx, xdm.Descriptor{ID: fmt.Sprintf("race%d", i), Type: xdm.DescriptorIdentity, SourceSchema: "https://ns.adobe.com/mosaic/schemas/race", SourceProperty: "/x", IsPrimary: true})
				})
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
				}
			}
			if ok != 1 {
				t.Errorf("got %d primaries created, want 1 (%v)", ok, errs)
			}
		})
		t.Run("list per schema and overall", func(t *testing.T) {
			got, err := c.ListDescriptors(ctx, xdm.AltID(a))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]xdm.Descriptor{d1, d2}, got); d != "" {
				t.Errorf("schema a (-want +got):\n%s", d)
			}
			all, err := c.ListDescriptors(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 4 {
				t.Errorf("got %d descriptors, want 4", len(all))
			}
		})
		t.Run("get", func(t *testing.T) {
			got, err := c.GetDescriptor(ctx, "d3")
			if err != nil || got != d3 {
				t.Errorf("got %+v, %v; want %+v", got, err, d3)
			}
			_, err = c.GetDescriptor(ctx, "nope")
			catWantFault(t, err, fault.NotFound, "DESCRIPTOR-NOT-FOUND")
		})
	})
}

func TestCatalogDatasets(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		d, err := catalog.NewDataset(catalog.DatasetInput{Name: "CRM", SchemaRef: &catalog.SchemaRef{ID: "https://ns.adobe.com/mosaic/schemas/a"}, Tags: map[string][]string{"unifiedProfile": {"enabled:true"}}}, xdm.ImsOrg, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CreateDataset(ctx, d); err != nil {
			t.Fatal(err)
		}
		catWantFault(t, c.CreateDataset(ctx, d), fault.Conflict, "DATASET-EXISTS")
		got, err := c.GetDataset(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		_, err = c.GetDataset(ctx, "nope")
		catWantFault(t, err, fault.NotFound, "DATASET-NOT-FOUND")
		list, err := c.ListDatasets(ctx)
		if err != nil || len(list) != 1 || list[0].ID != d.ID {
			t.Errorf("got %v, %v; want the one dataset", list, err)
		}
	})
}

func TestCatalogSpecLoader(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		s := catNewSchema(t)
		if err := c.Schemas.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := c.CreateDescriptor(ctx, xdm.Descriptor{ID: "p", Type: xdm.DescriptorIdentity, SourceSchema: s.ID, SourceProperty: "/personalEmail/address", Namespace: "email", IsPrimary: true}); err != nil {
			t.Fatal(err)
		}
		d := catalog.Dataset{ID: "ds", SchemaRef: catalog.SchemaRef{ID: s.ID}, Tags: map[string][]string{"unifiedIdentity": {"enabled:true"}}}
		if err := c.CreateDataset(ctx, d); err != nil {
			t.Fatal(err)
		}
		spec, err := catalog.NewSpecLoader(c).Spec(ctx, "ds")
		if err != nil {
			t.Fatal(err)
		}
		want := []catalog.IdentityField{{Path: "/personalEmail/address", Namespace: "Email", Primary: true}}
		if diff := cmp.Diff(want, spec.Identities); diff != "" || !spec.IdentityEnabled || spec.Class != catalog.ProfileClass {
			t.Errorf("got %+v (-want +got identities):\n%s", spec, diff)
		}
	})
}

func TestCatalogBatches(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		mk := func(id, ds string, created int64) catalog.Batch {
			return catalog.Batch{ID: id, DatasetID: ds, Status: catalog.BatchLoading, Created: created, Updated: created}
		}
		b1, b2, b3 := mk("b1", "dsA", 1000), mk("b2", "dsB", 2000), mk("b3", "dsA", 3000)
		for _, b := range []catalog.Batch{b1, b2, b3} {
			created, _, err := c.CreateBatch(ctx, b)
			if err != nil || !created {
				t.Fatalf("CreateBatch(%s) = %v, %v; want created", b.ID, created, err)
			}
		}
		t.Run("create existing returns the stored batch", func(t *testing.T) {
			again := b1
			again.Status = catalog.BatchFailed
			created, existing, err := c.CreateBatch(ctx, again)
			if err != nil || created {
				t.Fatalf("got created %v err %v, want false, nil", created, err)
			}
			if diff := cmp.Diff(b1, existing); diff != "" {
				t.Errorf("existing (-want +got):\n%s", diff)
			}
		})
		t.Run("put overwrites", func(t *testing.T) {
			done := b1
			done.Status, done.Updated, done.Completed = catalog.BatchSuccess, 5000, 5000
			done.Metrics = catalog.BatchMetrics{InputFileCount: 1, InputRecordCount: 10, OutputRecordCount: 9, FailedRecordCount: 1}
			done.Errors = []catalog.BatchError{{Code: "XDM-TYPE", Description: "type mismatch", Rows: 1}}
			if err := c.PutBatch(ctx, done); err != nil {
				t.Fatal(err)
			}
			got, err := c.GetBatch(ctx, "b1")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(done, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
		t.Run("put from a status", func(t *testing.T) {
			loading := b2
			processing := loading
			processing.Status = catalog.BatchProcessing
			if err := c.PutBatchFrom(ctx, processing, catalog.BatchLoading); err != nil {
				t.Fatal(err)
			}
			aborted := loading
			aborted.Status = catalog.BatchAborted
			catWantFault(t, c.PutBatchFrom(ctx, aborted, catalog.BatchLoading), fault.Conflict, CodeBatchStatusChanged)
			if got, _ := c.GetBatch(ctx, b2.ID); got.Status != catalog.BatchProcessing {
				t.Errorf("status %s after the lost write, want processing", got.Status)
			}
		})
		t.Run("unknown", func(t *testing.T) {
			_, err := c.GetBatch(ctx, "nope")
			catWantFault(t, err, fault.NotFound, "BATCH-NOT-FOUND")
		})
		for _, tc := range []struct {
			name    string
			dataset string
			limit   int
			want    []string
		}{
			{"all newest first", "", 0, []string{"b3", "b2", "b1"}},
			{"per dataset", "dsA", 0, []string{"b3", "b1"}},
			{"limit", "", 2, []string{"b3", "b2"}},
			{"unknown dataset", "dsZ", 0, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := c.ListBatches(ctx, tc.dataset, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, b := range got {
					ids = append(ids, b.ID)
				}
				if diff := cmp.Diff(tc.want, ids); diff != "" {
					t.Errorf("ids (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestCatalogIDsLongerThanAnyKey: an id longer than any key can be
// names nothing: reads find nothing and deletes remove nothing, rather
// than failing.
func TestCatalogIDsLongerThanAnyKey(t *testing.T) {
	db, table := newTestTable(t) // dynalite: the rule is the store's own
	c := NewCatalog(db, table)
	ctx := context.Background()
	long := strings.Repeat("a", MaxSortKeyBytes+1)
	if _, err := c.GetDataset(ctx, long); !errors.Is(err, fault.E(fault.NotFound, "DATASET-NOT-FOUND", "")) {
		t.Errorf("GetDataset of a %d-byte id: %v, want DATASET-NOT-FOUND", len(long), err)
	}
	if _, err := c.GetJob(ctx, long); fault.As(err).Kind != fault.NotFound {
		t.Errorf("GetJob of a %d-byte id: %v, want NotFound", len(long), err)
	}
	if _, err := c.GetNamespace(ctx, long); fault.As(err).Kind != fault.NotFound {
		t.Errorf("GetNamespace of a %d-byte code: %v, want NotFound", len(long), err)
	}
	if err := c.DeleteJob(ctx, long); fault.As(err).Kind != fault.NotFound {
		t.Errorf("DeleteJob of a %d-byte id: %v, want NotFound", len(long), err)
	}
}
