package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

// graphHubSpoke is spoke i of a hub test: an e-mail address.
func graphHubSpoke(i int) identity.ID {
	return identity.ID{Namespace: "Email", Value: fmt.Sprintf("user-%05d@example.com", i)}
}

// graphHubBound is what a PutLinks may read with walk budget b, whatever
// the size of the clusters it meets: each of its walks (the pre-check,
// then at most maxRepairRounds repair rounds) reads at most b partitions,
// each at most about b link items plus a page's slack. The point: it does
// not grow with a hub's 10,000 links.
func graphHubBound(budget int) (queries, items int64) {
	walks := int64(1 + maxRepairRounds)
	return walks * int64(budget+2), walks * int64(3*budget+profLinkPageSlack)
}

// A hub identity that earlier versions let grow to 10,000 links (its
// items written here directly): every lookup through it reads a bounded
// number of items and is correct, Truncated since the cluster is over the
// cap; a new link that meets it reads a bounded number of items too, and
// the repair takes the hub (a cookie) out of the new link's cluster. This
// runs on dynalite only: 20,000 items would take about a minute on moto,
// and the byte limits moto adds are covered by
// TestStoreRefusesOversizedRowsAsInvalid.
func TestProfilesHubLookupsAreBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 items")
	}
	db, table := newTestTable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hub := identity.ID{Namespace: "ECID", Value: "12345678901234567890123456789012345678"}
	const spokes = 10000
	var reqs []types.WriteRequest
	flush := func() {
		for len(reqs) > 0 {
			out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
			if err != nil {
				t.Fatal(err)
			}
			reqs = out.UnprocessedItems[table]
		}
	}
	for i := 0; i < spokes; i++ {
		l := graphLink(graphHubSpoke(i), identity.TypeEmail, hub, identity.TypeCookie, int64(i), "ds", "s")
		for _, h := range []halfWrite{{node: l.A, nb: l.B, idType: l.AType, l: l}, {node: l.B, nb: l.A, idType: l.BType, l: l}} {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: h.sizeItem()}})
		}
		if len(reqs) == 24 {
			flush()
		}
	}
	flush()

	counting := &graphCountingDB{DynamoDB: db}
	p := NewProfiles(counting, table)
	lookup := func(start identity.ID) merge.Candidates {
		t.Helper()
		q0, i0 := counting.queries.Load(), counting.queryItems.Load()
		c, err := p.Cluster(ctx, start, true, DefaultClusterCap)
		if err != nil {
			t.Fatal(err)
		}
		q, items := counting.queries.Load()-q0, counting.queryItems.Load()-i0
		t.Logf("cluster from %s: %d queries, %d items", start.Namespace, q, items)
		if q > 2*DefaultClusterCap || items > 4*DefaultClusterCap {
			t.Errorf("a lookup from %s read %d items in %d queries, want at most %d and %d", start.Namespace, items, q, 4*DefaultClusterCap, 2*DefaultClusterCap)
		}
		return c
	}
	// From a spoke: the spoke, the hub, and the hub's first neighbours.
	c := lookup(graphHubSpoke(7))
	if !c.Found || len(c.Members) != DefaultClusterCap || !c.Truncated || c.Members[0] != graphHubSpoke(7) || c.Members[1] != hub {
		t.Errorf("cluster from a spoke: found %v, %d members (first %v), truncated %v; want %d members starting spoke, hub, truncated",
			c.Found, len(c.Members), c.Members[:min(2, len(c.Members))], c.Truncated, DefaultClusterCap)
	}
	// From the hub: the first neighbours by key, truncated.
	c = lookup(hub)
	if len(c.Members) != DefaultClusterCap || !c.Truncated || c.Members[0] != hub {
		t.Fatalf("cluster from the hub: %d members, truncated %v; want %d, truncated", len(c.Members), c.Truncated, DefaultClusterCap)
	}
	for i, m := range c.Members[1:] {
		if m != graphHubSpoke(i) {
			t.Fatalf("cluster from the hub: member %d is %v, want %v (the first neighbours by key)", i+1, m, graphHubSpoke(i))
		}
	}
	// The hub's partition: bounded, and says so.
	i0 := counting.queryItems.Load()
	part, err := p.Partition(ctx, hub)
	if err != nil {
		t.Fatal(err)
	}
	if budget := p.walkBudget(); !part.Truncated || len(part.Neighbours) < budget || counting.queryItems.Load()-i0 > int64(budget+profLinkPageSlack) {
		t.Errorf("hub partition: %d neighbours in %d items, truncated %v; want about %d, truncated", len(part.Neighbours), counting.queryItems.Load()-i0, part.Truncated, budget)
	}
	// Without stitching, a lookup reads the asked identity's partition
	// only up to one neighbour.
	i0 = counting.queryItems.Load()
	if c, err := p.Cluster(ctx, hub, false, DefaultClusterCap); err != nil || !c.Found || len(c.Members) != 1 || counting.queryItems.Load()-i0 > profLinkPageSlack+1 {
		t.Errorf("unstitched lookup of the hub: %+v, %v, %d items; want the hub alone in one page", c.Members, err, counting.queryItems.Load()-i0)
	}

	// A new link meets the hub, under a cap of 5.
	p.SetGraphRules(GraphRules{Cap: 5})
	q0, i0 := counting.queries.Load(), counting.queryItems.Load()
	newcomer := identity.ID{Namespace: "Email", Value: "new@example.com"}
	if err := p.PutLinks(ctx, []identity.Link{graphLink(newcomer, identity.TypeEmail, graphHubSpoke(7), identity.TypeEmail, spokes, "ds", "s")}); err != nil {
		t.Fatal(err)
	}
	maxQ, maxItems := graphHubBound(p.walkBudget())
	q, items := counting.queries.Load()-q0, counting.queryItems.Load()-i0
	t.Logf("a new link meeting the hub: %d queries, %d items, %d deletes", q, items, counting.deletes.Load())
	if q > maxQ || items > maxItems {
		t.Errorf("a new link meeting the hub read %d items in %d queries, want at most %d and %d", items, q, maxItems, maxQ)
	}
	if got := graphMembers(t, p, newcomer, 50); !cmp.Equal(got, graphKeys([]identity.ID{newcomer, graphHubSpoke(7)})) {
		t.Errorf("the new link's cluster is %v, want the new e-mail and spoke 7 (the hub, a cookie, evicted)", got)
	}
	if evs := graphEventsOf(t, p, hub); len(evs) != 1 || evs[0].Kind != GraphIdentityEvicted {
		t.Errorf("events on the hub: %+v, want one IDENTITY-EVICTED", evs)
	}
}

// E-mail addresses seen with one ECID (a shared cookie), written through
// PutLinks by 4 writers in records of 100 links, under a cap of 5 (a
// walk budget of 105): every call reads a bounded number of items,
// however many links the hub has seen, and afterwards every cluster is
// within the cap and the hub holds no link (a cookie, it leaves every
// cluster it takes over the cap). 1,000 links, not 10,000: under the cap
// every link written is removed again (4 writes a link, and the walks),
// and the bound is the same for any number; the 10,000-link hub is
// TestProfilesHubLookupsAreBounded's. Dynalite only, as above.
func TestProfilesHubThroughPutLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 links written and evicted")
	}
	db, table := newTestTable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hub := identity.ID{Namespace: "ECID", Value: "12345678901234567890123456789012345678"}
	const spokes, row, capacity = 1000, 100, 5
	start := time.Now()
	var worstQ, worstItems atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for lo := 0; lo < spokes; lo += row {
		g.Go(func() error {
			counting := &graphCountingDB{DynamoDB: db}
			p := NewProfiles(counting, table)
			p.SetGraphRules(GraphRules{Cap: capacity})
			var links []identity.Link
			for i := lo; i < lo+row; i++ {
				links = append(links, graphLink(graphHubSpoke(i), identity.TypeEmail, hub, identity.TypeCookie, int64(i), "ds", fmt.Sprint("b", lo)))
			}
			if err := p.PutLinks(gctx, links); err != nil {
				return err
			}
			for w, v := range map[*atomic.Int64]int64{&worstQ: counting.queries.Load(), &worstItems: counting.queryItems.Load()} {
				for old := w.Load(); v > old && !w.CompareAndSwap(old, v); old = w.Load() {
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("PutLinks: %v", err)
	}
	budget := capacity * (identity.MaxPerRecord + 1)
	maxQ, maxItems := graphHubBound(budget)
	t.Logf("wrote %d links in %v; the worst call read %d items in %d queries (bound %d, %d)", spokes, time.Since(start), worstItems.Load(), worstQ.Load(), maxItems, maxQ)
	if worstQ.Load() > maxQ || worstItems.Load() > maxItems {
		t.Errorf("a call read %d items in %d queries, want at most %d and %d", worstItems.Load(), worstQ.Load(), maxItems, maxQ)
	}
	links := graphLinks(t, db, table)
	graphCheckGuardrails(t, links, capacity)
	for k := range links {
		if strings.Contains(k, hub.Key()) {
			t.Errorf("the hub keeps the link %q", k)
		}
	}
	p := NewProfiles(db, table)
	if evs := graphEventsOf(t, p, hub); len(evs) == 0 || evs[0].Kind != GraphIdentityEvicted {
		t.Errorf("events on the hub: %d, want its evictions", len(evs))
	}
	if c, err := p.Cluster(ctx, graphHubSpoke(spokes-1), true, DefaultClusterCap); err != nil || c.Found || c.Truncated {
		t.Errorf("cluster of a spoke: %+v, %v; want not found (no link, no fragment)", c, err)
	}
}

// failingUpdates fails UpdateItem calls number fail (1-based) with a
// server error, as DynamoDB may.
type failingUpdates struct {
	DynamoDB
	n    atomic.Int64
	fail int64
}

func (f *failingUpdates) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if f.n.Add(1) == f.fail {
		return nil, &types.InternalServerError{Message: aws.String("injected")}
	}
	return f.DynamoDB.UpdateItem(ctx, in, opts...)
}

// When the second half of a link cannot be written, the row fails with a
// retryable error, the link is not cached as written, and the retry writes
// the missing half: a link ends on both nodes.
func TestProfilesLinkSecondHalfFailureIsRetried(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		a := identity.ID{Namespace: "Email", Value: "a@example.com"}
		b := identity.ID{Namespace: "ECID", Value: "12345678901234567890123456789012345678"}
		links := []identity.Link{{A: a, B: b, Dataset: "ds", Source: "s", At: 5}}
		p := NewProfiles(&failingUpdates{DynamoDB: db, fail: 2}, table)
		err := p.PutLinks(ctx, links)
		if !ingest.Transient(err) {
			t.Fatalf("second half failed: PutLinks = %v, want a retryable error", err)
		}
		if err := p.PutLinks(ctx, links); err != nil {
			t.Fatalf("retry: %v", err)
		}
		for id, want := range map[identity.ID]identity.ID{a: b, b: a} {
			part, err := NewProfiles(db, table).Partition(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(part.Neighbours) != 1 || part.Neighbours[0] != want || part.Links[want.Key()].First != 5 {
				t.Errorf("%s: neighbours %v links %v, want %s first at 5", id.Namespace, part.Neighbours, part.Links, want.Key())
			}
		}
	})
}

// Links written by earlier versions, as a map on the node item "N", are
// still read, next to links stored as items of their own.
func TestProfilesReadsLinksOfTheEarlierFormat(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		a := identity.ID{Namespace: "Email", Value: "a@example.com"}
		old := identity.ID{Namespace: "ECID", Value: "11111111111111111111111111111111111111"}
		added := identity.ID{Namespace: "Phone", Value: "+15555550100"}
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"pk": profS(a.Key()), "sk": profS("N"), "ns": profS("Email"),
			"links": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				old.Key(): &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"first": profN(3), "last": profN(3), "dataset": profS("ds0"), "source": profS("s0")}},
			}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		p := NewProfiles(db, table)
		if err := p.PutLinks(ctx, []identity.Link{{A: a, B: added, Dataset: "ds", Source: "s", At: 9}}); err != nil {
			t.Fatal(err)
		}
		part, err := p.Partition(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		want := []identity.ID{old, added}
		if len(part.Neighbours) != 2 || part.Neighbours[0] != want[0] || part.Neighbours[1] != want[1] ||
			part.Links[old.Key()].First != 3 || part.Links[added.Key()].First != 9 {
			t.Errorf("neighbours %v links %v, want %v with first sightings 3 and 9", part.Neighbours, part.Links, want)
		}
	})
}
