package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

// TestCapacityCountsReads runs the middleware against dynalite: a
// strongly consistent read of an absent item, of a 5 KB item (2 RCU by
// the size rule) and an eventually consistent read of the same (1 RCU).
func TestCapacityCountsReads(t *testing.T) {
	endpoint, err := emulator.SharedDynamoDB()
	if err != nil {
		emulator.SkipOrFail(t, err)
	}
	var c capacity
	db := newDynamoClient(endpoint, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, c.middleware) })
	ctx := context.Background()
	table := "bench-capacity-reads-test"
	if err := createTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	key := func(pk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: "b"}}
	}
	item := key("a")
	item["v"] = &types.AttributeValueMemberS{Value: strings.Repeat("x", 5000)}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	before := c.snapshot()
	for _, in := range []*dynamodb.GetItemInput{
		{TableName: aws.String(table), Key: key("absent"), ConsistentRead: aws.Bool(true)},
		{TableName: aws.String(table), Key: key("a"), ConsistentRead: aws.Bool(true)},
		{TableName: aws.String(table), Key: key("a")},
	} {
		if _, err := db.GetItem(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	got := c.snapshot()
	if got.writes != before.writes {
		t.Errorf("reads counted as writes: %d, want %d", got.writes, before.writes)
	}
	if got.reads != 3 || got.sizeRCU != 4 {
		t.Errorf("counts %+v, want 3 reads costing 1 + 2 + 1 RCU by the size rule", got)
	}
	if got.readsReported > 0 && got.readUnits <= 0 {
		t.Errorf("%d reads reported capacity, yet the units are %v", got.readsReported, got.readUnits)
	}
	if s := p6Source(got); !strings.Contains(s, "GetItem") {
		t.Errorf("source %q does not say where read capacity comes from", s)
	}
}

// TestUpsertCasesAreWhatTheySay checks the updates of P6's partial-update
// cases: a record of about 1 KB first, then one changed attribute (and
// the primary identity) at a newer clock, then the same update again.
func TestUpsertCasesAreWhatTheySay(t *testing.T) {
	cases := p6UpsertCases(time.UnixMilli(1_700_000_000_000))
	if len(cases) != 3 {
		t.Fatalf("%d cases, want 3", len(cases))
	}
	first, change, replay := cases[0].update(5), cases[1].update(5), cases[2].update(5)
	b, err := json.Marshal(first.Record)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b); n < 900 || n > 1024 {
		t.Errorf("the first row is %d bytes of JSON, want about 1 KB", n)
	}
	for _, f := range []merge.Fragment{first, change, replay} {
		if f.Op != merge.OpMerge || f.Identity != "Email#"+email("p6u", 5) || f.Dataset != p6UpsertDataset {
			t.Errorf("update %+v: want a merge of person 5's fragment of %s", f, p6UpsertDataset)
		}
	}
	if !merge.Newer(change, first) {
		t.Errorf("the change (%d, %s) is not newer than the first row (%d, %s)", change.TS, change.Src, first.TS, first.Src)
	}
	if change.TS != replay.TS || change.Src != replay.Src {
		t.Errorf("the replay's clock (%d, %s) is not the change's (%d, %s)", replay.TS, replay.Src, change.TS, change.Src)
	}
	name := change.Record["person"].(map[string]any)["name"].(map[string]any)
	if len(change.Record) != 2 || len(name) != 1 || name["firstName"] == nil {
		t.Errorf("the change %v: want the primary identity and person.name.firstName only", change.Record)
	}
	if cases[2].targetWCU != 0 {
		t.Errorf("a replay's WCU target is %v, want 0", cases[2].targetWCU)
	}
}

func TestReportUpsertCase(t *testing.T) {
	r := results{P6: &P6{Cases: []P6Case{{Name: "upsert-merge", What: "one attribute", Rows: 10, RowBytes: 90, WCU: 20, RCU: 10,
		Writes: 10, Reads: 10, WCUPerRow: 2, RCUPerRow: 1, WritesPerRow: 1, ReadsPerRow: 1, Target: 2, TargetRCU: 1, Pass: true,
		ItemBytes: 1300, RecordBytes: 1000, ClockBytes: 150}}, Source: "ConsumedCapacity", How: "how p6"}}
	got := report(r)
	for _, want := range []string{
		"| P6 upsert-merge |", "2.00 WCU + 1.00 RCU per update", "≤ 2.0 WCU, ≤ 1.0 RCU", "record 1000, clocks 150",
		"1 strongly consistent read", "writes nothing",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}
