package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

func profID(t *testing.T, ns, v string) identity.ID {
	t.Helper()
	id, err := identity.Normalize(ns, v)
	if err != nil {
		t.Fatalf("Normalize(%q, %q): %v", ns, v, err)
	}
	return id
}

func TestProfilesFragmentOrderAndReplay(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		id := profID(t, "Email", "jane@example.com")
		frag := func(ts int64, src, name string) merge.Fragment {
			return merge.Fragment{Identity: id.Key(), Dataset: "ds1", TS: ts, Src: src, Batch: "b",
				Record: map[string]any{"person": map[string]any{"name": name}}}
		}
		writes := []merge.Fragment{
			frag(100, "s3:a:1", "v100"), frag(300, "s3:a:3", "v300"), frag(200, "s3:a:2", "v200"),
			frag(300, "s3:a:2", "v300-lower-src"), frag(300, "s3:a:3", "v300"), // tie loses; replay
		}
		// Every order of these writes, replays included, must keep v300.
		r := rand.New(rand.NewPCG(1, 2))
		for round := 0; round < 5; round++ {
			pp := NewProfiles(db, table)
			r.Shuffle(len(writes), func(i, j int) { writes[i], writes[j] = writes[j], writes[i] })
			for _, w := range writes {
				if err := pp.PutFragment(ctx, w); err != nil {
					t.Fatalf("PutFragment: %v", err)
				}
			}
			part, err := pp.Partition(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(part.Fragments) != 1 {
				t.Fatalf("got %d fragments, want 1", len(part.Fragments))
			}
			got := part.Fragments[0]
			if got.TS != 300 || got.Src != "s3:a:3" || got.Record["person"].(map[string]any)["name"] != "v300" {
				t.Errorf("round %d: got ts %d src %q record %v, want the newest (300, s3:a:3, v300)", round, got.TS, got.Src, got.Record)
			}
		}
	})
}

func TestProfilesConcurrentLinksLoseNothing(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		hub := profID(t, "CRMID", "C-1")
		const writers = 12
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A process each: no shared link cache.
				p := NewProfiles(db, table)
				other := identity.ID{Namespace: "Email", Value: fmt.Sprintf("u%d@example.com", i)}
				errs <- p.PutLinks(ctx, []identity.Link{{A: hub, B: other, Dataset: "ds", Source: "b", At: int64(i)}})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("PutLinks: %v", err)
			}
		}
		part, err := NewProfiles(db, table).Partition(ctx, hub)
		if err != nil {
			t.Fatal(err)
		}
		if len(part.Neighbours) != writers {
			t.Fatalf("got %d neighbours on the hub, want %d", len(part.Neighbours), writers)
		}
		for _, n := range part.Neighbours {
			np, err := NewProfiles(db, table).Partition(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]identity.ID{hub}, np.Neighbours); diff != "" {
				t.Errorf("neighbour's links (-want +got):\n%s", diff)
			}
		}
	})
}

// A link keeps its earliest sighting as its first and its latest as its
// last, whichever arrives first, each with the dataset and source that
// made it.
func TestProfilesLinkKeepsFirstAndLastSighting(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		a, b := profID(t, "Email", "a@example.com"), profID(t, "Phone", "+1 555 0100")
		step := LinkRefreshInterval
		for _, at := range []int64{10 * step, 5 * step, 12 * step, 11 * step} {
			if err := NewProfiles(db, table).PutLinks(ctx, []identity.Link{{A: a, B: b, Dataset: fmt.Sprint("ds", at/step), Source: fmt.Sprint(at / step), At: at}}); err != nil {
				t.Fatal(err)
			}
		}
		want := LinkInfo{First: 5 * step, Last: 12 * step, Dataset: "ds5", Source: "5", LastDataset: "ds12", LastSource: "12"}
		for _, id := range []identity.ID{a, b} {
			part, err := NewProfiles(db, table).Partition(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			other := a
			if id == a {
				other = b
			}
			if diff := cmp.Diff(want, part.Links[other.Key()]); diff != "" {
				t.Errorf("%s's half of the link (-want +got):\n%s", id.Namespace, diff)
			}
		}
	})
}

func TestProfilesClusterWalk(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		p := NewProfiles(db, table)
		// A chain e0 - e1 - … - e5, each with a fragment.
		ids := make([]identity.ID, 6)
		for i := range ids {
			ids[i] = identity.ID{Namespace: "Email", Value: fmt.Sprintf("e%d@example.com", i)}
			if err := p.PutFragment(ctx, merge.Fragment{Identity: ids[i].Key(), Dataset: "ds", TS: 1, Src: "s",
				Record: map[string]any{"n": float64(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		for i := 1; i < len(ids); i++ {
			if err := p.PutLinks(ctx, []identity.Link{{A: ids[i-1], B: ids[i], Dataset: "ds", Source: "s", At: 1}}); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name          string
			start         identity.ID
			stitch        bool
			limit         int
			wantMembers   int
			wantTruncated bool
			wantFound     bool
		}{
			{"whole chain from the middle", ids[3], true, 50, 6, false, true},
			{"no stitching", ids[3], false, 50, 1, false, true},
			{"cap holds", ids[0], true, 4, 4, true, true},
			{"unknown identity", identity.ID{Namespace: "Email", Value: "nobody@example.com"}, true, 50, 0, false, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, err := p.Cluster(ctx, tt.start, tt.stitch, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Members) != tt.wantMembers || c.Truncated != tt.wantTruncated || c.Found != tt.wantFound {
					t.Errorf("got %d members, truncated %v, found %v; want %d, %v, %v",
						len(c.Members), c.Truncated, c.Found, tt.wantMembers, tt.wantTruncated, tt.wantFound)
				}
				if len(c.Fragments) != tt.wantMembers {
					t.Errorf("got %d fragments, want %d", len(c.Fragments), tt.wantMembers)
				}
				if tt.wantMembers > 0 && c.Members[0] != tt.start {
					t.Errorf("first member is not the asked identity")
				}
			})
		}
	})
}

func TestProfilesEventsRangeAndReplay(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		p := NewProfiles(db, table)
		id := profID(t, "Email", "jane@example.com")
		for round := 0; round < 2; round++ { // the second round is a replay
			for i, ts := range []int64{1000, 2000, 3000} {
				if err := p.PutEvent(ctx, merge.Event{Identity: id.Key(), ID: fmt.Sprintf("ev%d", i), Timestamp: ts,
					Dataset: "ds", Record: map[string]any{"_id": fmt.Sprintf("ev%d", i)}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		tests := []struct {
			name     string
			from, to int64
			desc     bool
			want     []string
		}{
			{"all", 0, 10000, false, []string{"ev0", "ev1", "ev2"}},
			{"end exclusive", 1000, 3000, false, []string{"ev0", "ev1"}},
			{"start inclusive descending", 2000, 10000, true, []string{"ev2", "ev1"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				evs, err := p.Events(ctx, id, tt.from, tt.to, 100, tt.desc)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range evs {
					got = append(got, e.ID)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		}
		// Events are not read as fragments.
		part, err := p.Partition(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(part.Fragments) != 0 {
			t.Errorf("got %d fragments from a partition holding only events, want 0", len(part.Fragments))
		}
	})
}

func TestFailedRecordsIdempotent(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		f := NewFailedRecords(db, table)
		var recs []catalog.FailedRecord
		for i := 1; i <= 30; i++ {
			recs = append(recs, catalog.FailedRecord{Batch: "b1", Dataset: "ds", File: "ingest/ds/a.json", Row: i, Code: "ROW-JSON", Message: "bad", At: 1})
		}
		recs = append(recs, catalog.FailedRecord{Batch: "b1", File: "ingest/ds/a.json", Row: 1, Code: "ROW-JSON", Message: "bad", At: 1})
		for range 2 {
			if err := f.PutFailed(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		got, err := f.Failed(ctx, "b1", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 30 {
			t.Fatalf("got %d failed records, want 30", len(got))
		}
		if got[0].Row != 1 || got[29].Row != 30 {
			t.Errorf("records not in row order: first %d last %d", got[0].Row, got[29].Row)
		}
	})
}

func TestProfilesNodeKeepsIdentityType(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		member := identity.ID{Namespace: "MemberCard", Value: "M-1"} // a custom namespace
		email := profID(t, "Email", "a@example.com")
		err := NewProfiles(db, table).PutLinks(ctx, []identity.Link{{A: email, B: member, AType: identity.TypeEmail, BType: identity.TypeCrossDevice, Dataset: "ds", Source: "s", At: 1}})
		if err != nil {
			t.Fatal(err)
		}
		// Each half of a link carries its node's namespace and type.
		other := map[identity.ID]identity.ID{email: member, member: email}
		for id, want := range map[identity.ID]string{email: identity.TypeEmail, member: identity.TypeCrossDevice} {
			out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: id.Key()}, "sk": &types.AttributeValueMemberS{Value: profLinkSK(other[id].Key())},
			}})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := out.Item["idType"].(*types.AttributeValueMemberS)
			if got == nil || got.Value != want {
				t.Errorf("node %s idType = %v, want %s", id.Namespace, out.Item["idType"], want)
			}
		}
	})
}
