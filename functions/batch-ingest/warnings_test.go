package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
)

// TestHandleCountsWarningsOfIngestedRows checks that what ingestion changed
// in a row it kept (here an ordering time far in the future, clamped to the
// receive time) is counted on the batch, by code, beside its errors.
func TestHandleCountsWarningsOfIngestedRows(t *testing.T) {
	fx := newFixture()
	received := time.UnixMilli(1000)
	future := received.Add(48 * time.Hour).UTC().Format(time.RFC3339)
	clamped := func(email string) string {
		return fmt.Sprintf(`{"personalEmail":{"address":%q},"extSourceSystemAudit":{"lastUpdatedDate":%q}}`, email, future)
	}
	fx.objects.data["ingest/ds1/f.json"] = lines(clamped("a@example.com"), rowJSON("b@example.com", "B"), clamped("c@example.com"))
	if err := fx.handle(context.Background(), s3Event("ingest/ds1/f.json", `"e1"`, received)); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	b := onlyBatch(t, fx)
	if b.Status != catalog.BatchSuccess || b.Metrics.OutputRecordCount != 3 {
		t.Fatalf("batch %s with %d rows out, want success with 3", b.Status, b.Metrics.OutputRecordCount)
	}
	var got []string
	for _, w := range b.Warnings {
		got = append(got, fmt.Sprintf("%s×%d", w.Code, w.Rows))
	}
	if diff := cmp.Diff([]string{ingest.CodeOrderingTimeClamped + "×2"}, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
