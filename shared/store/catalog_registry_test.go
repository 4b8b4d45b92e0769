package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

func catNewFieldGroup(t *testing.T) xdm.FieldGroup {
	t.Helper()
	var defs map[string]any
	_ = json.Unmarshal([]byte(`{"loyalty":{"properties":{"_mosaic":{"type":"object","properties":{"crmId":{"type":"string"},"points":{"type":"integer"}}}}}}`), &defs)
	g, err := xdm.NewFieldGroup(xdm.FieldGroupInput{Title: "Loyalty", Type: "object", IntendedToExtend: []string{xdm.ProfileClass},
		Definitions: defs, AllOf: []xdm.Ref{{Ref: "#/definitions/loyalty"}}}, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestCatalogFieldGroups(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		g := catNewFieldGroup(t)
		if err := c.FieldGroups.Create(ctx, g); err != nil {
			t.Fatal(err)
		}
		catWantFault(t, c.FieldGroups.Create(ctx, g), fault.Conflict, "FIELDGROUP-EXISTS")
		for _, id := range []string{g.AltID, g.ID} {
			got, err := c.FieldGroups.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(g, got); d != "" {
				t.Errorf("get %s (-want +got):\n%s", id, d)
			}
		}
		n, err := g.Patch([]xdm.PatchOp{{Op: "replace", Path: "/title", Value: []byte(`"Loyalty 2"`)}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.FieldGroups.Update(ctx, n, g.Version); err != nil {
			t.Fatal(err)
		}
		catWantFault(t, c.FieldGroups.Update(ctx, n, g.Version), fault.Conflict, "FIELDGROUP-VERSION-CONFLICT")
		list, err := c.FieldGroups.List(ctx)
		if err != nil || len(list) != 1 || list[0].Version != "1.1" {
			t.Errorf("list: got %v, %v; want the updated group", list, err)
		}
		if err := c.FieldGroups.Delete(ctx, g.AltID); err != nil {
			t.Fatal(err)
		}
		catWantFault(t, c.FieldGroups.Delete(ctx, g.AltID), fault.NotFound, "FIELDGROUP-NOT-FOUND")
		_, err = c.FieldGroups.Get(ctx, g.ID)
		catWantFault(t, err, fault.NotFound, "FIELDGROUP-NOT-FOUND")
	})
}

func TestCatalogDescriptorLifecycle(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		s := catNewSchema(t)
		if err := c.Schemas.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		primary := xdm.Descriptor{ID: "p", Type: xdm.DescriptorIdentity, SourceSchema: s.ID, SourceProperty: "/personalEmail/address", Namespace: "Email", IsPrimary: true}
		other := xdm.Descriptor{ID: "o", Type: xdm.DescriptorIdentity, SourceSchema: s.ID, SourceProperty: "/mobilePhone/number", Namespace: "Phone"}
		for _, d := range []xdm.Descriptor{primary, other} {
			if err := c.CreateDescriptor(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		promoted := other
		promoted.IsPrimary = true
		catWantFault(t, c.PutDescriptor(ctx, other, promoted), fault.Conflict, "XDM-PRIMARY-EXISTS")
		demoted := primary
		demoted.IsPrimary = false
		if err := c.PutDescriptor(ctx, primary, demoted); err != nil {
			t.Fatal(err)
		}
		if err := c.PutDescriptor(ctx, other, promoted); err != nil {
			t.Fatalf("promote after the primary was demoted: %v", err)
		}
		if err := c.DeleteDescriptor(ctx, promoted); err != nil {
			t.Fatal(err)
		}
		catWantFault(t, c.DeleteDescriptor(ctx, promoted), fault.NotFound, "DESCRIPTOR-NOT-FOUND")
		// The guard went with the primary: a new primary is accepted.
		again := demoted
		again.ID, again.IsPrimary = "p2", true
		again.SourceProperty = "/homeAddress/city"
		if err := c.CreateDescriptor(ctx, again); err != nil {
			t.Errorf("new primary after delete: %v", err)
		}
		if err := c.Schemas.Delete(ctx, s.AltID); err != nil {
			t.Fatal(err)
		}
		catWantFault(t, c.Schemas.Delete(ctx, s.AltID), fault.NotFound, "SCHEMA-NOT-FOUND")
	})
}

func TestCatalogNamespaces(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		ns, err := identity.NewCustom(identity.NamespaceInput{Code: "MyCRM", Name: "My CRM", IDType: "cross_device"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		dup := ns
		dup.Code = "MYCRM"
		catWantFault(t, c.CreateNamespace(ctx, dup), fault.Conflict, "NAMESPACE-EXISTS")
		got, err := c.GetNamespace(ctx, "mycrm")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(ns, got); d != "" {
			t.Errorf("(-want +got):\n%s", d)
		}
		_, err = c.GetNamespace(ctx, "nope")
		catWantFault(t, err, fault.NotFound, "NAMESPACE-NOT-FOUND")
		l := catalog.NewSpecLoader(c)
		list, err := l.Namespaces(ctx)
		if err != nil || len(list) != 1 || list[0].Code != "MyCRM" {
			t.Errorf("loader namespaces: got %v, %v", list, err)
		}
	})
}

// TestCatalogSpecWithTenantGroup proves the loader resolves tenant field
// groups and rebuilds the spec when a group changes.
func TestCatalogSpecWithTenantGroup(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		g := catNewFieldGroup(t)
		if err := c.FieldGroups.Create(ctx, g); err != nil {
			t.Fatal(err)
		}
		s, err := xdm.NewSchema(xdm.SchemaInput{Title: "L", Type: "object", AllOf: []xdm.Ref{{Ref: xdm.ProfileClass}, {Ref: g.ID}}}, "", time.Now(), g)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Schemas.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := c.CreateDataset(ctx, catalog.Dataset{ID: "dsg", SchemaRef: catalog.SchemaRef{ID: s.ID}}); err != nil {
			t.Fatal(err)
		}
		clock := time.Now()
		l := catalog.NewSpecLoader(c)
		l.Now = func() time.Time { return clock }
		spec, err := l.Spec(ctx, "dsg")
		if err != nil {
			t.Fatal(err)
		}
		row := map[string]any{"_mosaic": map[string]any{"points": "12", "level": 1}}
		want := []catalog.Violation{{Pointer: "/_mosaic/level", Code: "XDM-UNKNOWN-FIELD", Message: "field is not defined by the schema"}}
		if d := cmp.Diff(want, spec.Validate(row)); d != "" {
			t.Errorf("violations (-want +got):\n%s", d)
		}
		n, err := g.Patch([]xdm.PatchOp{{Op: "add", Path: "/definitions/loyalty/properties/_mosaic/properties/level", Value: []byte(`{"type":"integer"}`)}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.FieldGroups.Update(ctx, n, g.Version); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(catalog.DefaultFreshness)
		spec, err = l.Spec(ctx, "dsg")
		if err != nil {
			t.Fatal(err)
		}
		if vs := spec.Validate(map[string]any{"_mosaic": map[string]any{"points": "12", "level": 1}}); vs != nil {
			t.Errorf("after the group gained the field: got %v", vs)
		}
	})
}
