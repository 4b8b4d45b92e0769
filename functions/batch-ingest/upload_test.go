package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// On a versioned bucket the batch of an upload reads that upload's
// version, not whatever is latest when its event (or any later task of
// its batch) is handled.
func TestHandleReadsTheUploadsVersion(t *testing.T) {
	fx := newFixture()
	key := "ingest/ds1/f.json"
	fx.objects.data[key] = lines(rowJSON("jane@example.com", "Latest"), rowJSON("joe@example.com", "Latest"))
	fx.objects.versions["v-first"] = lines(rowJSON("jane@example.com", "First"))
	if err := fx.handle(context.Background(), upload(key, "e1", "0A", "v-first", time.UnixMilli(1000))); err != nil {
		t.Fatal(err)
	}
	if raw := string(fx.prof.Frags["Email#jane@example.com|ds1"].Raw); !strings.Contains(raw, `"First"`) {
		t.Errorf("batch of version v-first ingested %s", raw)
	}
	if b := onlyBatch(t, fx); b.Metrics.InputRecordCount != 1 {
		t.Errorf("%d records, want the 1 of version v-first", b.Metrics.InputRecordCount)
	}
}
