package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/profile"
)

// fakeNamespaces holds the tenant's custom namespaces.
type fakeNamespaces []identity.Namespace

func (f fakeNamespaces) Namespaces(context.Context) ([]identity.Namespace, error) { return f, nil }

func (f fakeNamespaces) Namespace(_ context.Context, code string) (identity.Namespace, bool, error) {
	ns, ok := identity.Lookup(strings.TrimSpace(code), f)
	return ns, ok, nil
}

// TestCustomNamespaceReads looks a profile and its cluster up by a custom
// namespace, by code in any case and by its numeric id.
func TestCustomNamespaceReads(t *testing.T) {
	loyalty := identity.Namespace{ID: 1000007, Code: "LoyaltyPlus", IDType: identity.TypeCrossDevice, Custom: true}
	card := identity.ID{Namespace: "LoyaltyPlus", Value: "LP-7"}
	g := &fakeGraph{
		clusters: [][]identity.ID{{card, jane}},
		frags: map[identity.ID][]merge.Fragment{
			jane: {{Identity: jane.Key(), Dataset: "crm", TS: 2000, Src: "a", Record: map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "Jane"}}}}},
		},
		events: map[identity.ID][]merge.Event{card: {{ID: "e9", Timestamp: 900, Record: map[string]any{"_id": "e9"}}}},
	}
	custom := fakeNamespaces{loyalty}
	h, err := newService(&profile.Service{Graph: g, Events: g, Namespaces: custom.Namespace}, custom, "prod")
	if err != nil {
		t.Fatal(err)
	}
	h.graph = newGraph(graphOf(g.clusters), custom, 0)

	status, body := get(t, h, routeEntities, url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {"LP-7"}, "entityIdNS": {"loyaltyplus"}}, nil)
	if status != 200 || len(body) != 1 {
		t.Fatalf("lookup by a custom namespace: %d %v, want the profile", status, body)
	}
	for _, v := range body {
		if name := dig(v, "entity", "person", "name", "firstName"); name != "Jane" {
			t.Errorf("entity %v, want Jane's", v)
		}
	}
	status, body = get(t, h, routeEntities, url.Values{"schema.name": {merge.EventSchema}, "relatedSchema.name": {merge.ProfileSchema},
		"relatedEntityId": {"LP-7"}, "relatedEntityIdNS": {"LoyaltyPlus"}}, nil)
	if status != 200 || len(body["children"].([]any)) != 1 {
		t.Errorf("events by a custom namespace: %d %v", status, body)
	}
	for _, q := range []url.Values{{"namespace": {"LOYALTYPLUS"}, "id": {"LP-7"}}, {"nsId": {"1000007"}, "id": {"LP-7"}}} {
		status, body = get(t, h, routeMembers, q, nil)
		if status != 200 {
			t.Fatalf("cluster/members %v: %d %v", q, status, body)
		}
		if c := body["compositeXid"].(map[string]any); c["namespace"] != "LoyaltyPlus" || c["nsid"] != float64(1000007) || len(body["members"].([]any)) != 2 {
			t.Errorf("cluster/members %v: %v", q, body)
		}
	}
	status, body = get(t, h, routeEntities, url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {"x"}, "entityIdNS": {"Nope"}}, nil)
	if status != 400 || body["code"] != identity.CodeUnknownNamespace {
		t.Errorf("unknown namespace: %d %v, want 400 %s", status, body, identity.CodeUnknownNamespace)
	}
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
