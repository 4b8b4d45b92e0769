//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// callAccept is call with an Accept header, for the Schema Registry's
// representations (xed+json, xed-full+json, xed-id+json).
func callAccept(t *testing.T, method, path, accept string) apiResponse {
	t.Helper()
	req, err := http.NewRequest(method, tgt.APIURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	if tgt.Sandbox != "" {
		req.Header.Set("x-sandbox-name", tgt.Sandbox)
	}
	sum := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: tgt.AccessID, SecretAccessKey: tgt.Secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", tgt.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// wantFields fails unless m has every key with the wanted value (nil
// wanted: present with any value).
func wantFields(t *testing.T, what string, m map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, ok := m[k]
		if !ok {
			t.Errorf("%s lacks AEP field %q: %v", what, k, m)
			continue
		}
		if v != nil && fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s %q = %v, want %v", what, k, got, v)
		}
	}
}

// TestRegistryTutorial follows AEP's schema tutorial with its request
// bodies: a tenant field group with loyalty fields under the tenant
// object, a profile schema composed of the class, standard field groups
// and the tenant group, a CRM primary identity descriptor on a custom
// namespace, enablement for Profile; then a breaking change refused and an
// additive one accepted.
func TestRegistryTutorial(t *testing.T) {
	suffix := fmt.Sprint(time.Now().UnixNano())

	// 1. Tenant field group (AEP's "Loyalty Details" body, tenant _mosaic).
	var fg map[string]any
	must(t, http.StatusCreated, "POST", registry+"/tenant/fieldgroups", map[string]any{
		"title":                 "Loyalty Details " + suffix,
		"description":           "Loyalty program fields",
		"type":                  "object",
		"meta:intendedToExtend": []any{"https://ns.adobe.com/xdm/context/profile"},
		"definitions": map[string]any{
			"loyalty": map[string]any{
				"properties": map[string]any{
					"_mosaic": map[string]any{
						"type": "object",
						"properties": map[string]any{
							"loyaltyId": map[string]any{"title": "Loyalty ID", "type": "string"},
							"tier": map[string]any{"title": "Tier", "type": "string", "enum": []any{"gold", "silver"},
								"meta:enum": map[string]any{"gold": "Gold", "silver": "Silver"}},
							"points": map[string]any{"title": "Points", "type": "integer"},
						},
					},
				},
			},
		},
		"allOf": []any{map[string]any{"$ref": "#/definitions/loyalty"}},
	}).decode(t, &fg)
	wantFields(t, "field group", fg, map[string]any{"$id": nil, "meta:altId": nil, "version": "1.0", "meta:abstract": true,
		"meta:extensible": true, "meta:tenantNamespace": "_mosaic", "meta:containerId": "tenant", "meta:resourceType": "mixins", "imsOrg": nil})
	fgID, _ := fg["$id"].(string)
	if !strings.Contains(fgID, "/mixins/") {
		t.Fatalf("field group $id %q, want .../mixins/<hash>", fgID)
	}

	// A field outside the tenant object is refused.
	bad := call(t, "POST", registry+"/tenant/fieldgroups", map[string]any{
		"title": "Bad " + suffix, "type": "object", "meta:intendedToExtend": []any{"https://ns.adobe.com/xdm/context/profile"},
		"definitions": map[string]any{"d": map[string]any{"properties": map[string]any{"points": map[string]any{"type": "integer"}}}},
		"allOf":       []any{map[string]any{"$ref": "#/definitions/d"}},
	}, "")
	if bad.Status != http.StatusBadRequest || !strings.Contains(string(bad.Body), "_mosaic") {
		t.Errorf("field outside _mosaic: %d %s, want 400 naming _mosaic", bad.Status, bad.Body)
	}

	// 2. Custom namespace for the CRM id (duplicates in any case refused).
	code := "CRM" + suffix[len(suffix)-6:]
	var ns map[string]any
	must(t, http.StatusCreated, "POST", "/data/core/idnamespace/identities", map[string]any{
		"name": "CRM " + suffix, "code": code, "description": "CRM identifier", "idType": "CROSS_DEVICE",
	}).decode(t, &ns)
	wantFields(t, "namespace", ns, map[string]any{"id": nil, "code": code, "name": nil, "idType": "CROSS_DEVICE", "custom": true, "status": "ACTIVE", "description": "CRM identifier"})
	must(t, http.StatusConflict, "POST", "/data/core/idnamespace/identities", map[string]any{"name": "dup", "code": strings.ToLower(code), "idType": "CROSS_DEVICE"})
	must(t, http.StatusOK, "GET", "/data/core/idnamespace/identities/"+strings.ToLower(code), nil)

	// 3. Schema: profile class + standard field groups + the tenant group.
	var schema map[string]any
	must(t, http.StatusCreated, "POST", registry+"/tenant/schemas", map[string]any{
		"type":        "object",
		"title":       "Loyalty Members " + suffix,
		"description": "Schema for loyalty members",
		"allOf": []any{
			map[string]any{"$ref": "https://ns.adobe.com/xdm/context/profile"},
			map[string]any{"$ref": "https://ns.adobe.com/xdm/context/profile-person-details"},
			map[string]any{"$ref": "https://ns.adobe.com/xdm/context/profile-personal-details"},
			map[string]any{"$ref": fgID},
		},
	}).decode(t, &schema)
	wantFields(t, "schema", schema, map[string]any{"$id": nil, "meta:altId": nil, "version": "1.0", "meta:class": "https://ns.adobe.com/xdm/context/profile",
		"meta:extends": nil, "meta:containerId": "tenant", "imsOrg": nil, "meta:resourceType": "schemas", "meta:abstract": false,
		"meta:extensible": false, "meta:tenantNamespace": "_mosaic", "meta:sandboxId": nil})
	schemaID, _ := schema["$id"].(string)
	altID, _ := schema["meta:altId"].(string)
	if ext := fmt.Sprint(schema["meta:extends"]); !strings.Contains(ext, "https://ns.adobe.com/xdm/data/record") || !strings.Contains(ext, fgID) {
		t.Errorf("meta:extends = %v, want the record behaviour and the tenant field group", ext)
	}
	path := registry + "/tenant/schemas/" + url.PathEscape(altID)

	// 4. Primary identity descriptor on the tenant field.
	var desc map[string]any
	must(t, http.StatusCreated, "POST", registry+"/tenant/descriptors", map[string]any{
		"@type":              "xdm:descriptorIdentity",
		"xdm:sourceSchema":   schemaID,
		"xdm:sourceVersion":  1,
		"xdm:sourceProperty": "/_mosaic/loyaltyId",
		"xdm:namespace":      strings.ToLower(code),
		"xdm:property":       "xdm:code",
		"xdm:isPrimary":      true,
	}).decode(t, &desc)
	wantFields(t, "descriptor", desc, map[string]any{"@id": nil, "xdm:namespace": code, "xdm:isPrimary": true})
	must(t, http.StatusCreated, "POST", registry+"/tenant/descriptors", map[string]any{
		"@type": "xdm:descriptorIdentity", "xdm:sourceSchema": schemaID, "xdm:sourceVersion": 1,
		"xdm:sourceProperty": "/personalEmail/address", "xdm:namespace": "Email", "xdm:property": "xdm:code", "xdm:isPrimary": false,
	})

	// 5. Enable for Profile.
	var enabled map[string]any
	must(t, http.StatusOK, "PATCH", path, []any{
		map[string]any{"op": "add", "path": "/meta:immutableTags", "value": []any{"union"}},
	}).decode(t, &enabled)
	wantFields(t, "enabled schema", enabled, map[string]any{"version": "1.1", "meta:immutableTags": "[union]"})

	// 6. A breaking change is refused, naming the field.
	r := call(t, "PATCH", path, []any{
		map[string]any{"op": "remove", "path": "/allOf/1"},
		map[string]any{"op": "remove", "path": "/meta:extends/2"},
	}, "")
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "field /person removed") {
		t.Errorf("breaking schema change: %d %s, want 400 naming field /person", r.Status, r.Body)
	}
	r = call(t, "PATCH", registry+"/tenant/fieldgroups/"+url.PathEscape(fgID), []any{
		map[string]any{"op": "remove", "path": "/definitions/loyalty/properties/_mosaic/properties/points"},
	}, "")
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "field /_mosaic/points removed") {
		t.Errorf("breaking field group change: %d %s, want 400 naming /_mosaic/points", r.Status, r.Body)
	}
	r = call(t, "PATCH", path, []any{map[string]any{"op": "remove", "path": "/meta:immutableTags"}}, "")
	if r.Status != http.StatusBadRequest {
		t.Errorf("disable Profile: %d %s, want 400", r.Status, r.Body)
	}

	// 7. An additive change passes and bumps the version (AEP's two-op add).
	var added map[string]any
	must(t, http.StatusOK, "PATCH", path, []any{
		map[string]any{"op": "add", "path": "/meta:extends/-", "value": "https://ns.adobe.com/xdm/common/external-source-system-audit-details"},
		map[string]any{"op": "add", "path": "/allOf/-", "value": map[string]any{"$ref": "https://ns.adobe.com/xdm/common/external-source-system-audit-details"}},
	}).decode(t, &added)
	wantFields(t, "schema after additive change", added, map[string]any{"version": "1.2"})

	// 8. The resolved view carries the merged properties.
	full := callAccept(t, "GET", path, "application/vnd.adobe.xed-full+json; version=1")
	if full.Status != http.StatusOK {
		t.Fatalf("GET xed-full: %d %s", full.Status, full.Body)
	}
	var resolved map[string]any
	full.decode(t, &resolved)
	for _, p := range [][]string{
		{"properties", "_mosaic", "properties", "points", "type"},
		{"properties", "person", "properties", "name", "type"},
		{"properties", "extSourceSystemAudit", "properties", "lastUpdatedDate", "format"},
	} {
		if dig(resolved, p...) == nil {
			t.Errorf("xed-full lacks %s", strings.Join(p, "."))
		}
	}
	var stored map[string]any
	callAccept(t, "GET", path, "application/vnd.adobe.xed+json; version=1").decode(t, &stored)
	if stored["properties"] != nil || stored["allOf"] == nil {
		t.Errorf("xed+json should be the stored schema with $refs: %v", stored)
	}

	// 9. The schema is a member of the profile union.
	var u map[string]any
	callAccept(t, "GET", registry+"/tenant/unions/_xdm.context.profile__union", "application/vnd.adobe.xed+json").decode(t, &u)
	if ext := fmt.Sprint(u["meta:extends"]); !strings.Contains(ext, schemaID) {
		t.Errorf("profile union members %v, want %s", ext, schemaID)
	}

	// 10. Listings: summaries, paged.
	var list map[string]any
	callAccept(t, "GET", registry+"/tenant/schemas?limit=1", "application/vnd.adobe.xed-id+json").decode(t, &list)
	if res, _ := list["results"].([]any); len(res) != 1 || dig(list, "_page", "count") != float64(1) {
		t.Errorf("paged listing: %v", list)
	}
}
