package profile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/storetest"
)

var (
	crm1   = identity.ID{Namespace: "CRMID", Value: "C1"}
	crm2   = identity.ID{Namespace: "CRMID", Value: "C2"}
	device = identity.ID{Namespace: "ECID", Value: "11111111111111111111111111111111111111"}
)

func byNS(id identity.ID) CompositeXID { return CompositeXID{NS: id.Namespace, ID: id.Value} }

func nsid(n int) *int { return &n }

// sharedDevice is the graph a shared device leaves: C1 signed in on the
// device E (linked), then C2 on the same device, a link the unique CRMID
// namespace refused, recorded on both ends.
func sharedDevice() *storetest.Graph {
	g := storetest.NewGraph()
	g.Fragment(crm1)
	g.Fragment(crm2)
	g.Link(crm1, device, store.LinkInfo{First: 1000, Last: 1500, Dataset: "ds1", Source: "batch1", LastDataset: "ds1", LastSource: "batch3"})
	for _, ends := range [][2]identity.ID{{device, crm2}, {crm2, device}} {
		g.Record(store.GraphEvent{Kind: DecisionLinkRefused, At: 2000, Identity: ends[0], Other: ends[1], Namespace: "CRMID",
			Reason: "CRMID is unique: the link would join two CRMID values", Dataset: "ds1", Source: "batch2"})
	}
	return g
}

func member(id identity.ID) ClusterMember {
	m := ClusterMember{Namespace: id.Namespace, ID: id.Value}
	if ns, ok := identity.LookupStandard(id.Namespace); ok {
		m.NSID = ns.ID
	}
	return m
}

func wantCode(t *testing.T, err error, kind fault.Kind, code string) {
	t.Helper()
	if !errors.Is(err, &fault.Error{Kind: kind, Code: code}) {
		t.Fatalf("error %v, want %v %s", err, kind, code)
	}
}

func TestGraphSharedDevice(t *testing.T) {
	ctx := context.Background()
	g := &GraphService{Store: adapt(sharedDevice())}

	t.Run("members of the device", func(t *testing.T) {
		got, err := g.Members(ctx, byNS(device), true)
		if err != nil {
			t.Fatal(err)
		}
		want := ClusterMembers{XID: EntityID(device), CompositeXID: member(device), Members: []ClusterMember{member(device), member(crm1)}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("members (-want +got):\n%s", diff)
		}
	})

	t.Run("the two people are apart", func(t *testing.T) {
		got, err := g.Explain(ctx, byNS(crm1), byNS(crm2))
		if err != nil {
			t.Fatal(err)
		}
		other := member(device)
		want := Explanation{
			From: member(crm1), To: member(crm2), Chain: []GraphLink{},
			// Recorded on both ends, listed once.
			Decisions: []GraphDecision{{Kind: DecisionLinkRefused, At: 2000, Identity: member(crm2), Other: &other, Namespace: "CRMID",
				Reason: "CRMID is unique: the link would join two CRMID values", DataSetID: "ds1", Source: "batch2"}},
			FromMembers: []ClusterMember{member(crm1), member(device)},
			ToMembers:   []ClusterMember{member(crm2)},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("explanation (-want +got):\n%s", diff)
		}
	})

	t.Run("the person and the device are one", func(t *testing.T) {
		got, err := g.Explain(ctx, byNS(crm1), byNS(device))
		if err != nil {
			t.Fatal(err)
		}
		want := Explanation{
			SameCluster: true, From: member(crm1), To: member(device), Decisions: []GraphDecision{},
			Chain: []GraphLink{{From: member(crm1), To: member(device), FirstSeen: 1000, LastSeen: 1500,
				DataSetID: "ds1", Source: "batch1", LastDataSetID: "ds1", LastSource: "batch3"}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("explanation (-want +got):\n%s", diff)
		}
	})

	t.Run("history of the device", func(t *testing.T) {
		got, err := g.History(ctx, HistoryQuery{Identity: byNS(device)})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range got.Entries {
			kinds = append(kinds, fmt.Sprintf("%s@%d", e.Kind, e.At))
		}
		if want := []string{"LINK-REFUSED@2000", "LINK@1000"}; !cmp.Equal(kinds, want) {
			t.Errorf("history %v, want %v", kinds, want)
		}
		if l := got.Entries[1].Link; l == nil || l.DataSetID != "ds1" || l.Source != "batch1" || l.LastSource != "batch3" {
			t.Errorf("link entry %+v, want its datasets and sources", got.Entries[1])
		}
		if got.Truncated || got.Page.Next != "" || got.Page.Count != 2 {
			t.Errorf("page %+v, want 2 entries, whole, no next", got.Page)
		}
	})
}

// TestGraphExplainChain: a chain of four links is explained by the
// shortest chain, oriented from the asked identity, although a longer
// one exists.
func TestGraphExplainChain(t *testing.T) {
	g := storetest.NewGraph()
	id := func(s string) identity.ID { return identity.ID{Namespace: "Email", Value: s + "@example.com"} }
	short := []identity.ID{id("a"), id("b"), id("c"), id("d"), id("e")}
	long := []identity.ID{id("a"), id("p"), id("q"), id("r"), id("s"), id("t"), id("e")}
	for i := 1; i < len(short); i++ {
		g.Link(short[i-1], short[i], store.LinkInfo{First: int64(i), Last: int64(10 + i), Dataset: fmt.Sprint("ds", i), Source: fmt.Sprint("batch", i)})
	}
	for i := 1; i < len(long); i++ {
		g.Link(long[i-1], long[i], store.LinkInfo{First: 100, Last: 100, Dataset: "other", Source: "other"})
	}
	got, err := (&GraphService{Store: adapt(g)}).Explain(context.Background(), byNS(id("a")), byNS(id("e")))
	if err != nil {
		t.Fatal(err)
	}
	var want []GraphLink
	for i := 1; i < len(short); i++ {
		want = append(want, GraphLink{From: member(short[i-1]), To: member(short[i]), FirstSeen: int64(i), LastSeen: int64(10 + i),
			DataSetID: fmt.Sprint("ds", i), Source: fmt.Sprint("batch", i)})
	}
	if !got.SameCluster || got.Truncated {
		t.Fatalf("explanation %+v, want the same cluster, whole", got)
	}
	if diff := cmp.Diff(want, got.Chain); diff != "" {
		t.Errorf("chain (-want +got):\n%s", diff)
	}
	// Backwards, the same links oriented the other way.
	back, err := (&GraphService{Store: adapt(g)}).Explain(context.Background(), byNS(id("e")), byNS(id("a")))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Chain) != 4 || back.Chain[0].From != member(id("e")) || back.Chain[3].To != member(id("a")) {
		t.Errorf("chain from e: %+v, want 4 links from e to a", back.Chain)
	}
}

// TestGraphLinkHalves: the two halves of a link are one link: the first
// sight the earliest with its source, the last the latest with its own;
// a link read on one end only still joins.
func TestGraphLinkHalves(t *testing.T) {
	g := storetest.NewGraph()
	a, b, c := identity.ID{Namespace: "Email", Value: "a@x.com"}, identity.ID{Namespace: "Email", Value: "b@x.com"}, identity.ID{Namespace: "Email", Value: "c@x.com"}
	g.LinkHalf(a, b, store.LinkInfo{First: 5, Last: 50, Dataset: "d1", Source: "s1", LastDataset: "d1", LastSource: "s5"})
	g.LinkHalf(b, a, store.LinkInfo{First: 7, Last: 70, Dataset: "d2", Source: "s2", LastDataset: "d7", LastSource: "s7"})
	g.LinkHalf(b, c, store.LinkInfo{First: 9, Last: 9, Dataset: "d9", Source: "s9"})
	g.Fragment(c)
	got, err := (&GraphService{Store: adapt(g)}).Explain(context.Background(), byNS(a), byNS(c))
	if err != nil {
		t.Fatal(err)
	}
	want := []GraphLink{
		{From: member(a), To: member(b), FirstSeen: 5, LastSeen: 70, DataSetID: "d1", Source: "s1", LastDataSetID: "d7", LastSource: "s7"},
		{From: member(b), To: member(c), FirstSeen: 9, LastSeen: 9, DataSetID: "d9", Source: "s9"},
	}
	if diff := cmp.Diff(want, got.Chain); diff != "" {
		t.Errorf("chain (-want +got):\n%s", diff)
	}
}

func TestGraphMembersMany(t *testing.T) {
	ctx := context.Background()
	st := sharedDevice()
	unknown := identity.ID{Namespace: "Email", Value: "nobody@example.com"}
	g := &GraphService{Store: adapt(st)}
	req := ClustersRequest{
		CompositeXIDs: []CompositeXID{
			byNS(crm1),
			{NSID: nsid(4), ID: device.Value}, // the same cluster as C1
			byNS(crm1),                        // the same identity again
			byNS(crm2),
			byNS(unknown),
			{NS: "Nope", ID: "x"},
			{NS: "Email", ID: "null"},
		},
		XIDs: []string{EntityID(crm1)},
	}
	got, err := g.MembersMany(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	one := []ClusterMember{member(crm1), member(device)}
	want := ClustersAnswer{
		Version:         "1.0.0",
		UnprocessedXIDs: []string{EntityID(crm1)},
		UnprocessedNIDs: []CompositeXID{byNS(unknown), {NS: "Nope", ID: "x"}, {NS: "Email", ID: "null"}},
		Clusters: []ClusterMembers{
			{XID: EntityID(crm1), CompositeXID: member(crm1), Members: one},
			{XID: EntityID(device), CompositeXID: member(device), Members: []ClusterMember{member(device), member(crm1)}},
			{XID: EntityID(crm1), CompositeXID: member(crm1), Members: one},
			{XID: EntityID(crm2), CompositeXID: member(crm2), Members: []ClusterMember{member(crm2)}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	for _, id := range []identity.ID{crm1, device, crm2, unknown} {
		if n := st.Reads(id); n != 1 {
			t.Errorf("%s read %d times, want once", id, n)
		}
	}
	// Each entry is what GET members answers for its identity.
	for _, c := range got.Clusters {
		one, err := g.Members(ctx, CompositeXID{NS: c.CompositeXID.Namespace, ID: c.CompositeXID.ID}, true)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(one, c); diff != "" {
			t.Errorf("bulk and single members differ (-single +bulk):\n%s", diff)
		}
	}

	t.Run("graph-type None", func(t *testing.T) {
		got, err := g.MembersMany(ctx, ClustersRequest{CompositeXIDs: []CompositeXID{byNS(device)}, GraphType: "none"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Clusters) != 1 || !cmp.Equal(got.Clusters[0].Members, []ClusterMember{member(device)}) {
			t.Errorf("clusters %+v, want the device alone", got.Clusters)
		}
	})
	t.Run("limits and shapes", func(t *testing.T) {
		many := make([]CompositeXID, MaxClusterInputs)
		for i := range many {
			many[i] = CompositeXID{NS: "Email", ID: fmt.Sprintf("p%d@example.com", i)}
		}
		if _, err := g.MembersMany(ctx, ClustersRequest{CompositeXIDs: many}); err != nil {
			t.Errorf("%d identities: %v, want an answer", MaxClusterInputs, err)
		}
		_, err := g.MembersMany(ctx, ClustersRequest{CompositeXIDs: many, XIDs: []string{"x"}})
		wantCode(t, err, fault.Invalid, CodeTooManyInputs)
		_, err = g.MembersMany(ctx, ClustersRequest{})
		wantCode(t, err, fault.Invalid, "REQ-PARAM")
		_, err = g.MembersMany(ctx, ClustersRequest{CompositeXIDs: []CompositeXID{{ID: "x"}}})
		wantCode(t, err, fault.Invalid, "REQ-PARAM")
		_, err = g.MembersMany(ctx, ClustersRequest{CompositeXIDs: []CompositeXID{byNS(crm1)}, GraphType: "Public"})
		wantCode(t, err, fault.Invalid, "REQ-PARAM")
	})
}

// TestGraphMembersManyDeadline: what the walk has not read when the
// deadline (less the margin) comes is unprocessed; what it has read is
// answered.
func TestGraphMembersManyDeadline(t *testing.T) {
	st := storetest.NewGraph()
	alone := identity.ID{Namespace: "Email", Value: "alone@example.com"}
	x, y := identity.ID{Namespace: "Email", Value: "x@example.com"}, identity.ID{Namespace: "Email", Value: "y@example.com"}
	st.Fragment(alone)
	st.Link(x, y, store.LinkInfo{First: 1})
	deadline := time.Now().Add(time.Hour)
	var clock atomic.Int64
	clock.Store(deadline.Add(-10 * time.Second).UnixNano())
	// Reading x takes the clock to the stop time: y is never read.
	st.OnRead = func(_ context.Context, id identity.ID) {
		if id == x {
			clock.Store(deadline.Add(-time.Second).UnixNano())
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	g := &GraphService{Store: adapt(st), Margin: time.Second, Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	got, err := g.MembersMany(ctx, ClustersRequest{CompositeXIDs: []CompositeXID{byNS(alone), byNS(x)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Clusters) != 1 || got.Clusters[0].CompositeXID != member(alone) {
		t.Errorf("clusters %+v, want the one read in time", got.Clusters)
	}
	if !cmp.Equal(got.UnprocessedNIDs, []CompositeXID{byNS(x)}) {
		t.Errorf("unprocessed %+v, want x, whose cluster was not read whole", got.UnprocessedNIDs)
	}
	if st.Reads(y) != 0 {
		t.Errorf("y read after the stop time")
	}
}

// TestGraphOverCap: members of a cluster over the cap are refused (422),
// never listed in part; history and explain work on the bounded walk and
// say so.
func TestGraphOverCap(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewGraph()
	hub := identity.ID{Namespace: "Email", Value: "hub@example.com"}
	var spokes []identity.ID
	for i := range 4 {
		s := identity.ID{Namespace: "Email", Value: fmt.Sprintf("s%d@example.com", i)}
		spokes = append(spokes, s)
		st.Link(hub, s, store.LinkInfo{First: int64(i)})
	}
	g := &GraphService{Store: adapt(st), ClusterCap: 3}
	_, err := g.Members(ctx, byNS(hub), true)
	wantCode(t, err, fault.Unprocessable, CodeIdentityClusterTooLarge)
	if got, err := g.Members(ctx, byNS(hub), false); err != nil || len(got.Members) != 1 {
		t.Errorf("graph-type None over the cap: %+v %v, want the identity alone", got, err)
	}
	many, err := g.MembersMany(ctx, ClustersRequest{CompositeXIDs: []CompositeXID{byNS(hub)}})
	if err != nil || len(many.Clusters) != 0 || len(many.UnprocessedNIDs) != 1 {
		t.Errorf("bulk over the cap: %+v %v, want it unprocessed", many, err)
	}
	h, err := g.History(ctx, HistoryQuery{Identity: byNS(hub)})
	if err != nil || !h.Truncated || len(h.Entries) == 0 {
		t.Errorf("history over the cap: %+v %v, want truncated entries", h, err)
	}
	e, err := g.Explain(ctx, byNS(hub), byNS(spokes[0]))
	if err != nil || !e.Truncated || !e.SameCluster {
		t.Errorf("explain over the cap: %+v %v, want truncated, same cluster", e, err)
	}
}

func TestGraphNotFound(t *testing.T) {
	ctx := context.Background()
	g := &GraphService{Store: adapt(sharedDevice())}
	nobody := byNS(identity.ID{Namespace: "Email", Value: "nobody@example.com"})
	_, err := g.Members(ctx, nobody, true)
	wantCode(t, err, fault.NotFound, CodeIdentityNotFound)
	_, err = g.History(ctx, HistoryQuery{Identity: nobody})
	wantCode(t, err, fault.NotFound, CodeIdentityNotFound)
	_, err = g.Explain(ctx, byNS(crm1), nobody)
	wantCode(t, err, fault.NotFound, CodeIdentityNotFound)
	_, err = g.Members(ctx, CompositeXID{NS: "Nope", ID: "x"}, true)
	wantCode(t, err, fault.Invalid, identity.CodeUnknownNamespace)
	_, err = g.Members(ctx, CompositeXID{NSID: nsid(99999), ID: "x"}, true)
	wantCode(t, err, fault.Invalid, identity.CodeUnknownNamespace)

	// An identity the graph knows only by a refusal recorded on it (a
	// refused link's end with no fragment) is explained.
	st := sharedDevice()
	lone := identity.ID{Namespace: "ECID", Value: "22222222222222222222222222222222222222"}
	st.Record(store.GraphEvent{Kind: DecisionLinkRefused, At: 3000, Identity: lone, Other: crm2, Namespace: "CRMID", Reason: "r"})
	st.Record(store.GraphEvent{Kind: DecisionLinkRefused, At: 3000, Identity: crm2, Other: lone, Namespace: "CRMID", Reason: "r"})
	got, err := (&GraphService{Store: adapt(st)}).Explain(ctx, byNS(lone), byNS(crm2))
	if err != nil {
		t.Fatal(err)
	}
	if got.SameCluster || len(got.Decisions) != 1 || got.Decisions[0].At != 3000 {
		t.Errorf("explanation %+v, want apart by the one refusal between them", got)
	}
}

// TestGraphHistoryPages: following next gives every entry once, in
// order, whatever the page size in entries or bytes.
func TestGraphHistoryPages(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewGraph()
	hub := identity.ID{Namespace: "Email", Value: "hub@example.com"}
	for i := range 12 {
		s := identity.ID{Namespace: "Email", Value: fmt.Sprintf("s%02d@example.com", i)}
		// Pairs of links share a time: the order within a time is fixed.
		st.Link(hub, s, store.LinkInfo{First: int64(i / 2), Dataset: "ds", Source: strings.Repeat("b", 200)})
		st.Record(store.GraphEvent{Kind: DecisionIdentityEvicted, At: int64(i), Identity: s, Reason: "cap"})
	}
	g := &GraphService{Store: adapt(st)}
	all, err := g.History(ctx, HistoryQuery{Identity: byNS(hub), Limit: MaxHistoryLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Entries) != 24 || all.Page.Next != "" {
		t.Fatalf("%d entries, next %q, want 24 on one page", len(all.Entries), all.Page.Next)
	}
	for i := 1; i < len(all.Entries); i++ {
		if all.Entries[i].At > all.Entries[i-1].At {
			t.Fatalf("entry %d at %d after one at %d: want newest first", i, all.Entries[i].At, all.Entries[i-1].At)
		}
	}
	for _, q := range []HistoryQuery{{Limit: 5}, {Limit: 1}, {MaxBytes: 700}} {
		var got []HistoryEntry
		q.Identity = byNS(hub)
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatalf("%+v: more than 30 pages", q)
			}
			p, err := g.History(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if q.MaxBytes > 0 {
				b, _ := json.Marshal(p.Entries)
				if len(b) > q.MaxBytes && len(p.Entries) > 1 {
					t.Errorf("page of %d bytes, over %d", len(b), q.MaxBytes)
				}
			}
			got = append(got, p.Entries...)
			if p.Page.Next == "" {
				break
			}
			if strings.Contains(p.Page.Next, "example.com") {
				t.Fatalf("cursor %q names an identity", p.Page.Next)
			}
			q.Start = p.Page.Next
		}
		if diff := cmp.Diff(all.Entries, got); diff != "" {
			t.Errorf("%+v: pages differ from the whole (-whole +pages):\n%s", q, diff)
		}
	}
	_, err = g.History(ctx, HistoryQuery{Identity: byNS(hub), Start: "nonsense"})
	wantCode(t, err, fault.Invalid, "IDENTITY-CURSOR")
}

// TestGraphCustomNamespace: identities of a custom namespace are found by
// code and by numeric id, and answered with their nsid.
func TestGraphCustomNamespace(t *testing.T) {
	loyalty := identity.Namespace{ID: 1000007, Code: "LoyaltyPlus", IDType: identity.TypeCrossDevice, Custom: true}
	card := identity.ID{Namespace: "LoyaltyPlus", Value: "LP-7"}
	st := storetest.NewGraph()
	st.Link(card, crm1, store.LinkInfo{First: 1})
	g := &GraphService{Store: adapt(st), Namespaces: finder{loyalty}}
	for _, x := range []CompositeXID{{NS: "loyaltyplus", ID: "LP-7"}, {NSID: nsid(1000007), ID: "LP-7"}} {
		got, err := g.Members(context.Background(), x, true)
		if err != nil {
			t.Fatal(err)
		}
		want := ClusterMember{NSID: 1000007, Namespace: "LoyaltyPlus", ID: "LP-7"}
		if got.CompositeXID != want || len(got.Members) != 2 || got.Members[0] != want {
			t.Errorf("members of %+v: %+v, want the card with nsid 1000007 first", x, got)
		}
	}
}

// storeGraph reads a storetest.Graph, a stand-in of the profile store,
// as the identity API reads the store.
type storeGraph struct{ *storetest.Graph }

func adapt(g *storetest.Graph) GraphStore { return storeGraph{g} }

func (s storeGraph) Node(ctx context.Context, id identity.ID) (GraphNode, error) {
	p, err := s.Partition(ctx, id)
	n := GraphNode{Found: p.Found, Neighbours: p.Neighbours, Links: map[string]LinkRecord{}}
	for k, l := range p.Links {
		n.Links[k] = LinkRecord{First: l.First, Last: l.Last, Dataset: l.Dataset, Source: l.Source, LastDataset: l.LastDataset, LastSource: l.LastSource}
	}
	return n, err
}

func (s storeGraph) Decisions(ctx context.Context, id identity.ID, limit int) ([]Decision, error) {
	evs, err := s.GraphEvents(ctx, id, limit)
	out := make([]Decision, len(evs))
	for i, e := range evs {
		out[i] = Decision{Kind: e.Kind, At: e.At, Identity: e.Identity, Other: e.Other, Namespace: e.Namespace, Reason: e.Reason, Dataset: e.Dataset, Source: e.Source}
	}
	return out, err
}

type finder []identity.Namespace

func (f finder) Namespaces(context.Context) ([]identity.Namespace, error) { return f, nil }

func (f finder) Namespace(_ context.Context, code string) (identity.Namespace, bool, error) {
	ns, ok := identity.Lookup(code, f)
	return ns, ok, nil
}

// TestGraphEvictionsOnceAndOnlyWhereTheyExplain: an eviction is recorded
// on the evicted identity and on witnesses (the ends of the link that
// caused it); the cluster's history, read from its members (the
// witnesses), shows each eviction once, naming the evicted identity, and
// explain names it only for a pair one of which it evicted.
func TestGraphEvictionsOnceAndOnlyWhereTheyExplain(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewGraph()
	hub := identity.ID{Namespace: "CRMID", Value: "C-HUB"}
	kept := identity.ID{Namespace: "Email", Value: "kept@example.com"}
	st.Link(hub, kept, store.LinkInfo{First: 1, Last: 1, Dataset: "ds", Source: "b1"})
	ecid := func(n int) identity.ID {
		return identity.ID{Namespace: "ECID", Value: fmt.Sprintf("%038d", n)}
	}
	for n := 1; n <= 2; n++ {
		ev := store.GraphEvent{Kind: DecisionIdentityEvicted, At: int64(10 + n), Dataset: "ds", Source: "b2", Reason: "cap"}
		on := ev
		on.Identity = ecid(n)
		st.Record(on)
		for _, w := range []identity.ID{hub, kept} {
			witness := ev
			witness.Identity, witness.Other = w, ecid(n)
			st.Record(witness)
		}
	}
	g := &GraphService{Store: adapt(st)}
	h, err := g.History(ctx, HistoryQuery{Identity: byNS(hub), Limit: MaxHistoryLimit})
	if err != nil {
		t.Fatal(err)
	}
	var evictions []string
	for _, e := range h.Entries {
		if e.Decision != nil && e.Decision.Kind == DecisionIdentityEvicted && e.Decision.Other != nil {
			evictions = append(evictions, e.Decision.Other.ID)
		}
	}
	if want := []string{ecid(2).Value, ecid(1).Value}; fmt.Sprint(evictions) != fmt.Sprint(want) {
		t.Errorf("evictions in the history %v, want each once, naming the evicted identity: %v", evictions, want)
	}
	x, err := g.Explain(ctx, byNS(hub), byNS(ecid(1)))
	if err != nil {
		t.Fatal(err)
	}
	if x.SameCluster || len(x.Decisions) != 1 || x.Decisions[0].At != 11 {
		t.Errorf("explain(hub, evicted ECID 1) = %+v, want apart by its one eviction", x)
	}
}
