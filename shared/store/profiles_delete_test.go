package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// delRecord decodes a JSON test record.
func delRecord(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test record %s: %v", s, err)
	}
	return m
}

// delIdentityAll runs DeleteIdentityStep from the start until it says it
// is done, every step with a deadline already past (so each reads one
// page), and returns the removed items and the number of steps.
func delIdentityAll(t *testing.T, p *Profiles, id identity.ID, at int64, src string) (removed, steps int) {
	t.Helper()
	cursor := ""
	for {
		next, n, err := p.DeleteIdentityStep(context.Background(), id, at, src, cursor, p.Now())
		if err != nil {
			t.Fatalf("DeleteIdentityStep step %d: %v", steps+1, err)
		}
		removed += n
		steps++
		if next == "" {
			return removed, steps
		}
		if next == cursor {
			t.Fatalf("step %d made no progress (cursor %q)", steps, cursor)
		}
		if steps > 1000 {
			t.Fatal("DeleteIdentityStep never ends")
		}
		cursor = next
	}
}

// delItem reads one item of the table as text (S and N values), nil when
// absent.
func delItem(t *testing.T, db DynamoDB, table, pk, sk string) map[string]string {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]types.AttributeValue{topology.PartitionKey: profS(pk), topology.SortKey: profS(sk)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Item == nil {
		return nil
	}
	m := map[string]string{}
	for k, v := range out.Item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			m[k] = v.Value
		case *types.AttributeValueMemberN:
			m[k] = v.Value
		default:
			m[k] = fmt.Sprintf("%T", v)
		}
	}
	return m
}

// delEventIDs reads id's events (all times, ascending) as their _ids.
func delEventIDs(t *testing.T, p *Profiles, id identity.ID) []string {
	t.Helper()
	evs, err := p.Events(context.Background(), id, 0, 1<<42, 1000, false)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestDeleteIdentityReplayStaysDeleted is R7 in the store: an identity
// with plain and clocked fragments, a fragment already deleted by a
// stream, events and links is deleted; every record written before the
// delete, replayed by a process that has never seen it, brings nothing
// back; records ordered after the delete do come back.
func TestDeleteIdentityReplayStaysDeleted(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		jane := profID(t, "Email", "jane@example.com")
		phone := profID(t, "Phone", "+1 555 0100")
		crm := profID(t, "CRMID", "C-1")
		const at = 10_000 // the delete, epoch ms; every old record is before it
		const src = "delete:job-1"

		frags := []merge.Fragment{
			// plain
			{Identity: jane.Key(), Dataset: "crm", TS: 1000, Src: "s3:a:1", Batch: "b1", Record: delRecord(t, `{"person":{"name":{"firstName":"Jane"}}}`)},
			// clocked: a create, then a merge
			{Identity: jane.Key(), Dataset: "loyalty", TS: 1000, Src: "s3:b:1", Batch: "b2", Record: delRecord(t, `{"loyalty":{"points":10,"tier":"gold"}}`)},
			{Identity: jane.Key(), Dataset: "loyalty", TS: 2000, Src: "kinesis:0:1", Batch: "stream-1", Op: merge.OpMerge, Record: delRecord(t, `{"loyalty":{"points":20}}`)},
			// deleted by a stream before the profile delete, at 600
			{Identity: jane.Key(), Dataset: "web", TS: 500, Src: "kinesis:0:0", Batch: "stream-1", Record: delRecord(t, `{"web":{"visits":1}}`)},
			{Identity: jane.Key(), Dataset: "web", TS: 600, Src: "kinesis:0:2", Batch: "stream-1", Op: merge.OpDelete},
		}
		// An old record that arrives only after the delete: its merge is
		// newer than the stream's delete (600) but not than the profile's.
		late := merge.Fragment{Identity: jane.Key(), Dataset: "web", TS: 700, Src: "kinesis:0:3", Batch: "stream-1", Op: merge.OpMerge, Record: delRecord(t, `{"web":{"visits":2}}`)}
		events := []merge.Event{
			{Identity: jane.Key(), ID: "ev1", Timestamp: 1000, Dataset: "events", Src: "s3:c:1", Batch: "b3", Record: delRecord(t, `{"_id":"ev1"}`)},
			{Identity: jane.Key(), ID: "ev2", Timestamp: 2000, Dataset: "events", Src: "s3:c:2", Batch: "b3", Record: delRecord(t, `{"_id":"ev2"}`), ExpiresAt: 1 << 40},
			// An event whose time is after the delete's is deleted too:
			// the delete removes every event stored when it runs.
			{Identity: jane.Key(), ID: "ev3", Timestamp: 20_000, Dataset: "events", Src: "s3:c:3", Batch: "b3", Record: delRecord(t, `{"_id":"ev3"}`)},
		}
		links := []identity.Link{
			{A: jane, B: phone, Dataset: "crm", Source: "b1", At: 1000},
			{A: crm, B: jane, Dataset: "crm", Source: "b1", At: 1500},
		}
		write := func(p *Profiles) {
			t.Helper()
			for _, f := range frags {
				if err := p.PutFragment(ctx, f); err != nil {
					t.Fatalf("PutFragment %s: %v", f.Dataset, err)
				}
			}
			for _, e := range events {
				if err := p.PutEvent(ctx, e); err != nil {
					t.Fatalf("PutEvent %s: %v", e.ID, err)
				}
			}
			if err := p.PutLinks(ctx, links); err != nil {
				t.Fatalf("PutLinks: %v", err)
			}
		}
		p := NewProfiles(db, table)
		write(p)
		// A guardrail decision recorded on jane.
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			topology.PartitionKey: profS(jane.Key()), topology.SortKey: profS("R#0123456789abcdef"), "kind": profS(GraphLinkRefused),
		}}); err != nil {
			t.Fatal(err)
		}
		if part, err := p.Partition(ctx, jane); err != nil || !part.Found || len(part.Fragments) == 0 || len(part.Neighbours) != 2 {
			t.Fatalf("before the delete: partition %+v, %v; want found with fragments and 2 neighbours", part, err)
		}

		p.deletePage = 2 // many pages, one per step
		removed, steps := delIdentityAll(t, p, jane, at, src)
		// crm and loyalty fragments (web was a tombstone already), three
		// events, two links, one graph event.
		if removed != 8 {
			t.Errorf("removed %d items, want 8", removed)
		}
		if steps < 4 {
			t.Errorf("the delete took %d steps of 2 items, want at least 4", steps)
		}

		check := func(when string) {
			t.Helper()
			part, err := p.Partition(ctx, jane)
			if err != nil {
				t.Fatal(err)
			}
			if part.Found || len(part.Fragments) != 0 || len(part.Neighbours) != 0 {
				t.Errorf("%s: jane's partition is found %v with %d fragments and neighbours %v; want nothing", when, part.Found, len(part.Fragments), part.Neighbours)
			}
			for _, nb := range []identity.ID{phone, crm} {
				np, err := p.Partition(ctx, nb)
				if err != nil {
					t.Fatal(err)
				}
				if len(np.Neighbours) != 0 || np.Found {
					t.Errorf("%s: %s still links to %v (found %v)", when, nb.Namespace, np.Neighbours, np.Found)
				}
			}
			c, err := p.Cluster(ctx, phone, true, 50)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range c.Members {
				if m == jane {
					t.Errorf("%s: jane is still in the phone's cluster", when)
				}
			}
			if got := delEventIDs(t, p, jane); len(got) != 0 {
				t.Errorf("%s: events %v are back", when, got)
			}
		}
		check("after the delete")

		// The items left say why: both halves of each link and each event
		// carry the delete's time, and the graph event is gone.
		for _, half := range [][2]identity.ID{{jane, phone}, {phone, jane}, {jane, crm}, {crm, jane}} {
			it := delItem(t, db, table, half[0].Key(), profLinkSK(half[1].Key()))
			if it == nil || it[profDeletedAttr] != fmt.Sprint(at) {
				t.Errorf("link half %s→%s = %v, want deleted = %d", half[0].Namespace, half[1].Namespace, it, at)
			}
		}
		ev2 := delItem(t, db, table, jane.Key(), EventSortKey(2000, "ev2"))
		if _, exp := ev2[topology.ExpiryAttribute]; ev2[profDeletedAttr] != fmt.Sprint(at) || ev2["rec"] != "" || exp || ev2["ds"] != "events" {
			t.Errorf("event tombstone = %v, want deleted = %d, no rec, no expiresAt (it never expires), ds kept", ev2, at)
		}
		if it := delItem(t, db, table, jane.Key(), "R#0123456789abcdef"); it != nil {
			t.Errorf("graph event still there: %v", it)
		}

		// Every old record again, by a process with no link cache.
		write(NewProfiles(db, table))
		if err := p.PutFragment(ctx, late); err != nil {
			t.Fatal(err)
		}
		check("after the replay")

		// A step run again from the start finds nothing live: it counts 0.
		if again, _ := delIdentityAll(t, p, jane, at, src); again != 0 {
			t.Errorf("a second run of the delete removed %d items, want 0", again)
		}

		// Records ordered after the delete do come back: a create, a merge
		// (on the tombstone: only its own attributes), a new event.
		newer := []merge.Fragment{
			{Identity: jane.Key(), Dataset: "crm", TS: at + 1, Src: "s3:d:1", Batch: "b9", Record: delRecord(t, `{"person":{"name":{"firstName":"Janet"}}}`)},
			{Identity: jane.Key(), Dataset: "loyalty", TS: at + 5, Src: "kinesis:0:9", Batch: "stream-2", Op: merge.OpMerge, Record: delRecord(t, `{"loyalty":{"tier":"silver"}}`)},
		}
		for _, f := range newer {
			if err := p.PutFragment(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.PutEvent(ctx, merge.Event{Identity: jane.Key(), ID: "ev9", Timestamp: at + 1, Dataset: "events", Record: delRecord(t, `{"_id":"ev9"}`)}); err != nil {
			t.Fatal(err)
		}
		part, err := p.Partition(ctx, jane)
		if err != nil {
			t.Fatal(err)
		}
		if !part.Found {
			t.Error("a record newer than the delete did not bring the profile back")
		}
		got := map[string]any{}
		for _, f := range part.Fragments {
			got[f.Dataset] = f.Record
		}
		want := map[string]any{
			"crm":     delRecord(t, `{"person":{"name":{"firstName":"Janet"}}}`),
			"loyalty": delRecord(t, `{"loyalty":{"tier":"silver"}}`),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("fragments after newer records (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"ev9"}, delEventIDs(t, p, jane)); diff != "" {
			t.Errorf("events after a new one (-want +got):\n%s", diff)
		}
	})
}

// TestDeleteIdentityKeepsNewerLinkAndLegacyNode: a link last seen by a
// record ordered after the delete is kept; the links of a node item of
// earlier versions (a map) are removed from both nodes and tombstoned.
func TestDeleteIdentityKeepsNewerLinkAndLegacyNode(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		p := NewProfiles(db, table)
		jane := profID(t, "Email", "jane@example.com")
		fresh := profID(t, "Phone", "+1 555 0199")
		old := profID(t, "ECID", "12345678901234567890123456789012345678")
		const at = 10_000
		if err := p.PutLinks(ctx, []identity.Link{{A: jane, B: fresh, Dataset: "ds", Source: "b", At: at + 100}}); err != nil {
			t.Fatal(err)
		}
		node := func(self, nb identity.ID) map[string]types.AttributeValue {
			return map[string]types.AttributeValue{
				topology.PartitionKey: profS(self.Key()), topology.SortKey: profS(profNodeSK),
				"links": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
					nb.Key(): &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
						"first": profN(5), "last": profN(5), "dataset": profS("ds"), "source": profS("old"),
					}},
				}},
			}
		}
		for _, it := range []map[string]types.AttributeValue{node(jane, old), node(old, jane)} {
			if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
				t.Fatal(err)
			}
		}
		p.deletePage = 1
		removed, _ := delIdentityAll(t, p, jane, at, "delete:job-2")
		if removed != 1 {
			t.Errorf("removed %d, want 1 (the node's link)", removed)
		}
		part, err := p.Partition(ctx, jane)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]identity.ID{fresh}, part.Neighbours); diff != "" {
			t.Errorf("jane's neighbours (-want +got):\n%s", diff)
		}
		op, err := p.Partition(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		if len(op.Neighbours) != 0 {
			t.Errorf("the old node still links to %v", op.Neighbours)
		}
		// A replay of the old link by this version's writer stays out.
		if err := NewProfiles(db, table).PutLinks(ctx, []identity.Link{{A: old, B: jane, Dataset: "ds", Source: "old", At: 5}}); err != nil {
			t.Fatal(err)
		}
		if op, err = p.Partition(ctx, old); err != nil || len(op.Neighbours) != 0 {
			t.Errorf("after a replay the old node links to %v (%v)", op.Neighbours, err)
		}
	})
}

// delSeed writes, for n identities, a fragment in each of datasets and
// two events in each of eventDatasets (batches "b1" and "b2"), plus one
// link per identity, and returns the number of items of each dataset.
func delSeed(t *testing.T, p *Profiles, n int, datasets, eventDatasets []string) map[string]int {
	t.Helper()
	ctx := context.Background()
	count := map[string]int{}
	for i := range n {
		id := identity.ID{Namespace: "Email", Value: fmt.Sprintf("u%03d@example.com", i)}
		for _, ds := range datasets {
			if err := p.PutFragment(ctx, merge.Fragment{Identity: id.Key(), Dataset: ds, TS: 1, Src: "s", Batch: "b1",
				Record: map[string]any{"n": float64(i)}}); err != nil {
				t.Fatal(err)
			}
			count[ds]++
		}
		for _, ds := range eventDatasets {
			for j, b := range []string{"b1", "b2"} {
				if err := p.PutEvent(ctx, merge.Event{Identity: id.Key(), ID: fmt.Sprintf("%s-%d-%d", ds, i, j), Timestamp: int64(1000 + j),
					Dataset: ds, Batch: b, Record: map[string]any{"n": float64(i)}}); err != nil {
					t.Fatal(err)
				}
				count[ds]++
			}
		}
		if err := p.PutLinks(ctx, []identity.Link{{A: id, B: identity.ID{Namespace: "CRMID", Value: fmt.Sprint(i)}, Dataset: datasets[0], Source: "b1", At: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	return count
}

// delCensus scans the whole table: items by dataset ("" for items
// without one, such as links), and by dataset and batch for events.
func delCensus(t *testing.T, db DynamoDB, table string) (byDataset map[string]int, byBatch map[string]int) {
	t.Helper()
	byDataset, byBatch = map[string]int{}, map[string]int{}
	in := &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)}
	for {
		out, err := db.Scan(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			ds := profStr(it[profAttrDataset])
			byDataset[ds]++
			if len(profStr(it[topology.SortKey])) > 2 && profStr(it[topology.SortKey])[:2] == profEventPfx {
				byBatch[ds+"/"+profStr(it[profAttrBatch])]++
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return byDataset, byBatch
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// delDatasetAll runs DeleteDatasetStep until done with deadlines already
// past, and returns the items removed and the steps.
func delDatasetAll(t *testing.T, p *Profiles, dataset, batch string) (removed, steps int) {
	t.Helper()
	cursor := ""
	for {
		next, n, err := p.DeleteDatasetStep(context.Background(), dataset, batch, cursor, p.Now().Add(-time.Second))
		if err != nil {
			t.Fatalf("DeleteDatasetStep step %d: %v", steps+1, err)
		}
		removed += n
		steps++
		if next == "" {
			return removed, steps
		}
		if steps > 10_000 {
			t.Fatal("DeleteDatasetStep never ends")
		}
		cursor = next
	}
}

func TestDeleteDatasetAcrossManySteps(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		p := NewProfiles(db, table)
		const n = 30
		seeded := delSeed(t, p, n, []string{"crm", "gone"}, []string{"events", "gone"})
		before, beforeBatch := delCensus(t, db, table)

		// A tombstone of the dataset (a streamed delete) goes too.
		tomb := identity.ID{Namespace: "Email", Value: "tomb@example.com"}
		if err := p.PutFragment(ctx, merge.Fragment{Identity: tomb.Key(), Dataset: "gone", TS: 5, Src: "k", Op: merge.OpDelete}); err != nil {
			t.Fatal(err)
		}

		p.deletePage = 7
		removed, steps := delDatasetAll(t, p, "gone", "")
		if want := seeded["gone"] + 1; removed != want {
			t.Errorf("removed %d items, want %d", removed, want)
		}
		// One page of 7 items a step: the table holds well over 7*10.
		if steps < 10 {
			t.Errorf("the delete took %d steps, want many (one page each)", steps)
		}
		after, afterBatch := delCensus(t, db, table)
		if after["gone"] != 0 {
			t.Errorf("%d items of the deleted dataset are left", after["gone"])
		}
		for _, ds := range []string{"crm", "events", ""} {
			if after[ds] != before[ds] {
				t.Errorf("dataset %q: %d items after, %d before: another dataset's items were touched", ds, after[ds], before[ds])
			}
		}
		for k, v := range beforeBatch {
			if k[:5] != "gone/" && afterBatch[k] != v {
				t.Errorf("events %s: %d after, %d before", k, afterBatch[k], v)
			}
		}
		// Links are not profile data of a dataset: every identity still
		// has its link.
		part, err := p.Partition(ctx, identity.ID{Namespace: "Email", Value: "u007@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if len(part.Neighbours) != 1 || len(part.Fragments) != 1 || part.Fragments[0].Dataset != "crm" {
			t.Errorf("identity after the delete: neighbours %v, fragments %+v; want its link and its crm fragment", part.Neighbours, part.Fragments)
		}

		// The whole chain again removes nothing more.
		if again, _ := delDatasetAll(t, p, "gone", ""); again != 0 {
			t.Errorf("a second delete removed %d items, want 0", again)
		}
	})
}

func TestDeleteDatasetBatchEventsOnly(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		p := NewProfiles(db, table)
		const n = 12
		delSeed(t, p, n, []string{"crm"}, []string{"events", "other"})
		_, beforeBatch := delCensus(t, db, table)
		before, _ := delCensus(t, db, table)

		p.deletePage = 5
		removed, steps := delDatasetAll(t, p, "events", "b1")
		if removed != n {
			t.Errorf("removed %d events, want %d (one per identity in batch b1)", removed, n)
		}
		if steps < 5 {
			t.Errorf("took %d steps, want several", steps)
		}
		after, afterBatch := delCensus(t, db, table)
		want := map[string]int{}
		for k, v := range beforeBatch {
			want[k] = v
		}
		delete(want, "events/b1")
		if diff := cmp.Diff(want, afterBatch); diff != "" {
			t.Errorf("events by dataset/batch (-want +got):\n%s", diff)
		}
		if after["crm"] != before["crm"] {
			t.Errorf("fragments of crm: %d after, %d before", after["crm"], before["crm"])
		}
	})
}

func TestDeleteStepsRefuseForeignCursors(t *testing.T) {
	p := NewProfiles(nil, "t")
	id := identity.ID{Namespace: "Email", Value: "a@example.com"}
	ds := encodeDeleteCursor(map[string]string{"pk": "x", "sk": "y"})
	for name, call := range map[string]func() error{
		"identity, garbage": func() error {
			_, _, err := p.DeleteIdentityStep(context.Background(), id, 1, "d", "%%%", time.Now())
			return err
		},
		"identity, a dataset cursor": func() error {
			_, _, err := p.DeleteIdentityStep(context.Background(), id, 1, "d", ds, time.Now())
			return err
		},
		"dataset, an identity cursor": func() error {
			_, _, err := p.DeleteDatasetStep(context.Background(), "ds", "", encodeDeleteCursor(map[string]string{"sk": "y"}), time.Now())
			return err
		},
		"dataset, none given": func() error {
			_, _, err := p.DeleteDatasetStep(context.Background(), "", "", "", time.Now())
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.Invalid {
				t.Errorf("got %v, want an Invalid error", err)
			}
		})
	}
}

// TestEventsSkipTombstonesAndExpired: Events leaves out deleted and
// expired events and still fills a page of limit live events, in both
// orders, across the Query pages the skipped items take.
func TestEventsSkipTombstonesAndExpired(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		p := NewProfiles(db, table)
		now := time.Unix(1_700_000_000, 0)
		p.Now = func() time.Time { return now }
		id := profID(t, "Email", "jane@example.com")
		var live []string
		for i := range 40 {
			e := merge.Event{Identity: id.Key(), ID: fmt.Sprintf("e%02d", i), Timestamp: int64(1000 + i), Dataset: "ds",
				Record: map[string]any{"_id": fmt.Sprintf("e%02d", i)}}
			switch i % 4 {
			case 1:
				e.ExpiresAt = now.Unix() // expires at now: gone
			case 2:
				e.ExpiresAt = now.Unix() - 3600
			case 3:
				e.ExpiresAt = now.Unix() + 1 // still live
				live = append(live, e.ID)
			default:
				live = append(live, e.ID)
			}
			if err := p.PutEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		// Tombstone four of the live ones, the way a profile delete does.
		var tombs []string
		for _, eid := range []string{"e00", "e03", "e04", "e07"} {
			var ts int64
			fmt.Sscanf(eid, "e%d", &ts)
			if _, err := p.tombstoneEvent(ctx, map[string]types.AttributeValue{
				topology.PartitionKey: profS(id.Key()), topology.SortKey: profS(EventSortKey(1000+ts, eid)),
			}, 5); err != nil {
				t.Fatal(err)
			}
			tombs = append(tombs, eid)
		}
		var want []string
		for _, e := range live {
			if !slices.Contains(tombs, e) {
				want = append(want, e)
			}
		}
		// The first five live events come first though eight items
		// before them are skipped.
		for _, limit := range []int{1, 5, 16, 100} {
			evs, err := p.Events(ctx, id, 0, 1<<42, limit, false)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range evs {
				got = append(got, e.ID)
			}
			w := want[:min(limit, len(want))]
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("limit %d ascending (-want +got):\n%s", limit, diff)
			}
		}
		evs, err := p.Events(ctx, id, 0, 1<<42, 3, true)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.ID)
		}
		rev := append([]string(nil), want...)
		sort.Sort(sort.Reverse(sort.StringSlice(rev)))
		if diff := cmp.Diff(rev[:3], got); diff != "" {
			t.Errorf("descending (-want +got):\n%s", diff)
		}
		if len(evs) > 0 && evs[0].ID == "e39" && evs[0].ExpiresAt != now.Unix()+1 {
			t.Errorf("event e39 read with expiresAt %d, want %d", evs[0].ExpiresAt, now.Unix()+1)
		}
		// The clock moves on: the events that expire one second later go.
		p.Now = func() time.Time { return now.Add(time.Second) }
		evs, err = p.Events(ctx, id, 0, 1<<42, 100, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.ExpiresAt != 0 {
				t.Errorf("event %s expiring at %d read at %d", e.ID, e.ExpiresAt, now.Unix()+1)
			}
		}
		// A replay of a tombstoned event does not bring it back.
		if err := p.PutEvent(ctx, merge.Event{Identity: id.Key(), ID: "e03", Timestamp: 1003, Dataset: "ds", Record: map[string]any{"_id": "e03"}}); err != nil {
			t.Fatal(err)
		}
		if it := delItem(t, db, table, id.Key(), EventSortKey(1003, "e03")); it["rec"] != "" || it[profDeletedAttr] != "5" {
			t.Errorf("replayed tombstone = %v, want no rec and deleted kept", it)
		}
	})
}
