package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/upsert"
)

// upOpsDB counts the calls that read and write fragment items.
type upOpsDB struct {
	DynamoDB
	gets, puts atomic.Int64
}

func (c *upOpsDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.gets.Add(1)
	return c.DynamoDB.GetItem(ctx, in, o...)
}

func (c *upOpsDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.puts.Add(1)
	return c.DynamoDB.PutItem(ctx, in, o...)
}

// upRivalDB is another writer that changes the fragment item right after
// every read of it: it raises ver with a real write, so that the reader's
// conditional write always loses.
type upRivalDB struct {
	DynamoDB
	table string
	gets  atomic.Int64
}

func (r *upRivalDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.gets.Add(1)
	out, err := r.DynamoDB.GetItem(ctx, in, o...)
	if err != nil {
		return out, err
	}
	_, uerr := r.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(r.table),
		Key:                       in.Key,
		UpdateExpression:          aws.String("SET ver = ver + :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": profN(1)},
	})
	return out, uerr
}

// upMeddleDB runs meddle once, right after the first read of a fragment
// item: writes of other writers landing between a read and its write.
type upMeddleDB struct {
	DynamoDB
	once   sync.Once
	meddle func()
}

func (m *upMeddleDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := m.DynamoDB.GetItem(ctx, in, o...)
	m.once.Do(m.meddle)
	return out, err
}

type upOp struct {
	kind   string
	ts     int64
	src    string
	record string // JSON; "" for a delete
}

func upFrag(t *testing.T, id identity.ID, ds string, o upOp) merge.Fragment {
	t.Helper()
	f := merge.Fragment{Identity: id.Key(), Dataset: ds, TS: o.ts, Src: o.src, Batch: "b-" + o.src, Op: o.kind}
	if o.record != "" {
		if err := json.Unmarshal([]byte(o.record), &f.Record); err != nil {
			t.Fatalf("bad test record %s: %v", o.record, err)
		}
	}
	return f
}

// upItem reads the stored fragment item as text: attribute → S or N value.
func upItem(t *testing.T, db DynamoDB, table string, id identity.ID, ds string) map[string]string {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), Key: profFragmentKey(id.Key(), ds), ConsistentRead: aws.Bool(true),
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
			m[k] = "N:" + v.Value
		default:
			t.Fatalf("attribute %s has type %T", k, v)
		}
	}
	return m
}

// upEntity reads id's partition back and merges it under the default
// profile policy (timestampOrdered), as lookups do: the entity, or nil
// when the partition holds no fragment.
func upEntity(t *testing.T, p *Profiles, id identity.ID) map[string]any {
	t.Helper()
	part, err := p.Partition(context.Background(), id)
	if err != nil {
		t.Fatalf("Partition: %v", err)
	}
	if len(part.Fragments) == 0 {
		if part.Found {
			t.Errorf("partition with no fragment and no link is found")
		}
		return nil
	}
	if !part.Found {
		t.Errorf("partition with fragments is not found")
	}
	policy, _ := merge.Default(merge.ProfileSchema)
	return merge.Profile(part.Fragments, policy).Entity
}

func upJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func upPut(t *testing.T, p *Profiles, id identity.ID, ops ...upOp) {
	t.Helper()
	for _, o := range ops {
		if err := p.PutFragment(context.Background(), upFrag(t, id, "ds", o)); err != nil {
			t.Fatalf("PutFragment(%+v): %v", o, err)
		}
	}
}

func TestProfilesUpsertSequences(t *testing.T) {
	create := func(ts int64, rec string) upOp { return upOp{merge.OpCreate, ts, fmt.Sprintf("s:%04d", ts), rec} }
	mrg := func(ts int64, rec string) upOp { return upOp{merge.OpMerge, ts, fmt.Sprintf("s:%04d", ts), rec} }
	del := func(ts int64) upOp { return upOp{merge.OpDelete, ts, fmt.Sprintf("s:%04d", ts), ""} }
	tests := []struct {
		name string
		ops  []upOp
		want string // the merged entity as JSON; "" for no fragment
	}{
		{"create then merge patches it", []upOp{
			create(100, `{"a":1,"o":{"p":1,"q":1},"arr":[1,2],"gone":"x"}`),
			mrg(200, `{"a":2,"o":{"q":null,"r":3},"arr":[9],"gone":null}`),
		}, `{"a":2,"o":{"p":1,"r":3},"arr":[9]}`},
		{"merge onto nothing makes the fragment", []upOp{mrg(100, `{"a":1,"o":{"p":null}}`)}, `{"a":1}`},
		{"an older create arriving late fills what the merge left", []upOp{
			mrg(200, `{"a":2}`), create(100, `{"a":1,"b":1}`),
		}, `{"a":2,"b":1}`},
		{"a newer create replaces merged attributes", []upOp{
			create(100, `{"a":1}`), mrg(200, `{"b":2}`), create(300, `{"c":3}`),
		}, `{"c":3}`},
		{"delete removes", []upOp{create(100, `{"a":1}`), mrg(200, `{"b":2}`), del(300)}, ""},
		{"a tombstone keeps an older create and merge out", []upOp{
			del(300), create(100, `{"a":1}`), mrg(200, `{"b":2}`),
		}, ""},
		{"a merge newer than the delete comes back alone", []upOp{
			create(100, `{"a":1}`), mrg(400, `{"b":2}`), del(300),
		}, `{"b":2}`},
		{"merges in reverse order", []upOp{
			mrg(300, `{"a":3,"o":{"p":3}}`), mrg(200, `{"a":2,"o":{"q":2}}`), mrg(100, `{"o":null,"c":1}`),
		}, `{"a":3,"o":{"p":3,"q":2},"c":1}`},
		{"identityMap entries are added", []upOp{
			create(100, `{"identityMap":{"Email":[{"id":"a@example.com"}]}}`),
			mrg(200, `{"identityMap":{"Email":[{"id":"b@example.com"}]}}`),
		}, `{"identityMap":{"Email":[{"id":"a@example.com"},{"id":"b@example.com"}]}}`},
	}
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		p := NewProfiles(db, table)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				id := identity.ID{Namespace: "Email", Value: fmt.Sprintf("seq%d@example.com", i)}
				upPut(t, p, id, tt.ops...)
				if diff := cmp.Diff(upJSON(t, tt.want), upEntity(t, p, id)); diff != "" {
					t.Errorf("entity (-want +got):\n%s", diff)
				}
				// Every delivery again, in reverse: nothing changes.
				for j := len(tt.ops) - 1; j >= 0; j-- {
					upPut(t, p, id, tt.ops[j])
				}
				if diff := cmp.Diff(upJSON(t, tt.want), upEntity(t, p, id)); diff != "" {
					t.Errorf("after replaying every update (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestProfilesUpsertAttributesCompeteByClock: with timestampOrdered, an
// attribute of a merged fragment competes with another dataset's by the
// clock it was written at, not by the fragment's newest clock.
func TestProfilesUpsertAttributesCompeteByClock(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		p := NewProfiles(db, table)
		ctx := context.Background()
		id := profID(t, "Email", "two@example.com")
		for _, w := range []struct {
			ds string
			o  upOp
		}{
			{"crm", upOp{merge.OpCreate, 100, "s:0100", `{"a":"crm-100","b":"crm-100","o":{"x":"crm-100","y":"crm-100"}}`}},
			{"crm", upOp{merge.OpMerge, 300, "s:0300", `{"b":"crm-300","o":{"y":"crm-300"}}`}},
			{"web", upOp{merge.OpCreate, 200, "s:0200", `{"a":"web-200","b":"web-200","o":{"x":"web-200","y":"web-200"}}`}},
		} {
			if err := p.PutFragment(ctx, upFrag(t, id, w.ds, w.o)); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]any{"a": "web-200", "b": "crm-300", "o": map[string]any{"x": "web-200", "y": "crm-300"}}
		if diff := cmp.Diff(want, upEntity(t, p, id)); diff != "" {
			t.Errorf("entity (-want +got):\n%s", diff)
		}
		part, err := p.Partition(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		// The part of the item's latest update has the item's batch; an
		// older part's source ("s:0100") names none.
		wantBatch := map[int64]string{100: "", 200: "b-s:0200", 300: "b-s:0300"}
		for _, f := range part.Fragments {
			if f.Batch != wantBatch[f.TS] || f.Op != "" {
				t.Errorf("fragment of %s at %d: batch %q, op %q; want %q, no op", f.Dataset, f.TS, f.Batch, f.Op, wantBatch[f.TS])
			}
		}
	})
}

// TestProfilesUpsertPartBatches: each attribute of a fragment changed by
// partial updates is attributed to the batch or stream position of the
// update that wrote it, so that provenance names it.
func TestProfilesUpsertPartBatches(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		p := NewProfiles(db, table)
		ctx := context.Background()
		id := profID(t, "Email", "parts@example.com")
		writes := []merge.Fragment{
			{Op: merge.OpCreate, TS: 100, Src: "batch:0000000000050:BATCHA:00000:0000000001", Batch: "BATCHA", Record: map[string]any{"a": "A", "b": "A", "c": "A"}},
			{Op: merge.OpMerge, TS: 200, Src: "s3:ingest/ds/f.json#0001:0000000001", Batch: "DROPPED", Record: map[string]any{"b": "S3"}},
			{Op: merge.OpMerge, TS: 300, Src: "kinesis:shardId-000000000000:4960", Batch: "kinesis:shardId-000000000000:4960", Record: map[string]any{"c": "K"}},
			{Op: merge.OpMerge, TS: 400, Src: "batch:0000000000350:BATCHD:00001:0000000007", Batch: "BATCHD", Record: map[string]any{"d": "D"}},
		}
		for _, f := range writes {
			f.Identity, f.Dataset = id.Key(), "crm"
			if err := p.PutFragment(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		part, err := p.Partition(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		policy, _ := merge.Default(merge.ProfileSchema)
		got := map[string]string{}
		for path, pv := range merge.ProfileWithProvenance(part.Fragments, policy).Provenance {
			got[path] = pv.Batch
		}
		// A dropped file's row that is not the item's latest update: its
		// source does not name its implicit batch.
		want := map[string]string{"a": "BATCHA", "b": "", "c": "kinesis:shardId-000000000000:4960", "d": "BATCHD"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("batch of each attribute (-want +got):\n%s", diff)
		}
	})
}

func TestProfilesUpsertItems(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ops := &upOpsDB{DynamoDB: db}
		p := NewProfiles(ops, table)
		ctx := context.Background()

		t.Run("delete of nothing stores a tombstone", func(t *testing.T) {
			id := profID(t, "Email", "tomb@example.com")
			upPut(t, p, id, upOp{merge.OpDelete, 500, "s:0500", ""})
			it := upItem(t, db, table, id, "ds")
			if it == nil {
				t.Fatal("no item stored")
			}
			if _, ok := it["rec"]; ok {
				t.Errorf("tombstone has rec %q", it["rec"])
			}
			if it["m"] == "" || it["ver"] != "N:1" || it["ts"] != "N:500" || it["src"] != "s:0500" {
				t.Errorf("tombstone item %v: want m, ver 1, ts 500, src s:0500", it)
			}
			part, err := p.Partition(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if part.Found || len(part.Fragments) != 0 {
				t.Errorf("partition of a tombstone: found %v, %d fragments; want not found, none", part.Found, len(part.Fragments))
			}
		})

		t.Run("a newer create over a clocked item is plain again and the next create is one write", func(t *testing.T) {
			id := profID(t, "Email", "plain@example.com")
			upPut(t, p, id, upOp{merge.OpMerge, 100, "s:0100", `{"a":1}`})
			if it := upItem(t, db, table, id, "ds"); it["m"] == "" || it["ver"] != "N:1" {
				t.Fatalf("merged item %v: want m and ver 1", it)
			}
			gets, puts := ops.gets.Load(), ops.puts.Load()
			upPut(t, p, id, upOp{merge.OpCreate, 200, "s:0200", `{"b":2}`})
			if g, w := ops.gets.Load()-gets, ops.puts.Load()-puts; g != 1 || w != 2 {
				t.Errorf("create over a clocked item: %d reads, %d writes; want 1, 2 (the lost fast put, the rewrite)", g, w)
			}
			it := upItem(t, db, table, id, "ds")
			if _, ok := it["m"]; ok {
				t.Errorf("item after a newer create still has m: %v", it)
			}
			if _, ok := it["ver"]; ok {
				t.Errorf("item after a newer create still has ver: %v", it)
			}
			if diff := cmp.Diff(map[string]any{"b": float64(2)}, upJSON(t, it["rec"])); diff != "" {
				t.Errorf("rec (-want +got):\n%s", diff)
			}
			if it["ts"] != "N:200" || it["src"] != "s:0200" || it["batch"] != "b-s:0200" {
				t.Errorf("item %v: want ts 200, src s:0200, batch b-s:0200", it)
			}
			gets, puts = ops.gets.Load(), ops.puts.Load()
			upPut(t, p, id, upOp{merge.OpCreate, 300, "s:0300", `{"c":3}`})
			if g, w := ops.gets.Load()-gets, ops.puts.Load()-puts; g != 0 || w != 1 {
				t.Errorf("create over a plain item: %d reads, %d writes; want 0, 1", g, w)
			}
			if diff := cmp.Diff(map[string]any{"c": float64(3)}, upEntity(t, p, id)); diff != "" {
				t.Errorf("entity (-want +got):\n%s", diff)
			}
		})

		t.Run("an older create over a plain item reads and writes nothing more", func(t *testing.T) {
			id := profID(t, "Email", "older@example.com")
			upPut(t, p, id, upOp{merge.OpCreate, 200, "s:0200", `{"b":2}`})
			gets, puts := ops.gets.Load(), ops.puts.Load()
			upPut(t, p, id, upOp{merge.OpCreate, 100, "s:0100", `{"a":1}`})
			if g, w := ops.gets.Load()-gets, ops.puts.Load()-puts; g != 1 || w != 1 {
				t.Errorf("older create: %d reads, %d writes; want 1 (the check), 1 (the lost put)", g, w)
			}
			if diff := cmp.Diff(map[string]any{"b": float64(2)}, upEntity(t, p, id)); diff != "" {
				t.Errorf("entity (-want +got):\n%s", diff)
			}
		})

		t.Run("a replayed or outdated merge writes nothing", func(t *testing.T) {
			id := profID(t, "Email", "replay@example.com")
			upPut(t, p, id, upOp{merge.OpCreate, 100, "s:0100", `{"a":1}`},
				upOp{merge.OpMerge, 300, "s:0300", `{"b":2,"o":{"p":1}}`})
			before := upItem(t, db, table, id, "ds")
			if before["ver"] != "N:1" {
				t.Fatalf("ver after one merge: %q, want 1", before["ver"])
			}
			puts := ops.puts.Load()
			upPut(t, p, id,
				upOp{merge.OpMerge, 300, "s:0300", `{"b":2,"o":{"p":1}}`}, // replay
				upOp{merge.OpMerge, 200, "s:0200", `{"b":9,"o":{"p":9}}`}, // older than all it changes
				upOp{merge.OpDelete, 50, "s:0050", ""})                    // older than the create
			if w := ops.puts.Load() - puts; w != 0 {
				t.Errorf("%d writes for replayed and outdated updates, want 0", w)
			}
			// The create again: its fast put loses to the clocked item, and
			// the state it is applied to does not change.
			puts = ops.puts.Load()
			upPut(t, p, id, upOp{merge.OpCreate, 100, "s:0100", `{"a":1}`})
			if w := ops.puts.Load() - puts; w != 1 {
				t.Errorf("%d writes for a replayed create, want 1 (its conditional put, lost)", w)
			}
			if diff := cmp.Diff(before, upItem(t, db, table, id, "ds")); diff != "" {
				t.Errorf("item changed (-before +after):\n%s", diff)
			}
		})

		t.Run("FRAGMENT-TOO-LARGE writes nothing", func(t *testing.T) {
			big := `{"big":"` + strings.Repeat("x", upsert.MaxRecordBytes) + `"}`
			for _, prior := range [][]upOp{
				{{merge.OpCreate, 100, "s:0100", `{"a":1}`}},
				{{merge.OpCreate, 100, "s:0100", `{"a":1}`}, {merge.OpMerge, 150, "s:0150", `{"b":1}`}},
			} {
				id := profID(t, "Email", fmt.Sprintf("big%d@example.com", len(prior)))
				upPut(t, p, id, prior...)
				before := upItem(t, db, table, id, "ds")
				err := p.PutFragment(ctx, upFrag(t, id, "ds", upOp{merge.OpMerge, 200, "s:0200", big}))
				if e := fault.As(err); e.Kind != fault.Invalid || e.Code != upsert.CodeTooLarge {
					t.Errorf("too large merge: %v (kind %v, code %s), want invalid %s", err, e.Kind, e.Code, upsert.CodeTooLarge)
				}
				if diff := cmp.Diff(before, upItem(t, db, table, id, "ds")); diff != "" {
					t.Errorf("item changed (-before +after):\n%s", diff)
				}
			}
		})

		t.Run("a null in identityMap is refused and writes nothing", func(t *testing.T) {
			id := profID(t, "Email", "idm@example.com")
			upPut(t, p, id, upOp{merge.OpCreate, 100, "s:0100", `{"identityMap":{"Email":[{"id":"idm@example.com"}]}}`})
			before := upItem(t, db, table, id, "ds")
			err := p.PutFragment(ctx, upFrag(t, id, "ds", upOp{merge.OpMerge, 200, "s:0200", `{"identityMap":{"Email":null}}`}))
			if e := fault.As(err); e.Kind != fault.Invalid || e.Code != upsert.CodeIdentityRemove {
				t.Errorf("got %v, want invalid %s", err, upsert.CodeIdentityRemove)
			}
			if diff := cmp.Diff(before, upItem(t, db, table, id, "ds")); diff != "" {
				t.Errorf("item changed (-before +after):\n%s", diff)
			}
		})

		t.Run("an unknown operation is refused", func(t *testing.T) {
			id := profID(t, "Email", "op@example.com")
			err := p.PutFragment(ctx, upFrag(t, id, "ds", upOp{"upsert", 100, "s:0100", `{"a":1}`}))
			if e := fault.As(err); e.Kind != fault.Invalid {
				t.Errorf("got %v, want invalid", err)
			}
			if it := upItem(t, db, table, id, "ds"); it != nil {
				t.Errorf("stored %v", it)
			}
		})
	})
}

func TestProfilesUpsertContention(t *testing.T) {
	db, table := newTestTable(t) // dynalite: the rule is the store's, not the emulator's
	id := profID(t, "Email", "busy@example.com")
	upPut(t, NewProfiles(db, table), id, upOp{merge.OpMerge, 100, "s:0100", `{"a":1}`})
	rival := &upRivalDB{DynamoDB: db, table: table}
	err := NewProfiles(rival, table).PutFragment(context.Background(), upFrag(t, id, "ds", upOp{merge.OpMerge, 200, "s:0200", `{"b":2}`}))
	if e := fault.As(err); e.Kind != fault.Throttled || e.Code != CodeContention {
		t.Fatalf("got %v, want throttled %s", err, CodeContention)
	}
	if !fault.KindOf(err).Transient() {
		t.Errorf("contention is not transient")
	}
	if g := rival.gets.Load(); g != profRMWRetries+1 {
		t.Errorf("%d attempts, want %d", g, profRMWRetries+1)
	}
	if diff := cmp.Diff(map[string]any{"a": float64(1)}, upEntity(t, NewProfiles(db, table), id)); diff != "" {
		t.Errorf("entity (-want +got):\n%s", diff)
	}
}

// TestProfilesUpsertVersionAfterPlain: between a writer's read of a
// clocked item and its write, a newer create makes the item plain (no
// ver) and a merge makes it clocked again, with ver starting over. The
// writer's condition must still see that the item changed.
func TestProfilesUpsertVersionAfterPlain(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		id := profID(t, "Email", "aba@example.com")
		other := NewProfiles(db, table)
		upPut(t, other, id, upOp{merge.OpMerge, 100, "s:0100", `{"a":1}`})
		meddling := &upMeddleDB{DynamoDB: db, meddle: func() {
			upPut(t, other, id, upOp{merge.OpCreate, 200, "s:0200", `{"b":2}`})
			if _, ok := upItem(t, db, table, id, "ds")["ver"]; ok {
				t.Errorf("a newer create left the item clocked")
			}
			upPut(t, other, id, upOp{merge.OpMerge, 300, "s:0300", `{"c":3}`})
		}}
		upPut(t, NewProfiles(meddling, table), id, upOp{merge.OpMerge, 150, "s:0150", `{"x":1}`})
		want := map[string]any{"b": float64(2), "c": float64(3)}
		if diff := cmp.Diff(want, upEntity(t, other, id)); diff != "" {
			t.Errorf("entity (-want +got):\n%s", diff)
		}
	})
}

// TestProfilesUpsertConcurrentWritersLoseNothing: writers, each a process
// of its own, merge a distinct attribute into one fragment at once.
func TestProfilesUpsertConcurrentWritersLoseNothing(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		id := profID(t, "Email", "many@example.com")
		upPut(t, NewProfiles(db, table), id, upOp{merge.OpCreate, 1, "s:0001", `{"base":true}`})
		const writers = 16
		start := make(chan struct{})
		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := NewProfiles(db, table)
				f := upFrag(t, id, "ds", upOp{merge.OpMerge, int64(100 + i), fmt.Sprintf("s:%04d", 100+i),
					fmt.Sprintf(`{"attrs":{"a%02d":%d}}`, i, i)})
				<-start
				errs <- p.PutFragment(context.Background(), f)
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("PutFragment: %v", err)
			}
		}
		want := map[string]any{"base": true, "attrs": map[string]any{}}
		for i := range writers {
			want["attrs"].(map[string]any)[fmt.Sprintf("a%02d", i)] = float64(i)
		}
		if diff := cmp.Diff(want, upEntity(t, NewProfiles(db, table), id)); diff != "" {
			t.Errorf("entity (-want +got):\n%s", diff)
		}
		// One write per merge: the create was plain, each merge raised ver.
		if v := upItem(t, db, table, id, "ds")["ver"]; v != fmt.Sprintf("N:%d", writers) {
			t.Errorf("ver %s, want %d", v, writers)
		}
	})
}

// TestProfilesUpsertRandomOrder delivers a mix of creates, merges and
// deletes, each twice, in random order from concurrent writers, and
// compares the result with applying each once in clock order (RFC 7386,
// computed here) and with the store fed in clock order.
func TestProfilesUpsertRandomOrder(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		for seed := uint64(1); seed <= 3; seed++ {
			r := rand.New(rand.NewPCG(seed, 7))
			ops := upRandomOps(r, 24)
			want := upSequential(t, ops)

			ordered := NewProfiles(db, table)
			seqID := identity.ID{Namespace: "Email", Value: fmt.Sprintf("seq%d@example.com", seed)}
			upPut(t, ordered, seqID, ops...)

			id := identity.ID{Namespace: "Email", Value: fmt.Sprintf("rnd%d@example.com", seed)}
			deliveries := append(append([]upOp{}, ops...), ops...)
			r.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
			work := make(chan upOp)
			errs := make(chan error, len(deliveries))
			var wg sync.WaitGroup
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := NewProfiles(db, table)
					for o := range work {
						errs <- p.PutFragment(context.Background(), upFrag(t, id, "ds", o))
					}
				}()
			}
			for _, o := range deliveries {
				work <- o
			}
			close(work)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("seed %d: PutFragment: %v", seed, err)
				}
			}
			if diff := cmp.Diff(want, upNorm(upEntity(t, ordered, seqID))); diff != "" {
				t.Errorf("seed %d: in clock order (-spec +got):\n%s", seed, diff)
			}
			if diff := cmp.Diff(want, upNorm(upEntity(t, ordered, id))); diff != "" {
				t.Errorf("seed %d: random order, concurrent (-spec +got):\n%s\nupdates: %+v", seed, diff, ops)
			}
		}
	})
}

// upRandomOps returns n updates in clock order: mostly merges of a few
// attributes (scalars, arrays, objects, nulls), some creates and deletes.
func upRandomOps(r *rand.Rand, n int) []upOp {
	keys := []string{"a", "b", "c"}
	value := func(depth int) any {
		switch r.IntN(5) {
		case 0:
			return nil
		case 1:
			return []any{float64(r.IntN(9)), "v"}
		case 2:
			if depth == 0 {
				m := map[string]any{}
				for _, k := range keys[:1+r.IntN(2)] {
					m[k] = []any{nil, float64(r.IntN(9)), "s" + fmt.Sprint(r.IntN(9))}[r.IntN(3)]
				}
				return m
			}
			return "s" + fmt.Sprint(r.IntN(9))
		default:
			return float64(r.IntN(100))
		}
	}
	ops := make([]upOp, n)
	for i := range ops {
		ts := int64(1000 + 10*i + r.IntN(5))
		o := upOp{ts: ts, src: fmt.Sprintf("kinesis:s:%06d", i)}
		switch x := r.IntN(10); {
		case x == 0:
			o.kind = merge.OpDelete
		case x <= 2:
			o.kind = merge.OpCreate
		default:
			o.kind = merge.OpMerge
		}
		if o.kind != merge.OpDelete {
			rec := map[string]any{}
			for _, k := range []string{"a", "b", "o", "p"} {
				if r.IntN(2) == 0 {
					continue
				}
				v := value(0)
				if o.kind == merge.OpCreate && v == nil {
					continue
				}
				rec[k] = v
			}
			b, _ := json.Marshal(rec)
			o.record = string(b)
		}
		ops[i] = o
	}
	return ops
}

// upSequential applies ops once each in clock order to nothing: create
// replaces, merge is RFC 7386's MergePatch, delete removes. It returns the
// result as read-time merging shows it (empty objects left out), nil when
// the fragment does not exist.
func upSequential(t *testing.T, ops []upOp) map[string]any {
	t.Helper()
	sorted := append([]upOp{}, ops...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		return a.ts < b.ts || a.ts == b.ts && a.src < b.src
	})
	var cur map[string]any
	for _, o := range sorted {
		switch o.kind {
		case merge.OpDelete:
			cur = nil
		case merge.OpCreate:
			cur = upJSON(t, o.record)
		case merge.OpMerge:
			cur = upMergePatch(cur, upJSON(t, o.record))
		}
	}
	return upNorm(upPrune(cur))
}

// upNorm is m, or nil when m is empty: a fragment holding nothing reads
// as no fragment.
func upNorm(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func upMergePatch(target any, patch map[string]any) map[string]any {
	out, ok := target.(map[string]any)
	if !ok || out == nil {
		out = map[string]any{}
	}
	for k, v := range patch {
		switch v := v.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			out[k] = upMergePatch(out[k], v)
		default:
			out[k] = v
		}
	}
	return out
}

// upPrune drops nulls and objects whose every attribute was removed, at
// any depth, as read-time merging does (merge.Empty).
func upPrune(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if v == nil {
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			sub = upPrune(sub)
			if len(sub) == 0 {
				continue
			}
			v = sub
		}
		out[k] = v
	}
	return out
}
