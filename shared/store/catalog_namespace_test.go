package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// TestCatalogNamespaceSettings changes a custom namespace under optimistic
// concurrency and sets standard ones, as the loader then answers them.
func TestCatalogNamespaceSettings(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		ns, err := identity.NewCustom(identity.NamespaceInput{Code: "Loyalty", Name: "Loyalty", IDType: "cross_device"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		changed := ns
		changed.Unique, changed.Name = true, "Loyalty card"
		if err := c.UpdateNamespace(ctx, changed, ns); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetNamespace(ctx, "LOYALTY")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(changed, got); d != "" {
			t.Errorf("updated namespace (-want +got):\n%s", d)
		}
		stale := ns
		stale.Description = "lost"
		catWantFault(t, c.UpdateNamespace(ctx, stale, ns), fault.Conflict, "NAMESPACE-VERSION-CONFLICT")
		gone := ns
		gone.Code = "Gone"
		catWantFault(t, c.UpdateNamespace(ctx, gone, gone), fault.NotFound, "NAMESPACE-NOT-FOUND")

		for _, o := range []identity.Override{{Code: "CRMID", Unique: true}, {Code: "crmid", Unique: false, UpdateTime: 2}, {Code: "Email", Unique: true, UpdateTime: 3}} {
			if err := c.PutNamespaceOverride(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		catWantFault(t, c.PutNamespaceOverride(ctx, identity.Override{Code: "Loyalty", Unique: true}), fault.Invalid, "NAMESPACE-NOT-STANDARD")
		overrides, err := c.ListNamespaceOverrides(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []identity.Override{{Code: "crmid", Unique: false, UpdateTime: 2}, {Code: "Email", Unique: true, UpdateTime: 3}}
		if d := cmp.Diff(want, overrides); d != "" {
			t.Errorf("overrides (-want +got):\n%s", d)
		}

		l := catalog.NewSpecLoader(c)
		for code, unique := range map[string]bool{"CRMID": false, "email": true, "Phone": false, "loyalty": true} {
			got, ok, err := l.Namespace(ctx, code)
			if err != nil || !ok || got.Unique != unique {
				t.Errorf("loader Namespace(%s) = %+v %v %v, want unique %v", code, got, ok, err, unique)
			}
		}
	})
}
