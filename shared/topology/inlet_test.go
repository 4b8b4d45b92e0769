package topology

import (
	"regexp"
	"testing"
)

func TestDefaultInletID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a := DefaultInletID("", "prod")
	if !uuid.MatchString(a) {
		t.Fatalf("DefaultInletID = %q, not a version 8 UUID", a)
	}
	if b := DefaultInletID("mosaic", "prod"); b != a {
		t.Errorf("empty tenant gives %q, tenant mosaic %q: want the same", a, b)
	}
	if b := DefaultInletID("", "prod"); b != a {
		t.Errorf("not stable: %q then %q", a, b)
	}
	if b := DefaultInletID("", "dev"); b == a {
		t.Errorf("sandboxes dev and prod share inlet %q", a)
	}
	if b := DefaultInletID("acme", "prod"); b == a {
		t.Errorf("tenants acme and mosaic share inlet %q", a)
	}
}
