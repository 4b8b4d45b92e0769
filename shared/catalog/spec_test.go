package catalog

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

type fakeSource struct {
	datasets map[string]Dataset
	schemas  map[string]xdm.Schema
	descs    []xdm.Descriptor
	reads    int
	err      error
}

func (f *fakeSource) GetDataset(ctx context.Context, id string) (Dataset, error) {
	f.reads++
	if f.err != nil {
		return Dataset{}, f.err
	}
	d, ok := f.datasets[id]
	if !ok {
		return Dataset{}, fault.E(fault.NotFound, "DATASET-NOT-FOUND", "no dataset")
	}
	return d, nil
}

func (f *fakeSource) GetSchema(ctx context.Context, id string) (xdm.Schema, error) {
	s, ok := f.schemas[id]
	if !ok {
		return xdm.Schema{}, fault.E(fault.NotFound, "SCHEMA-NOT-FOUND", "no schema")
	}
	return s, nil
}

func (f *fakeSource) ListDescriptors(ctx context.Context, schemaID string) ([]xdm.Descriptor, error) {
	var out []xdm.Descriptor
	for _, d := range f.descs {
		if d.SourceSchema == schemaID {
			out = append(out, d)
		}
	}
	return out, nil
}

func TestParseTags(t *testing.T) {
	for _, tc := range []struct {
		name string
		tags map[string][]string
		want Flags
	}{
		{"none", nil, Flags{}},
		{"profile", map[string][]string{"unifiedProfile": {"enabled:true"}}, Flags{ProfileEnabled: true}},
		{"spaced spelling", map[string][]string{"unifiedProfile": {"enabled: true", "isUpsert: true"}, "unifiedIdentity": {"enabled: true"}}, Flags{ProfileEnabled: true, Upsert: true, IdentityEnabled: true}},
		{"disabled", map[string][]string{"unifiedProfile": {"enabled:false"}, "unifiedIdentity": {"enabled:false"}}, Flags{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseTags(tc.tags); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNewDataset(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	d, err := NewDataset(DatasetInput{Name: "CRM", SchemaRef: &SchemaRef{ID: "https://ns.adobe.com/mosaic/schemas/x"}}, "org", "prod", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ID) != 24 || d.Created != now.UnixMilli() || d.SchemaRef.ContentType != DefaultSchemaContentType || d.Files != "@/dataSetFiles?dataSetId="+d.ID {
		t.Errorf("got %+v", d)
	}
	for _, ct := range []string{"application/vnd.adobe.xed-full-notext+json; version=1", "application/vnd.adobe.xed+json", "application/vnd.adobe.xed-full+json;version=1"} {
		u, err := NewDataset(DatasetInput{SchemaRef: &SchemaRef{ID: "x", ContentType: ct}}, "org", "prod", now)
		if err != nil || u.Name != "Dataset "+u.ID || u.SchemaRef.ContentType != ct {
			t.Errorf("no name, content type %s: %+v %v, want a generated name and the type kept", ct, u, err)
		}
	}
	for _, tc := range []struct {
		name string
		in   DatasetInput
		code string
	}{
		{"unknown schemaRef content type", DatasetInput{SchemaRef: &SchemaRef{ID: "x", ContentType: "application/xml"}}, "CATALOG-SCHEMAREF"},
		{"no schemaRef", DatasetInput{Name: "x"}, "CATALOG-SCHEMAREF"},
		{"upsert both true and false", DatasetInput{Name: "x", SchemaRef: &SchemaRef{ID: "x"}, Tags: map[string][]string{"unifiedProfile": {"enabled:true", "isUpsert:true", "isupsert: false"}}}, "CATALOG-TAG"},
		{"enabled both true and false", DatasetInput{Name: "x", SchemaRef: &SchemaRef{ID: "x"}, Tags: map[string][]string{"unifiedIdentity": {"enabled:true", "enabled:false"}}}, "CATALOG-TAG"},
		{"bad tag value", DatasetInput{Name: "x", SchemaRef: &SchemaRef{ID: "x"}, Tags: map[string][]string{"unifiedProfile": {"enabled:yes"}}}, "CATALOG-TAG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDataset(tc.in, "", "", now)
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Code != tc.code {
				t.Errorf("got %v, want invalid %s", err, tc.code)
			}
		})
	}
}

func newSchema(t *testing.T, class string, groups ...string) xdm.Schema {
	t.Helper()
	in := xdm.SchemaInput{Title: "s", Type: "object", AllOf: []xdm.Ref{{Ref: class}}}
	for _, g := range groups {
		in.AllOf = append(in.AllOf, xdm.Ref{Ref: g})
	}
	s, err := xdm.NewSchema(in, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSpecLoader(t *testing.T) {
	ctx := context.Background()
	s := newSchema(t, xdm.ProfileClass, xdm.PersonalDetailsFieldGroup, xdm.IdentityMapFieldGroup)
	s.ImmutableTags = []string{xdm.UnionTag}
	src := &fakeSource{
		datasets: map[string]Dataset{
			"ds1":      {ID: "ds1", SchemaRef: SchemaRef{ID: s.ID}, Tags: map[string][]string{"unifiedProfile": {"enabled:true", "isUpsert:true"}, "unifiedIdentity": {"enabled: true"}}},
			"orphan":   {ID: "orphan", SchemaRef: SchemaRef{ID: "https://ns.adobe.com/mosaic/schemas/gone"}},
			"disabled": {ID: "disabled", SchemaRef: SchemaRef{ID: s.ID}},
		},
		schemas: map[string]xdm.Schema{s.ID: s},
		descs: []xdm.Descriptor{
			{ID: "d2", Type: xdm.DescriptorIdentity, SourceSchema: s.ID, SourceProperty: "/mobilePhone/number", Namespace: "phone"},
			{ID: "d1", Type: xdm.DescriptorIdentity, SourceSchema: s.ID, SourceProperty: "/personalEmail/address", Namespace: "Email", IsPrimary: true},
			{ID: "other", Type: xdm.DescriptorIdentity, SourceSchema: "https://ns.adobe.com/mosaic/schemas/other", SourceProperty: "/x", Namespace: "ECID"},
		},
	}
	clock := time.Unix(1000, 0)
	l := NewSpecLoader(src)
	l.Now = func() time.Time { return clock }

	t.Run("builds the spec", func(t *testing.T) {
		got, err := l.Spec(ctx, "ds1")
		if err != nil {
			t.Fatal(err)
		}
		want := &IngestSpec{
			DatasetID: "ds1", SchemaID: s.ID, SchemaVersion: "1.0", Class: ProfileClass,
			ProfileEnabled: true, IdentityEnabled: true, Upsert: true,
			Identities: []IdentityField{
				{Path: "/personalEmail/address", Namespace: "Email", Primary: true},
				{Path: "/mobilePhone/number", Namespace: "Phone"},
			},
		}
		if d := cmp.Diff(want, got, cmpopts.IgnoreFields(IngestSpec{}, "Validate", "Check", "CheckPatch", "FieldType")); d != "" {
			t.Errorf("spec (-want +got):\n%s", d)
		}
		vs := got.Validate(map[string]any{"mobilePhone": map[string]any{"number": 5}})
		wantV := []Violation{
			{Pointer: "/mobilePhone/number", Code: "XDM-TYPE", Message: "must be string, got number"},
			{Pointer: "/personalEmail", Code: "XDM-REQUIRED", Message: "required field is missing"},
		}
		if d := cmp.Diff(wantV, vs); d != "" {
			t.Errorf("violations (-want +got):\n%s", d)
		}
		if vs := got.Validate(map[string]any{"personalEmail": map[string]any{"address": "a@b.co"}}); vs != nil {
			t.Errorf("got violations %v for a valid row", vs)
		}
	})
	t.Run("profile needs the schema's union tag", func(t *testing.T) {
		src.datasets["plain"] = Dataset{ID: "plain", SchemaRef: SchemaRef{ID: "plain-schema"}, Tags: map[string][]string{"unifiedProfile": {"enabled:true"}}}
		ps := newSchema(t, xdm.EventClass)
		src.schemas["plain-schema"] = ps
		got, err := l.Spec(ctx, "plain")
		if err != nil {
			t.Fatal(err)
		}
		if got.ProfileEnabled || got.Class != EventClass {
			t.Errorf("got profileEnabled %v class %q, want false and the event class", got.ProfileEnabled, got.Class)
		}
	})
	t.Run("cached within the freshness window", func(t *testing.T) {
		before := src.reads
		if _, err := l.Spec(ctx, "ds1"); err != nil {
			t.Fatal(err)
		}
		if src.reads != before {
			t.Errorf("got %d reads, want none", src.reads-before)
		}
	})
	t.Run("schema change takes effect after the window", func(t *testing.T) {
		first, _ := l.Spec(ctx, "ds1")
		n, err := s.Patch([]xdm.PatchOp{{Op: "add", Path: "/allOf/-", Value: []byte(`{"$ref":"` + xdm.PersonDetailsFieldGroup + `"}`)}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		src.schemas[s.ID] = n
		got, _ := l.Spec(ctx, "ds1")
		if got != first {
			t.Errorf("spec changed inside the freshness window")
		}
		clock = clock.Add(DefaultFreshness)
		got, err = l.Spec(ctx, "ds1")
		if err != nil {
			t.Fatal(err)
		}
		if got.SchemaVersion != "1.1" {
			t.Errorf("got schema version %q, want 1.1", got.SchemaVersion)
		}
		clock = clock.Add(DefaultFreshness)
		again, _ := l.Spec(ctx, "ds1")
		if again != got {
			t.Errorf("unchanged registry rebuilt the spec")
		}
	})
	t.Run("transient refresh failure serves the last spec", func(t *testing.T) {
		last, _ := l.Spec(ctx, "ds1")
		clock = clock.Add(DefaultFreshness)
		src.err = fault.E(fault.Unavailable, "STORE-UNAVAILABLE", "down")
		defer func() { src.err = nil }()
		got, err := l.Spec(ctx, "ds1")
		if err != nil || got != last {
			t.Errorf("got %v, %v; want the last spec", got, err)
		}
		if _, err := l.Spec(ctx, "never-loaded"); fault.KindOf(err) != fault.Unavailable {
			t.Errorf("got %v, want unavailable", err)
		}
	})
	for _, tc := range []struct{ name, id, code string }{
		{"unknown dataset", "nope", "DATASET-NOT-FOUND"},
		{"missing schema", "orphan", "SCHEMA-NOT-FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Spec(ctx, tc.id)
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.NotFound || fe.Code != tc.code {
				t.Errorf("got %v, want not found %s", err, tc.code)
			}
		})
	}
}
