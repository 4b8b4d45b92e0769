package store

import (
	"context"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

func TestCatalogUpdateDataset(t *testing.T) {
	ctx := context.Background()
	c := catTestCatalog(t)
	d, err := catalog.NewDataset(catalog.DatasetInput{Name: "CRM", SchemaRef: &catalog.SchemaRef{ID: "https://ns.adobe.com/mosaic/schemas/a"}}, xdm.ImsOrg, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDataset(ctx, d); err != nil {
		t.Fatal(err)
	}
	prev, err := c.GetDataset(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	enable := []xdm.PatchOp{{Op: "add", Path: "/tags/unifiedProfile", Value: []byte(`["enabled:true"]`)}}
	n, err := catalog.PatchDataset(prev, enable, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateDataset(ctx, n, prev); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetDataset(ctx, d.ID)
	if err != nil || !catalog.ParseTags(got.Tags).ProfileEnabled || got.ProfileEnabledAt == 0 {
		t.Errorf("after update: %+v %v", got, err)
	}
	// A writer that read the old dataset loses.
	catWantFault(t, c.UpdateDataset(ctx, n, prev), fault.Conflict, "DATASET-VERSION-CONFLICT")
	gone := n
	gone.ID = "nope"
	prevGone := prev
	prevGone.ID = "nope"
	catWantFault(t, c.UpdateDataset(ctx, gone, prevGone), fault.NotFound, "DATASET-NOT-FOUND")
}
