package main

import (
	"context"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// TestTenantFromEnvironment checks that the function takes its tenant id
// from the environment and refuses to start with an invalid one.
func TestTenantFromEnvironment(t *testing.T) {
	t.Cleanup(func() { _ = xdm.SetTenant("") })
	t.Setenv("AWS_REGION", "us-east-1")
	env := func(tenant string) func(string) string {
		return func(k string) string {
			return map[string]string{topology.EnvCatalogTable: "catalog", topology.EnvTenantID: tenant}[k]
		}
	}
	if _, err := newHandler(context.Background(), env("Not A Tenant")); err == nil || !strings.Contains(err.Error(), topology.EnvTenantID) {
		t.Errorf("invalid tenant: %v, want an error naming %s", err, topology.EnvTenantID)
	}
	if _, err := newHandler(context.Background(), env("acme")); err != nil || xdm.TenantID != "acme" {
		t.Fatalf("tenant acme: %v, TenantID %q", err, xdm.TenantID)
	}
	// A field group of tenant acme sits under _acme, and stats names the tenant.
	h, _ := newTestHandler()
	fg := `{"title":"Loyalty","type":"object","meta:intendedToExtend":["` + xdm.ProfileClass + `"],
		"definitions":{"loyalty":{"properties":{"_acme":{"type":"object","properties":{"points":{"type":"integer"}}}}}},
		"allOf":[{"$ref":"#/definitions/loyalty"}]}`
	status, body := call(t, h, event("POST "+base+"/tenant/fieldgroups", nil, nil, fg))
	if status != 201 || body["meta:tenantNamespace"] != "_acme" || !strings.HasPrefix(body["$id"].(string), "https://ns.adobe.com/acme/mixins/") {
		t.Fatalf("field group in tenant acme: %d %v", status, body)
	}
	if status, body := call(t, h, event("POST "+base+"/tenant/schemas", nil, nil,
		`{"title":"CRM","type":"object","allOf":[{"$ref":"`+xdm.ProfileClass+`"},{"$ref":"`+body["$id"].(string)+`"}]}`)); status != 201 {
		t.Fatalf("schema: %d %v", status, body)
	}
	status, body = call(t, h, event("GET "+base+"/stats", nil, nil, ""))
	if status != 200 || body["tenantId"] != "acme" || body["imsOrg"] != xdm.ImsOrg {
		t.Fatalf("stats: %d %v, want tenantId acme", status, body)
	}
	counts := body["counts"].(map[string]any)
	if counts["schemas"] != 1.0 || counts["mixins"] != 1.0 || counts["unions"] != 0.0 {
		t.Errorf("counts %v, want 1 schema, 1 field group, no union", counts)
	}
	if n := len(body["recentlyCreatedResources"].([]any)); n != 2 {
		t.Errorf("%d recently created resources, want 2", n)
	}
	if u := dig(body, "classUsage", xdm.ProfileClass); u == nil || len(u.([]any)) != 1 {
		t.Errorf("classUsage %v, want the schema under the profile class", body["classUsage"])
	}
}
