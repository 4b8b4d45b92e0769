package ingestenv

import (
	"context"
	"errors"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// namespaceFinder answers from a fixed list, as catalog.SpecLoader does
// from the catalog.
type namespaceFinder struct {
	ns  []identity.Namespace
	err error
}

func (f namespaceFinder) Namespace(_ context.Context, code string) (identity.Namespace, bool, error) {
	if f.err != nil {
		return identity.Namespace{}, false, f.err
	}
	n, ok := identity.Lookup(code, f.ns)
	return n, ok, nil
}

// Uniqueness comes from the namespaces as the catalog says: a custom
// namespace made unique is unique, CRMID is by default, an unknown code
// is not, and a failed read is the rule's error.
func TestGraphRulesUniqueFromNamespaces(t *testing.T) {
	ctx := context.Background()
	finder := namespaceFinder{ns: []identity.Namespace{{Code: "MemberCard", IDType: identity.TypeCrossDevice, Unique: true}, {Code: "Loyal", IDType: identity.TypeCrossDevice}}}
	rules := GraphRules(finder, 7)
	if rules.Cap != 7 {
		t.Errorf("cap %d, want 7", rules.Cap)
	}
	for code, want := range map[string]bool{"membercard": true, "CRMID": true, "Loyal": false, "ECID": false, "Nope": false} {
		got, err := rules.Unique(ctx, code)
		if err != nil || got != want {
			t.Errorf("Unique(%q) = %v, %v; want %v", code, got, err, want)
		}
	}
	down := fault.E(fault.Unavailable, "X", "down")
	if _, err := GraphRules(namespaceFinder{err: down}, 7).Unique(ctx, "CRMID"); !errors.Is(err, down) {
		t.Errorf("Unique on a failed read = %v, want the read's error", err)
	}
}

// A cluster cap that is not a whole number from 1 to 10,000 stops the
// function at start, naming the setting's code.
func TestLoadRefusesABadClusterCap(t *testing.T) {
	env := map[string]string{topology.EnvCatalogTable: "c", topology.EnvProfileTable: "p", "AWS_REGION": "us-east-1", topology.EnvClusterCap: "0"}
	_, err := Load(context.Background(), func(k string) string { return env[k] }, 1, 0)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != "CONFIG-CLUSTER-CAP" {
		t.Fatalf("Load with cap 0 = %v, want CONFIG-CLUSTER-CAP", err)
	}
}
