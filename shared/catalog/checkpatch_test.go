package catalog

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

func TestCheckPatch(t *testing.T) {
	s := newSchema(t, xdm.ProfileClass, xdm.PersonalDetailsFieldGroup, xdm.PersonDetailsFieldGroup, xdm.IdentityMapFieldGroup)
	descs := []xdm.Descriptor{{ID: "d1", Type: xdm.DescriptorIdentity, SourceSchema: s.ID, SourceProperty: "/personalEmail/address", Namespace: "Email", IsPrimary: true}}
	spec, err := BuildSpec(Dataset{ID: "p", SchemaRef: SchemaRef{ID: s.ID}}, s, descs)
	if err != nil {
		t.Fatal(err)
	}
	if spec.CheckPatch == nil {
		t.Fatal("CheckPatch is nil")
	}
	required := []Violation{{Pointer: "/personalEmail", Code: xdm.CodeRequired, Message: "required field is missing"}}
	for _, tc := range []struct {
		name        string
		row         func() map[string]any
		full, patch []Violation
		changed     bool
	}{
		{"no descriptor identity field", func() map[string]any {
			return map[string]any{"person": map[string]any{"birthYear": "1990"}, "identityMap": map[string]any{"Email": []any{map[string]any{"id": "a@example.com", "primary": true}}}}
		}, required, nil, true},
		{"type still refused", func() map[string]any {
			return map[string]any{"person": map[string]any{"birthYear": "soon"}}
		}, append([]Violation{{Pointer: "/person/birthYear", Code: xdm.CodeType, Message: "must be integer, got string"}}, required...),
			[]Violation{{Pointer: "/person/birthYear", Code: xdm.CodeType, Message: "must be integer, got string"}}, false},
		{"unknown field still refused", func() map[string]any {
			return map[string]any{"nickname": "J"}
		}, append([]Violation{{Pointer: "/nickname", Code: xdm.CodeUnknownField, Message: "field is not defined by the schema"}}, required...),
			[]Violation{{Pointer: "/nickname", Code: xdm.CodeUnknownField, Message: "field is not defined by the schema"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.full, spec.Validate(tc.row())); d != "" {
				t.Errorf("Validate (-want +got):\n%s", d)
			}
			vs, changed := spec.CheckPatch(tc.row())
			if d := cmp.Diff(tc.patch, vs); d != "" {
				t.Errorf("CheckPatch (-want +got):\n%s", d)
			}
			if changed != tc.changed {
				t.Errorf("changed %v, want %v", changed, tc.changed)
			}
		})
	}
}

// TestCheckPatchConcurrentFirstUse: the first calls, compiling, may come
// from several goroutines at once (run with -race).
func TestCheckPatchConcurrentFirstUse(t *testing.T) {
	s := newSchema(t, xdm.ProfileClass, xdm.PersonDetailsFieldGroup)
	spec, err := BuildSpec(Dataset{ID: "p", SchemaRef: SchemaRef{ID: s.ID}}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if vs, _ := spec.CheckPatch(map[string]any{"person": map[string]any{"birthYear": 1990.0}}); vs != nil {
				errs <- vs[0].Message
			}
		}()
	}
	wg.Wait()
	close(errs)
	for m := range errs {
		t.Errorf("valid partial row refused: %s", m)
	}
}
