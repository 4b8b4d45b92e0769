package profile

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

type fakeGraph struct {
	members []identity.ID
	frags   map[identity.ID]merge.Fragment
	gotCap  int
}

func (g *fakeGraph) Cluster(_ context.Context, start identity.ID, stitch bool, limit int) (merge.Candidates, error) {
	g.gotCap = limit
	if start != g.members[0] {
		return merge.Candidates{}, nil
	}
	c := merge.Candidates{Found: true, Members: []identity.ID{start}}
	if stitch {
		c.Members = g.members
	}
	for _, m := range c.Members {
		c.Fragments = append(c.Fragments, g.frags[m])
	}
	return c, nil
}

func TestLookupStitching(t *testing.T) {
	a := identity.ID{Namespace: "Email", Value: "a@example.com"}
	b := identity.ID{Namespace: "CRMID", Value: "C1"}
	g := &fakeGraph{members: []identity.ID{a, b}, frags: map[identity.ID]merge.Fragment{
		a: {Identity: a.Key(), Dataset: "web", TS: 1000, Record: map[string]any{"x": "web", "w": true}},
		b: {Identity: b.Key(), Dataset: "crm", TS: 2000, Record: map[string]any{"x": "crm"}},
	}}
	s := &Service{Graph: g}
	pdg, _ := merge.Default(merge.ProfileSchema)
	none := pdg
	none.ID, none.IdentityGraph.Type = "none-policy", merge.GraphNone
	tests := []struct {
		name        string
		policy      merge.Policy
		wantEntity  map[string]any
		wantSources []string
		wantIDs     int
		wantTime    string
	}{
		{"pdg merges the cluster", pdg, map[string]any{"x": "crm", "w": true}, []string{"crm", "web"}, 2, "1970-01-01T00:00:02Z"},
		{"none reads the asked identity only", none, map[string]any{"x": "web", "w": true}, []string{"web"}, 1, "1970-01-01T00:00:01Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Lookup(context.Background(), "EMAIL", " A@example.com", tt.policy, nil)
			if err != nil {
				t.Fatal(err)
			}
			e, ok := res[EntityID(a)]
			if !ok || len(res) != 1 {
				t.Fatalf("answer %v is not keyed by the entity id", res)
			}
			if diff := cmp.Diff(tt.wantEntity, e.Entity); diff != "" {
				t.Errorf("entity (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSources, e.Sources); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
			if len(e.Identities) != tt.wantIDs || !e.Identities[0].Primary || e.MergePolicy.ID != tt.policy.ID || e.LastModifiedAt != tt.wantTime {
				t.Errorf("entry %+v", e)
			}
		})
	}
	if g.gotCap != DefaultClusterCap {
		t.Errorf("cluster cap %d, want %d", g.gotCap, DefaultClusterCap)
	}
	_, err := s.Lookup(context.Background(), "Email", "other@example.com", pdg, nil)
	if !errors.Is(err, fault.E(fault.NotFound, CodeNotFound, "")) {
		t.Errorf("unknown identity: got %v, want NotFound", err)
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
