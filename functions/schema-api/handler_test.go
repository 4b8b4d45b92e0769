package main

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/eventsample"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// memVersioned is an in-memory versioned resource with the store's
// semantics: kept by $id, read by altId or $id, listed by altId, created
// once and updated only from the version read.
type memVersioned[T any] struct {
	mu      sync.Mutex
	code    string // error code prefix: SCHEMA, FIELDGROUP
	id      func(T) string
	altID   func(T) string
	version func(T) string
	byID    map[string]T
}

func newMemVersioned[T any](code string, id, altID, version func(T) string) *memVersioned[T] {
	return &memVersioned[T]{code: code, id: id, altID: altID, version: version, byID: map[string]T{}}
}

func fullID(id string) string {
	if strings.HasPrefix(id, "_") {
		return xdm.IDFromAltID(id)
	}
	return id
}

func (m *memVersioned[T]) Create(ctx context.Context, v T) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[m.id(v)]; ok {
		return fault.E(fault.Conflict, m.code+"-EXISTS", "exists")
	}
	m.byID[m.id(v)] = v
	return nil
}

func (m *memVersioned[T]) Get(ctx context.Context, id string) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.byID[fullID(id)]
	if !ok {
		return v, fault.E(fault.NotFound, m.code+"-NOT-FOUND", "does not exist")
	}
	return v, nil
}

func (m *memVersioned[T]) List(ctx context.Context) ([]T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []T
	for _, v := range m.byID {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return m.altID(out[i]) < m.altID(out[j]) })
	return out, nil
}

func (m *memVersioned[T]) Update(ctx context.Context, v T, prev string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.byID[m.id(v)]
	if !ok {
		return fault.E(fault.NotFound, m.code+"-NOT-FOUND", "does not exist")
	}
	if m.version(old) != prev {
		return fault.E(fault.Conflict, m.code+"-VERSION-CONFLICT", "changed")
	}
	m.byID[m.id(v)] = v
	return nil
}

func (m *memVersioned[T]) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[fullID(id)]; !ok {
		return fault.E(fault.NotFound, m.code+"-NOT-FOUND", "does not exist")
	}
	delete(m.byID, fullID(id))
	return nil
}

// memRegistry is an in-memory registry with the store's semantics.
type memRegistry struct {
	schemas *memVersioned[xdm.Schema]
	groups  *memVersioned[xdm.FieldGroup]

	mu       sync.Mutex
	descs    []xdm.Descriptor
	ns       []identity.Namespace
	settings []identity.Override
	datasets []catalog.Dataset
}

func newMemRegistry() *memRegistry {
	return &memRegistry{
		schemas: newMemVersioned("SCHEMA",
			func(s xdm.Schema) string { return s.ID }, func(s xdm.Schema) string { return s.AltID }, func(s xdm.Schema) string { return s.Version }),
		groups: newMemVersioned("FIELDGROUP",
			func(g xdm.FieldGroup) string { return g.ID }, func(g xdm.FieldGroup) string { return g.AltID }, func(g xdm.FieldGroup) string { return g.Version }),
	}
}

func (m *memRegistry) registry() registry {
	return registry{schemas: m.schemas, fieldGroups: m.groups, descriptors: m, namespaces: m, datasets: m}
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

func (m *memRegistry) PutDescriptor(ctx context.Context, prev, d xdm.Descriptor) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.descs {
		if m.descs[i].ID == d.ID {
			m.descs[i] = d
		}
	}
	return nil
}

func (m *memRegistry) DeleteDescriptor(ctx context.Context, d xdm.Descriptor) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.descs {
		if m.descs[i].ID == d.ID {
			m.descs = append(m.descs[:i], m.descs[i+1:]...)
			return nil
		}
	}
	return fault.E(fault.NotFound, "DESCRIPTOR-NOT-FOUND", "no descriptor")
}

func (m *memRegistry) CreateNamespace(ctx context.Context, ns identity.Namespace) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ns = append(m.ns, ns)
	return nil
}

func (m *memRegistry) GetNamespace(ctx context.Context, code string) (identity.Namespace, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ns := range m.ns {
		if strings.EqualFold(ns.Code, code) {
			return ns, nil
		}
	}
	return identity.Namespace{}, fault.E(fault.NotFound, "NAMESPACE-NOT-FOUND", "no namespace")
}

func (m *memRegistry) ListNamespaces(ctx context.Context) ([]identity.Namespace, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]identity.Namespace(nil), m.ns...), nil
}

func (m *memRegistry) UpdateNamespace(ctx context.Context, ns, prev identity.Namespace) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.ns {
		if strings.EqualFold(m.ns[i].Code, ns.Code) {
			if m.ns[i] != prev {
				return fault.E(fault.Conflict, "NAMESPACE-VERSION-CONFLICT", "changed")
			}
			m.ns[i] = ns
			return nil
		}
	}
	return fault.E(fault.NotFound, "NAMESPACE-NOT-FOUND", "no namespace")
}

func (m *memRegistry) PutNamespaceOverride(ctx context.Context, o identity.Override) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.settings {
		if strings.EqualFold(m.settings[i].Code, o.Code) {
			m.settings[i] = o
			return nil
		}
	}
	m.settings = append(m.settings, o)
	return nil
}

func (m *memRegistry) ListNamespaceOverrides(ctx context.Context) ([]identity.Override, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]identity.Override(nil), m.settings...), nil
}

func (m *memRegistry) ListDatasets(ctx context.Context) ([]catalog.Dataset, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]catalog.Dataset(nil), m.datasets...), nil
}

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestHandler() (*handler, *memRegistry) {
	reg := newMemRegistry()
	h, err := newService(reg.registry(), "prod", func() time.Time { return testNow })
	if err != nil {
		panic(err) // the routes of schema-api and of its topology differ
	}
	return h, reg
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

func TestCreateSchemaEvent(t *testing.T) {
	var ev events.APIGatewayV2HTTPRequest
	eventsample.Decode(t, "schema-api-create-schema.json", &ev)
	h, reg := newTestHandler()
	status, body := call(t, h, ev)
	if status != 201 {
		t.Fatalf("got status %d (%v), want 201", status, body)
	}
	id, _ := body["$id"].(string)
	if !strings.HasPrefix(id, "https://ns.adobe.com/mosaic/schemas/") || body["meta:altId"] != xdm.AltID(id) || body["version"] != "1.0" || body["meta:class"] != xdm.ProfileClass {
		t.Errorf("got %v", body)
	}
	if _, err := reg.schemas.Get(context.Background(), id); err != nil {
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

const loyaltyGroup = `{"title":"Loyalty Details","type":"object","meta:intendedToExtend":["https://ns.adobe.com/xdm/context/profile"],
 "definitions":{"loyalty":{"properties":{"_mosaic":{"type":"object","properties":{
  "tier":{"type":"string","enum":["gold","silver"]},"points":{"type":"integer"},"crmId":{"type":"string"}}}}}},
 "allOf":[{"$ref":"#/definitions/loyalty"}]}`

// TestTenantRegistry walks field groups, schemas using them, descriptors,
// enablement, evolution, unions, paging and namespaces.
func TestTenantRegistry(t *testing.T) {
	h, reg := newTestHandler()
	do := func(t *testing.T, route, id string, headers map[string]string, body string) (int, map[string]any) {
		t.Helper()
		params := map[string]string{}
		if id != "" {
			params["id"], params["code"] = id, id
		}
		return call(t, h, event(route, params, headers, body))
	}
	status, fg := do(t, "POST "+base+"/tenant/fieldgroups", "", nil, loyaltyGroup)
	if status != 201 {
		t.Fatalf("create field group: %d %v", status, fg)
	}
	fgID, fgAlt := fg["$id"].(string), fg["meta:altId"].(string)
	status, s := do(t, "POST "+base+"/tenant/schemas", "", nil, `{"title":"Loyalty","type":"object","allOf":[{"$ref":"`+xdm.ProfileClass+`"},{"$ref":"`+fgID+`"},{"$ref":"`+xdm.PersonalDetailsFieldGroup+`"}]}`)
	if status != 201 {
		t.Fatalf("create schema: %d %v", status, s)
	}
	sID, sAlt := s["$id"].(string), s["meta:altId"].(string)
	desc := func(prop, ns string, primary bool) string {
		b, _ := json.Marshal(map[string]any{"@type": "xdm:descriptorIdentity", "xdm:sourceSchema": sID, "xdm:sourceVersion": 1,
			"xdm:sourceProperty": prop, "xdm:namespace": ns, "xdm:property": "xdm:code", "xdm:isPrimary": primary})
		return string(b)
	}
	fgPath := "/definitions/loyalty/properties/_mosaic/properties"
	var primaryID, secondaryID string
	steps := []struct {
		name    string
		route   string
		id      string
		headers map[string]string
		body    string
		status  int
		check   func(t *testing.T, body map[string]any)
	}{
		{name: "field group outside _mosaic", route: "POST " + base + "/tenant/fieldgroups", body: strings.Replace(loyaltyGroup, `"_mosaic"`, `"loyalty"`, 1), status: 400, check: wantCode("XDM-TENANT-FIELD")},
		{name: "field group without intendedToExtend", route: "POST " + base + "/tenant/fieldgroups", body: strings.Replace(loyaltyGroup, `"meta:intendedToExtend":["https://ns.adobe.com/xdm/context/profile"],`, "", 1), status: 400, check: wantCode("XDM-INTENDED")},
		{name: "same path, other type", route: "POST " + base + "/tenant/fieldgroups", body: strings.Replace(loyaltyGroup, `"points":{"type":"integer"}`, `"points":{"type":"string"}`, 1), status: 400,
			check: wantField("message", "field /_mosaic/points is already defined in the tenant as integer and cannot be redefined as string")},
		{name: "get field group full", route: "GET " + base + "/tenant/fieldgroups/{id}", id: url.QueryEscape(fgID), headers: map[string]string{"accept": "application/vnd.adobe.xed-full+json; version=1"}, status: 200,
			check: func(t *testing.T, b map[string]any) {
				if dig(b, "properties", "_mosaic", "properties", "points", "type") != "integer" {
					t.Errorf("got %v, want resolved _mosaic.points", b)
				}
			}},
		{name: "unknown custom namespace", route: "POST " + base + "/tenant/descriptors", body: desc("/_mosaic/crmId", "MyCRM", true), status: 400, check: wantCode("XDM-DESCRIPTOR-NAMESPACE")},
		{name: "create custom namespace", route: "POST /data/core/idnamespace/identities", body: `{"code":"MyCRM","name":"My CRM","idType":"CROSS_DEVICE","description":"CRM ids"}`, status: 201,
			check: func(t *testing.T, b map[string]any) {
				got := []any{b["code"], b["name"], b["idType"], b["custom"], b["status"], b["description"], b["id"] != nil}
				if d := cmp.Diff([]any{"MyCRM", "My CRM", "CROSS_DEVICE", true, "ACTIVE", "CRM ids", true}, got); d != "" {
					t.Errorf("(-want +got):\n%s", d)
				}
			}},
		{name: "duplicate namespace any case", route: "POST /data/core/idnamespace/identities", body: `{"code":"mycrm","name":"x","idType":"CROSS_DEVICE"}`, status: 409},
		{name: "duplicate standard namespace", route: "POST /data/core/idnamespace/identities", body: `{"code":"EMAIL","name":"x","idType":"EMAIL"}`, status: 409},
		{name: "bad namespace type", route: "POST /data/core/idnamespace/identities", body: `{"code":"Other","name":"x","idType":"PERSON"}`, status: 400, check: wantCode("NAMESPACE-TYPE")},
		{name: "get custom namespace", route: "GET /data/core/idnamespace/identities/{code}", id: "MYCRM", status: 200, check: wantField("custom", true)},
		{name: "primary on custom namespace", route: "POST " + base + "/tenant/descriptors", body: desc("/_mosaic/crmId", "mycrm", true), status: 201,
			check: func(t *testing.T, b map[string]any) {
				primaryID, _ = b["@id"].(string)
				wantField("xdm:namespace", "MyCRM")(t, b)
			}},
		{name: "secondary email", route: "POST " + base + "/tenant/descriptors", body: desc("/personalEmail/address", "Email", false), status: 201,
			check: func(t *testing.T, b map[string]any) { secondaryID, _ = b["@id"].(string) }},
		{name: "enable", route: "PATCH " + base + "/tenant/schemas/{id}", id: sAlt, body: `[{"op":"add","path":"/meta:immutableTags","value":["union"]}]`, status: 200, check: wantField("version", "1.1")},
		{name: "breaking field group change", route: "PATCH " + base + "/tenant/fieldgroups/{id}", id: fgAlt, body: `[{"op":"remove","path":"` + fgPath + `/points"}]`, status: 400,
			check: wantField("message", "breaking change: field /_mosaic/points removed; a schema enabled for Profile or holding data accepts only additive changes")},
		{name: "narrowing enum", route: "PATCH " + base + "/tenant/fieldgroups/{id}", id: fgAlt, body: `[{"op":"replace","path":"` + fgPath + `/tier/enum","value":["gold"]}]`, status: 400, check: wantCode("XDM-BREAKING")},
		{name: "additive field group change", route: "PATCH " + base + "/tenant/fieldgroups/{id}", id: fgAlt, body: `[{"op":"add","path":"` + fgPath + `/level","value":{"type":"integer"}}]`, status: 200, check: wantField("version", "1.1")},
		{name: "put field group", route: "PUT " + base + "/tenant/fieldgroups/{id}", id: fgAlt, body: strings.Replace(loyaltyGroup, `"crmId":{"type":"string"}`, `"crmId":{"type":"string"},"level":{"type":"integer"},"since":{"type":"string","format":"date"}`, 1), status: 200, check: wantField("version", "1.2")},
		{name: "put schema removing a group", route: "PUT " + base + "/tenant/schemas/{id}", id: sAlt,
			body: `{"title":"Loyalty","type":"object","meta:immutableTags":["union"],"allOf":[{"$ref":"` + xdm.ProfileClass + `"},{"$ref":"` + fgID + `"}]}`, status: 400, check: wantCode("XDM-BREAKING")},
		{name: "put schema adding a group", route: "PUT " + base + "/tenant/schemas/{id}", id: sAlt,
			body: `{"title":"Loyalty 2","type":"object","meta:immutableTags":["union"],"allOf":[{"$ref":"` + xdm.ProfileClass + `"},{"$ref":"` + fgID + `"},{"$ref":"` + xdm.PersonalDetailsFieldGroup + `"},{"$ref":"` + xdm.PersonDetailsFieldGroup + `"}]}`, status: 200, check: wantField("version", "1.2")},
		{name: "field group in use", route: "DELETE " + base + "/tenant/fieldgroups/{id}", id: fgAlt, status: 409},
		{name: "enabled schema cannot be deleted", route: "DELETE " + base + "/tenant/schemas/{id}", id: sAlt, status: 400, check: wantCode("XDM-UNION-DELETE")},
		{name: "primary of enabled schema stays", route: "DELETE " + base + "/tenant/descriptors/{id}", status: 400, check: wantCode("XDM-UNION-PRIMARY")},
		{name: "unions", route: "GET " + base + "/tenant/unions", status: 200, check: func(t *testing.T, b map[string]any) {
			want := []any{map[string]any{"$id": xdm.ProfileClass + "__union", "meta:altId": "_xdm.context.profile__union", "version": "1.1", "title": "Union Schema for XDM Individual Profile"}}
			if d := cmp.Diff(want, b["results"]); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		}, headers: map[string]string{"accept": "application/vnd.adobe.xed-id+json"}},
		{name: "union of the profile class", route: "GET " + base + "/tenant/schemas/{id}", id: "_xdm.context.profile__union", headers: map[string]string{"accept": "application/vnd.adobe.xed-full+json"}, status: 200,
			check: func(t *testing.T, b map[string]any) {
				if d := cmp.Diff([]any{sID}, b["meta:extends"]); d != "" || dig(b, "properties", "_mosaic", "properties", "since", "format") != "date" {
					t.Errorf("got %v (-want +got extends):\n%s", b, d)
				}
			}},
		{name: "no event union", route: "GET " + base + "/tenant/unions/{id}", id: "_xdm.context.experienceevent__union", status: 404},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			id := st.id
			if st.route == "DELETE "+base+"/tenant/descriptors/{id}" {
				id = primaryID
			}
			status, body := do(t, st.route, id, st.headers, st.body)
			if status != st.status {
				t.Fatalf("got status %d (%v), want %d", status, body, st.status)
			}
			if st.check != nil {
				st.check(t, body)
			}
		})
	}
	t.Run("descriptor put and delete", func(t *testing.T) {
		status, body := do(t, "PUT "+base+"/tenant/descriptors/{id}", secondaryID, nil, desc("/mobilePhone/number", "Phone", false))
		if status != 201 || body["xdm:sourceProperty"] != "/mobilePhone/number" || body["@id"] != secondaryID {
			t.Fatalf("put: %d %v", status, body)
		}
		if status, body := do(t, "PUT "+base+"/tenant/descriptors/{id}", secondaryID, nil, desc("/mobilePhone/number", "Phone", true)); status != 409 {
			t.Errorf("second primary by put: %d %v, want 409", status, body)
		}
		if status, _ := do(t, "DELETE "+base+"/tenant/descriptors/{id}", secondaryID, nil, ""); status != 204 {
			t.Errorf("delete: %d, want 204", status)
		}
		if status, _ := do(t, "GET "+base+"/tenant/descriptors/{id}", secondaryID, nil, ""); status != 404 {
			t.Errorf("get deleted: %d, want 404", status)
		}
	})
	t.Run("schema with a Profile dataset is locked", func(t *testing.T) {
		_, s2 := do(t, "POST "+base+"/tenant/schemas", "", nil, `{"title":"Plain","type":"object","allOf":[{"$ref":"`+xdm.ProfileClass+`"},{"$ref":"`+xdm.PersonDetailsFieldGroup+`"}]}`)
		alt := s2["meta:altId"].(string)
		reg.datasets = append(reg.datasets, catalog.Dataset{ID: "ds", SchemaRef: catalog.SchemaRef{ID: s2["$id"].(string)}, Tags: map[string][]string{"unifiedProfile": {"enabled:true"}}})
		status, body := do(t, "PATCH "+base+"/tenant/schemas/{id}", alt, nil, `[{"op":"remove","path":"/allOf/1"},{"op":"remove","path":"/meta:extends/2"}]`)
		if status != 400 || body["message"] != "breaking change: field /person removed; a schema enabled for Profile or holding data accepts only additive changes" {
			t.Errorf("got %d %v, want 400 naming /person", status, body)
		}
		if status, _ := do(t, "DELETE "+base+"/tenant/schemas/{id}", alt, nil, ""); status != 409 {
			t.Errorf("delete schema in use: %d, want 409", status)
		}
		reg.datasets = nil
		if status, _ := do(t, "DELETE "+base+"/tenant/schemas/{id}", alt, nil, ""); status != 204 {
			t.Errorf("delete: %d, want 204", status)
		}
		if status, _ := do(t, "GET "+base+"/tenant/schemas/{id}", alt, nil, ""); status != 404 {
			t.Errorf("get deleted: %d, want 404", status)
		}
	})
}

func TestListingPages(t *testing.T) {
	h, _ := newTestHandler()
	for _, title := range []string{"b", "a", "c", "a"} {
		if status, body := call(t, h, event("POST "+base+"/tenant/schemas", nil, nil, `{"title":"`+title+`","type":"object","allOf":[{"$ref":"`+xdm.ProfileClass+`"}]}`)); status != 201 {
			t.Fatalf("create: %d %v", status, body)
		}
	}
	var titles []any
	query := "limit=3"
	for pages := 0; query != ""; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		ev := event("GET "+base+"/tenant/schemas", nil, map[string]string{"accept": "application/vnd.adobe.xed-id+json"}, "")
		ev.RawQueryString = query
		status, body := call(t, h, ev)
		if status != 200 {
			t.Fatalf("list: %d %v", status, body)
		}
		for _, r := range body["results"].([]any) {
			titles = append(titles, r.(map[string]any)["title"])
		}
		query = ""
		if href, ok := dig(body, "_links", "next", "href").(string); ok {
			_, query, _ = strings.Cut(href, "?")
			if dig(body, "_page", "next") == nil {
				t.Errorf("_links.next without _page.next")
			}
		}
	}
	if d := cmp.Diff([]any{"a", "a", "b", "c"}, titles); d != "" {
		t.Errorf("titles over pages (-want +got):\n%s", d)
	}
	ev := event("GET "+base+"/tenant/schemas", nil, nil, "")
	ev.RawQueryString = "limit=0"
	if status, _ := call(t, h, ev); status != 400 {
		t.Errorf("limit=0: got %d, want 400", status)
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
