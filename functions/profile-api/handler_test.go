package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/eventsample"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/profile"
)

// fakeGraph holds clusters of identities with their fragments and events.
type fakeGraph struct {
	clusters [][]identity.ID
	frags    map[identity.ID][]merge.Fragment
	events   map[identity.ID][]merge.Event
}

func (g *fakeGraph) Cluster(_ context.Context, start identity.ID, stitch bool, limit int) (merge.Candidates, error) {
	for _, c := range g.clusters {
		for _, id := range c {
			if id != start {
				continue
			}
			members := []identity.ID{start}
			truncated := false
			if stitch {
				for _, o := range c {
					if o == start {
						continue
					}
					if len(members) == limit {
						truncated = true
						break
					}
					members = append(members, o)
				}
			}
			out := merge.Candidates{Found: true, Members: members, Truncated: truncated}
			for _, m := range members {
				out.Fragments = append(out.Fragments, g.frags[m]...)
			}
			return out, nil
		}
	}
	return merge.Candidates{}, nil
}

func (g *fakeGraph) Events(_ context.Context, id identity.ID, from, to int64, limit int, desc bool) ([]merge.Event, error) {
	var out []merge.Event
	for _, e := range g.events[id] {
		if e.Timestamp >= from && e.Timestamp < to {
			out = append(out, e)
		}
	}
	out = merge.Timeline(out, desc)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

var (
	jane = identity.ID{Namespace: "Email", Value: "jane@example.com"}
	ecid = identity.ID{Namespace: "ECID", Value: "12345678901234567890123456789012345678"}
	// crowd is a cluster of three identities: over a cap of 2.
	crowd = []identity.ID{{Namespace: "CRMID", Value: "C-1"}, {Namespace: "CRMID", Value: "C-2"}, {Namespace: "CRMID", Value: "C-3"}}
)

// Merge policies of the handler tests, besides the defaults.
var (
	nonePolicy = merge.Policy{ID: "none-crm-first", Schema: merge.SchemaRef{Name: merge.ProfileSchema},
		IdentityGraph: merge.IdentityGraph{Type: merge.GraphNone}, AttributeMerge: merge.AttributeMerge{Type: merge.TimestampOrdered}}
	webFirst = merge.Policy{ID: "web-first", Schema: merge.SchemaRef{Name: merge.ProfileSchema},
		IdentityGraph: merge.IdentityGraph{Type: merge.GraphPDG}, AttributeMerge: merge.AttributeMerge{Type: merge.DataSetPrecedence, Order: []string{"web"}}}
)

// fakePolicies resolves as the merge-policy store's contract says
// (policyStore.Resolve): an id, or the class's default.
type fakePolicies []merge.Policy

func (f fakePolicies) Resolve(_ context.Context, id, schemaName string) (merge.Policy, error) {
	for _, p := range f {
		if id == "" && p.Default && p.Schema.Name == schemaName {
			return p, nil
		}
		if id != "" && p.ID == id {
			if p.Schema.Name != schemaName {
				return merge.Policy{}, fault.E(fault.Invalid, "MERGE-POLICY-SCHEMA", "the merge policy is for another class")
			}
			return p, nil
		}
	}
	if id == "" {
		return merge.Policy{}, fault.E(fault.Unprocessable, "MERGE-POLICY-NO-DEFAULT", "the class has no default merge policy")
	}
	return merge.Policy{}, fault.E(fault.NotFound, "MERGE-POLICY-NOT-FOUND", "no such merge policy")
}

func testGraph() *fakeGraph {
	g := &fakeGraph{
		clusters: [][]identity.ID{{jane, ecid}, crowd},
		frags: map[identity.ID][]merge.Fragment{
			jane: {{Identity: jane.Key(), Dataset: "crm", TS: 2000, Src: "batch:0000000001000:CRMBATCH:00000:0000000001", Batch: "CRMBATCH",
				Record: map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "Jane"}}, "loyalty": map[string]any{"tier": "gold"}}}},
			ecid: {{Identity: ecid.Key(), Dataset: "web", TS: 1000, Src: "kinesis:shardId-000000000000:7", Batch: "kinesis:shardId-000000000000:7",
				Record: map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "J", "lastName": "Doe"}}}}},
		},
		events: map[identity.ID][]merge.Event{
			jane: {{ID: "e1", Timestamp: 100, Record: map[string]any{"_id": "e1"}}, {ID: "e3", Timestamp: 300, Record: map[string]any{"_id": "e3"}}},
			ecid: {{ID: "e2", Timestamp: 200, Record: map[string]any{"_id": "e2"}}},
		},
	}
	for _, c := range crowd {
		g.frags[c] = []merge.Fragment{{Identity: c.Key(), Dataset: "crm", TS: 1, Src: "s", Record: map[string]any{"x": c.Value}}}
	}
	return g
}

// newTestRouterOf serves g with a cluster cap of 2 and the built-in
// merge policies, kept in the process.
func newTestRouterOf(g *fakeGraph) *handler {
	h, err := newService(&profile.Service{Graph: g, Events: g, ClusterCap: 2}, nil, "prod")
	if err != nil {
		panic(err) // the routes of profile-api and of its topology differ
	}
	h.graph = newGraph(graphOf(g.clusters), nil, 2)
	return h
}

func newTestRouter() *handler { return newTestRouterOf(testGraph()) }

func get(t *testing.T, h *handler, route string, q url.Values, params map[string]string) (int, map[string]any) {
	t.Helper()
	resp, err := h.Handle(context.Background(), events.APIGatewayV2HTTPRequest{
		// url.Values.Encode writes a space as "+", which a query reads as a plus
		// sign (RFC 3986); API Gateway passes the query as the client wrote it.
		RouteKey: route, RawQueryString: strings.ReplaceAll(q.Encode(), "+", "%20"), PathParameters: params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r1"},
	})
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	var body map[string]any
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
	}
	return resp.StatusCode, body
}

func post(t *testing.T, h *handler, route, body string) (int, map[string]any) {
	t.Helper()
	resp, err := h.Handle(context.Background(), events.APIGatewayV2HTTPRequest{
		RouteKey: route, Body: body, RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r1"},
	})
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, resp.Body)
	}
	return resp.StatusCode, out
}

// noData is AEP's entry for an identity without profile data.
func noData(entityID string, identities ...identity.ID) map[string]any {
	ids := []any{}
	for i, id := range identities {
		m := map[string]any{"namespace": map[string]any{"code": id.Namespace}, "id": id.Value}
		if i == 0 {
			m["primary"] = true
		}
		ids = append(ids, m)
	}
	return map[string]any{
		"entityId": entityID, "mergePolicy": map[string]any{"id": merge.DefaultProfilePolicyID},
		"sources": []any{""}, "identities": ids, "entity": map[string]any{}, "lastModifiedAt": "1970-01-01T00:00:00Z",
	}
}

func TestLookup(t *testing.T) {
	h := newTestRouter()
	q := url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {" Jane@Example.com "}, "entityIdNS": {"email"}}
	status, body := get(t, h, routeEntities, q, nil)
	if status != http.StatusOK || len(body) != 1 {
		t.Fatalf("got %d %v, want 200 with one entity", status, body)
	}
	for id, v := range body {
		e := v.(map[string]any)
		want := map[string]any{
			"entityId":       id,
			"mergePolicy":    map[string]any{"id": merge.DefaultProfilePolicyID},
			"sources":        []any{"crm", "web"},
			"lastModifiedAt": "1970-01-01T00:00:02Z",
			"identities": []any{
				map[string]any{"namespace": map[string]any{"code": "Email"}, "id": "jane@example.com", "primary": true},
				map[string]any{"namespace": map[string]any{"code": "ECID"}, "id": ecid.Value},
			},
			"entity": map[string]any{
				"person":  map[string]any{"name": map[string]any{"firstName": "Jane", "lastName": "Doe"}},
				"loyalty": map[string]any{"tier": "gold"},
			},
		}
		if diff := cmp.Diff(want, e); diff != "" {
			t.Errorf("entity (-want +got):\n%s", diff)
		}
	}
}

func TestLookupFields(t *testing.T) {
	h := newTestRouter()
	h.policies = append(fakePolicies(merge.Defaults()), nonePolicy, webFirst)
	base := func(extra ...string) url.Values {
		q := url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {"jane@example.com"}, "entityIdNS": {"Email"}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return q
	}
	tests := []struct {
		name       string
		q          url.Values
		wantStatus int
		wantEntity map[string]any
		wantCode   string
	}{
		{"fields", base("fields", "person.name.lastName"), 200,
			map[string]any{"person": map[string]any{"name": map[string]any{"lastName": "Doe"}}}, ""},
		{"default policy by id", base("mergePolicyId", merge.DefaultProfilePolicyID, "fields", "loyalty"), 200,
			map[string]any{"loyalty": map[string]any{"tier": "gold"}}, ""},
		{"none reads the asked identity's fragments only", base("mergePolicyId", nonePolicy.ID), 200,
			map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "Jane"}}, "loyalty": map[string]any{"tier": "gold"}}, ""},
		{"dataSetPrecedence leaves unlisted datasets out", base("mergePolicyId", webFirst.ID), 200,
			map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "J", "lastName": "Doe"}}}, ""},
		{"unknown policy", base("mergePolicyId", "nope"), 404, nil, "MERGE-POLICY-NOT-FOUND"},
		{"policy of another class", base("mergePolicyId", merge.DefaultEventPolicyID), 400, nil, "MERGE-POLICY-SCHEMA"},
		{"unknown identity", base("entityId", "nobody@example.com"), 200, map[string]any{}, ""},
		{"cluster over the cap", base("entityId", "C-1", "entityIdNS", "CRMID"), 422, nil, profile.CodeClusterTooLarge},
		{"none under the cap whatever the cluster", base("entityId", "C-1", "entityIdNS", "CRMID", "mergePolicyId", nonePolicy.ID), 200,
			map[string]any{"x": "C-1"}, ""},
		{"bad provenance", base("provenance", "maybe"), 400, nil, "REQ-PARAM"},
		{"unknown namespace", base("entityIdNS", "Nope"), 400, nil, identity.CodeUnknownNamespace},
		{"blocked value", base("entityId", "anonymous"), 400, nil, identity.CodeBlockedValue},
		{"missing entityId", url.Values{"schema.name": {merge.ProfileSchema}, "entityIdNS": {"Email"}}, 400, nil, "REQ-PARAM"},
		{"unknown schema", base("schema.name", "_xdm.context.other"), 400, nil, "REQ-SCHEMA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, h, routeEntities, tt.q, nil)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%v)", status, tt.wantStatus, body)
			}
			if tt.wantCode != "" {
				if body["code"] != tt.wantCode {
					t.Errorf("code %v, want %s", body["code"], tt.wantCode)
				}
				return
			}
			for _, v := range body {
				if diff := cmp.Diff(tt.wantEntity, v.(map[string]any)["entity"]); diff != "" {
					t.Errorf("entity (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestEventsPaging(t *testing.T) {
	h := newTestRouter()
	q := url.Values{
		"schema.name": {merge.EventSchema}, "relatedSchema.name": {merge.ProfileSchema},
		"relatedEntityId": {"jane@example.com"}, "relatedEntityIdNS": {"Email"}, "limit": {"2"},
	}
	var ids []string
	for page := 0; page < 5; page++ {
		status, body := get(t, h, routeEntities, q, nil)
		if status != 200 {
			t.Fatalf("status %d: %v", status, body)
		}
		for _, c := range body["children"].([]any) {
			ids = append(ids, c.(map[string]any)["entityId"].(string))
		}
		href := body["_links"].(map[string]any)["next"].(map[string]any)["href"].(string)
		if href == "" {
			break
		}
		u, err := url.Parse(href)
		if err != nil {
			t.Fatal(err)
		}
		q = u.Query()
	}
	if diff := cmp.Diff([]string{"e1", "e2", "e3"}, ids); diff != "" {
		t.Errorf("timeline over pages (-want +got):\n%s", diff)
	}
}

// TestLookupProvenance: provenance=true adds, for each returned leaf, the
// dataset, batch (none for a streamed record), source, time and identity
// it came from, within fields.
func TestLookupProvenance(t *testing.T) {
	h := newTestRouter()
	q := url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {"jane@example.com"}, "entityIdNS": {"Email"},
		"provenance": {"true"}, "fields": {"person.name,identities"}}
	status, body := get(t, h, routeEntities, q, nil)
	if status != 200 {
		t.Fatalf("status %d: %v", status, body)
	}
	e := body[profile.EntityID(jane)].(map[string]any)
	wantEntity := map[string]any{
		"person": map[string]any{"name": map[string]any{"firstName": "Jane", "lastName": "Doe"}},
		"identities": []any{
			map[string]any{"id": "jane@example.com", "namespace": map[string]any{"code": "Email"}, "primary": true},
			map[string]any{"id": ecid.Value, "namespace": map[string]any{"code": "ECID"}},
		},
	}
	if diff := cmp.Diff(wantEntity, e["entity"]); diff != "" {
		t.Errorf("entity (-want +got):\n%s", diff)
	}
	want := map[string]any{
		"person.name.firstName": map[string]any{"dataSetId": "crm", "batchId": "CRMBATCH", "source": "batch:0000000001000:CRMBATCH:00000:0000000001",
			"timestamp": "1970-01-01T00:00:02.000Z", "identity": map[string]any{"namespace": map[string]any{"code": "Email"}, "id": "jane@example.com"}},
		"person.name.lastName": map[string]any{"dataSetId": "web", "source": "kinesis:shardId-000000000000:7",
			"timestamp": "1970-01-01T00:00:01.000Z", "identity": map[string]any{"namespace": map[string]any{"code": "ECID"}, "id": ecid.Value}},
	}
	if diff := cmp.Diff(want, e["provenance"]); diff != "" {
		t.Errorf("provenance (-want +got):\n%s", diff)
	}
}

// TestLookupNoDataEntries: an unknown identity and an entityId without
// entityIdNS (an AEP XID) answer 200 with AEP's no-data entry.
func TestLookupNoDataEntries(t *testing.T) {
	h := newTestRouter()
	nobody := identity.ID{Namespace: "Email", Value: "nobody@example.com"}
	tests := []struct {
		name string
		q    url.Values
		want map[string]any
	}{
		{"unknown identity", url.Values{"entityId": {"Nobody@example.com"}, "entityIdNS": {"email"}},
			map[string]any{profile.EntityID(nobody): noData(profile.EntityID(nobody), nobody)}},
		{"an XID", url.Values{"entityId": {"BVrqzwVv7o2p3naHvnsWpqZXv3KJgA"}},
			map[string]any{"BVrqzwVv7o2p3naHvnsWpqZXv3KJgA": noData("BVrqzwVv7o2p3naHvnsWpqZXv3KJgA")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Set("schema.name", merge.ProfileSchema)
			status, body := get(t, h, routeEntities, tt.q, nil)
			if status != 200 {
				t.Fatalf("status %d: %v", status, body)
			}
			if diff := cmp.Diff(tt.want, body); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// aepPostBody is AEP's documented POST /access/entities example
// ("Access profile data by list of identities"), with our identities.
const aepPostBody = `{
  "schema": {"name": "_xdm.context.profile"},
  "fields": ["identities", "person.name", "workEmail"],
  "identities": [
    {"entityId": "12345678901234567890123456789012345678", "entityIdNS": {"code": "ECID"}},
    {"entityId": "89149270342662559642753730269986316900", "entityIdNS": {"code": "ECID"}},
    {"entityId": "jane@example.com", "entityIdNS": {"code": "email"}},
    {"entityId": "GkouAW-2u-7iWt5vQ9u2wm40JOZY"}
  ],
  "timeFilter": {"startTime": 1539838505, "endTime": 1539838510},
  "limit": 10,
  "orderby": "-timestamp",
  "withCA": true
}`

func TestEntitiesPost(t *testing.T) {
	h := newTestRouter()
	status, body := post(t, h, routeEntitiesPost, aepPostBody)
	if status != 200 {
		t.Fatalf("status %d: %v", status, body)
	}
	unknown := identity.ID{Namespace: "ECID", Value: "89149270342662559642753730269986316900"}
	merged := map[string]any{"name": map[string]any{"firstName": "Jane", "lastName": "Doe"}}
	want := map[string]any{
		profile.EntityID(unknown):      noData(profile.EntityID(unknown), unknown),
		"GkouAW-2u-7iWt5vQ9u2wm40JOZY": noData("GkouAW-2u-7iWt5vQ9u2wm40JOZY"),
	}
	if diff := cmp.Diff(want[profile.EntityID(unknown)], body[profile.EntityID(unknown)]); diff != "" {
		t.Errorf("unknown identity's entry (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want["GkouAW-2u-7iWt5vQ9u2wm40JOZY"], body["GkouAW-2u-7iWt5vQ9u2wm40JOZY"]); diff != "" {
		t.Errorf("XID's entry (-want +got):\n%s", diff)
	}
	if len(body) != 4 {
		t.Errorf("%d entries, want one per asked identity (4)", len(body))
	}
	for _, asked := range []identity.ID{ecid, jane} {
		e, ok := body[profile.EntityID(asked)].(map[string]any)
		if !ok {
			t.Fatalf("no entry for %s", asked.Key())
		}
		ent := e["entity"].(map[string]any)
		if diff := cmp.Diff(merged, ent["person"]); diff != "" {
			t.Errorf("%s: person (-want +got):\n%s", asked.Key(), diff)
		}
		ids := ent["identities"].([]any)
		if first := ids[0].(map[string]any); len(ids) != 2 || first["id"] != asked.Value || first["primary"] != true {
			t.Errorf("%s: entity.identities %v, want the cluster, the asked one first and primary", asked.Key(), ids)
		}
		if _, ok := e["provenance"]; ok {
			t.Errorf("%s: provenance not asked for, yet answered", asked.Key())
		}
	}

	// provenance: true in the body.
	status, body = post(t, h, routeEntitiesPost, `{"schema":{"name":"_xdm.context.profile"},"provenance":true,"fields":["loyalty"],
		"identities":[{"entityId":"jane@example.com","entityIdNS":{"code":"Email"}}]}`)
	if status != 200 {
		t.Fatalf("status %d: %v", status, body)
	}
	prov := body[profile.EntityID(jane)].(map[string]any)["provenance"].(map[string]any)
	if len(prov) != 1 || prov["loyalty.tier"].(map[string]any)["dataSetId"] != "crm" {
		t.Errorf("provenance %v, want loyalty.tier from crm only", prov)
	}
}

func TestEntitiesPostRefusals(t *testing.T) {
	h := newTestRouter()
	many := make([]string, MaxEntitiesPerRequest+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"entityId":"p%d@example.com","entityIdNS":{"code":"Email"}}`, i)
	}
	one := `{"entityId":"jane@example.com","entityIdNS":{"code":"Email"}}`
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"more than 100 identities", `{"schema":{"name":"_xdm.context.profile"},"identities":[` + strings.Join(many, ",") + `]}`, 400, CodeTooManyIdentities},
		{"no identities", `{"schema":{"name":"_xdm.context.profile"},"identities":[]}`, 400, "REQ-PARAM"},
		{"an entry without entityId", `{"schema":{"name":"_xdm.context.profile"},"identities":[{"entityIdNS":{"code":"Email"}}]}`, 400, "REQ-PARAM"},
		{"no schema", `{"identities":[` + one + `]}`, 400, "REQ-PARAM"},
		{"another schema", `{"schema":{"name":"_xdm.context.other"},"identities":[` + one + `]}`, 400, "REQ-SCHEMA"},
		{"an unknown field", `{"schema":{"name":"_xdm.context.profile"},"identities":[` + one + `],"nope":1}`, 400, "REQ-JSON"},
		{"a blocked value names its entry", `{"schema":{"name":"_xdm.context.profile"},"identities":[{"entityId":"XID"},` + one + `,{"entityId":"anonymous","entityIdNS":{"code":"Email"}}]}`, 400, identity.CodeBlockedValue},
		{"unknown policy", `{"schema":{"name":"_xdm.context.profile"},"mergePolicyId":"nope","identities":[` + one + `]}`, 404, "MERGE-POLICY-NOT-FOUND"},
		{"a cluster over the cap", `{"schema":{"name":"_xdm.context.profile"},"identities":[` + one + `,{"entityId":"C-2","entityIdNS":{"code":"CRMID"}}]}`, 422, profile.CodeClusterTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, h, routeEntitiesPost, tt.body)
			if status != tt.wantStatus || body["code"] != tt.wantCode {
				t.Fatalf("got %d %v, want %d %s", status, body, tt.wantStatus, tt.wantCode)
			}
			if tt.wantCode == identity.CodeBlockedValue && !strings.HasPrefix(body["message"].(string), "identities[2]: ") {
				t.Errorf("message %q does not name the entry", body["message"])
			}
		})
	}
}

// TestEntitiesPostAnswerBound: 100 profiles of about 30 KB each pass
// topology.MaxPageBytes: 413, never a truncated map or a response Lambda
// cannot return.
func TestEntitiesPostAnswerBound(t *testing.T) {
	g := testGraph()
	big := strings.Repeat("x", 30_000)
	var ids []string
	for i := range MaxEntitiesPerRequest {
		id := identity.ID{Namespace: "Email", Value: fmt.Sprintf("big%d@example.com", i)}
		g.clusters = append(g.clusters, []identity.ID{id})
		g.frags[id] = []merge.Fragment{{Identity: id.Key(), Dataset: "crm", TS: 1, Src: "s", Record: map[string]any{"note": big}}}
		ids = append(ids, fmt.Sprintf(`{"entityId":%q,"entityIdNS":{"code":"Email"}}`, id.Value))
	}
	h := newTestRouterOf(g)
	body := func(n int) string {
		return `{"schema":{"name":"_xdm.context.profile"},"identities":[` + strings.Join(ids[:n], ",") + `]}`
	}
	if status, out := post(t, h, routeEntitiesPost, body(MaxEntitiesPerRequest)); status != 413 || out["code"] != CodeAnswerTooLarge {
		t.Errorf("100 large profiles: got %d %v, want 413 %s", status, out["code"], CodeAnswerTooLarge)
	}
	if status, out := post(t, h, routeEntitiesPost, body(50)); status != 200 || len(out) != 50 {
		t.Errorf("50 large profiles: got %d with %d entries, want 200 with 50", status, len(out))
	}
}

// TestEventsAEPShape checks the events answer against AEP's example: a
// limit past 1000 reads 1000, _page.start is the page's first event,
// _links.next.href starts with "/entities?" and keeps the query.
func TestEventsAEPShape(t *testing.T) {
	g := testGraph()
	for i := range 1005 {
		g.events[jane] = append(g.events[jane], merge.Event{ID: fmt.Sprintf("m%04d", i), Timestamp: int64(1000 + i), Record: map[string]any{"n": i}})
	}
	h := newTestRouterOf(g)
	q := url.Values{
		"schema.name": {merge.EventSchema}, "relatedSchema.name": {merge.ProfileSchema},
		"relatedEntityId": {"jane@example.com"}, "relatedEntityIdNS": {"Email"}, "limit": {"5000"}, "fields": {"n"}, "startTime": {"1000"},
	}
	status, body := get(t, h, routeEntities, q, nil)
	if status != 200 {
		t.Fatalf("status %d: %v", status, body)
	}
	children := body["children"].([]any)
	page := body["_page"].(map[string]any)
	if len(children) != 1000 || page["count"] != float64(1000) || page["orderby"] != "timestamp" || page["start"] != "m0000" || page["next"] == "" {
		t.Errorf("_page %v with %d children, want 1000 from m0000 and a next", page, len(children))
	}
	first := children[0].(map[string]any)
	if first["relatedEntityId"] != profile.EntityID(jane) || first["timestamp"] != float64(1000) || first["lastModifiedAt"] != "1970-01-01T00:00:01Z" {
		t.Errorf("first child %v", first)
	}
	href := body["_links"].(map[string]any)["next"].(map[string]any)["href"].(string)
	rest, ok := strings.CutPrefix(href, "/entities?")
	if !ok {
		t.Fatalf("next href %q does not start with /entities?", href)
	}
	nq, err := url.ParseQuery(rest)
	if err != nil || nq.Get("start") != page["next"] || nq.Get("fields") != "n" || nq.Get("relatedEntityId") != "jane@example.com" {
		t.Errorf("next href %q does not keep the query and add start", href)
	}
	status, body = get(t, h, routeEntities, nq, nil)
	if status != 200 || len(body["children"].([]any)) != 5 || body["_links"].(map[string]any)["next"].(map[string]any)["href"] != "" {
		t.Errorf("second page: %d, %v", status, body["_page"])
	}

	over := url.Values{"schema.name": {merge.EventSchema}, "relatedSchema.name": {merge.ProfileSchema}, "relatedEntityId": {"C-1"}, "relatedEntityIdNS": {"CRMID"}}
	if status, body := get(t, h, routeEntities, over, nil); status != 422 || body["code"] != profile.CodeClusterTooLarge {
		t.Errorf("events of a cluster over the cap: %d %v, want 422", status, body)
	}
	none := url.Values{"schema.name": {merge.EventSchema}, "relatedSchema.name": {merge.ProfileSchema}, "relatedEntityId": {"nobody@example.com"}, "relatedEntityIdNS": {"Email"}}
	if status, body := get(t, h, routeEntities, none, nil); status != 200 || len(body["children"].([]any)) != 0 {
		t.Errorf("events of an unknown identity: %d %v, want 200 with no children", status, body)
	}
	none.Del("relatedEntityIdNS")
	none.Set("relatedEntityId", "GkouAW-2Xkftzer3bBtHiW8GkaFL")
	if status, body := get(t, h, routeEntities, none, nil); status != 200 || len(body["children"].([]any)) != 0 || body["_page"].(map[string]any)["next"] != "" {
		t.Errorf("events of an XID: %d %v, want 200 with no children", status, body)
	}
}

// TestEventsPost follows AEP's multi-profile events POST: one page per
// asked identity, and _links.next.payload to POST for the next page.
func TestEventsPost(t *testing.T) {
	h := newTestRouter()
	body := `{"schema":{"name":"_xdm.context.experienceevent"},"relatedSchema":{"name":"_xdm.context.profile"},
		"identities":[{"relatedEntityId":"jane@example.com","relatedEntityIdNS":{"code":"Email"}},{"relatedEntityId":"GkouAW-yD9aoRCPhRYROJ-TetAFW"}],
		"timeFilter":{"startTime":150},"limit":1,"orderby":"-timestamp"}`
	var got []string
	for i := range 5 {
		status, out := post(t, h, routeEntitiesPost, body)
		if status != 200 {
			t.Fatalf("status %d: %v", status, out)
		}
		if xid, ok := out["GkouAW-yD9aoRCPhRYROJ-TetAFW"].(map[string]any); (i == 0) != ok || ok && len(xid["children"].([]any)) != 0 {
			t.Errorf("page %d: the XID's entry is %v; want an empty page on the first answer only (the next payload names jane alone)", i, xid)
		}
		e := out[profile.EntityID(jane)].(map[string]any)
		for _, c := range e["children"].([]any) {
			got = append(got, c.(map[string]any)["entityId"].(string))
		}
		next := e["_links"].(map[string]any)["next"].(map[string]any)
		if next["href"] == "" {
			break
		}
		if next["href"] != "/entities" {
			t.Fatalf("next href %v, want /entities", next["href"])
		}
		b, _ := json.Marshal(next["payload"])
		body = string(b)
	}
	if diff := cmp.Diff([]string{"e3", "e2"}, got); diff != "" {
		t.Errorf("events over pages (-want +got):\n%s", diff)
	}
	if status, out := post(t, h, routeEntitiesPost, `{"schema":{"name":"_xdm.context.experienceevent"},"identities":[{"relatedEntityId":"x"}]}`); status != 400 || out["code"] != "REQ-SCHEMA" {
		t.Errorf("events POST without relatedSchema: %d %v, want 400 REQ-SCHEMA", status, out)
	}
}

func TestClusterMembers(t *testing.T) {
	h := newTestRouter()
	tests := []struct {
		q          url.Values
		wantStatus int
		wantIDs    []string
	}{
		{url.Values{"namespace": {"ECID"}, "id": {ecid.Value}}, 200, []string{ecid.Value, jane.Value}},
		{url.Values{"nsId": {"6"}, "id": {"JANE@example.com"}}, 200, []string{jane.Value, ecid.Value}},
		{url.Values{"ns": {"Email"}, "id": {"nobody@example.com"}}, 404, nil},
		{url.Values{"id": {"x"}}, 400, nil},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			status, body := get(t, h, routeMembers, tt.q, nil)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d", status, tt.wantStatus)
			}
			if tt.wantIDs == nil {
				return
			}
			var got []string
			for _, m := range body["members"].([]any) {
				got = append(got, m.(map[string]any)["id"].(string))
			}
			if diff := cmp.Diff(tt.wantIDs, got); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSampleEvent(t *testing.T) {
	var ev events.APIGatewayV2HTTPRequest
	eventsample.Decode(t, "profile-api-lookup.json", &ev)
	resp, err := newTestRouter().Handle(context.Background(), ev)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("got %v %d %s, want 200", err, resp.StatusCode, resp.Body)
	}
}

func TestNewHandlerNamesMissingEnv(t *testing.T) {
	_, err := newHandler(context.Background(), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "MOSAIC_PROFILE_TABLE") {
		t.Fatalf("got %v, want an error naming MOSAIC_PROFILE_TABLE", err)
	}
}

// TestNewHandlerTakesTheClusterCap: MOSAIC_CLUSTER_CAP bounds profile
// reads and the identity API alike.
func TestNewHandlerTakesTheClusterCap(t *testing.T) {
	env := map[string]string{"MOSAIC_PROFILE_TABLE": "p", "MOSAIC_CATALOG_TABLE": "c", "MOSAIC_LANDING_BUCKET": "b",
		"MOSAIC_CLUSTER_CAP": "7"}
	t.Setenv("AWS_REGION", "us-east-1") // the SDK reads its configuration from the process
	h, err := newHandler(context.Background(), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := h.profiles.(*profile.Service); !ok || s.ClusterCap != 7 {
		t.Errorf("profile reads: %#v, want cluster cap 7", h.profiles)
	}
	if g, ok := h.graph.(*profile.GraphService); !ok || g.ClusterCap != 7 {
		t.Errorf("identity API: %#v, want cluster cap 7", h.graph)
	}
}
