package xdm

import (
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// withTenant sets the tenant for one test and restores the default after.
func withTenant(t *testing.T, id string) {
	t.Helper()
	if err := SetTenant(id); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = SetTenant("") })
}

// TestConfiguredTenant checks that a stack configured for tenant acme
// creates AEP's ids and field paths of that tenant: a company moving from
// AEP keeps its _acme field paths.
func TestConfiguredTenant(t *testing.T) {
	withTenant(t, "acme")
	acmeDefs := strings.ReplaceAll(loyaltyDefs, `"_mosaic"`, `"_acme"`)
	g, err := NewFieldGroup(loyaltyInput(t, acmeDefs), "prod", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.ID, "https://ns.adobe.com/acme/mixins/") || !strings.HasPrefix(g.AltID, "_acme.mixins.") || g.TenantNamespace != "_acme" {
		t.Errorf("field group %s %s %s, want the acme tenant's ids", g.ID, g.AltID, g.TenantNamespace)
	}
	s, err := NewSchema(SchemaInput{Title: "CRM", Type: "object", AllOf: []Ref{{Ref: ProfileClass}, {Ref: g.ID}}}, "prod", now, g)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.ID, "https://ns.adobe.com/acme/schemas/") || !strings.HasPrefix(s.AltID, "_acme.schemas.") || s.TenantNamespace != "_acme" {
		t.Errorf("schema %s %s %s, want the acme tenant's ids", s.ID, s.AltID, s.TenantNamespace)
	}
	res, err := Resolve(s, g)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Compile(res)
	if err != nil {
		t.Fatal(err)
	}
	if vs := v.Validate(map[string]any{"_acme": map[string]any{"points": 3}}); len(vs) != 0 {
		t.Errorf("row under _acme: %v, want valid", vs)
	}
	// Fields of another tenant are refused, naming the configured one.
	_, err = NewFieldGroup(loyaltyInput(t, loyaltyDefs), "prod", now)
	if fe := fault.As(err); fe == nil || fe.Code != "XDM-TENANT-FIELD" || !strings.Contains(fe.Message, "_acme") {
		t.Errorf("field group under _mosaic in tenant acme: %v, want XDM-TENANT-FIELD naming _acme", err)
	}
}

func TestSetTenant(t *testing.T) {
	t.Cleanup(func() { _ = SetTenant("") })
	for _, bad := range []string{"Acme", "_acme", "ac-me", "ac.me", strings.Repeat("a", 65), "ac me"} {
		if err := SetTenant(bad); err == nil {
			t.Errorf("SetTenant(%q) accepted", bad)
		}
	}
	if TenantID != DefaultTenantID {
		t.Errorf("a refused tenant changed TenantID to %q", TenantID)
	}
	if err := SetTenant(""); err != nil || TenantID != "mosaic" || TenantObject != "_mosaic" {
		t.Errorf("empty tenant: %v %q %q, want the default", err, TenantID, TenantObject)
	}
}
