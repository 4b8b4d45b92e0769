//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	registry = "/data/foundation/schemaregistry"
	catalogP = "/data/foundation/catalog"
)

// createSchema creates a tenant schema of one class and field groups with
// AEP's body and returns its $id and meta:altId.
func createSchema(t *testing.T, title string, refs ...string) (id, altID string) {
	t.Helper()
	allOf := make([]any, len(refs))
	for i, r := range refs {
		allOf[i] = map[string]any{"$ref": r}
	}
	var schema map[string]any
	must(t, http.StatusCreated, "POST", registry+"/tenant/schemas", map[string]any{
		"type": "object", "title": title, "description": "created by an end-to-end test", "allOf": allOf,
	}).decode(t, &schema)
	id, _ = schema["$id"].(string)
	altID, _ = schema["meta:altId"].(string)
	if id == "" || altID == "" || schema["version"] != "1.0" {
		t.Fatalf("created schema lacks AEP's fields ($id, meta:altId, version 1.0): %v", schema)
	}
	return id, altID
}

// enableForProfile tags a schema for Profile (meta:immutableTags union).
func enableForProfile(t *testing.T, altID string) map[string]any {
	t.Helper()
	var enabled map[string]any
	must(t, http.StatusOK, "PATCH", registry+"/tenant/schemas/"+url.PathEscape(altID), []any{
		map[string]any{"op": "add", "path": "/meta:immutableTags", "value": []any{"union"}},
	}).decode(t, &enabled)
	if tags := fmt.Sprint(enabled["meta:immutableTags"]); !strings.Contains(tags, "union") {
		t.Fatalf("schema not enabled for Profile: meta:immutableTags = %v", tags)
	}
	return enabled
}

// createProfileSchema creates a profile schema with AEP's request bodies,
// marks personalEmail.address as the primary Email identity and enables the
// schema for Profile. It returns the schema's $id.
func createProfileSchema(t *testing.T, title string) string {
	t.Helper()
	id, altID := createSchema(t, title,
		"https://ns.adobe.com/xdm/context/profile",
		"https://ns.adobe.com/xdm/context/profile-person-details",
		"https://ns.adobe.com/xdm/context/profile-personal-details",
		"https://ns.adobe.com/xdm/context/identitymap")

	var desc map[string]any
	must(t, http.StatusCreated, "POST", registry+"/tenant/descriptors", map[string]any{
		"@type":              "xdm:descriptorIdentity",
		"xdm:sourceSchema":   id,
		"xdm:sourceVersion":  1,
		"xdm:sourceProperty": "/personalEmail/address",
		"xdm:namespace":      "Email",
		"xdm:property":       "xdm:code",
		"xdm:isPrimary":      true,
	}).decode(t, &desc)
	if desc["@id"] == nil {
		t.Fatalf("descriptor answer has no @id: %v", desc)
	}

	enableForProfile(t, altID)
	// The schema is reachable by its URL-encoded $id as well.
	must(t, http.StatusOK, "GET", registry+"/tenant/schemas/"+url.PathEscape(id), nil)
	return id
}

// createDataset creates a Profile- and Identity-enabled dataset and returns its id.
func createDataset(t *testing.T, name, schemaID string) string {
	t.Helper()
	var refs []string
	must(t, http.StatusCreated, "POST", catalogP+"/dataSets", map[string]any{
		"name":      name,
		"schemaRef": map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full+json;version=1"},
		"tags": map[string]any{
			"unifiedProfile":  []any{"enabled:true"},
			"unifiedIdentity": []any{"enabled:true"},
		},
	}).decode(t, &refs)
	if len(refs) != 1 || !strings.HasPrefix(refs[0], "@/dataSets/") {
		t.Fatalf("dataset answer = %v, want [\"@/dataSets/<id>\"]", refs)
	}
	return strings.TrimPrefix(refs[0], "@/dataSets/")
}

// lookup reads the merged profile of an identity; it returns the status and
// the single entity of AEP's answer map.
//
// An identity with no profile data answers 200 with AEP's no-data entry
// (see isNoData): found tells data from it.
func lookup(t *testing.T, ns, id string) (int, map[string]any) {
	t.Helper()
	q := url.Values{"schema.name": {"_xdm.context.profile"}, "entityId": {id}, "entityIdNS": {ns}}
	r := call(t, "GET", "/data/core/ups/access/entities?"+q.Encode(), nil, "")
	if r.Status != http.StatusOK {
		return r.Status, nil
	}
	var answer map[string]map[string]any
	r.decode(t, &answer)
	if len(answer) != 1 {
		t.Fatalf("lookup answer has %d entries, want 1: %s", len(answer), r.Body)
	}
	for _, v := range answer {
		return r.Status, v
	}
	return r.Status, nil
}

// found reports whether a lookup answered profile data: 200, and not
// AEP's no-data entry.
func found(status int, entry map[string]any) bool {
	return status == http.StatusOK && !isNoData(status, entry)
}

// isNoData reports whether a lookup answered AEP's entry for an identity
// with no profile data: 200, entity {}, sources [""], lastModifiedAt
// 1970-01-01T00:00:00Z.
func isNoData(status int, entry map[string]any) bool {
	e, _ := entry["entity"].(map[string]any)
	sources, _ := entry["sources"].([]any)
	return status == http.StatusOK && e != nil && len(e) == 0 && len(sources) == 1 && sources[0] == "" &&
		entry["lastModifiedAt"] == "1970-01-01T00:00:00Z"
}

// TestSlice drives the whole foundation slice: schema → descriptor → enable →
// two datasets → a file dropped with the AWS CLI into one, a record put with
// the AWS CLI on the stream for the other → one merged profile.
func TestSlice(t *testing.T) {
	schemaID := createProfileSchema(t, fmt.Sprintf("CRM Customers %d", time.Now().UnixNano()))
	crm := createDataset(t, "CRM customers", schemaID)
	loyalty := createDataset(t, "Loyalty members", schemaID)

	var ds map[string]map[string]any
	must(t, http.StatusOK, "GET", catalogP+"/dataSets/"+crm, nil).decode(t, &ds)
	if got := dig(ds[crm], "schemaRef", "id"); got != schemaID {
		t.Fatalf("dataset schemaRef.id = %v, want %s", got, schemaID)
	}

	// A JSON Lines file: Jane, 23 other people and one row of the wrong type.
	// One bad row in 25 is 4%, under AEP's default partialIngestionPercent of 5.
	var lines []string
	lines = append(lines, `{"_id":"crm-1","personalEmail":{"address":"Jane@Example.com"},"person":{"name":{"firstName":"Jane","lastName":"Quintanilla"}},"mobilePhone":{"number":"+1 555 0100"}}`)
	for i := 2; i <= 24; i++ {
		lines = append(lines, fmt.Sprintf(`{"_id":"crm-%d","personalEmail":{"address":"user%02d@example.com"},"person":{"name":{"firstName":"User%d"}}}`, i, i, i))
	}
	lines = append(lines, `{"_id":"crm-bad","personalEmail":{"address":"bad@example.com"},"person":{"name":{"firstName":true}}}`)
	file := filepath.Join(t.TempDir(), "crm.json")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	awsCLI(t, "s3", "cp", file, fmt.Sprintf("s3://%s/ingest/%s/crm.json", tgt.Bucket, crm))

	eventually(t, 60*time.Second, "Jane's profile from the dropped file", func() error {
		status, p := lookup(t, "Email", "jane@example.com")
		if !found(status, p) {
			return errorf("no profile data yet (lookup status %d)", status)
		}
		if got := dig(p, "entity", "person", "name", "lastName"); got != "Quintanilla" {
			return errorf("lastName = %v", got)
		}
		return nil
	})

	// The batch of the dropped file reports AEP's status and metrics.
	eventually(t, 30*time.Second, "the dropped file's batch succeeded", func() error {
		var batches map[string]map[string]any
		r := call(t, "GET", catalogP+"/batches?dataSet="+crm, nil, "")
		if r.Status != http.StatusOK {
			return errorf("batches status %d %s", r.Status, r.Body)
		}
		r.decode(t, &batches)
		if len(batches) != 1 {
			return errorf("%d batches for the dataset, want 1", len(batches))
		}
		for _, b := range batches {
			if b["status"] != "success" {
				return errorf("batch status %v", b["status"])
			}
			m, _ := b["metrics"].(map[string]any)
			if m["inputRecordCount"] != 25.0 || m["outputRecordCount"] != 24.0 || m["failedRecordCount"] != 1.0 {
				return errorf("batch metrics %v, want 25 in, 24 out, 1 failed", m)
			}
		}
		return nil
	})

	// A streamed record for the same person, in the other dataset, newer:
	// its firstName wins under timestamp-ordered merge; lastName stays.
	msg, _ := json.Marshal(map[string]any{
		"header": map[string]any{
			"schemaRef": map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full+json;version=1"},
			"datasetId": loyalty,
		},
		"body": map[string]any{
			"xdmMeta": map[string]any{"schemaRef": map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full+json;version=1"}},
			"xdmEntity": map[string]any{
				"_id":           "loyalty-1",
				"personalEmail": map[string]any{"address": "jane@example.com"},
				"person":        map[string]any{"name": map[string]any{"firstName": "Janet"}},
				"homeAddress":   map[string]any{"city": "Lisbon"},
			},
		},
	})
	putRecord(t, "jane@example.com", msg)

	var merged map[string]any
	eventually(t, 30*time.Second, "the streamed record merged into Jane's profile", func() error {
		status, p := lookup(t, "email", "JANE@example.com")
		if !found(status, p) {
			return errorf("no profile data yet (lookup status %d)", status)
		}
		if got := dig(p, "entity", "homeAddress", "city"); got != "Lisbon" {
			return errorf("homeAddress.city = %v", got)
		}
		merged = p
		return nil
	})
	if got := dig(merged, "entity", "person", "name", "firstName"); got != "Janet" {
		t.Errorf("firstName = %v, want Janet (the newer fragment wins)", got)
	}
	if got := dig(merged, "entity", "person", "name", "lastName"); got != "Quintanilla" {
		t.Errorf("lastName = %v, want Quintanilla (only the file has it)", got)
	}
	if got := dig(merged, "entity", "mobilePhone", "number"); got != "+1 555 0100" {
		t.Errorf("mobilePhone.number = %v, want the file's value", got)
	}
	sources := fmt.Sprint(merged["sources"])
	if !strings.Contains(sources, crm) || !strings.Contains(sources, loyalty) {
		t.Errorf("sources = %v, want both datasets %s and %s", sources, crm, loyalty)
	}
	if dig(merged, "mergePolicy", "id") == nil {
		t.Errorf("answer names no merge policy: %v", merged)
	}
	if merged["lastModifiedAt"] == nil {
		t.Errorf("answer has no lastModifiedAt: %v", merged)
	}

	// An identity nobody has sent answers AEP's no-data entry.
	if status, p := lookup(t, "Email", "nobody@example.com"); !isNoData(status, p) {
		t.Errorf("lookup of an unknown identity = %d %v, want the no-data entry", status, p)
	}
	// The bad row's person never became a profile.
	if status, p := lookup(t, "Email", "bad@example.com"); !isNoData(status, p) {
		t.Errorf("lookup of the refused row's identity = %d %v, want the no-data entry", status, p)
	}
}

// TestAPIRequiresSignature checks S1: unsigned and wrongly signed calls get 403.
func TestAPIRequiresSignature(t *testing.T) {
	path := "/data/core/ups/access/entities?schema.name=_xdm.context.profile&entityId=a%40b.c&entityIdNS=Email"
	if r := callUnsigned(t, "GET", path); r.Status != http.StatusForbidden {
		t.Errorf("unsigned call = %d %s, want 403", r.Status, r.Body)
	}
	if r := call(t, "GET", path, nil, "not-the-secret"); r.Status != http.StatusForbidden {
		t.Errorf("call signed with a wrong secret = %d %s, want 403", r.Status, r.Body)
	}
	if r := call(t, "GET", registry+"/global/classes", nil, ""); r.Status != http.StatusOK {
		t.Errorf("signed call = %d %s, want 200", r.Status, r.Body)
	}
}

// TestBadInputAnswers checks that bad requests get the one error shape with
// a stable code and no internals.
func TestBadInputAnswers(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		want   int
	}{
		{"malformed JSON", "POST", registry + "/tenant/schemas", "{not json", http.StatusBadRequest},
		{"dataset of an unknown schema", "POST", catalogP + "/dataSets", map[string]any{
			"name": "x", "schemaRef": map[string]any{"id": "https://ns.adobe.com/mosaic/schemas/nope", "contentType": "application/vnd.adobe.xed-full+json;version=1"},
		}, http.StatusBadRequest},
		{"unknown dataset", "GET", catalogP + "/dataSets/does-not-exist", nil, http.StatusNotFound},
		{"unknown batch", "GET", catalogP + "/batches/does-not-exist", nil, http.StatusNotFound},
		{"lookup without an identity", "GET", "/data/core/ups/access/entities?schema.name=_xdm.context.profile", nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, tt.path, tt.body, "")
			if r.Status != tt.want {
				t.Fatalf("status = %d %s, want %d", r.Status, r.Body, tt.want)
			}
			var e map[string]any
			r.decode(t, &e)
			if e["code"] == nil || e["message"] == nil || e["requestId"] == nil {
				t.Errorf("error body %s lacks code, message or requestId", r.Body)
			}
			for _, leak := range []string{"dynamodb", "DynamoDB", "goroutine", ".go:", "mosaic-e2e", "arn:aws"} {
				if strings.Contains(string(r.Body), leak) {
					t.Errorf("error body leaks %q: %s", leak, r.Body)
				}
			}
		})
	}
}
