package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Bars of the partial-update cases of P6, from the design of partial
// updates (docs/rules.md#limits-and-refusals): one strongly consistent
// read of the fragment's item (1 RCU per started 4 KB) and one write of it
// (1 WCU per started KB, its clock document included). The fragment is
// about 1 KB of record, so with its keys and clocks the item is between 1
// and 2 KB: 2 WCU. An update seen before writes nothing.
const (
	P6TargetUpsertWCU    = 2.0
	P6TargetUpsertRCU    = 1.0
	P6TargetReplayWCU    = 0.0
	p6UpsertDataset      = "bench-upsert"
	p6UpsertRecordBytes  = 1000 // the record of a fragment, as JSON
	p6UpsertFragmentSKPf = "F#" // sort key prefix of a fragment (docs/architecture.md, "Storage")
)

// p6UpsertCase is one partial-update case: the update of person i.
type p6UpsertCase struct {
	name, what string
	targetWCU  float64
	update     func(i int) merge.Fragment
}

// p6UpsertCases are the partial updates P6 measures, in the order they
// run, each on every person: a merge of a whole ~1 KB row onto no
// fragment (an upsert dataset's first sight of a person), a merge that
// changes one attribute of that fragment, and the same merge again (a
// replay). received orders them: each case a second after the last.
func p6UpsertCases(received time.Time) []p6UpsertCase {
	t0 := received.UnixMilli()
	row := func(i int) merge.Fragment {
		return p6UpsertFragment(i, t0, 1, p6UpsertRow(i))
	}
	change := func(i int) merge.Fragment {
		return p6UpsertFragment(i, t0+1000, 2, map[string]any{
			"personalEmail": map[string]any{"address": email("p6u", i)},
			"person":        map[string]any{"name": map[string]any{"firstName": fmt.Sprintf("Changed%d", i)}},
		})
	}
	return []p6UpsertCase{
		{"upsert-first", fmt.Sprintf("partial update (merge) of a whole ~%d-byte row onto no fragment", p6UpsertRecordBytes), P6TargetUpsertWCU, row},
		{"upsert-merge", fmt.Sprintf("partial update (merge) changing one attribute of an existing ~%d-byte fragment", p6UpsertRecordBytes), P6TargetUpsertWCU, change},
		{"upsert-replay", "the same merge again (a replay): nothing to write", P6TargetReplayWCU, change},
	}
}

// p6UpsertFragment is a merge of person i's fragment of the upsert
// dataset at ordering time ts; step numbers the update in the source
// position, so that each update of a person has a clock of its own.
func p6UpsertFragment(i int, ts int64, step int, rec map[string]any) merge.Fragment {
	return merge.Fragment{
		Identity: "Email#" + email("p6u", i),
		Dataset:  p6UpsertDataset,
		Record:   rec,
		TS:       ts,
		Src:      fmt.Sprintf("s3:ingest/%s/bench.json#%020d:%08d", p6UpsertDataset, step, i),
		Batch:    fmt.Sprintf("bench-upsert-%d", step),
		Op:       merge.OpMerge,
	}
}

// p6UpsertRow is person i's whole row as a record of p6UpsertRecordBytes
// bytes of JSON (profileRow, its address padded).
func p6UpsertRow(i int) map[string]any {
	base := len(profileRow("p6u", i, 0, 0))
	// profileRow's pad adds pad bytes of text and the two keys around it.
	const padKeys = len(`,"street2":"","region":""`)
	var rec map[string]any
	if err := json.Unmarshal(profileRow("p6u", i, 0, max(0, p6UpsertRecordBytes-base-padKeys)), &rec); err != nil {
		panic(err) // profileRow writes valid JSON
	}
	return rec
}

// runP6Upsert writes each partial-update case for rows people through
// profiles.PutFragment (the store's own read-modify-write), counting the
// capacity on counts, and reads one fragment's item back through inspect (a
// client that is not counted) after each case.
func runP6Upsert(ctx context.Context, profiles *store.Profiles, counts *capacity, inspect *dynamodb.Client, table string, rows int, received time.Time, log io.Writer) ([]P6Case, error) {
	var out []P6Case
	for _, uc := range p6UpsertCases(received) {
		c0 := counts.snapshot()
		for i := 0; i < rows; i++ {
			if err := profiles.PutFragment(ctx, uc.update(i)); err != nil {
				return nil, fmt.Errorf("P6 %s row %d: %w", uc.name, i, err)
			}
		}
		c1 := counts.snapshot()
		c := P6Case{Name: uc.name, What: uc.what, Rows: rows, Writes: c1.writes - c0.writes,
			Reported: c1.reported - c0.reported, Refused: c1.refused - c0.refused,
			WCU: c1.units - c0.units, SizeWCU: c1.sizeWCU - c0.sizeWCU, Target: uc.targetWCU,
			Reads: c1.reads - c0.reads, RCU: c1.readUnits - c0.readUnits, SizeRCU: c1.sizeRCU - c0.sizeRCU,
			TargetRCU: P6TargetUpsertRCU}
		if b, err := json.Marshal(uc.update(0).Record); err == nil {
			c.RowBytes = len(b)
		}
		c.WCUPerRow = round2(c.WCU / float64(rows))
		c.WritesPerRow = round2(float64(c.Writes) / float64(rows))
		c.RCUPerRow = round2(c.RCU / float64(rows))
		c.ReadsPerRow = round2(float64(c.Reads) / float64(rows))
		c.Pass = c.WCUPerRow <= c.Target && c.RCUPerRow <= c.TargetRCU
		item, err := inspect.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(table),
			Key: map[string]types.AttributeValue{
				topology.PartitionKey: &types.AttributeValueMemberS{Value: "Email#" + email("p6u", 0)},
				topology.SortKey:      &types.AttributeValueMemberS{Value: p6UpsertFragmentSKPf + p6UpsertDataset},
			},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("P6 %s: read the fragment back: %w", uc.name, err)
		}
		c.ItemBytes = itemBytes(item.Item)
		if v, ok := item.Item["rec"].(*types.AttributeValueMemberS); ok {
			c.RecordBytes = len(v.Value)
		}
		if v, ok := item.Item["m"].(*types.AttributeValueMemberS); ok {
			c.ClockBytes = len(v.Value)
		}
		fmt.Fprintf(log, "P6 %s: %.2f WCU/row, %.2f writes/row, %.2f RCU/row, %.2f reads/row (%d of %d reads reported capacity); "+
			"item %d bytes (record %d, clocks %d); size rule %.2f WCU/row, %.2f RCU/row (target ≤ %.1f WCU, ≤ %.1f RCU)\n",
			c.Name, c.WCUPerRow, c.WritesPerRow, c.RCUPerRow, c.ReadsPerRow, c1.readsReported-c0.readsReported, c.Reads,
			c.ItemBytes, c.RecordBytes, c.ClockBytes, c.SizeWCU/float64(rows), c.SizeRCU/float64(rows), c.Target, c.TargetRCU)
		out = append(out, c)
	}
	return out, nil
}
