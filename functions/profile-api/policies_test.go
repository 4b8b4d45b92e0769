package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

// sendBody calls a route with a JSON body and returns the status and the body.
func sendBody(t *testing.T, h *handler, route string, params map[string]string, body string) (int, string) {
	t.Helper()
	resp, err := h.Handle(context.Background(), events.APIGatewayV2HTTPRequest{
		RouteKey: route, PathParameters: params, Body: body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r1"},
	})
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	return resp.StatusCode, resp.Body
}

// sendPolicy calls a route that answers a policy and decodes it.
func sendPolicy(t *testing.T, h *handler, route, id, body string, wantStatus int) merge.Policy {
	t.Helper()
	status, got := sendBody(t, h, route, map[string]string{"id": id}, body)
	if status != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", route, id, status, got, wantStatus)
	}
	var p merge.Policy
	if err := json.Unmarshal([]byte(got), &p); err != nil {
		t.Fatalf("%s: answer %s is not a policy: %v", route, got, err)
	}
	return p
}

func wantCode(t *testing.T, what string, status int, body string, wantStatus int, code string) {
	t.Helper()
	var e struct{ Code string }
	_ = json.Unmarshal([]byte(body), &e)
	if status != wantStatus || e.Code != code {
		t.Errorf("%s: %d %s, want %d %s", what, status, body, wantStatus, code)
	}
}

// aepCreate is the body of AEP's "Create a merge policy" example.
const aepCreate = `{
    "name": "Loyalty members ordered by ID",
    "identityGraph" : {"type": "none"},
    "attributeMerge" : {"type":"dataSetPrecedence", "order" : ["5b76f86b85d0e00000be5c8b", "5b76f8d787a6af01e2ceda18"]},
    "schema": {"name":"_xdm.context.profile"},
    "default": true
}`

// TestPolicyRoutes walks AEP's merge policy calls: create, read, PATCH the
// default, PUT, bulk-get, the limit, delete, and a read of a class whose
// default was deleted.
func TestPolicyRoutes(t *testing.T) {
	h := newTestRouter()
	created := sendPolicy(t, h, routePolicyCreate, "", aepCreate, http.StatusCreated)
	want := merge.Policy{
		ID: created.ID, Name: "Loyalty members ordered by ID", Schema: merge.SchemaRef{Name: merge.ProfileSchema},
		IdentityGraph:  merge.IdentityGraph{Type: merge.GraphNone},
		AttributeMerge: merge.AttributeMerge{Type: merge.DataSetPrecedence, Order: []string{"5b76f86b85d0e00000be5c8b", "5b76f8d787a6af01e2ceda18"}},
		Default:        true, Version: 1, UpdateEpoch: created.UpdateEpoch,
	}
	if d := cmp.Diff(want, created); d != "" || len(created.ID) != 36 || created.UpdateEpoch == 0 {
		t.Errorf("created (-want +got):\n%s (id %q)", d, created.ID)
	}
	if got := sendPolicy(t, h, routePolicy, created.ID, "", http.StatusOK); !cmp.Equal(got, created) {
		t.Errorf("GET %s = %+v, want the policy created", created.ID, got)
	}
	if old := sendPolicy(t, h, routePolicy, merge.DefaultProfilePolicyID, "", http.StatusOK); old.Default || old.Version != 2 {
		t.Errorf("built-in default after a new default: %+v, want not default, version 2", old)
	}

	// AEP's PATCH example makes the built-in policy the default again.
	patched := sendPolicy(t, h, routePolicyPatch, merge.DefaultProfilePolicyID, `{"op":"add","path":"/default","value":"true"}`, http.StatusOK)
	if !patched.Default || patched.Version != 3 {
		t.Errorf("patched %+v, want the default at version 3", patched)
	}
	if p := sendPolicy(t, h, routePolicy, created.ID, "", http.StatusOK); p.Default || p.Version != 2 {
		t.Errorf("policy replaced as default: %+v, want not default, version 2", p)
	}
	p := sendPolicy(t, h, routePolicyPatch, created.ID, `[{"op":"test","path":"/version","value":2},{"op":"replace","path":"/identityGraph.type","value":"pdg"},{"op":"add","path":"/attributeMerge/order/-","value":"dsWeb"}]`, http.StatusOK)
	if p.IdentityGraph.Type != merge.GraphPDG || len(p.AttributeMerge.Order) != 3 || p.Version != 3 {
		t.Errorf("patched by an RFC 6902 array: %+v", p)
	}
	status, body := sendBody(t, h, routePolicyPatch, map[string]string{"id": created.ID}, `{"op":"replace","path":"/schema.name","value":"_xdm.context.experienceevent"}`)
	wantCode(t, "PATCH of the class", status, body, 400, "MERGE-POLICY-SCHEMA-CHANGE")
	status, body = sendBody(t, h, routePolicyPatch, map[string]string{"id": "nope"}, `{"op":"add","path":"/default","value":true}`)
	wantCode(t, "PATCH of an unknown policy", status, body, 404, "MERGE-POLICY-NOT-FOUND")

	// AEP's PUT example sends the policy back with imsOrgId, version and updateEpoch.
	put := sendPolicy(t, h, routePolicyPut, created.ID, `{
        "name": "Loyalty members ordered by ID", "imsOrgId": "ACME@AdobeOrg",
        "schema": {"name": "_xdm.context.profile"}, "version": 1,
        "identityGraph": {"type": "none"},
        "attributeMerge": {"type": "dataSetPrecedence", "order": ["5b76f86b85d0e00000be5c8b"]},
        "default": true, "updateEpoch": 1551898378}`, http.StatusOK)
	if put.Version != 4 || !put.Default || put.IdentityGraph.Type != merge.GraphNone || len(put.AttributeMerge.Order) != 1 {
		t.Errorf("PUT answered %+v, want version 4, the default, none, one dataset", put)
	}
	status, body = sendBody(t, h, routePolicyPut, map[string]string{"id": created.ID}, `{"id":"other","name":"x","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"none"},"attributeMerge":{"type":"timestampOrdered"}}`)
	wantCode(t, "PUT with another id", status, body, 400, "MERGE-POLICY-ID")
	status, body = sendBody(t, h, routePolicyPut, map[string]string{"id": created.ID}, `{"name":"x","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"none"},"attributeMerge":{"type":"dataSetPrecedence"}}`)
	wantCode(t, "PUT without order", status, body, 400, "MERGE-POLICY-ORDER")

	status, body = sendBody(t, h, routePolicyBulkGet, nil, fmt.Sprintf(`{"ids":[{"id":%q},{"id":%q},{"id":"gone"}]}`, created.ID, merge.DefaultEventPolicyID))
	var bulk struct {
		Results map[string]merge.Policy
		Errors  map[string]struct{ Status int }
	}
	if err := json.Unmarshal([]byte(body), &bulk); err != nil || status != http.StatusMultiStatus {
		t.Fatalf("bulk-get: %d %s", status, body)
	}
	if len(bulk.Results) != 2 || bulk.Results[created.ID].Version != 4 || bulk.Results[merge.DefaultEventPolicyID].Schema.Name != merge.EventSchema || bulk.Errors["gone"].Status != 404 {
		t.Errorf("bulk-get = %s, want the two policies and a 404 for gone", body)
	}
	status, body = sendBody(t, h, routePolicyBulkGet, nil, `{"ids":[]}`)
	wantCode(t, "bulk-get of nothing", status, body, 400, "REQ-BODY")

	// Three more fill the class (with the built-in default, five); a sixth is refused.
	for i := range 3 {
		sendPolicy(t, h, routePolicyCreate, "", fmt.Sprintf(`{"name":"extra %d","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"pdg"},"attributeMerge":{"type":"timestampOrdered"}}`, i), http.StatusCreated)
	}
	status, body = sendBody(t, h, routePolicyCreate, nil, `{"name":"sixth","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"pdg"},"attributeMerge":{"type":"timestampOrdered"}}`)
	wantCode(t, "sixth policy", status, body, 409, "MERGE-POLICY-LIMIT")
	sendPolicy(t, h, routePolicyCreate, "", `{"name":"events","schema":{"name":"_xdm.context.experienceevent"},"identityGraph":{"type":"none"},"attributeMerge":{"type":"timestampOrdered"}}`, http.StatusCreated)

	// Deleting the default: 200 with no body; then the class has none.
	if status, body = sendBody(t, h, routePolicyDelete, map[string]string{"id": created.ID}, ""); status != 200 || body != "" {
		t.Errorf("DELETE: %d %q, want 200 and no body", status, body)
	}
	status, body = sendBody(t, h, routePolicy, map[string]string{"id": created.ID}, "")
	wantCode(t, "GET of a deleted policy", status, body, 404, "MERGE-POLICY-NOT-FOUND")
	status, body = sendBody(t, h, routePolicyDelete, map[string]string{"id": created.ID}, "")
	wantCode(t, "DELETE again", status, body, 404, "MERGE-POLICY-NOT-FOUND")
	q := url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {"jane@example.com"}, "entityIdNS": {"Email"}}
	st, got := get(t, h, routeEntities, q, nil)
	if st != http.StatusUnprocessableEntity || got["code"] != "MERGE-POLICY-NO-DEFAULT" {
		t.Errorf("lookup without a default: %d %v, want 422 MERGE-POLICY-NO-DEFAULT", st, got)
	}
	q.Set("mergePolicyId", merge.DefaultProfilePolicyID)
	if st, got = get(t, h, routeEntities, q, nil); st != http.StatusOK {
		t.Errorf("lookup naming a policy without a default: %d %v, want 200", st, got)
	}
}

// TestPolicyEdge checks AEP's edge rules: one edge-active policy, which
// cannot be deleted while it is active.
func TestPolicyEdge(t *testing.T) {
	h := newTestRouter()
	edge := sendPolicy(t, h, routePolicyCreate, "", `{"name":"edge","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"pdg"},"attributeMerge":{"type":"timestampOrdered"},"isActiveOnEdge":"true"}`, http.StatusCreated)
	status, body := sendBody(t, h, routePolicyCreate, nil, `{"name":"edge 2","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"pdg"},"attributeMerge":{"type":"timestampOrdered"},"isActiveOnEdge":true}`)
	wantCode(t, "a second edge policy", status, body, 409, "MERGE-POLICY-EDGE")
	status, body = sendBody(t, h, routePolicyCreate, nil, `{"name":"event edge","schema":{"name":"_xdm.context.experienceevent"},"identityGraph":{"type":"pdg"},"attributeMerge":{"type":"timestampOrdered"},"isActiveOnEdge":true}`)
	wantCode(t, "an edge policy of events", status, body, 400, "MERGE-POLICY-EDGE-CLASS")
	status, body = sendBody(t, h, routePolicyDelete, map[string]string{"id": edge.ID}, "")
	wantCode(t, "delete an edge policy", status, body, 409, "MERGE-POLICY-EDGE-ACTIVE")
	sendPolicy(t, h, routePolicyPatch, edge.ID, `{"op":"replace","path":"/isActiveOnEdge","value":"false"}`, http.StatusOK)
	if status, body = sendBody(t, h, routePolicyDelete, map[string]string{"id": edge.ID}, ""); status != 200 {
		t.Errorf("delete after un-flagging: %d %s", status, body)
	}
}

// TestListPolicies checks the listing's filters, order and paging.
func TestListPolicies(t *testing.T) {
	h := newTestRouter()
	for _, body := range []string{
		`{"name":"B precedence","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"none"},"attributeMerge":{"type":"dataSetPrecedence","order":["ds1"]}}`,
		`{"name":"A edge","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"pdg"},"attributeMerge":{"type":"timestampOrdered"},"isActiveOnEdge":true}`,
		`{"name":"C events","schema":{"name":"_xdm.context.experienceevent"},"identityGraph":{"type":"none"},"attributeMerge":{"type":"timestampOrdered"}}`,
	} {
		sendPolicy(t, h, routePolicyCreate, "", body, http.StatusCreated)
	}
	names := func(body map[string]any) []string {
		var out []string
		for _, c := range body["children"].([]any) {
			out = append(out, c.(map[string]any)["name"].(string))
		}
		return out
	}
	const dflt = "Default timestamp-ordered"
	tests := []struct {
		q    string
		want []string
	}{
		{"", []string{"A edge", "B precedence", "C events", dflt, dflt}},
		{"orderBy=-name&schema.name=_xdm.context.profile", []string{dflt, "B precedence", "A edge"}},
		{"orderBy=%2Bname&schema.name=_xdm.context.experienceevent", []string{"C events", dflt}},
		{"default=true", []string{dflt, dflt}},
		{"default=false&identityGraph.type=none", []string{"B precedence", "C events"}},
		{"attributeMerge.type=dataSetPrecedence", []string{"B precedence"}},
		{"isActiveOnEdge=true", []string{"A edge"}},
		{"version=1&schema.name=_xdm.context.profile", []string{"A edge", "B precedence", dflt}},
		{"schema.name=_xdm.context.other", nil},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.q)
		status, body := get(t, h, routePolicies, q, nil)
		if status != 200 {
			t.Fatalf("?%s: %d %v", tt.q, status, body)
		}
		if d := cmp.Diff(tt.want, names(body)); d != "" {
			t.Errorf("?%s (-want +got):\n%s", tt.q, d)
		}
		if tc := body["_page"].(map[string]any)["totalCount"]; tc != float64(len(tt.want)) {
			t.Errorf("?%s: totalCount %v, want %d", tt.q, tc, len(tt.want))
		}
	}

	t.Run("paging", func(t *testing.T) {
		for _, order := range []string{"name", "-name"} {
			q := url.Values{"limit": {"2"}, "orderBy": {order}}
			var got []string
			for range 5 {
				status, body := get(t, h, routePolicies, q, nil)
				if status != 200 {
					t.Fatalf("%v: %d %v", q, status, body)
				}
				got = append(got, names(body)...)
				page := body["_page"].(map[string]any)
				if page["totalCount"] != float64(5) || page["pageSize"] != float64(len(names(body))) {
					t.Errorf("_page %v", page)
				}
				href := body["_links"].(map[string]any)["next"].(map[string]any)["href"].(string)
				if href == "" {
					break
				}
				if !strings.HasPrefix(href, "@/mergePolicies?") {
					t.Fatalf("next href %q", href)
				}
				u, _ := url.Parse(strings.TrimPrefix(href, "@"))
				q = u.Query()
			}
			want := []string{"A edge", "B precedence", "C events", dflt, dflt}
			if order == "-name" {
				slices.Reverse(want)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("orderBy=%s over pages of 2 (-want +got):\n%s", order, d)
			}
		}
	})
	t.Run("bad parameters", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=x", "orderBy=id", "default=yes", "version=first", "start=@@", "start=bm90LWpzb24"} {
			v, _ := url.ParseQuery(q)
			if status, body := get(t, h, routePolicies, v, nil); status != 400 {
				t.Errorf("?%s: %d %v, want 400", q, status, body)
			}
		}
	})
}

// TestLookupPolicies reads profiles under policies named by id.
func TestLookupPolicies(t *testing.T) {
	h := newTestRouter()
	none := sendPolicy(t, h, routePolicyCreate, "", `{"name":"no stitching","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"none"},"attributeMerge":{"type":"timestampOrdered"}}`, http.StatusCreated)
	base := func(policy string) url.Values {
		return url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {"jane@example.com"}, "entityIdNS": {"Email"}, "mergePolicyId": {policy}, "fields": {"person"}}
	}
	tests := []struct {
		name       string
		q          url.Values
		wantStatus int
		wantEntity map[string]any
		wantCode   string
	}{
		{"the default by id", base(merge.DefaultProfilePolicyID), 200,
			map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "Jane", "lastName": "Doe"}}}, ""},
		{"a policy created a moment ago", base(none.ID), 200,
			map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "Jane"}}}, ""},
		{"unknown policy", base("nope"), 404, nil, "MERGE-POLICY-NOT-FOUND"},
		{"policy of another class", base(merge.DefaultEventPolicyID), 400, nil, "MERGE-POLICY-SCHEMA"},
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
				e := v.(map[string]any)
				if d := cmp.Diff(tt.wantEntity, e["entity"]); d != "" {
					t.Errorf("entity (-want +got):\n%s", d)
				}
				if id := dig(e, "mergePolicy", "id"); id != tt.q.Get("mergePolicyId") {
					t.Errorf("mergePolicy.id %v, want %s", id, tt.q.Get("mergePolicyId"))
				}
			}
		})
	}
}

// countingPolicies is a policy catalog that counts its reads and can fail them.
type countingPolicies struct {
	*memoryPolicies
	reads int
	fail  error
}

func (c *countingPolicies) MergePolicies(ctx context.Context) ([]merge.Policy, error) {
	c.reads++
	if c.fail != nil {
		return nil, c.fail
	}
	return c.memoryPolicies.MergePolicies(ctx)
}

// TestPolicyCache checks what a process keeps: a second of freshness, an
// unknown id read at once, changes through the process seen at once.
func TestPolicyCache(t *testing.T) {
	ctx := context.Background()
	cat := &countingPolicies{memoryPolicies: newMemoryPolicies()}
	clock := time.Unix(1_700_000_000, 0)
	pc := newPolicies(cat)
	pc.now = func() time.Time { return clock }
	resolve := func(id, schema string) (merge.Policy, error) { return pc.Resolve(ctx, id, schema) }

	if p, err := resolve("", merge.ProfileSchema); err != nil || p.ID != merge.DefaultProfilePolicyID || cat.reads != 1 {
		t.Fatalf("first read: %v %v after %d reads", p.ID, err, cat.reads)
	}
	for range 10 {
		_, _ = resolve(merge.DefaultEventPolicyID, merge.EventSchema)
	}
	if cat.reads != 1 {
		t.Errorf("%d reads within a second, want 1", cat.reads)
	}

	// Another process creates a policy and makes it the default.
	other, err := cat.CreateMergePolicy(ctx, merge.Policy{ID: "other", Name: "other", Schema: merge.SchemaRef{Name: merge.ProfileSchema},
		IdentityGraph: merge.IdentityGraph{Type: merge.GraphNone}, AttributeMerge: merge.AttributeMerge{Type: merge.TimestampOrdered}, Default: true}, clock)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := resolve(other.ID, merge.ProfileSchema); err != nil || p.ID != other.ID || cat.reads != 2 {
		t.Errorf("a policy created elsewhere, by id: %v %v after %d reads, want it after one more read", p.ID, err, cat.reads)
	}
	clock = clock.Add(100 * time.Millisecond)
	if _, err := resolve("unknown", merge.ProfileSchema); !errors.Is(err, fault.E(fault.NotFound, "MERGE-POLICY-NOT-FOUND", "")) || cat.reads != 3 {
		t.Errorf("unknown id: %v after %d reads, want NotFound after one more read", err, cat.reads)
	}

	// A second on, the default changed elsewhere is seen.
	if err := cat.DeleteMergePolicy(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if p, _ := resolve("", merge.ProfileSchema); p.ID != other.ID {
		t.Errorf("within the second: default %s, want the copy's %s", p.ID, other.ID)
	}
	clock = clock.Add(policyFreshness)
	if _, err := resolve("", merge.ProfileSchema); !errors.Is(err, fault.E(fault.Unprocessable, "MERGE-POLICY-NO-DEFAULT", "")) {
		t.Errorf("after the second: %v, want Unprocessable MERGE-POLICY-NO-DEFAULT", err)
	}

	// A failing read: the last copy serves when the failure is transient.
	clock = clock.Add(policyFreshness)
	cat.fail = fault.E(fault.Throttled, "STORE-THROTTLED", "throttled")
	if p, err := resolve(merge.DefaultEventPolicyID, merge.EventSchema); err != nil || p.ID != merge.DefaultEventPolicyID {
		t.Errorf("throttled refresh: %v %v, want the last copy's policy", p.ID, err)
	}
	if _, err := resolve("new", merge.EventSchema); fault.KindOf(err) != fault.Throttled {
		t.Errorf("throttled read for an unknown id: %v, want Throttled, not a 404 from the old copy", err)
	}

	// A change through the process is seen by its next read.
	cat.fail = nil
	p, err := pc.Create(ctx, merge.Policy{Name: "mine", Schema: merge.SchemaRef{Name: merge.ProfileSchema},
		IdentityGraph: merge.IdentityGraph{Type: merge.GraphPDG}, AttributeMerge: merge.AttributeMerge{Type: merge.TimestampOrdered}, Default: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := resolve("", merge.ProfileSchema); err != nil || got.ID != p.ID {
		t.Errorf("default after a create through the process: %v %v, want %s", got.ID, err, p.ID)
	}
}
