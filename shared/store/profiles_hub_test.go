package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
)

// A hub identity seen with 10,000 others keeps every link on both nodes,
// and every lookup through it stays correct. This runs on dynalite only:
// 20,000 conditional writes would take about a minute on moto, and the
// byte limits moto adds are covered by TestStoreRefusesOversizedRowsAsInvalid.
func TestProfilesHubKeepsTenThousandLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 writes")
	}
	db, table := newTestTable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hub := identity.ID{Namespace: "ECID", Value: "12345678901234567890123456789012345678"}
	const spokes = 10000
	spoke := func(i int) identity.ID {
		return identity.ID{Namespace: "Email", Value: fmt.Sprintf("user-%05d@example.com", i)}
	}
	start := time.Now()
	// Several writers, each with its own process cache, as several
	// function instances would be; rows of 100 links each.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for lo := 0; lo < spokes; lo += 100 {
		g.Go(func() error {
			p := NewProfiles(db, table)
			var links []identity.Link
			for i := lo; i < lo+100; i++ {
				links = append(links, identity.Link{A: spoke(i), B: hub, AType: identity.TypeEmail, BType: identity.TypeCookie, Dataset: "ds", Source: "s", At: int64(i)})
			}
			return p.PutLinks(gctx, links)
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("PutLinks: %v", err)
	}
	t.Logf("wrote %d links in %v", spokes, time.Since(start))

	p := NewProfiles(db, table)
	part, err := p.Partition(ctx, hub)
	if err != nil {
		t.Fatal(err)
	}
	if len(part.Neighbours) != spokes || len(part.Links) != spokes {
		t.Fatalf("hub has %d neighbours and %d links, want %d", len(part.Neighbours), len(part.Links), spokes)
	}
	for i := 0; i < spokes; i++ {
		li, ok := part.Links[spoke(i).Key()]
		if !ok || li.First != int64(i) || li.Dataset != "ds" {
			t.Fatalf("hub's link to spoke %d = %+v, %v; want first %d", i, li, ok, i)
		}
	}
	// The other half of every link is on its spoke: one scan of the table
	// instead of 10,000 queries.
	halves := map[string][]string{}
	in := &dynamodb.ScanInput{TableName: aws.String(table)}
	for {
		out, err := db.Scan(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			if pk := profStr(it["pk"]); pk != hub.Key() {
				halves[pk] = append(halves[pk], profStr(it["nb"]))
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	for i := 0; i < spokes; i++ {
		if got := halves[spoke(i).Key()]; len(got) != 1 || got[0] != hub.Key() {
			t.Fatalf("spoke %d holds links %v, want only the hub", i, got)
		}
	}
	if len(halves) != spokes {
		t.Fatalf("%d partitions besides the hub's, want %d", len(halves), spokes)
	}
	if sp, err := p.Partition(ctx, spoke(spokes-1)); err != nil || len(sp.Neighbours) != 1 || sp.Neighbours[0] != hub {
		t.Fatalf("spoke's neighbours = %v, %v; want the hub", sp.Neighbours, err)
	}
	// A cluster walk from a spoke reaches the hub and stops at the cap.
	c, err := p.Cluster(ctx, spoke(7), true, DefaultClusterCap)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Found || len(c.Members) != DefaultClusterCap || !c.Truncated || c.Members[0] != spoke(7) || c.Members[1] != hub {
		t.Errorf("cluster from a spoke: found %v, %d members (first %v), truncated %v; want %d members starting spoke, hub, truncated",
			c.Found, len(c.Members), c.Members[:min(2, len(c.Members))], c.Truncated, DefaultClusterCap)
	}
	// A walk from the hub itself reads no more of its links than the cap
	// needs, and still knows it was truncated.
	c, err = p.Cluster(ctx, hub, true, DefaultClusterCap)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Members) != DefaultClusterCap || !c.Truncated || c.Members[0] != hub {
		t.Fatalf("cluster from the hub: %d members, truncated %v; want %d, truncated", len(c.Members), c.Truncated, DefaultClusterCap)
	}
	for i, m := range c.Members[1:] {
		if m != spoke(i) {
			t.Fatalf("cluster from the hub: member %d is %v, want %v (the first neighbours by key)", i+1, m, spoke(i))
		}
	}
}

// failingPuts fails PutItem calls number fail (1-based) with a server
// error, as DynamoDB may.
type failingPuts struct {
	DynamoDB
	n    atomic.Int64
	fail int64
}

func (f *failingPuts) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if f.n.Add(1) == f.fail {
		return nil, &types.InternalServerError{Message: aws.String("injected")}
	}
	return f.DynamoDB.PutItem(ctx, in, opts...)
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
		p := NewProfiles(&failingPuts{DynamoDB: db, fail: 2}, table)
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
