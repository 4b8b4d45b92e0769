package store

import (
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
)

// Every user record of a KPL aggregate keeps its own failed record: the
// key tells them apart by sub-sequence, and a plain record's key is as before.
func TestFailedKeyOfUserRecords(t *testing.T) {
	base := catalog.FailedRecord{Batch: "stream-ds-20260201T0000Z", Shard: "shardId-000000000001", Seq: "4960", Index: 0}
	seen := map[string]int{}
	for sub := 0; sub < 3; sub++ {
		r := base
		r.SubSequence = sub
		_, sk := failedKey(r)
		if prev, dup := seen[sk]; dup {
			t.Errorf("sub-sequences %d and %d share the key %s", prev, sub, sk)
		}
		seen[sk] = sub
	}
	if _, sk := failedKey(base); sk != "S#shardId-000000000001#4960#0000" {
		t.Errorf("plain record key %s changed", sk)
	}
}
