package profile

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

type fakeGraph struct {
	members []identity.ID
	frags   map[identity.ID]merge.Fragment
	// gotCap is the last limit asked for; LookupAll asks from several
	// goroutines at once.
	gotCap atomic.Int64
	// truncated makes a stitched walk stop at the cap.
	truncated bool
	// leaky gives every member's fragments even unstitched: Lookup must
	// still merge only the asked identity's under none.
	leaky bool
}

func (g *fakeGraph) Cluster(_ context.Context, start identity.ID, stitch bool, limit int) (merge.Candidates, error) {
	g.gotCap.Store(int64(limit))
	if start != g.members[0] {
		return merge.Candidates{}, nil
	}
	c := merge.Candidates{Found: true, Members: []identity.ID{start}}
	if stitch {
		c.Members = g.members
		c.Truncated = g.truncated
	}
	read := c.Members
	if g.leaky {
		read = g.members
	}
	for _, m := range read {
		if f, ok := g.frags[m]; ok {
			c.Fragments = append(c.Fragments, f)
		}
	}
	return c, nil
}

var (
	idA = identity.ID{Namespace: "Email", Value: "a@example.com"}
	idB = identity.ID{Namespace: "CRMID", Value: "C1"}
)

func twoMembers() *fakeGraph {
	return &fakeGraph{members: []identity.ID{idA, idB}, frags: map[identity.ID]merge.Fragment{
		idA: {Identity: idA.Key(), Dataset: "web", TS: 1000, Src: "s3:ingest/web/f.json#01:0000000001", Batch: "WEBBATCH",
			Record: map[string]any{"x": "web", "w": true, "person": map[string]any{"name": map[string]any{"firstName": "Ann"}}}},
		idB: {Identity: idB.Key(), Dataset: "crm", TS: 2000, Src: "kinesis:shardId-000000000000:42", Batch: "kinesis:shardId-000000000000:42",
			Record: map[string]any{"x": "crm", "person": map[string]any{"name": map[string]any{"lastName": "Bee"}}}},
	}}
}

func policies() (pdg, none merge.Policy) {
	pdg, _ = merge.Default(merge.ProfileSchema)
	none = pdg
	none.ID, none.IdentityGraph.Type = "none-policy", merge.GraphNone
	return pdg, none
}

func TestLookupStitching(t *testing.T) {
	pdg, none := policies()
	tests := []struct {
		name        string
		policy      merge.Policy
		leaky       bool
		wantEntity  map[string]any
		wantSources []string
		wantIDs     []IdentityRef
		wantTime    string
	}{
		{"pdg merges the cluster", pdg, false,
			map[string]any{"x": "crm", "w": true, "person": map[string]any{"name": map[string]any{"firstName": "Ann", "lastName": "Bee"}}},
			[]string{"crm", "web"},
			[]IdentityRef{{NamespaceRef{"Email"}, "a@example.com", true}, {NamespaceRef{"CRMID"}, "C1", false}}, "1970-01-01T00:00:02Z"},
		{"none reads the asked identity only", none, false,
			map[string]any{"x": "web", "w": true, "person": map[string]any{"name": map[string]any{"firstName": "Ann"}}},
			[]string{"web"}, []IdentityRef{{NamespaceRef{"Email"}, "a@example.com", true}}, "1970-01-01T00:00:01Z"},
		{"none merges the asked identity's fragments only, whatever the graph gives", none, true,
			map[string]any{"x": "web", "w": true, "person": map[string]any{"name": map[string]any{"firstName": "Ann"}}},
			[]string{"web"}, []IdentityRef{{NamespaceRef{"Email"}, "a@example.com", true}}, "1970-01-01T00:00:01Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := twoMembers()
			g.leaky = tt.leaky
			s := &Service{Graph: g}
			e, err := s.Lookup(context.Background(), LookupQuery{Namespace: "EMAIL", Value: " A@example.com", Policy: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			want := Entity{EntityID: EntityID(idA), MergePolicy: PolicyRef{tt.policy.ID}, Sources: tt.wantSources,
				Identities: tt.wantIDs, Entity: tt.wantEntity, LastModifiedAt: tt.wantTime}
			if diff := cmp.Diff(want, e); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			if got := g.gotCap.Load(); got != DefaultClusterCap {
				t.Errorf("cluster cap %d, want %d", got, DefaultClusterCap)
			}
		})
	}
}

// TestLookupNoData: an identity nobody has, and one whose fragments the
// policy leaves out, get AEP's no-data entry, not an error.
func TestLookupNoData(t *testing.T) {
	pdg, _ := policies()
	onlyCRM := pdg
	onlyCRM.ID, onlyCRM.AttributeMerge = "crm-only", merge.AttributeMerge{Type: merge.DataSetPrecedence, Order: []string{"loyalty"}}
	unknown := identity.ID{Namespace: "Email", Value: "nobody@example.com"}
	tests := []struct {
		name   string
		value  string
		policy merge.Policy
		want   Entity
	}{
		{"unknown identity", "Nobody@example.com", pdg, Entity{EntityID: EntityID(unknown), MergePolicy: PolicyRef{pdg.ID},
			Sources: []string{""}, Identities: []IdentityRef{{NamespaceRef{"Email"}, "nobody@example.com", true}},
			Entity: map[string]any{}, LastModifiedAt: "1970-01-01T00:00:00Z", Provenance: map[string]Provenance{}}},
		{"no fragment of a listed dataset", "a@example.com", onlyCRM, Entity{EntityID: EntityID(idA), MergePolicy: PolicyRef{"crm-only"},
			Sources: []string{""}, Identities: []IdentityRef{{NamespaceRef{"Email"}, "a@example.com", true}, {NamespaceRef{"CRMID"}, "C1", false}},
			Entity: map[string]any{}, LastModifiedAt: "1970-01-01T00:00:00Z", Provenance: map[string]Provenance{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{Graph: twoMembers()}
			e, err := s.Lookup(context.Background(), LookupQuery{Namespace: "Email", Value: tt.value, Policy: tt.policy, Provenance: true})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, e); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			b, _ := json.Marshal(e)
			if !strings.Contains(string(b), `"sources":[""]`) || !strings.Contains(string(b), `"entity":{}`) || !strings.Contains(string(b), `"provenance":{}`) {
				t.Errorf("JSON %s is not AEP's no-data entry with an empty provenance", b)
			}
		})
	}
}

// TestLookupClusterTooLarge: a walk that stopped at the cap is refused
// (422), never merged in part; under none only the asked identity is
// read, so the cap does not matter.
func TestLookupClusterTooLarge(t *testing.T) {
	pdg, none := policies()
	g := twoMembers()
	g.truncated = true
	s := &Service{Graph: g, ClusterCap: 2}
	_, err := s.Lookup(context.Background(), LookupQuery{Namespace: "Email", Value: "a@example.com", Policy: pdg})
	if !errors.Is(err, fault.E(fault.Unprocessable, CodeClusterTooLarge, "")) {
		t.Fatalf("got %v, want Unprocessable %s", err, CodeClusterTooLarge)
	}
	if msg := fault.As(err).Message; !strings.Contains(msg, "Too many related identities") || !strings.Contains(msg, "more than 2 identities") {
		t.Errorf("message %q does not say AEP's words and the cap", msg)
	}
	if _, err := s.Lookup(context.Background(), LookupQuery{Namespace: "Email", Value: "a@example.com", Policy: none}); err != nil {
		t.Errorf("none: %v", err)
	}
	if _, err := s.Timeline(context.Background(), EventQuery{Namespace: "Email", Value: "a@example.com"}); !errors.Is(err, fault.E(fault.Unprocessable, CodeClusterTooLarge, "")) {
		t.Errorf("timeline: got %v, want Unprocessable %s", err, CodeClusterTooLarge)
	}
}

// TestLookupProvenanceAndFields: provenance names each returned leaf's
// dataset, batch (none for a stream), source, time and identity, and
// follows fields; fields=identities adds AEP's synthetic list.
func TestLookupProvenanceAndFields(t *testing.T) {
	pdg, _ := policies()
	s := &Service{Graph: twoMembers()}
	web := Origin{DataSetID: "web", BatchID: "WEBBATCH", Source: "s3:ingest/web/f.json#01:0000000001", Timestamp: "1970-01-01T00:00:01.000Z",
		Identity: IdentityRef{Namespace: NamespaceRef{"Email"}, ID: "a@example.com"}}
	crm := Origin{DataSetID: "crm", Source: "kinesis:shardId-000000000000:42", Timestamp: "1970-01-01T00:00:02.000Z",
		Identity: IdentityRef{Namespace: NamespaceRef{"CRMID"}, ID: "C1"}}
	tests := []struct {
		name       string
		fields     []string
		wantEntity map[string]any
		wantProv   map[string]Provenance
	}{
		{"all", nil,
			map[string]any{"x": "crm", "w": true, "person": map[string]any{"name": map[string]any{"firstName": "Ann", "lastName": "Bee"}}},
			map[string]Provenance{"x": {Origin: crm}, "w": {Origin: web}, "person.name.firstName": {Origin: web}, "person.name.lastName": {Origin: crm}}},
		{"fields", []string{"person.name", "identities"},
			map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "Ann", "lastName": "Bee"}}, "identities": []any{
				map[string]any{"id": "a@example.com", "namespace": map[string]any{"code": "Email"}, "primary": true},
				map[string]any{"id": "C1", "namespace": map[string]any{"code": "CRMID"}}}},
			map[string]Provenance{"person.name.firstName": {Origin: web}, "person.name.lastName": {Origin: crm}}},
		{"a leaf field", []string{"person.name.lastName"},
			map[string]any{"person": map[string]any{"name": map[string]any{"lastName": "Bee"}}},
			map[string]Provenance{"person.name.lastName": {Origin: crm}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := s.Lookup(context.Background(), LookupQuery{Namespace: "Email", Value: "a@example.com", Policy: pdg, Fields: tt.fields, Provenance: true})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantEntity, e.Entity); diff != "" {
				t.Errorf("entity (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantProv, e.Provenance); diff != "" {
				t.Errorf("provenance (-want +got):\n%s", diff)
			}
		})
	}
	e, err := s.Lookup(context.Background(), LookupQuery{Namespace: "Email", Value: "a@example.com", Policy: pdg})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(e); strings.Contains(string(b), "provenance") {
		t.Errorf("provenance not asked for, yet answered: %s", b)
	}
}

func TestLookupAll(t *testing.T) {
	pdg, _ := policies()
	s := &Service{Graph: twoMembers()}
	var qs []LookupQuery
	for _, v := range []string{"a@example.com", "nobody@example.com", "A@example.com"} {
		qs = append(qs, LookupQuery{Namespace: "Email", Value: v, Policy: pdg})
	}
	// Without a namespace, an AEP XID: the no-data entry keyed by it.
	qs = append(qs, LookupQuery{Value: "GkouAW-2u-7iWt5vQ9u2wm40JOZY", Policy: pdg})
	got, err := s.LookupAll(context.Background(), qs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].Sources[0] != "crm" || got[1].Sources[0] != "" || got[2].EntityID != got[0].EntityID {
		t.Errorf("entries %+v, want a, the no-data entry, a again, in order", got)
	}
	xid := NoData("GkouAW-2u-7iWt5vQ9u2wm40JOZY", nil, pdg)
	if diff := cmp.Diff(xid, got[3]); diff != "" {
		t.Errorf("XID entry (-want +got):\n%s", diff)
	}
	qs = append(qs, LookupQuery{Namespace: "Email", Value: "anonymous", Policy: pdg})
	_, err = s.LookupAll(context.Background(), qs)
	if !errors.Is(err, fault.E(fault.Invalid, identity.CodeBlockedValue, "")) || !strings.HasPrefix(fault.As(err).Message, "identities[4]: ") {
		t.Errorf("got %v, want Invalid %s naming identities[4]", err, identity.CodeBlockedValue)
	}
}

func TestProject(t *testing.T) {
	entity := map[string]any{
		"person":   map[string]any{"name": map[string]any{"firstName": "J", "lastName": "D"}, "age": 3.0},
		"loyalty":  map[string]any{"tier": "gold"},
		"scalar":   "s",
		"identity": nil,
	}
	tests := []struct {
		fields []string
		want   map[string]any
	}{
		{[]string{"loyalty"}, map[string]any{"loyalty": map[string]any{"tier": "gold"}}},
		{[]string{"person.name.firstName", "scalar"}, map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "J"}}, "scalar": "s"}},
		{[]string{"missing", "scalar.deeper", " "}, map[string]any{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Project(entity, tt.fields)); diff != "" {
			t.Errorf("Project(%v) (-want +got):\n%s", tt.fields, diff)
		}
	}
}

func TestEntityIDIsStableAndOpaque(t *testing.T) {
	a := identity.ID{Namespace: "Email", Value: "a@example.com"}
	// Two identities built apart but equal get the same id; another value
	// gets another id.
	if got, again := EntityID(a), EntityID(identity.ID{Namespace: "Email", Value: "a@example.com"}); got != again {
		t.Errorf("EntityID gave %q then %q for the same identity", got, again)
	}
	if EntityID(a) == EntityID(identity.ID{Namespace: "Email", Value: "b@example.com"}) {
		t.Errorf("EntityID is the same for two different identities")
	}
	if len(EntityID(a)) != 27 {
		t.Errorf("EntityID %q has length %d, want 27", EntityID(a), len(EntityID(a)))
	}
}
