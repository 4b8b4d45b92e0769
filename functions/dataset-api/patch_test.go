package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

func createDataset(t *testing.T, h *handler, body string) string {
	t.Helper()
	status, resp := call(t, h, event("POST "+catalogBase+"/dataSets", nil, "", body))
	if status != 201 {
		t.Fatalf("create: %d %v", status, resp)
	}
	return strings.TrimPrefix(resp.([]any)[0].(string), "@/dataSets/")
}

// TestCreateDatasetAsAEPClientsDo sends the bodies of AEP's Catalog API
// documentation: no name, and the xed-full-notext schemaRef content type.
func TestCreateDatasetAsAEPClientsDo(t *testing.T) {
	h, m := newTestHandler(t)
	id := createDataset(t, h, `{"schemaRef":{"id":"https://ns.adobe.com/mosaic/schemas/e1","contentType":"application/vnd.adobe.xed-full-notext+json; version=1"}}`)
	d := m.datasets[id]
	if d.Name == "" || d.SchemaRef.ContentType != "application/vnd.adobe.xed-full-notext+json; version=1" {
		t.Errorf("dataset %+v, want a generated name and the content type as sent", d)
	}
	other := createDataset(t, h, `{"schemaRef":{"id":"https://ns.adobe.com/mosaic/schemas/e1"}}`)
	if m.datasets[other].Name == d.Name {
		t.Errorf("two unnamed datasets share the name %q", d.Name)
	}
	status, body := call(t, h, event("POST "+catalogBase+"/dataSets", nil, "", `{"schemaRef":{"id":"https://ns.adobe.com/mosaic/schemas/e1","contentType":"text/plain"}}`))
	if b, _ := body.(map[string]any); status != 400 || b["code"] != "CATALOG-SCHEMAREF" {
		t.Errorf("unknown content type: %d %v, want 400 CATALOG-SCHEMAREF", status, body)
	}
}

// TestPatchDataset follows AEP's "Configure a dataset for Profile and
// Identity Service" tutorial: JSON Patch on /tags/unifiedProfile and
// /tags/unifiedIdentity.
func TestPatchDataset(t *testing.T) {
	h, m := newTestHandler(t)
	id := createDataset(t, h, `{"name":"crm","schemaRef":{"id":"https://ns.adobe.com/mosaic/schemas/0238be93d3e7a06aec5e0655955901ec"}}`)
	patch := func(body string) (int, any) {
		t.Helper()
		ev := event("PATCH "+catalogBase+"/dataSets/{id}", map[string]string{"id": id}, "", body)
		ev.Headers = map[string]string{"content-type": "application/json-patch+json"}
		return call(t, h, ev)
	}
	status, body := patch(`[{"op":"add","path":"/tags/unifiedProfile","value":["enabled:true"]},{"op":"add","path":"/tags/unifiedIdentity","value":["enabled:true"]}]`)
	if status != 200 || len(body.([]any)) != 1 || body.([]any)[0] != "@/dataSets/"+id {
		t.Fatalf("enable: %d %v, want 200 [\"@/dataSets/%s\"]", status, body, id)
	}
	d := m.datasets[id]
	if f := catalog.ParseTags(d.Tags); !f.ProfileEnabled || !f.IdentityEnabled || d.ProfileEnabledAt != testNow.UnixMilli() || d.Updated != testNow.UnixMilli() || d.Name != "crm" {
		t.Errorf("after enabling: %+v", d)
	}
	status, body = call(t, h, event("GET "+catalogBase+"/dataSets/{id}", map[string]string{"id": id}, "", ""))
	if got := body.(map[string]any)[id].(map[string]any); status != 200 || got["profileEnabledAt"] != float64(testNow.UnixMilli()) {
		t.Errorf("get after enabling: %d %v, want profileEnabledAt (no backfill before it)", status, body)
	}

	// AEP's upsert recipe: disable both, then enable with isUpsert.
	if status, body := patch(`[{"op":"replace","path":"/tags/unifiedProfile","value":["enabled:false"]},{"op":"replace","path":"/tags/unifiedIdentity","value":["enabled:false"]}]`); status != 200 {
		t.Fatalf("disable: %d %v", status, body)
	}
	if f := catalog.ParseTags(m.datasets[id].Tags); f.ProfileEnabled || f.IdentityEnabled || m.datasets[id].ProfileEnabledAt != 0 {
		t.Errorf("after disabling: %+v", m.datasets[id])
	}
	if status, body := patch(`[{"op":"add","path":"/tags/unifiedProfile","value":["enabled:true","isUpsert:true"]}]`); status != 200 {
		t.Fatalf("enable upsert: %d %v", status, body)
	}
	if f := catalog.ParseTags(m.datasets[id].Tags); !f.ProfileEnabled || !f.Upsert {
		t.Errorf("after enabling upsert: %+v", m.datasets[id])
	}
	// A merge-style body (a JSON object) sets top-level fields.
	if status, body := patch(`{"description":"nightly CRM export"}`); status != 200 || m.datasets[id].Description != "nightly CRM export" {
		t.Errorf("object body: %d %v, description %q", status, body, m.datasets[id].Description)
	}

	for _, tc := range []struct{ name, body, code string }{
		{"read-only field", `[{"op":"replace","path":"/schemaRef/id","value":"x"}]`, "CATALOG-PATCH-PATH"},
		{"id", `[{"op":"replace","path":"/id","value":"x"}]`, "CATALOG-PATCH-PATH"},
		{"move from read-only", `[{"op":"move","from":"/imsOrg","path":"/name"}]`, "CATALOG-PATCH-PATH"},
		{"bad tag value", `[{"op":"add","path":"/tags/unifiedProfile","value":["on"]}]`, "CATALOG-TAG"},
		{"contradictory tag values", `[{"op":"add","path":"/tags/unifiedProfile","value":["enabled:true","isUpsert:true","isUpsert:false"]}]`, "CATALOG-TAG"},
		{"empty name", `[{"op":"replace","path":"/name","value":" "}]`, "CATALOG-NAME"},
		{"failing op", `[{"op":"remove","path":"/tags/nope"}]`, "XDM-PATCH"},
		{"no ops", `[]`, "CATALOG-PATCH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := m.datasets[id]
			status, body := patch(tc.body)
			if b, _ := body.(map[string]any); status != 400 || b["code"] != tc.code {
				t.Errorf("got %d %v, want 400 %s", status, body, tc.code)
			}
			if m.datasets[id].Updated != before.Updated || m.datasets[id].Name != before.Name {
				t.Errorf("a refused patch changed the dataset")
			}
		})
	}
	t.Run("unknown dataset", func(t *testing.T) {
		ev := event("PATCH "+catalogBase+"/dataSets/{id}", map[string]string{"id": "nope"}, "", `[{"op":"add","path":"/name","value":"x"}]`)
		if status, body := call(t, h, ev); status != 404 {
			t.Errorf("got %d %v, want 404", status, body)
		}
	})
	t.Run("upsert on an event dataset", func(t *testing.T) {
		ev := createDataset(t, h, `{"name":"web","schemaRef":{"id":"https://ns.adobe.com/mosaic/schemas/e1"}}`)
		req := event("PATCH "+catalogBase+"/dataSets/{id}", map[string]string{"id": ev}, "", `[{"op":"add","path":"/tags/unifiedProfile","value":["enabled:true","isUpsert:true"]}]`)
		if status, body := call(t, h, req); status != 400 || body.(map[string]any)["code"] != "CATALOG-UPSERT-CLASS" {
			t.Errorf("got %d %v, want 400 CATALOG-UPSERT-CLASS", status, body)
		}
	})
}

func (m *memCatalog) UpdateDataset(ctx context.Context, d, prev catalog.Dataset) error {
	m.datasets[d.ID] = d
	return nil
}

// TestListDatasetsPagesAreBoundedInBytes lists 30 datasets of 200 KB each
// (6 MB): AEP's limit and start page through them, every page stays under
// topology.MaxPageBytes, and each dataset is listed once.
func TestListDatasetsPagesAreBoundedInBytes(t *testing.T) {
	h, m := newTestHandler(t)
	big := strings.Repeat("f", 200*1024)
	for i := 0; i < 30; i++ {
		createDataset(t, h, `{"name":"ds`+strconv.Itoa(i)+`","schemaRef":{"id":"https://ns.adobe.com/mosaic/schemas/e1"},"fileDescription":{"note":"`+big+`"}}`)
	}
	seen := map[string]bool{}
	for start, pages := 0, 0; ; pages++ {
		if pages > 30 {
			t.Fatal("paging does not end")
		}
		resp, err := h.Handle(context.Background(), event("GET "+catalogBase+"/dataSets", nil, "limit=100&start="+strconv.Itoa(start), ""))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("list: %v %d %s", err, resp.StatusCode, resp.Body[:min(200, len(resp.Body))])
		}
		if len(resp.Body) > topology.MaxPageBytes+1024 {
			t.Fatalf("page %d is %d bytes", pages, len(resp.Body))
		}
		var page map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &page); err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for id := range page {
			if seen[id] {
				t.Fatalf("%s listed twice", id)
			}
			seen[id] = true
		}
		start += len(page)
	}
	if len(seen) != len(m.datasets) {
		t.Errorf("%d datasets over all pages, want %d", len(seen), len(m.datasets))
	}
	for _, q := range []string{"limit=0", "limit=101", "start=-1", "start=x"} {
		if status, _ := call(t, h, event("GET "+catalogBase+"/dataSets", nil, q, "")); status != 400 {
			t.Errorf("%s: %d, want 400", q, status)
		}
	}
}
