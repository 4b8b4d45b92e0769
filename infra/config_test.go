package main

import (
	"strings"
	"testing"
)

// TestTenantPerEnvironment checks that every environment names a valid
// tenant id and that an invalid one stops the synth.
func TestTenantPerEnvironment(t *testing.T) {
	for _, env := range Envs() {
		cfg, err := ConfigFor(env)
		if err != nil || cfg.TenantID == "" {
			t.Errorf("%s: tenant %q, %v", env, cfg.TenantID, err)
		}
	}
	configs["bad-tenant"] = Config{Name: "bad-tenant", Sandbox: "x", TenantID: "Acme Corp"}
	defer delete(configs, "bad-tenant")
	if _, err := ConfigFor("bad-tenant"); err == nil || !strings.Contains(err.Error(), "tenant id") {
		t.Errorf("invalid tenant id: %v, want an error", err)
	}
}
