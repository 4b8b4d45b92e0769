package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mosaic-cdp/mosaic/shared/identity"
)

func graphECID(n int) identity.ID {
	return identity.ID{Namespace: "ECID", Value: fmt.Sprintf("%038d", n)}
}

func graphCRM(v string) identity.ID { return identity.ID{Namespace: "CRMID", Value: v} }

// graphMembers is the cluster of id as a lookup reads it (keys, sorted).
func graphMembers(t *testing.T, p *Profiles, id identity.ID, limit int) []string {
	t.Helper()
	c, err := p.Cluster(context.Background(), id, true, limit)
	if err != nil {
		t.Fatal(err)
	}
	if c.Truncated {
		t.Fatalf("cluster of %s truncated at %d", id, limit)
	}
	return graphKeys(c.Members)
}

// The shared device: a laptop's ECID seen first with one customer
// (CRMID C1), then with another (C2). CRMID is unique, so the second
// link is refused and recorded on both of its ends; the two customers
// stay two people. A replay, in a new process or the same one, changes
// nothing and records nothing twice; and if the older record arrives
// last, the graph is the same: the older link wins and the newer is
// removed, recorded as such.
func TestGraphSharedDeviceStaysTwoPeople(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		c1, c2, e := graphCRM("C1"), graphCRM("C2"), graphECID(7)
		rec1 := []identity.Link{graphLink(c1, identity.TypeCrossDevice, e, identity.TypeCookie, 1000, "crm", "b1")}
		rec2 := []identity.Link{graphLink(c2, identity.TypeCrossDevice, e, identity.TypeCookie, 2000, "crm", "b2")}
		ctx := context.Background()
		check := func(t *testing.T, p *Profiles, kind string) {
			t.Helper()
			if diff := cmp.Diff(graphKeys([]identity.ID{c1, e}), graphMembers(t, p, c1, 50)); diff != "" {
				t.Errorf("C1's cluster (-want +got):\n%s", diff)
			}
			if got := graphMembers(t, p, c2, 50); len(got) != 0 && !cmp.Equal(got, []string{c2.Key()}) {
				t.Errorf("C2's cluster = %v, want C2 alone", got)
			}
			src, at := "b2", int64(2000)
			for _, end := range [][2]identity.ID{{e, c2}, {c2, e}} {
				want := []GraphEvent{{Kind: kind, At: at, Identity: end[0], Other: end[1], Namespace: "CRMID", Dataset: "crm", Source: src}}
				if diff := cmp.Diff(want, graphEventsOf(t, p, end[0]), cmpopts.IgnoreFields(GraphEvent{}, "Reason")); diff != "" {
					t.Errorf("events on %s (-want +got):\n%s", end[0].Namespace, diff)
				}
			}
			if evs := graphEventsOf(t, p, c1); len(evs) != 0 {
				t.Errorf("events on C1 = %+v, want none", evs)
			}
		}
		t.Run("in order", func(t *testing.T) {
			db, table := newTestTable(t)
			p := NewProfiles(db, table)
			for _, r := range [][]identity.Link{rec1, rec2} {
				if err := p.PutLinks(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			check(t, p, GraphLinkRefused)
			evs := graphEventsOf(t, p, e)
			if len(evs) == 1 && (!strings.Contains(evs[0].Reason, "CRMID#C1") || !strings.Contains(evs[0].Reason, "CRMID#C2")) {
				t.Errorf("reason %q, want it to name both clusters' CRMID values", evs[0].Reason)
			}
			before := graphScan(t, db, table)
			for _, q := range []*Profiles{p, NewProfiles(db, table)} {
				for _, r := range [][]identity.Link{rec2, rec1, rec2} {
					if err := q.PutLinks(ctx, r); err != nil {
						t.Fatal(err)
					}
				}
			}
			if diff := cmp.Diff(before, graphScan(t, db, table), cmpopts.SortSlices(func(x, y map[string]types.AttributeValue) bool {
				return profStr(x["pk"])+profStr(x["sk"]) < profStr(y["pk"])+profStr(y["sk"])
			}), cmpopts.IgnoreUnexported(types.AttributeValueMemberS{}, types.AttributeValueMemberN{})); diff != "" {
				t.Errorf("the replay changed the table (-before +after):\n%s", diff)
			}
			check(t, p, GraphLinkRefused)
		})
		t.Run("older record last", func(t *testing.T) {
			db, table := newTestTable(t)
			p := NewProfiles(db, table)
			for _, r := range [][]identity.Link{rec2, rec1} {
				if err := p.PutLinks(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			check(t, p, GraphLinkRemoved)
		})
	})
}

// Two values of a unique namespace in one record: whichever identity is
// primary, the link that would join the second CRMID is refused, and the
// record's other links are written.
func TestGraphTwoUniqueValuesInOneRecord(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		c1, c2 := graphCRM("C1"), graphCRM("C2")
		email := identity.ID{Namespace: "Email", Value: "jane@example.com"}
		tests := []struct {
			name        string
			links       []identity.Link
			wantCluster []identity.ID
			refused     [2]identity.ID
		}{
			{"e-mail primary", []identity.Link{
				graphLink(email, identity.TypeEmail, c1, identity.TypeCrossDevice, 5, "crm", "b1"),
				graphLink(email, identity.TypeEmail, c2, identity.TypeCrossDevice, 5, "crm", "b1"),
			}, []identity.ID{email, c1}, [2]identity.ID{email, c2}},
			{"CRMID primary", []identity.Link{
				graphLink(c1, identity.TypeCrossDevice, email, identity.TypeEmail, 5, "crm", "b1"),
				graphLink(c1, identity.TypeCrossDevice, c2, identity.TypeCrossDevice, 5, "crm", "b1"),
			}, []identity.ID{email, c1}, [2]identity.ID{c1, c2}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, table := newTestTable(t)
				p := NewProfiles(db, table)
				if err := p.PutLinks(context.Background(), tt.links); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(graphKeys(tt.wantCluster), graphMembers(t, p, c1, 50)); diff != "" {
					t.Errorf("cluster (-want +got):\n%s", diff)
				}
				if got := graphMembers(t, p, c2, 50); len(got) != 0 {
					t.Errorf("C2's cluster %v, want none", got)
				}
				for i, end := range tt.refused {
					other := tt.refused[1-i]
					evs := graphEventsOf(t, p, end)
					if len(evs) != 1 || evs[0].Kind != GraphLinkRefused || evs[0].Other != other || evs[0].Namespace != "CRMID" {
						t.Errorf("events on %s = %+v, want one LINK-REFUSED naming %s", end, evs, other)
					}
				}
			})
		}
	})
}

// A namespace made unique by the rules (a custom one here) is enforced as
// CRMID is; a standard one made not unique is not.
func TestGraphUniqueFromRules(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		p := NewProfiles(db, table)
		p.SetGraphRules(GraphRules{Unique: func(_ context.Context, ns string) (bool, error) { return ns == "MemberCard", nil }})
		m1, m2 := identity.ID{Namespace: "MemberCard", Value: "M1"}, identity.ID{Namespace: "MemberCard", Value: "M2"}
		e := graphECID(3)
		links := []identity.Link{
			graphLink(m1, identity.TypeCrossDevice, e, identity.TypeCookie, 1, "ds", "b1"),
			graphLink(m2, identity.TypeCrossDevice, e, identity.TypeCookie, 2, "ds", "b2"),
			graphLink(graphCRM("C1"), identity.TypeCrossDevice, e, identity.TypeCookie, 3, "ds", "b3"),
			graphLink(graphCRM("C2"), identity.TypeCrossDevice, e, identity.TypeCookie, 4, "ds", "b4"),
		}
		for _, l := range links {
			if err := p.PutLinks(ctx, []identity.Link{l}); err != nil {
				t.Fatal(err)
			}
		}
		want := graphKeys([]identity.ID{m1, e, graphCRM("C1"), graphCRM("C2")})
		if diff := cmp.Diff(want, graphMembers(t, p, e, 50)); diff != "" {
			t.Errorf("cluster (-want +got):\n%s", diff)
		}
	})
}

// A pair refused for a unique namespace is decided again, by the same
// process, once the namespace is made not unique: the refusal the process
// remembers holds only while its namespace is unique.
func TestGraphRefusalFollowsTheNamespaceSetting(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		p := NewProfiles(db, table)
		var unique atomic.Bool
		unique.Store(true)
		p.SetGraphRules(GraphRules{Unique: func(_ context.Context, ns string) (bool, error) { return ns == "CRMID" && unique.Load(), nil }})
		e := graphECID(7)
		c1, c2 := graphCRM("C1"), graphCRM("C2")
		put := func(l identity.Link) {
			t.Helper()
			if err := p.PutLinks(ctx, []identity.Link{l}); err != nil {
				t.Fatal(err)
			}
		}
		put(graphLink(c1, identity.TypeCrossDevice, e, identity.TypeCookie, 1, "ds", "b1"))
		put(graphLink(c2, identity.TypeCrossDevice, e, identity.TypeCookie, 2, "ds", "b2"))
		if diff := cmp.Diff(graphKeys([]identity.ID{c1, e}), graphMembers(t, p, e, 50)); diff != "" {
			t.Fatalf("cluster while CRMID is unique (-want +got):\n%s", diff)
		}
		// The same record again changes nothing while the setting holds.
		put(graphLink(c2, identity.TypeCrossDevice, e, identity.TypeCookie, 3, "ds", "b3"))
		if diff := cmp.Diff(graphKeys([]identity.ID{c1, e}), graphMembers(t, p, e, 50)); diff != "" {
			t.Fatalf("cluster after the refused pair again (-want +got):\n%s", diff)
		}
		unique.Store(false)
		put(graphLink(c2, identity.TypeCrossDevice, e, identity.TypeCookie, 4, "ds", "b4"))
		if diff := cmp.Diff(graphKeys([]identity.ID{c1, c2, e}), graphMembers(t, p, e, 50)); diff != "" {
			t.Errorf("cluster once CRMID is not unique (-want +got):\n%s", diff)
		}
	})
}

// 60 identities of three types join one customer, one record at a time,
// under the cap of 50: after every write the cluster holds at most 50,
// the identities that left are the lowest-priority oldest (cookies
// first, then devices, oldest first), and each eviction is recorded on
// the identity and on the customer. On moto, which is about six times
// slower, 20 identities under a cap of 10.
func TestGraphCapEvictsLowestPriorityOldest(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		n, capacity := 60, DefaultClusterCap
		if strings.HasSuffix(t.Name(), "/moto") {
			n, capacity = 20, 10
		}
		p := NewProfiles(db, table)
		p.SetGraphRules(GraphRules{Cap: capacity})
		c := graphCRM("C1")
		type member struct {
			id   identity.ID
			prio int
			at   int64
		}
		present := map[string]member{c.Key(): {c, identity.PriorityOther, 0}}
		var wantEvicted []string
		for i := range n {
			var id identity.ID
			var typ string
			switch i % 3 {
			case 0:
				id, typ = graphECID(i), identity.TypeCookie
			case 1:
				id, typ = identity.ID{Namespace: "GAID", Value: fmt.Sprintf("gaid-%02d", i)}, identity.TypeDevice
			default:
				id, typ = identity.ID{Namespace: "Email", Value: fmt.Sprintf("u%02d@example.com", i)}, identity.TypeEmail
			}
			at := int64(1000 + i)
			if err := p.PutLinks(ctx, []identity.Link{graphLink(c, identity.TypeCrossDevice, id, typ, at, "web", fmt.Sprint("b", i))}); err != nil {
				t.Fatal(err)
			}
			present[id.Key()] = member{id, identity.EvictionPriority(typ), at}
			if len(present) > capacity {
				var out member
				first := true
				for _, m := range present {
					if m.id == c {
						continue
					}
					if first || m.prio < out.prio || m.prio == out.prio && m.at < out.at {
						out, first = m, false
					}
				}
				delete(present, out.id.Key())
				wantEvicted = append(wantEvicted, out.id.Key())
			}
			comps := graphComponents(graphLinks(t, db, table))
			if len(comps) != 1 {
				t.Fatalf("after record %d: %d clusters, want 1", i, len(comps))
			}
			if diff := cmp.Diff(sortedKeys(present), comps[0]); diff != "" {
				t.Fatalf("after record %d, cluster (-want +got):\n%s", i, diff)
			}
		}
		if want := n + 1 - capacity; len(wantEvicted) != want {
			t.Fatalf("the model evicted %d, want %d", len(wantEvicted), want)
		}
		if got := graphMembers(t, p, c, capacity); len(got) != capacity {
			t.Errorf("a lookup finds %d identities, want %d", len(got), capacity)
		}
		onCustomer := map[string]bool{}
		for _, e := range graphEventsOf(t, p, c) {
			if e.Kind == GraphIdentityEvicted {
				onCustomer[e.Other.Key()] = true
			}
		}
		for _, k := range wantEvicted {
			id, _ := identity.ParseKey(k)
			// An identity may also hold the eviction of an older one,
			// when its link was the one that took the cluster over.
			var own []GraphEvent
			for _, e := range graphEventsOf(t, p, id) {
				if e.Other == (identity.ID{}) {
					own = append(own, e)
				}
			}
			if len(own) != 1 || own[0].Kind != GraphIdentityEvicted || !strings.Contains(own[0].Reason, fmt.Sprint("cap of ", capacity)) {
				t.Errorf("events of its own on evicted %s = %+v, want one IDENTITY-EVICTED", k, own)
			}
			if !onCustomer[k] {
				t.Errorf("no IDENTITY-EVICTED of %s on the customer", k)
			}
		}
		if len(onCustomer) != len(wantEvicted) {
			t.Errorf("%d evictions recorded on the customer, want %d", len(onCustomer), len(wantEvicted))
		}
	})
}

// The cap counts identities: with a cap of 3, a fourth identity joining
// the first three leaves the cluster at 3, and a cluster the cap splits
// keeps no link of the identity that left.
func TestGraphEvictionRemovesEveryLinkOfTheIdentity(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		p := NewProfiles(db, table)
		p.SetGraphRules(GraphRules{Cap: 3})
		email := identity.ID{Namespace: "Email", Value: "a@example.com"}
		phone := identity.ID{Namespace: "Phone", Value: "15550100"}
		cookie := graphECID(1)
		// A triangle through the cookie, then a fourth identity.
		for i, l := range []identity.Link{
			graphLink(email, identity.TypeEmail, cookie, identity.TypeCookie, 10, "ds", "b1"),
			graphLink(phone, identity.TypePhone, cookie, identity.TypeCookie, 11, "ds", "b2"),
			graphLink(email, identity.TypeEmail, phone, identity.TypePhone, 12, "ds", "b3"),
			graphLink(email, identity.TypeEmail, graphCRM("C1"), identity.TypeCrossDevice, 13, "ds", "b4"),
		} {
			if err := p.PutLinks(ctx, []identity.Link{l}); err != nil {
				t.Fatalf("link %d: %v", i, err)
			}
		}
		links := graphLinks(t, db, table)
		graphCheckGuardrails(t, links, 3)
		for k := range links {
			if strings.Contains(k, cookie.Key()) {
				t.Errorf("the evicted cookie keeps the link %q", k)
			}
		}
		if len(links) != 2 {
			t.Errorf("%d links left, want 2 (the triangle's e-mail–phone and the CRMID's)", len(links))
		}
	})
}

// A link's last sighting moves on at most once per LinkRefreshInterval of
// ordering time: known sightings within it write nothing, a later one
// writes both halves once; an older record moves the first sighting back.
func TestGraphFirstAndLastSeenRefresh(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		counting := &graphCountingDB{DynamoDB: db}
		p := NewProfiles(counting, table)
		a, b := identity.ID{Namespace: "Email", Value: "a@example.com"}, graphECID(9)
		step := LinkRefreshInterval
		put := func(p *Profiles, at int64, src string) {
			t.Helper()
			if err := p.PutLinks(ctx, []identity.Link{graphLink(a, identity.TypeEmail, b, identity.TypeCookie, at, "ds-"+src, src)}); err != nil {
				t.Fatal(err)
			}
		}
		info := func() LinkInfo {
			t.Helper()
			part, err := NewProfiles(db, table).Partition(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			return part.Links[b.Key()]
		}
		put(p, 10*step, "first")
		w := counting.writes()
		put(p, 10*step+step/2, "same-step")
		if got := counting.writes() - w; got != 0 {
			t.Errorf("a sighting within the refresh interval cost %d writes, want 0", got)
		}
		put(p, 11*step+1, "next-step")
		if got := counting.writes() - w; got != 2 {
			t.Errorf("a sighting a step later cost %d writes, want 2 (one per half)", got)
		}
		want := LinkInfo{First: 10 * step, Last: 11*step + 1, Dataset: "ds-first", Source: "first", LastDataset: "ds-next-step", LastSource: "next-step"}
		if diff := cmp.Diff(want, info()); diff != "" {
			t.Errorf("after the refresh (-want +got):\n%s", diff)
		}
		// Another process, an older record: the first sighting moves back.
		put(NewProfiles(db, table), 3*step, "older")
		want.First, want.Dataset, want.Source = 3*step, "ds-older", "older"
		if diff := cmp.Diff(want, info()); diff != "" {
			t.Errorf("after an older record (-want +got):\n%s", diff)
		}
		// Replayed, in any process: nothing changes, nothing is written.
		w = counting.writes()
		q := NewProfiles(counting, table)
		for _, at := range []int64{3 * step, 10 * step, 11*step + 1} {
			put(q, at, "replay")
		}
		if got := counting.writes() - w; got != 0 {
			t.Errorf("replays cost %d writes, want 0", got)
		}
		if diff := cmp.Diff(want, info()); diff != "" {
			t.Errorf("after replays (-want +got):\n%s", diff)
		}
	})
}

// A link a profile delete left as a tombstone (both halves carry
// "deleted") is not read as a link, is not brought back by a record older
// than the delete, and is made anew, first seen then, by a newer one.
func TestGraphTombstonedLinkIsSkippedAndStaysDeleted(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		a, b := identity.ID{Namespace: "Email", Value: "a@example.com"}, graphECID(4)
		put := func(at int64) {
			t.Helper()
			if err := NewProfiles(db, table).PutLinks(ctx, []identity.Link{graphLink(a, identity.TypeEmail, b, identity.TypeCookie, at, "ds", fmt.Sprint("b", at))}); err != nil {
				t.Fatal(err)
			}
		}
		put(1000)
		for _, end := range [][2]identity.ID{{a, b}, {b, a}} {
			if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(table), Key: profLinkKey(end[0], end[1]),
				UpdateExpression:          aws.String("SET #d = :d"),
				ExpressionAttributeNames:  map[string]string{"#d": profDeletedAttr},
				ExpressionAttributeValues: map[string]types.AttributeValue{":d": profN(5000)},
			}); err != nil {
				t.Fatal(err)
			}
		}
		p := NewProfiles(db, table)
		gone := func(when string) {
			t.Helper()
			for _, id := range []identity.ID{a, b} {
				part, err := p.Partition(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if part.Found || len(part.Neighbours) != 0 {
					t.Errorf("%s: %s's partition found %v with neighbours %v, want a tombstone only", when, id.Namespace, part.Found, part.Neighbours)
				}
				c, err := p.Cluster(ctx, id, true, 50)
				if err != nil || c.Found {
					t.Errorf("%s: cluster of %s found %v (%v), want not found", when, id.Namespace, c.Found, err)
				}
			}
		}
		gone("deleted")
		put(3000) // a replay of a record older than the delete
		put(5000) // as old as the delete
		gone("older records replayed")
		if len(graphLinks(t, db, table)) != 0 {
			t.Errorf("the tombstone became a link")
		}
		put(6000)
		part, err := p.Partition(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		want := LinkInfo{First: 6000, Last: 6000, Dataset: "ds", Source: "b6000", LastDataset: "ds", LastSource: "b6000"}
		if diff := cmp.Diff(want, part.Links[b.Key()]); diff != "" {
			t.Errorf("link after a newer record (-want +got):\n%s", diff)
		}
		if len(graphLinks(t, db, table)) != 1 {
			t.Errorf("the newer record's link is not on both nodes")
		}
	})
}

// Graph events are read newest first, at most limit, and never by a
// lookup.
func TestGraphEventsNewestFirst(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		p := NewProfiles(db, table)
		e := graphECID(5)
		if err := p.PutLinks(ctx, []identity.Link{graphLink(graphCRM("C0"), identity.TypeCrossDevice, e, identity.TypeCookie, 100, "crm", "b0")}); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 5; i++ {
			l := graphLink(graphCRM(fmt.Sprint("C", i)), identity.TypeCrossDevice, e, identity.TypeCookie, int64(100+i*(7-2*i%5)), "crm", fmt.Sprint("b", i))
			if err := p.PutLinks(ctx, []identity.Link{l}); err != nil {
				t.Fatal(err)
			}
		}
		evs := graphEventsOf(t, p, e)
		if len(evs) != 5 {
			t.Fatalf("%d events, want 5", len(evs))
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].At > evs[i-1].At {
				t.Errorf("events not newest first: %d after %d", evs[i].At, evs[i-1].At)
			}
		}
		two, err := p.GraphEvents(ctx, e, 2)
		if err != nil || len(two) != 2 || two[0] != evs[0] || two[1] != evs[1] {
			t.Errorf("GraphEvents(limit 2) = %+v, %v; want the 2 newest", two, err)
		}
		part, err := p.Partition(ctx, e)
		if err != nil || len(part.Neighbours) != 1 || len(part.Fragments) != 0 {
			t.Errorf("partition: %+v, %v; want C0 as the only neighbour and no graph event read", part, err)
		}
	})
}
