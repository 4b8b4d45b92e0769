package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/profile"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/storetest"
)

// graphOf links each cluster's identities to its first one.
func graphOf(clusters [][]identity.ID) *storetest.Graph {
	g := storetest.NewGraph()
	for _, c := range clusters {
		for _, id := range c[1:] {
			g.Link(c[0], id, store.LinkInfo{First: 1, Last: 1, Dataset: "ds", Source: "batch"})
		}
	}
	return g
}

var (
	idCRM1 = identity.ID{Namespace: "CRMID", Value: "C1"}
	idCRM2 = identity.ID{Namespace: "CRMID", Value: "C2"}
	idECID = identity.ID{Namespace: "ECID", Value: "33333333333333333333333333333333333333"}
)

// sharedDeviceRouter serves a graph where C1 signed in on device E, then
// C2 on the same device: a link the unique CRMID refused, recorded on
// both of its ends.
func sharedDeviceRouter(t *testing.T) (*handler, *storetest.Graph) {
	t.Helper()
	st := storetest.NewGraph()
	st.Fragment(idCRM1)
	st.Fragment(idCRM2)
	st.Link(idCRM1, idECID, store.LinkInfo{First: 1000, Last: 1000, Dataset: "ds1", Source: "batch1", LastDataset: "ds1", LastSource: "batch1"})
	for _, ends := range [][2]identity.ID{{idECID, idCRM2}, {idCRM2, idECID}} {
		st.Record(store.GraphEvent{Kind: store.GraphLinkRefused, At: 2000, Identity: ends[0], Other: ends[1], Namespace: "CRMID",
			Reason: "CRMID is unique", Dataset: "ds1", Source: "batch2"})
	}
	h, err := newService(&profile.Service{Graph: st}, nil, "prod")
	if err != nil {
		t.Fatal(err)
	}
	h.graph = newGraph(st, nil, 0)
	return h, st
}

// identityCall sends a request with a query and a JSON body (none when
// nil) and decodes the answer.
func identityCall(t *testing.T, h *handler, route string, q url.Values, body any) (int, map[string]any) {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{
		RouteKey: route, RawQueryString: strings.ReplaceAll(q.Encode(), "+", "%20"),
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r1"},
	}
	switch b := body.(type) {
	case nil:
	case string:
		ev.Body = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		ev.Body = string(raw)
	}
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", resp.Body, err)
	}
	return resp.StatusCode, out
}

// TestDecisionKindsAreTheStores: the identity API passes the store's
// guardrail decisions on by kind.
func TestDecisionKindsAreTheStores(t *testing.T) {
	for _, k := range [][2]string{
		{profile.DecisionLinkRefused, store.GraphLinkRefused},
		{profile.DecisionLinkRemoved, store.GraphLinkRemoved},
		{profile.DecisionIdentityEvicted, store.GraphIdentityEvicted},
	} {
		if k[0] != k[1] {
			t.Errorf("decision kind %q, the store's %q", k[0], k[1])
		}
	}
}

func memberIDs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, m := range list {
		id, _ := dig(m, "id").(string)
		out = append(out, id)
	}
	return out
}

func TestIdentityMembersGraphType(t *testing.T) {
	h, _ := sharedDeviceRouter(t)
	tests := []struct {
		q          url.Values
		wantStatus int
		wantIDs    []string
	}{
		{url.Values{"ns": {"ECID"}, "id": {idECID.Value}}, 200, []string{idECID.Value, "C1"}},
		{url.Values{"nsId": {"4"}, "id": {idECID.Value}, "graph-type": {"Private Graph"}}, 200, []string{idECID.Value, "C1"}},
		{url.Values{"namespace": {"ecid"}, "id": {idECID.Value}, "graph-type": {"None"}}, 200, []string{idECID.Value}},
		{url.Values{"namespace": {"CRMID"}, "id": {"C2"}}, 200, []string{"C2"}},
		{url.Values{"namespace": {"ECID"}, "id": {idECID.Value}, "graph-type": {"Public"}}, 400, nil},
		{url.Values{"nsId": {"four"}, "id": {"x"}}, 400, nil},
		{url.Values{"namespace": {"CRMID"}, "id": {"C9"}}, 404, nil},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			status, body := identityCall(t, h, routeMembers, tt.q, nil)
			if status != tt.wantStatus {
				t.Fatalf("status %d %v, want %d", status, body, tt.wantStatus)
			}
			if tt.wantIDs == nil {
				return
			}
			if diff := cmp.Diff(tt.wantIDs, memberIDs(body["members"])); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
			if body["xid"] == "" || dig(body, "compositeXid", "id") != tt.wantIDs[0] {
				t.Errorf("answer %v lacks the asked identity's xid and compositeXid", body)
			}
		})
	}
}

func TestIdentityMembersOverCap(t *testing.T) {
	st := storetest.NewGraph()
	hub := identity.ID{Namespace: "Email", Value: "hub@example.com"}
	for i := range 3 {
		st.Link(hub, identity.ID{Namespace: "Email", Value: fmt.Sprintf("s%d@example.com", i)}, store.LinkInfo{First: 1})
	}
	h, err := newService(&profile.Service{Graph: st}, nil, "prod")
	if err != nil {
		t.Fatal(err)
	}
	g := newGraph(st, nil, 0)
	g.ClusterCap = 2
	h.graph = g
	status, body := identityCall(t, h, routeMembers, url.Values{"ns": {"Email"}, "id": {hub.Value}}, nil)
	if status != 422 || body["code"] != profile.CodeIdentityClusterTooLarge {
		t.Errorf("members over the cap: %d %v, want 422 %s", status, body, profile.CodeIdentityClusterTooLarge)
	}
	status, body = identityCall(t, h, routeHistory, url.Values{"ns": {"Email"}, "id": {hub.Value}}, nil)
	if status != 200 || body["truncated"] != true {
		t.Errorf("history over the cap: %d %v, want 200 truncated", status, body)
	}
}

func TestIdentityExplainSharedDevice(t *testing.T) {
	h, _ := sharedDeviceRouter(t)
	status, body := identityCall(t, h, routeExplain, url.Values{"namespace": {"CRMID"}, "id": {"C1"}, "toNamespace": {"CRMID"}, "toId": {"C2"}}, nil)
	if status != 200 {
		t.Fatalf("explain C1, C2: %d %v", status, body)
	}
	decisions, _ := body["decisions"].([]any)
	if body["sameCluster"] != false || len(decisions) != 1 {
		t.Fatalf("explain C1, C2: %v, want apart with one decision", body)
	}
	d := decisions[0]
	if dig(d, "kind") != store.GraphLinkRefused || dig(d, "namespace") != "CRMID" || dig(d, "source") != "batch2" || dig(d, "reason") == "" {
		t.Errorf("decision %v, want the CRMID refusal of batch2 with its reason", d)
	}
	ends := []any{dig(d, "identity", "id"), dig(d, "other", "id")}
	if !cmp.Equal(ends, []any{"C2", idECID.Value}) {
		t.Errorf("decision ends %v, want C2 and the device", ends)
	}
	if got := memberIDs(body["fromMembers"]); !cmp.Equal(got, []string{"C1", idECID.Value}) {
		t.Errorf("fromMembers %v, want C1 and the device", got)
	}
	if got := memberIDs(body["toMembers"]); !cmp.Equal(got, []string{"C2"}) {
		t.Errorf("toMembers %v, want C2 alone", got)
	}

	status, body = identityCall(t, h, routeExplain, url.Values{"ns": {"CRMID"}, "id": {"C1"}, "toNsId": {"4"}, "toId": {idECID.Value}}, nil)
	chain, _ := body["chain"].([]any)
	if status != 200 || body["sameCluster"] != true || len(chain) != 1 {
		t.Fatalf("explain C1, E: %d %v, want one link", status, body)
	}
	want := map[string]any{
		"from": map[string]any{"nsid": 38.0, "namespace": "CRMID", "id": "C1"}, "to": map[string]any{"nsid": 4.0, "namespace": "ECID", "id": idECID.Value},
		"firstSeen": 1000.0, "lastSeen": 1000.0, "dataSetId": "ds1", "source": "batch1", "lastDataSetId": "ds1", "lastSource": "batch1",
	}
	if diff := cmp.Diff(want, chain[0]); diff != "" {
		t.Errorf("link (-want +got):\n%s", diff)
	}

	for _, q := range []url.Values{
		{"namespace": {"CRMID"}, "id": {"C1"}},
		{"namespace": {"CRMID"}, "id": {"C1"}, "toNamespace": {"CRMID"}},
	} {
		if status, body := identityCall(t, h, routeExplain, q, nil); status != 400 || body["code"] != "REQ-PARAM" {
			t.Errorf("explain %v: %d %v, want 400 REQ-PARAM", q, status, body)
		}
	}
	if status, body := identityCall(t, h, routeExplain, url.Values{"namespace": {"CRMID"}, "id": {"C1"}, "toNamespace": {"CRMID"}, "toId": {"C9"}}, nil); status != 404 {
		t.Errorf("explain with an unknown identity: %d %v, want 404", status, body)
	}
}

// TestIdentityExplainChain: four links from a to e, each with its ends in
// the order of the chain.
func TestIdentityExplainChain(t *testing.T) {
	st := storetest.NewGraph()
	ids := []identity.ID{
		{Namespace: "Email", Value: "a@example.com"}, {Namespace: "Phone", Value: "+15550001"},
		{Namespace: "CRMID", Value: "C7"}, idECID, {Namespace: "Email", Value: "e@example.com"},
	}
	for i := 1; i < len(ids); i++ {
		st.Link(ids[i-1], ids[i], store.LinkInfo{First: int64(i), Last: int64(i), Dataset: "ds", Source: fmt.Sprint("batch", i)})
	}
	h, err := newService(&profile.Service{Graph: st}, nil, "prod")
	if err != nil {
		t.Fatal(err)
	}
	h.graph = newGraph(st, nil, 0)
	status, body := identityCall(t, h, routeExplain, url.Values{"ns": {"Email"}, "id": {"a@example.com"}, "toNs": {"Email"}, "toId": {"E@example.com"}}, nil)
	if status != 200 || body["sameCluster"] != true {
		t.Fatalf("explain: %d %v", status, body)
	}
	var got []string
	for _, l := range body["chain"].([]any) {
		got = append(got, fmt.Sprintf("%v>%v:%v", dig(l, "from", "id"), dig(l, "to", "id"), dig(l, "source")))
	}
	want := []string{"a@example.com>+15550001:batch1", "+15550001>C7:batch2", "C7>" + idECID.Value + ":batch3", idECID.Value + ">e@example.com:batch4"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chain (-want +got):\n%s", diff)
	}
}

func TestIdentityHistory(t *testing.T) {
	h, _ := sharedDeviceRouter(t)
	q := url.Values{"namespace": {"ECID"}, "id": {idECID.Value}}
	status, body := identityCall(t, h, routeHistory, q, nil)
	entries, _ := body["history"].([]any)
	if status != 200 || len(entries) != 2 || dig(body, "_links", "next", "href") != "" {
		t.Fatalf("history: %d %v, want 2 entries on one page", status, body)
	}
	if dig(entries[0], "kind") != store.GraphLinkRefused || dig(entries[1], "kind") != profile.KindLink || dig(entries[1], "link", "source") != "batch1" {
		t.Errorf("history %v, want the refusal then the link", entries)
	}
	q.Set("limit", "1")
	status, body = identityCall(t, h, routeHistory, q, nil)
	href, _ := dig(body, "_links", "next", "href").(string)
	if status != 200 || !strings.HasPrefix(href, "/cluster/history?") || dig(body, "_page", "count") != 1.0 {
		t.Fatalf("first page: %d %v, want 1 entry and a next link", status, body)
	}
	next, err := url.ParseQuery(strings.TrimPrefix(href, "/cluster/history?"))
	if err != nil {
		t.Fatal(err)
	}
	status, body = identityCall(t, h, routeHistory, next, nil)
	entries, _ = body["history"].([]any)
	if status != 200 || len(entries) != 1 || dig(entries[0], "kind") != profile.KindLink || dig(body, "_links", "next", "href") != "" {
		t.Errorf("second page: %d %v, want the link, last", status, body)
	}
	for _, bad := range []string{"-1", "0", "1001"} {
		q.Set("limit", bad)
		if status, _ := identityCall(t, h, routeHistory, q, nil); status != 400 {
			t.Errorf("limit %s: %d, want 400", bad, status)
		}
	}
}

func TestIdentityClustersPost(t *testing.T) {
	h, st := sharedDeviceRouter(t)
	body := map[string]any{
		"compositeXids": []any{
			map[string]any{"nsid": 38, "id": "C1"},
			map[string]any{"ns": "ECID", "id": idECID.Value},
			map[string]any{"nsid": 38, "id": "C1"},
			map[string]any{"ns": "CRMID", "id": "C2"},
			map[string]any{"ns": "Email", "id": "nobody@example.com"},
		},
		"xids":       []any{"BVrqzwVuzbXrLfmnaG3rXrLf3KJg"},
		"graph-type": "Private Graph",
	}
	status, got := identityCall(t, h, routeClustersPost, nil, body)
	if status != 200 || got["version"] != "1.0.0" {
		t.Fatalf("POST: %d %v", status, got)
	}
	clusters, _ := got["clusters"].([]any)
	var asked [][]string
	for _, c := range clusters {
		asked = append(asked, append([]string{dig(c, "compositeXid", "id").(string)}, memberIDs(dig(c, "members"))...))
	}
	want := [][]string{{"C1", "C1", idECID.Value}, {idECID.Value, idECID.Value, "C1"}, {"C1", "C1", idECID.Value}, {"C2", "C2"}}
	if diff := cmp.Diff(want, asked); diff != "" {
		t.Errorf("clusters (asked, members...) (-want +got):\n%s", diff)
	}
	for _, id := range []identity.ID{idCRM1, idECID} {
		if n := st.Reads(id); n != 1 {
			t.Errorf("%s read %d times, want once: one cluster is walked once", id, n)
		}
	}
	if diff := cmp.Diff([]any{map[string]any{"ns": "Email", "id": "nobody@example.com"}}, got["unprocessedNids"]); diff != "" {
		t.Errorf("unprocessedNids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"BVrqzwVuzbXrLfmnaG3rXrLf3KJg"}, got["unprocessedXids"]); diff != "" {
		t.Errorf("unprocessedXids (-want +got):\n%s", diff)
	}

	many := make([]any, profile.MaxClusterInputs+1)
	for i := range many {
		many[i] = map[string]any{"nsid": 6, "id": fmt.Sprintf("p%d@example.com", i)}
	}
	if status, got := identityCall(t, h, routeClustersPost, nil, map[string]any{"compositeXids": many}); status != 400 || got["code"] != profile.CodeTooManyInputs {
		t.Errorf("%d identities: %d %v, want 400 %s", len(many), status, got, profile.CodeTooManyInputs)
	}
	for name, b := range map[string]any{
		"no body":       nil,
		"unknown field": map[string]any{"compositeXids": []any{map[string]any{"nsid": 6, "id": "a@example.com"}}, "graphType": "None"},
		"no namespace":  map[string]any{"compositeXids": []any{map[string]any{"id": "a@example.com"}}},
		"bad JSON":      `{"compositeXids": [`,
		"no identity":   map[string]any{"compositeXids": []any{}},
	} {
		if status, got := identityCall(t, h, routeClustersPost, nil, b); status != 400 {
			t.Errorf("%s: %d %v, want 400", name, status, got)
		}
	}
}
