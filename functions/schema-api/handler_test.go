package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// memRegistry is an in-memory registry with the store's semantics.
type memRegistry struct {
	mu      sync.Mutex
	schemas map[string]xdm.Schema // by $id
	descs   []xdm.Descriptor
}

func newMemRegistry() *memRegistry { return &memRegistry{schemas: map[string]xdm.Schema{}} }

func (m *memRegistry) CreateSchema(ctx context.Context, s xdm.Schema) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.schemas[s.ID]; ok {
		return fault.E(fault.Conflict, "SCHEMA-EXISTS", "exists")
	}
	m.schemas[s.ID] = s
	return nil
}

func (m *memRegistry) GetSchema(ctx context.Context, id string) (xdm.Schema, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if strings.HasPrefix(id, "_") {
		id = xdm.IDFromAltID(id)
	}
	s, ok := m.schemas[id]
	if !ok {
		return xdm.Schema{}, fault.E(fault.NotFound, "SCHEMA-NOT-FOUND", "schema does not exist")
	}
	return s, nil
}

func (m *memRegistry) ListSchemas(ctx context.Context) ([]xdm.Schema, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []xdm.Schema
	for _, s := range m.schemas {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AltID < out[j].AltID })
	return out, nil
}

func (m *memRegistry) UpdateSchema(ctx context.Context, s xdm.Schema, prev string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.schemas[s.ID].Version != prev {
		return fault.E(fault.Conflict, "SCHEMA-VERSION-CONFLICT", "changed")
	}
	m.schemas[s.ID] = s
	return nil
}

func (m *memRegistry) CreateDescriptor(ctx context.Context, d xdm.Descriptor) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.descs = append(m.descs, d)
	return nil
}

func (m *memRegistry) GetDescriptor(ctx context.Context, id string) (xdm.Descriptor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.descs {
		if d.ID == id {
			return d, nil
		}
	}
	return xdm.Descriptor{}, fault.E(fault.NotFound, "DESCRIPTOR-NOT-FOUND", "no descriptor")
}

func (m *memRegistry) ListDescriptors(ctx context.Context, schemaID string) ([]xdm.Descriptor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []xdm.Descriptor
	for _, d := range m.descs {
		if schemaID == "" || d.SourceSchema == schemaID {
			out = append(out, d)
		}
	}
	return out, nil
}

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestHandler() (*handler, *memRegistry) {
	reg := newMemRegistry()
	return newService(reg, "prod", func() time.Time { return testNow }), reg
}

func event(route string, params map[string]string, headers map[string]string, body string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		RouteKey:       route,
		PathParameters: params,
		Headers:        headers,
		Body:           body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "req-1"},
	}
}

func call(t *testing.T, h *handler, ev events.APIGatewayV2HTTPRequest) (int, map[string]any) {
	t.Helper()
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	var body map[string]any
	if resp.Body != "" && strings.HasPrefix(resp.Body, "{") {
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
	}
	return resp.StatusCode, body
}

func TestRoutesMatchTopology(t *testing.T) {
	h, _ := newTestHandler()
	fn, _ := topology.FunctionByName("schema-api")
	var want []string
	for _, r := range fn.Routes {
		want = append(want, r.Key())
	}
	got := h.router.Routes()
	sort.Strings(want)
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("routes (-topology +registered):\n%s", d)
	}
}

func TestCreateSchemaEvent(t *testing.T) {
	b, err := os.ReadFile("../../events/schema-api-create-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("event does not decode strictly: %v", err)
	}
	h, reg := newTestHandler()
	status, body := call(t, h, ev)
	if status != 201 {
		t.Fatalf("got status %d (%v), want 201", status, body)
	}
	id, _ := body["$id"].(string)
	if !strings.HasPrefix(id, "https://ns.adobe.com/mosaic/schemas/") || body["meta:altId"] != xdm.AltID(id) || body["version"] != "1.0" || body["meta:class"] != xdm.ProfileClass {
		t.Errorf("got %v", body)
	}
	if _, err := reg.GetSchema(context.Background(), id); err != nil {
		t.Errorf("schema not stored: %v", err)
	}
}

const base = "/data/foundation/schemaregistry"

func TestGlobalAndNamespaces(t *testing.T) {
	h, _ := newTestHandler()
	for _, tc := range []struct {
		name    string
		route   string
		id      string
		accept  string
		status  int
		wantKey string
		wantVal any
	}{
		{"list classes", "GET " + base + "/global/classes", "", "", 200, "_page", map[string]any{"orderby": "title", "next": nil, "count": float64(2)}},
		{"class by altId", "GET " + base + "/global/classes/{id}", "_xdm.context.profile", "", 200, "$id", xdm.ProfileClass},
		{"class by encoded $id", "GET " + base + "/global/classes/{id}", url.QueryEscape(xdm.EventClass), "", 200, "meta:altId", "_xdm.context.experienceevent"},
		{"field group is not a class", "GET " + base + "/global/classes/{id}", "_xdm.context.identitymap", "", 404, "code", "CLASS-NOT-FOUND"},
		{"field group", "GET " + base + "/global/fieldgroups/{id}", url.QueryEscape(xdm.PersonalDetailsFieldGroup), "", 200, "title", "Personal Contact Details"},
		{"unknown field group", "GET " + base + "/global/fieldgroups/{id}", "_xdm.context.nope", "", 404, "code", "FIELDGROUP-NOT-FOUND"},
		{"list namespaces", "GET /data/core/idnamespace/identities", "", "", 200, "", nil},
		{"namespace any case", "GET /data/core/idnamespace/identities/{code}", "email", "", 200, "code", "Email"},
		{"unknown namespace", "GET /data/core/idnamespace/identities/{code}", "nope", "", 404, "code", "NAMESPACE-NOT-FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]string{}
			if tc.id != "" {
				params["id"], params["code"] = tc.id, tc.id
			}
			status, body := call(t, h, event(tc.route, params, map[string]string{"accept": tc.accept}, ""))
			if status != tc.status {
				t.Fatalf("got status %d (%v), want %d", status, body, tc.status)
			}
			if tc.wantKey != "" {
				if d := cmp.Diff(tc.wantVal, body[tc.wantKey]); d != "" {
					t.Errorf("%s (-want +got):\n%s", tc.wantKey, d)
				}
			}
		})
	}
	t.Run("full view merges the fields", func(t *testing.T) {
		status, body := call(t, h, event("GET "+base+"/global/fieldgroups/{id}", map[string]string{"id": "_xdm.context.profile-person-details"}, map[string]string{"accept": "application/vnd.adobe.xed-full+json; version=1"}, ""))
		props, _ := body["properties"].(map[string]any)
		if status != 200 || props["person"] == nil {
			t.Errorf("got %d %v, want properties.person", status, body)
		}
	})
}

// TestSchemaLifecycle walks the registry as a data engineer does: create a
// schema, add a field group, mark identities, enable it for Profile.
func TestSchemaLifecycle(t *testing.T) {
	h, _ := newTestHandler()
	status, body := call(t, h, event("POST "+base+"/tenant/schemas", nil, nil,
		`{"title":"CRM","type":"object","allOf":[{"$ref":"https://ns.adobe.com/xdm/context/profile"},{"$ref":"https://ns.adobe.com/xdm/context/profile-person-details"}]}`))
	if status != 201 {
		t.Fatalf("create: got %d %v", status, body)
	}
	id := body["$id"].(string)
	alt := body["meta:altId"].(string)
	encID := url.QueryEscape(id)
	desc := func(prop, ns string, primary bool) string {
		b, _ := json.Marshal(map[string]any{"@type": "xdm:descriptorIdentity", "xdm:sourceSchema": id, "xdm:sourceVersion": 1,
			"xdm:sourceProperty": prop, "xdm:namespace": ns, "xdm:property": "xdm:code", "xdm:isPrimary": primary})
		return string(b)
	}
	steps := []struct {
		name    string
		route   string
		id      string
		headers map[string]string
		body    string
		status  int
		check   func(t *testing.T, body map[string]any)
	}{
		{name: "get by altId", route: "GET " + base + "/tenant/schemas/{id}", id: alt, status: 200},
		{name: "get by encoded $id", route: "GET " + base + "/tenant/schemas/{id}", id: encID, status: 200},
		{name: "unknown schema", route: "GET " + base + "/tenant/schemas/{id}", id: "_mosaic.schemas.nope", status: 404},
		{name: "enable without primary identity", route: "PATCH " + base + "/tenant/schemas/{id}", id: alt,
			body: `[{"op":"add","path":"/meta:immutableTags","value":["union"]}]`, status: 400,
			check: wantCode("XDM-UNION-PRIMARY")},
		{name: "add field group", route: "PATCH " + base + "/tenant/schemas/{id}", id: alt,
			body:   `[{"op":"add","path":"/meta:extends/-","value":"` + xdm.PersonalDetailsFieldGroup + `"},{"op":"add","path":"/allOf/-","value":{"$ref":"` + xdm.PersonalDetailsFieldGroup + `"}}]`,
			status: 200, check: wantField("version", "1.1")},
		{name: "stale If-Match", route: "PATCH " + base + "/tenant/schemas/{id}", id: alt, headers: map[string]string{"if-match": "1.0"},
			body: `[{"op":"replace","path":"/title","value":"x"}]`, status: 409},
		{name: "malformed patch", route: "PATCH " + base + "/tenant/schemas/{id}", id: alt, body: `{"op":"add"}`, status: 400},
		{name: "descriptor on unknown schema", route: "POST " + base + "/tenant/descriptors",
			body: strings.Replace(desc("/personalEmail/address", "Email", true), id, "https://ns.adobe.com/mosaic/schemas/nope", 1), status: 400},
		{name: "descriptor with unknown namespace", route: "POST " + base + "/tenant/descriptors", body: desc("/personalEmail/address", "Nope", true), status: 400,
			check: wantCode("XDM-DESCRIPTOR-NAMESPACE")},
		{name: "descriptor on missing field", route: "POST " + base + "/tenant/descriptors", body: desc("/loyalty/id", "Email", true), status: 400},
		{name: "primary descriptor", route: "POST " + base + "/tenant/descriptors", body: desc("/personalEmail/address", "email", true), status: 201,
			check: func(t *testing.T, b map[string]any) {
				if b["@id"] == "" || b["xdm:namespace"] != "Email" {
					t.Errorf("got %v", b)
				}
			}},
		{name: "second primary", route: "POST " + base + "/tenant/descriptors", body: desc("/mobilePhone/number", "Phone", true), status: 409},
		{name: "secondary descriptor", route: "POST " + base + "/tenant/descriptors", body: desc("/mobilePhone/number", "Phone", false), status: 201},
		{name: "enable for profile", route: "PATCH " + base + "/tenant/schemas/{id}", id: alt,
			body: `[{"op":"add","path":"/meta:immutableTags","value":["union"]}]`, status: 200, check: wantField("version", "1.2")},
		{name: "cannot disable", route: "PATCH " + base + "/tenant/schemas/{id}", id: alt,
			body: `[{"op":"remove","path":"/meta:immutableTags"}]`, status: 400, check: wantCode("XDM-UNION-IRREVERSIBLE")},
		{name: "list schemas", route: "GET " + base + "/tenant/schemas", headers: map[string]string{"accept": "application/vnd.adobe.xed-id+json"}, status: 200,
			check: func(t *testing.T, b map[string]any) {
				want := []any{map[string]any{"$id": id, "meta:altId": alt, "version": "1.2", "title": "CRM"}}
				if d := cmp.Diff(want, b["results"]); d != "" {
					t.Errorf("results (-want +got):\n%s", d)
				}
			}},
		{name: "list descriptors", route: "GET " + base + "/tenant/descriptors", status: 200,
			check: func(t *testing.T, b map[string]any) {
				if ids, _ := b["xdm:descriptorIdentity"].([]any); len(ids) != 2 || len(b) != 1 {
					t.Errorf("got %v, want two identity descriptor ids", b)
				}
			}},
		{name: "unknown descriptor", route: "GET " + base + "/tenant/descriptors/{id}", id: "nope", status: 404},
		{name: "bad schema body", route: "POST " + base + "/tenant/schemas", body: `{"title":"x","type":"object","allOf":[],"extra":1}`, status: 400},
		{name: "schema without class", route: "POST " + base + "/tenant/schemas", body: `{"title":"x","type":"object","allOf":[{"$ref":"` + xdm.PersonDetailsFieldGroup + `"}]}`, status: 400},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			params := map[string]string{}
			if st.id != "" {
				params["id"] = st.id
			}
			status, body := call(t, h, event(st.route, params, st.headers, st.body))
			if status != st.status {
				t.Fatalf("got status %d (%v), want %d", status, body, st.status)
			}
			if st.check != nil {
				st.check(t, body)
			}
		})
	}
}

func wantCode(code string) func(t *testing.T, body map[string]any) {
	return wantField("code", code)
}

func wantField(key string, want any) func(t *testing.T, body map[string]any) {
	return func(t *testing.T, body map[string]any) {
		t.Helper()
		if body[key] != want {
			t.Errorf("got %s %v, want %v (%v)", key, body[key], want, body)
		}
	}
}
