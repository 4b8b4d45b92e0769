package catalog

import (
	"testing"
	"time"
)

func TestParseStreamBatchIDRoundTrips(t *testing.T) {
	at := time.Date(2026, 2, 1, 10, 29, 59, 0, time.FixedZone("x", 3600))
	for _, ds := range []string{"65a1b2c3d4e5f60718293a4b", StreamUnknownDataset, "a-b-c"} {
		id := StreamBatchID(ds, at)
		gotDS, start, ok := ParseStreamBatchID(id)
		if !ok || gotDS != ds || !start.Equal(at.UTC().Truncate(StreamWindow)) {
			t.Errorf("%s: got %q %v %v", id, gotDS, start, ok)
		}
	}
	for _, id := range []string{"", "stream", "stream-ds", "stream-ds-20260201T1001Z", "stream--20260201T1000Z", "01HX-20260201T1000Z", "stream-ds-2026"} {
		if _, _, ok := ParseStreamBatchID(id); ok {
			t.Errorf("%q parsed as a streaming batch id", id)
		}
	}
	b := NewStreamBatch(StreamUnknownDataset, at, at)
	if b.DatasetID != "" || b.Status != BatchProcessing || b.Created != at.UTC().Truncate(StreamWindow).UnixMilli() {
		t.Errorf("stream-level batch %+v", b)
	}
	if got := StreamSealAt(b.Created); !got.Equal(time.UnixMilli(b.Created).Add(StreamWindow + StreamGrace)) {
		t.Errorf("seal at %v", got)
	}
}
