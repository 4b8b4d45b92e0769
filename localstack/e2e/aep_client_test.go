//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// streamProfile puts one profile record for dataset on the ingest stream.
func streamProfile(t *testing.T, schemaID, dataset, partitionKey string, entity map[string]any) {
	t.Helper()
	ref := map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
	msg, _ := json.Marshal(map[string]any{
		"header": map[string]any{"schemaRef": ref, "datasetId": dataset},
		"body":   map[string]any{"xdmMeta": map[string]any{"schemaRef": ref}, "xdmEntity": entity},
	})
	putRecord(t, partitionKey, msg)
}

// TestCustomNamespaceEndToEnd creates a custom namespace while the ingest
// function already holds the namespace list, ingests a record naming it at
// once, and reads the profile and its cluster by that namespace.
func TestCustomNamespaceEndToEnd(t *testing.T) {
	n := time.Now().UnixNano()
	schemaID := createProfileSchema(t, fmt.Sprintf("Loyalty members %d", n))
	ds := createDataset(t, "Loyalty members", schemaID)

	// A first record fills the stream function's namespace cache.
	warm := fmt.Sprintf("warm%d@example.com", n)
	streamProfile(t, schemaID, ds, warm, map[string]any{"_id": "warm", "personalEmail": map[string]any{"address": warm}})
	eventually(t, 60*time.Second, "the first record's profile", func() error {
		if status, p := lookup(t, "Email", warm); !found(status, p) {
			return errorf("no profile data yet (lookup status %d)", status)
		}
		return nil
	})

	code := fmt.Sprintf("Loyalty%d", n%1000000000)
	var ns map[string]any
	must(t, http.StatusCreated, "POST", "/data/core/idnamespace/identities", map[string]any{
		"name": "Loyalty card", "code": code, "idType": "CROSS_DEVICE", "description": "loyalty card numbers",
	}).decode(t, &ns)
	nsID, _ := ns["id"].(float64)

	email := fmt.Sprintf("member%d@example.com", n)
	card := fmt.Sprintf("LP-%d", n)
	streamProfile(t, schemaID, ds, email, map[string]any{
		"_id":           "member",
		"personalEmail": map[string]any{"address": email},
		"person":        map[string]any{"name": map[string]any{"firstName": "Marta"}},
		"identityMap":   map[string]any{code: []any{map[string]any{"id": card}}},
	})
	eventually(t, 60*time.Second, "the profile by the custom namespace", func() error {
		status, p := lookup(t, strings.ToLower(code), card)
		if !found(status, p) {
			return errorf("lookup by %s: status %d", code, status)
		}
		if got := dig(p, "entity", "person", "name", "firstName"); got != "Marta" {
			return errorf("firstName = %v", got)
		}
		return nil
	})
	for _, q := range []url.Values{{"namespace": {code}, "id": {card}}, {"nsId": {fmt.Sprint(int64(nsID))}, "id": {card}}} {
		var members map[string]any
		must(t, http.StatusOK, "GET", "/data/core/identity/cluster/members?"+q.Encode(), nil).decode(t, &members)
		got := fmt.Sprint(members["members"])
		if !strings.Contains(got, email) || !strings.Contains(got, card) || dig(members, "compositeXid", "nsid") != nsID {
			t.Errorf("cluster/members?%s = %v, want the card (nsid %v) and the email", q.Encode(), members, nsID)
		}
	}
}

// TestDatasetCallsAsAEP creates a dataset with AEP's minimal body (no
// name, the xed-full-notext content type), enables it with the JSON Patch
// of AEP's "Configure a dataset for Profile and Identity Service" tutorial,
// and ingests into it.
func TestDatasetCallsAsAEP(t *testing.T) {
	n := time.Now().UnixNano()
	schemaID := createProfileSchema(t, fmt.Sprintf("Patched %d", n))
	var refs []string
	must(t, http.StatusCreated, "POST", catalogP+"/dataSets", map[string]any{
		"schemaRef": map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full-notext+json; version=1"},
	}).decode(t, &refs)
	if len(refs) != 1 {
		t.Fatalf("create answer %v", refs)
	}
	id := strings.TrimPrefix(refs[0], "@/dataSets/")
	var got map[string]map[string]any
	must(t, http.StatusOK, "GET", catalogP+"/dataSets/"+id, nil).decode(t, &got)
	if got[id]["name"] == "" || got[id]["name"] == nil || dig(got[id], "schemaRef", "contentType") != "application/vnd.adobe.xed-full-notext+json; version=1" {
		t.Errorf("created dataset %v, want a generated name and the content type as sent", got[id])
	}

	var answer []string
	must(t, http.StatusOK, "PATCH", catalogP+"/dataSets/"+id, []any{
		map[string]any{"op": "add", "path": "/tags/unifiedProfile", "value": []any{"enabled:true"}},
		map[string]any{"op": "add", "path": "/tags/unifiedIdentity", "value": []any{"enabled:true"}},
	}).decode(t, &answer)
	if len(answer) != 1 || answer[0] != "@/dataSets/"+id {
		t.Errorf("PATCH answer %v, want [\"@/dataSets/%s\"]", answer, id)
	}
	must(t, http.StatusOK, "GET", catalogP+"/dataSets/"+id, nil).decode(t, &got)
	if tags := fmt.Sprint(got[id]["tags"]); !strings.Contains(tags, "unifiedProfile:[enabled:true]") || !strings.Contains(tags, "unifiedIdentity:[enabled:true]") || got[id]["profileEnabledAt"] == nil {
		t.Errorf("patched dataset %v, want both tags enabled and profileEnabledAt", got[id])
	}
	if r := call(t, "PATCH", catalogP+"/dataSets/"+id, `[{"op":"replace","path":"/schemaRef/id","value":"x"}]`, ""); r.Status != http.StatusBadRequest {
		t.Errorf("PATCH of schemaRef: %d %s, want 400", r.Status, r.Body)
	}

	email := fmt.Sprintf("patched%d@example.com", n)
	streamProfile(t, schemaID, id, email, map[string]any{"_id": "p1", "personalEmail": map[string]any{"address": email}})
	eventually(t, 60*time.Second, "a profile from the patched dataset", func() error {
		if status, p := lookup(t, "Email", email); !found(status, p) {
			return errorf("no profile data yet (lookup status %d)", status)
		}
		return nil
	})
}

// TestRegistryStats reads the tenant id as AEP clients do.
func TestRegistryStats(t *testing.T) {
	createSchema(t, fmt.Sprintf("Stats %d", time.Now().UnixNano()), "https://ns.adobe.com/xdm/context/profile")
	var stats map[string]any
	must(t, http.StatusOK, "GET", registry+"/stats", nil).decode(t, &stats)
	tenant, _ := stats["tenantId"].(string)
	if tenant == "" || stats["imsOrg"] == nil {
		t.Fatalf("stats %v, want imsOrg and tenantId", stats)
	}
	if n, _ := dig(stats, "counts", "schemas").(float64); n < 1 {
		t.Errorf("counts %v, want at least the schema just created", stats["counts"])
	}
	var fg map[string]any
	must(t, http.StatusCreated, "POST", registry+"/tenant/fieldgroups", map[string]any{
		"title": fmt.Sprintf("Stats group %d", time.Now().UnixNano()), "type": "object",
		"meta:intendedToExtend": []any{"https://ns.adobe.com/xdm/context/profile"},
		"definitions": map[string]any{"g": map[string]any{"properties": map[string]any{
			"_" + tenant: map[string]any{"type": "object", "properties": map[string]any{"level": map[string]any{"type": "string"}}}}}},
		"allOf": []any{map[string]any{"$ref": "#/definitions/g"}},
	}).decode(t, &fg)
	if fg["meta:tenantNamespace"] != "_"+tenant || !strings.HasPrefix(fmt.Sprint(fg["$id"]), "https://ns.adobe.com/"+tenant+"/") {
		t.Errorf("field group %v, want tenant %s's ids", fg, tenant)
	}
}
