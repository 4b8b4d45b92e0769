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
			if stitch {
				for _, o := range c {
					if o != start && len(members) < limit {
						members = append(members, o)
					}
				}
			}
			out := merge.Candidates{Found: true, Members: members}
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
)

func newTestRouter() *handler {
	g := &fakeGraph{
		clusters: [][]identity.ID{{jane, ecid}},
		frags: map[identity.ID][]merge.Fragment{
			jane: {{Identity: jane.Key(), Dataset: "crm", TS: 2000, Src: "a",
				Record: map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "Jane"}}, "loyalty": map[string]any{"tier": "gold"}}}},
			ecid: {{Identity: ecid.Key(), Dataset: "web", TS: 1000, Src: "b",
				Record: map[string]any{"person": map[string]any{"name": map[string]any{"firstName": "J", "lastName": "Doe"}}}}},
		},
		events: map[identity.ID][]merge.Event{
			jane: {{ID: "e1", Timestamp: 100, Record: map[string]any{"_id": "e1"}}, {ID: "e3", Timestamp: 300, Record: map[string]any{"_id": "e3"}}},
			ecid: {{ID: "e2", Timestamp: 200, Record: map[string]any{"_id": "e2"}}},
		},
	}
	h, err := newService(&profile.Service{Graph: g, Events: g}, nil, "prod")
	if err != nil {
		panic(err) // the routes of profile-api and of its topology differ
	}
	h.graph = newGraph(graphOf(g.clusters), nil)
	return h
}

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
		{"unknown identity", base("entityId", "nobody@example.com"), 404, nil, profile.CodeNotFound},
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
