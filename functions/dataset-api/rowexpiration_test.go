package main

import (
	"testing"
	"time"
)

const (
	eventSchema   = "https://ns.adobe.com/mosaic/schemas/e1"
	profileSchema = "https://ns.adobe.com/mosaic/schemas/0238be93d3e7a06aec5e0655955901ec"
)

// TestRowExpiration follows AEP's dataset retention (TTL) guide: the
// extensions.adobe_unifiedProfile.rowExpiration.ttlValue of an experience
// event dataset, set at creation or by PATCH, read back with AEP's echo.
func TestRowExpiration(t *testing.T) {
	h, m := newTestHandler(t)
	ttlBody := func(v string) string {
		return `{"extensions":{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":"` + v + `"}}}}`
	}
	t.Run("at creation", func(t *testing.T) {
		id := createDataset(t, h, `{"name":"web","schemaRef":{"id":"`+eventSchema+`"},"extensions":{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":"P30D"}}}}`)
		if got := m.datasets[id].RowExpiration(); got != 30*24*time.Hour {
			t.Errorf("row expiration %v, want 30 days", got)
		}
		status, body := call(t, h, event("GET "+catalogBase+"/dataSets/{id}", map[string]string{"id": id}, "", ""))
		ext, _ := body.(map[string]any)[id].(map[string]any)["extensions"].(map[string]any)
		re, _ := ext["adobe_unifiedProfile"].(map[string]any)["rowExpiration"].(map[string]any)
		if status != 200 || re["ttlValue"] != "P30D" || re["valueStatus"] != "custom" || re["setBy"] != "user" || re["updated"] != float64(testNow.UnixMilli()) {
			t.Errorf("GET: %d rowExpiration %v, want ttlValue P30D, valueStatus custom, setBy user, updated", status, re)
		}
	})
	for _, tc := range []struct{ name, body, code string }{
		{"profile class", `{"schemaRef":{"id":"` + profileSchema + `"},` + ttlBody("P30D")[1:], "CATALOG-TTL-CLASS"},
		{"under a day", `{"schemaRef":{"id":"` + eventSchema + `"},` + ttlBody("PT12H")[1:], "CATALOG-TTL"},
		{"over ten years", `{"schemaRef":{"id":"` + eventSchema + `"},` + ttlBody("P11Y")[1:], "CATALOG-TTL"},
		{"data lake expiration", `{"schemaRef":{"id":"` + eventSchema + `"},"extensions":{"adobe_lakeHouse":{"rowExpiration":{"ttlValue":"P12M"}}}}`, "CATALOG-EXTENSIONS"},
	} {
		t.Run("create refused: "+tc.name, func(t *testing.T) {
			n := len(m.datasets)
			status, body := call(t, h, event("POST "+catalogBase+"/dataSets", nil, "", tc.body))
			if b, _ := body.(map[string]any); status != 400 || b["code"] != tc.code {
				t.Errorf("got %d %v, want 400 %s", status, body, tc.code)
			}
			if len(m.datasets) != n {
				t.Error("a refused create stored a dataset")
			}
		})
	}
	t.Run("by PATCH", func(t *testing.T) {
		id := createDataset(t, h, `{"name":"web","schemaRef":{"id":"`+eventSchema+`"}}`)
		patch := func(body string) (int, any) {
			t.Helper()
			return call(t, h, event("PATCH "+catalogBase+"/dataSets/{id}", map[string]string{"id": id}, "", body))
		}
		if status, body := patch(ttlBody("P1D")); status != 200 || m.datasets[id].RowExpiration() != 24*time.Hour {
			t.Fatalf("AEP's body: %d %v, row expiration %v", status, body, m.datasets[id].RowExpiration())
		}
		if status, body := patch(`[{"op":"replace","path":"/extensions/adobe_unifiedProfile/rowExpiration/ttlValue","value":"P90D"}]`); status != 200 || m.datasets[id].RowExpiration() != 90*24*time.Hour {
			t.Fatalf("JSON Patch: %d %v, row expiration %v", status, body, m.datasets[id].RowExpiration())
		}
		if status, body := patch(ttlBody("P0D")); status != 400 || body.(map[string]any)["code"] != "CATALOG-TTL" || m.datasets[id].RowExpiration() != 90*24*time.Hour {
			t.Errorf("P0D: %d %v, want 400 CATALOG-TTL and the setting kept", status, body)
		}
		if status, body := patch(`[{"op":"remove","path":"/extensions/adobe_unifiedProfile"}]`); status != 200 || m.datasets[id].RowExpiration() != 0 {
			t.Errorf("remove: %d %v, row expiration %v", status, body, m.datasets[id].RowExpiration())
		}
		prof := createDataset(t, h, `{"name":"crm","schemaRef":{"id":"`+profileSchema+`"}}`)
		req := event("PATCH "+catalogBase+"/dataSets/{id}", map[string]string{"id": prof}, "", ttlBody("P30D"))
		if status, body := call(t, h, req); status != 400 || body.(map[string]any)["code"] != "CATALOG-TTL-CLASS" || m.datasets[prof].Extensions != nil {
			t.Errorf("profile dataset: %d %v, want 400 CATALOG-TTL-CLASS and nothing stored", status, body)
		}
	})
}
