package xdm

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

const loyaltyDefs = `{"loyalty":{"properties":{"_mosaic":{"type":"object","properties":{
	"tier":{"type":"string","enum":["gold","silver"]},
	"points":{"type":"integer","minimum":0,"maximum":1000000},
	"code":{"type":"string","minLength":2,"maxLength":10},
	"joined":{"type":"string","format":"date"},
	"nick":{"type":"string"},
	"tags":{"type":"array","items":{"type":"string"},"maxItems":5},
	"balances":{"type":"object","meta:xdmType":"map","additionalProperties":{"type":"number"}},
	"card":{"type":"object","properties":{"number":{"type":"string"}},"required":["number"]}
}}}}}`

func loyaltyInput(t *testing.T, defs string) FieldGroupInput {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(defs), &d); err != nil {
		t.Fatal(err)
	}
	return FieldGroupInput{Title: "Loyalty", Type: "object", IntendedToExtend: []string{ProfileClass},
		Definitions: d, AllOf: []Ref{{Ref: "#/definitions/loyalty"}}}
}

// TestEvolutionRules checks every rule through a field group edit, the
// way a tenant evolves an enabled schema.
func TestEvolutionRules(t *testing.T) {
	g, err := NewFieldGroup(loyaltyInput(t, loyaltyDefs), "", now)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSchema(SchemaInput{Title: "CRM", Type: "object", AllOf: []Ref{{Ref: ProfileClass}, {Ref: g.ID}, {Ref: IdentityMapFieldGroup}}}, "", now, g)
	if err != nil {
		t.Fatal(err)
	}
	const fg = "/definitions/loyalty/properties/_mosaic/properties"
	for _, tc := range []struct {
		name  string
		patch string
		want  string // "" = additive
	}{
		{"add a field", `[{"op":"add","path":"` + fg + `/level","value":{"type":"integer"}}]`, ""},
		{"add a required new field", `[{"op":"add","path":"` + fg + `/card/properties/pin","value":{"type":"string"}},{"op":"add","path":"` + fg + `/card/required/-","value":"pin"}]`, ""},
		{"make a required field optional", `[{"op":"remove","path":"` + fg + `/card/required"}]`, ""},
		{"widen a constraint", `[{"op":"replace","path":"` + fg + `/points/maximum","value":2000000}]`, ""},
		{"drop a constraint", `[{"op":"remove","path":"` + fg + `/code/minLength"}]`, ""},
		{"add an enum value", `[{"op":"add","path":"` + fg + `/tier/enum/-","value":"bronze"}]`, ""},
		{"change title and description", `[{"op":"replace","path":"/title","value":"Loyalty 2"},{"op":"add","path":"` + fg + `/nick/description","value":"x"}]`, ""},
		{"remove a field", `[{"op":"remove","path":"` + fg + `/nick"}]`, "breaking change: field /_mosaic/nick removed"},
		{"rename a field", `[{"op":"move","from":"` + fg + `/nick","path":"` + fg + `/nickname"}]`, "breaking change: field /_mosaic/nick removed"},
		{"move a field", `[{"op":"move","from":"` + fg + `/nick","path":"` + fg + `/card/properties/nick"}]`, "breaking change: field /_mosaic/nick removed"},
		{"change a type", `[{"op":"replace","path":"` + fg + `/points/type","value":"number"}]`, "breaking change: field /_mosaic/points changed type from integer to number"},
		{"scalar to map", `[{"op":"replace","path":"` + fg + `/nick","value":{"type":"object","meta:xdmType":"map","additionalProperties":{"type":"string"}}}]`, "breaking change: field /_mosaic/nick changed type from string to object"},
		{"change a format", `[{"op":"replace","path":"` + fg + `/joined/format","value":"date-time"}]`, "breaking change: field /_mosaic/joined changed format to date-time"},
		{"add a format", `[{"op":"add","path":"` + fg + `/nick/format","value":"email"}]`, "breaking change: field /_mosaic/nick changed format to email"},
		{"remove an enum value", `[{"op":"replace","path":"` + fg + `/tier/enum","value":["gold"]}]`, "breaking change: field /_mosaic/tier enum value silver removed"},
		{"add an enum", `[{"op":"add","path":"` + fg + `/nick/enum","value":["a"]}]`, "breaking change: field /_mosaic/nick was restricted to an enum"},
		{"add a pattern", `[{"op":"add","path":"` + fg + `/nick/pattern","value":"^a"}]`, "breaking change: field /_mosaic/nick pattern added or changed"},
		{"raise a minimum", `[{"op":"replace","path":"` + fg + `/points/minimum","value":1}]`, "breaking change: field /_mosaic/points constraint minimum narrowed"},
		{"lower a maximum", `[{"op":"replace","path":"` + fg + `/points/maximum","value":10}]`, "breaking change: field /_mosaic/points constraint maximum narrowed"},
		{"raise minLength", `[{"op":"replace","path":"` + fg + `/code/minLength","value":3}]`, "breaking change: field /_mosaic/code constraint minLength narrowed"},
		{"add maxLength", `[{"op":"add","path":"` + fg + `/nick/maxLength","value":3}]`, "breaking change: field /_mosaic/nick constraint maxLength narrowed"},
		{"lower maxItems", `[{"op":"replace","path":"` + fg + `/tags/maxItems","value":2}]`, "breaking change: field /_mosaic/tags constraint maxItems narrowed"},
		{"retype array items", `[{"op":"replace","path":"` + fg + `/tags/items/type","value":"integer"}]`, "breaking change: field /_mosaic/tags/items changed type from string to integer"},
		{"retype map values", `[{"op":"replace","path":"` + fg + `/balances/additionalProperties/type","value":"string"}]`, "breaking change: field /_mosaic/balances/* changed type from number to string"},
		{"make an existing field required", `[{"op":"add","path":"/definitions/loyalty/properties/_mosaic/required","value":["nick"]}]`, "breaking change: field /_mosaic/nick became required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o []PatchOp
			if err := json.Unmarshal([]byte(tc.patch), &o); err != nil {
				t.Fatal(err)
			}
			n, err := g.Patch(o, now)
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			if n.Version != "1.1" {
				t.Errorf("got version %q, want 1.1", n.Version)
			}
			err = s.CheckEvolution(s, []FieldGroup{g}, []FieldGroup{n})
			got := ""
			if err != nil {
				fe := fault.As(err)
				if fe.Kind != fault.Invalid || fe.Code != "XDM-BREAKING" {
					t.Fatalf("got %v, want invalid XDM-BREAKING", err)
				}
				got = fe.Message
			}
			if tc.want == "" && got != "" {
				t.Fatalf("got %q, want the change accepted", got)
			}
			if tc.want != "" && (len(got) < len(tc.want) || got[:len(tc.want)] != tc.want) {
				t.Errorf("got %q, want it to start with %q", got, tc.want)
			}
		})
	}
}

func TestSchemaEvolution(t *testing.T) {
	enabled := profileSchema(t, PersonDetailsFieldGroup, IdentityMapFieldGroup)
	enabled.ImmutableTags = []string{UnionTag}
	for _, tc := range []struct {
		name  string
		patch string
		code  string
		msg   string
	}{
		{"remove a field group", `[{"op":"remove","path":"/allOf/1"},{"op":"remove","path":"/meta:extends/2"}]`, "XDM-BREAKING", "breaking change: field /person removed; a schema enabled for Profile or holding data accepts only additive changes"},
		{"change the class", `[{"op":"replace","path":"/meta:class","value":"` + EventClass + `"}]`, "XDM-CLASS", "the class of a schema cannot change"},
		{"disable Profile", `[{"op":"replace","path":"/meta:immutableTags","value":[]}]`, "XDM-UNION-IRREVERSIBLE", "a schema enabled for Profile cannot be disabled: meta:immutableTags cannot be removed"},
		{"add a field group", `[{"op":"add","path":"/allOf/-","value":{"$ref":"` + PersonalDetailsFieldGroup + `"}}]`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := enabled.Patch(ops(t, tc.patch), now)
			if tc.code == "" {
				if err != nil || n.Version != "1.1" {
					t.Fatalf("got %v version %q, want accepted as 1.1", err, n.Version)
				}
				return
			}
			fe := fault.As(err)
			if d := cmp.Diff([]string{tc.code, tc.msg}, []string{fe.Code, fe.Message}); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	t.Run("replace keeps rules", func(t *testing.T) {
		_, err := enabled.Replace(SchemaInput{Title: "CRM", Type: "object", AllOf: []Ref{{Ref: ProfileClass}, {Ref: IdentityMapFieldGroup}}, ImmutableTags: []string{UnionTag}}, now)
		if fe := fault.As(err); fe.Code != "XDM-BREAKING" {
			t.Errorf("got %v, want XDM-BREAKING", err)
		}
	})
}

func TestFieldGroup(t *testing.T) {
	t.Run("created with AEP's fields", func(t *testing.T) {
		g, err := NewFieldGroup(loyaltyInput(t, loyaltyDefs), "prod", now)
		if err != nil {
			t.Fatal(err)
		}
		got := []any{g.AltID == AltID(g.ID), g.ResourceType, g.Version, g.Abstract, g.Extensible, g.ContainerID, g.TenantNamespace}
		want := []any{true, "mixins", "1.0", true, true, "tenant", "_mosaic"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("(-want +got):\n%s", d)
		}
	})
	for _, tc := range []struct {
		name string
		mod  func(in *FieldGroupInput)
		code string
	}{
		{"no intendedToExtend", func(in *FieldGroupInput) { in.IntendedToExtend = nil }, "XDM-INTENDED"},
		{"unknown class", func(in *FieldGroupInput) { in.IntendedToExtend = []string{"https://ns.adobe.com/x/classes/nope"} }, "XDM-INTENDED"},
		{"field outside the tenant object", func(in *FieldGroupInput) {
			in.Definitions["loyalty"].(map[string]any)["properties"].(map[string]any)["points"] = map[string]any{"type": "integer"}
		}, "XDM-TENANT-FIELD"},
		{"field without a type", func(in *FieldGroupInput) {
			in.Definitions["loyalty"].(map[string]any)["properties"].(map[string]any)["_mosaic"].(map[string]any)["properties"].(map[string]any)["x"] = map[string]any{"title": "x"}
		}, "XDM-FIELD"},
		{"array without items", func(in *FieldGroupInput) {
			in.Definitions["loyalty"].(map[string]any)["properties"].(map[string]any)["_mosaic"].(map[string]any)["properties"].(map[string]any)["x"] = map[string]any{"type": "array"}
		}, "XDM-FIELD"},
		{"ref outside the group", func(in *FieldGroupInput) { in.AllOf = []Ref{{Ref: ProfileClass}} }, "XDM-REF"},
		{"no title", func(in *FieldGroupInput) { in.Title = "" }, "XDM-TITLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := loyaltyInput(t, loyaltyDefs)
			tc.mod(&in)
			_, err := NewFieldGroup(in, "", now)
			if fe := fault.As(err); fe.Kind != fault.Invalid || fe.Code != tc.code {
				t.Errorf("got %v, want invalid %s", err, tc.code)
			}
		})
	}
	t.Run("not for the event class", func(t *testing.T) {
		g, err := NewFieldGroup(loyaltyInput(t, loyaltyDefs), "", now)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewSchema(SchemaInput{Title: "x", Type: "object", AllOf: []Ref{{Ref: EventClass}, {Ref: g.AltID}}}, "", now, g)
		if fe := fault.As(err); fe.Code != "XDM-FIELDGROUP-CLASS" {
			t.Errorf("got %v, want XDM-FIELDGROUP-CLASS", err)
		}
	})
	t.Run("type conflicts across the tenant", func(t *testing.T) {
		a := map[string]string{"/_mosaic": "object", "/_mosaic/points": "integer"}
		b := map[string]string{"/_mosaic": "object", "/_mosaic/points": "string"}
		err := CheckTypeConflicts(b, a)
		if fe := fault.As(err); fe.Code != "XDM-CONFLICT" || fe.Message != "field /_mosaic/points is already defined in the tenant as integer and cannot be redefined as string" {
			t.Errorf("got %v", err)
		}
		if err := CheckTypeConflicts(a, a); err != nil {
			t.Errorf("got %v for equal types", err)
		}
	})
	t.Run("old audit $id is an alias", func(t *testing.T) {
		s := profileSchema(t, "https://ns.adobe.com/xdm/mixins/external-source-system-audit-details")
		if d := cmp.Diff([]string{SourceAuditFieldGroup}, s.FieldGroups()); d != "" {
			t.Errorf("(-want +got):\n%s", d)
		}
	})
}
