package xdm

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func kindCode(err error) (fault.Kind, string) {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		return fault.Internal, ""
	}
	return fe.Kind, fe.Code
}

func profileSchema(t *testing.T, groups ...string) Schema {
	t.Helper()
	in := SchemaInput{Title: "CRM", Type: "object", AllOf: []Ref{{Ref: ProfileClass}}}
	for _, g := range groups {
		in.AllOf = append(in.AllOf, Ref{Ref: g})
	}
	s, err := NewSchema(in, "prod", now)
	if err != nil {
		t.Fatalf("NewSchema: %v", err)
	}
	return s
}

func TestAltID(t *testing.T) {
	for _, tc := range []struct{ id, alt string }{
		{ProfileClass, "_xdm.context.profile"},
		{"https://ns.adobe.com/mosaic/schemas/abc", "_mosaic.schemas.abc"},
		{SourceAuditFieldGroup, "_xdm.common.external-source-system-audit-details"},
	} {
		if got := AltID(tc.id); got != tc.alt {
			t.Errorf("AltID(%q) = %q, want %q", tc.id, got, tc.alt)
		}
		if got := IDFromAltID(tc.alt); got != tc.id {
			t.Errorf("IDFromAltID(%q) = %q, want %q", tc.alt, got, tc.id)
		}
	}
	if got := IDFromAltID("_bad"); got != "" {
		t.Errorf("IDFromAltID(_bad) = %q, want empty", got)
	}
}

func TestNewSchema(t *testing.T) {
	t.Run("assigns ids and composition", func(t *testing.T) {
		s := profileSchema(t, "_xdm.context.profile-personal-details", PersonDetailsFieldGroup)
		if s.AltID != AltID(s.ID) || len(s.ID) != len("https://ns.adobe.com/mosaic/schemas/")+32 {
			t.Errorf("got $id %q altId %q, want tenant schema ids", s.ID, s.AltID)
		}
		want := []string{ProfileClass, RecordBehavior, PersonalDetailsFieldGroup, PersonDetailsFieldGroup}
		if d := cmp.Diff(want, s.Extends); d != "" {
			t.Errorf("meta:extends (-want +got):\n%s", d)
		}
		if s.Class != ProfileClass || s.Version != "1.0" || s.ContainerID != "tenant" || s.ImsOrg == "" {
			t.Errorf("got class %q version %q container %q", s.Class, s.Version, s.ContainerID)
		}
		if s.AllOf[1].Ref != PersonalDetailsFieldGroup {
			t.Errorf("altId ref not canonicalised: %q", s.AllOf[1].Ref)
		}
	})
	for _, tc := range []struct {
		name string
		in   SchemaInput
		code string
	}{
		{"no title", SchemaInput{Type: "object", AllOf: []Ref{{Ref: ProfileClass}}}, "XDM-TITLE"},
		{"no class", SchemaInput{Title: "x", Type: "object", AllOf: []Ref{{Ref: PersonDetailsFieldGroup}}}, "XDM-CLASS"},
		{"two classes", SchemaInput{Title: "x", Type: "object", AllOf: []Ref{{Ref: ProfileClass}, {Ref: EventClass}}}, "XDM-CLASS"},
		{"unknown ref", SchemaInput{Title: "x", Type: "object", AllOf: []Ref{{Ref: ProfileClass}, {Ref: "https://ns.adobe.com/x/mixins/nope"}}}, "XDM-UNKNOWN-REF"},
		{"field group for another class", SchemaInput{Title: "x", Type: "object", AllOf: []Ref{{Ref: EventClass}, {Ref: PersonDetailsFieldGroup}}}, "XDM-FIELDGROUP-CLASS"},
		{"bad tag", SchemaInput{Title: "x", Type: "object", AllOf: []Ref{{Ref: ProfileClass}}, ImmutableTags: []string{"other"}}, "XDM-TAG"},
		{"not object", SchemaInput{Title: "x", Type: "array", AllOf: []Ref{{Ref: ProfileClass}}}, "XDM-TYPE-OBJECT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSchema(tc.in, "", now)
			if k, c := kindCode(err); k != fault.Invalid || c != tc.code {
				t.Errorf("got %v (%s), want invalid %s", err, c, tc.code)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	s := profileSchema(t, PersonalDetailsFieldGroup, PersonDetailsFieldGroup, IdentityMapFieldGroup, SourceAuditFieldGroup)
	res, err := Resolve(s)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Compile(res, "/personalEmail/address")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Compile(mustResolve(t, SchemaInput{Title: "web", Type: "object", AllOf: []Ref{{Ref: EventClass}}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		v    *Validator
		row  string
		want []Violation
	}{
		{"valid profile", v, `{"personalEmail":{"address":"jane@example.com"},"person":{"name":{"firstName":"Jane"},"birthDate":"1990-04-01","gender":"female"},"identityMap":{"ECID":[{"id":"1","primary":true}]},"extSourceSystemAudit":{"lastUpdatedDate":"2025-01-01T00:00:00Z"}}`, nil},
		{"unknown field", v, `{"personalEmail":{"address":"a@b.co"},"unknownField":1,"person":{"nickname":"x"}}`, []Violation{{Pointer: "/person/nickname", Code: CodeUnknownField, Message: "field is not defined by the schema"}, {Pointer: "/unknownField", Code: CodeUnknownField, Message: "field is not defined by the schema"}}},
		{"primary identity required", v, `{"person":{"name":{"firstName":"Jane"}}}`, []Violation{{Pointer: "/personalEmail", Code: CodeRequired, Message: "required field is missing"}}},
		{"wrong type", v, `{"personalEmail":{"address":"a@b.co"},"person":{"name":{"firstName":true}}}`, []Violation{{Pointer: "/person/name/firstName", Code: CodeType, Message: "must be string, got boolean"}}},
		{"number in a string field is spelled", v, `{"personalEmail":{"address":"a@b.co"},"person":{"name":{"firstName":5}}}`, nil},
		{"number in an email field is checked as its spelling", v, `{"personalEmail":{"address":5}}`, []Violation{{Pointer: "/personalEmail/address", Code: CodeFormat, Message: "must be a valid email"}}},
		{"a huge unknown field is bounded", v, `{"personalEmail":{"address":"a@b.co"},"` + strings.Repeat("ü", 2000) + `":1}`, []Violation{{Pointer: "/" + strings.Repeat("ü", (MaxPointerBytes-4)/2) + "…", Code: CodeUnknownField, Message: "field is not defined by the schema"}}},
		{"bad date-time", v, `{"personalEmail":{"address":"a@b.co"},"extSourceSystemAudit":{"lastUpdatedDate":"yesterday"}}`, []Violation{{Pointer: "/extSourceSystemAudit/lastUpdatedDate", Code: CodeFormat, Message: "must be a valid date-time"}}},
		{"bad enum", v, `{"personalEmail":{"address":"a@b.co"},"person":{"gender":"secret-value"}}`, []Violation{{Pointer: "/person/gender", Code: CodeEnum, Message: "must be one of the allowed values"}}},
		{"identityMap item without id", v, `{"personalEmail":{"address":"a@b.co"},"identityMap":{"Email":[{"primary":true}]}}`, []Violation{{Pointer: "/identityMap/Email/0/id", Code: CodeRequired, Message: "required field is missing"}}},
		{"event needs _id and timestamp", ev, `{}`, []Violation{{Pointer: "/_id", Code: CodeRequired, Message: "required field is missing"}, {Pointer: "/timestamp", Code: CodeRequired, Message: "required field is missing"}}},
		{"valid event", ev, `{"_id":"e1","timestamp":"2025-01-01T10:00:00Z","identityMap":{"ECID":[{"id":"x"}]}}`, nil},
		{"null is absent", ev, `{"_id":"e1","timestamp":null}`, []Violation{{Pointer: "/timestamp", Code: CodeRequired, Message: "required field is missing"}}},
		{"empty string is absent", ev, `{"_id":"","timestamp":"2025-01-01T10:00:00Z"}`, []Violation{{Pointer: "/_id", Code: CodeRequired, Message: "required field is missing"}}},
		{"null primary identity is missing", v, `{"personalEmail":{"address":null}}`, []Violation{{Pointer: "/personalEmail/address", Code: CodeRequired, Message: "required field is missing"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var row map[string]any
			if err := json.Unmarshal([]byte(tc.row), &row); err != nil {
				t.Fatal(err)
			}
			got := tc.v.Validate(row)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("violations (-want +got):\n%s", d)
			}
		})
	}
	t.Run("at most five, no values in messages", func(t *testing.T) {
		row := map[string]any{"personalEmail": map[string]any{"address": "SECRET-not-an-email"}, "person": map[string]any{
			"gender": "SECRET1", "birthDate": "SECRET2", "birthYear": "SECRET3", "birthDayAndMonth": "SECRET4",
			"name": map[string]any{"firstName": 1, "lastName": 2}}}
		got := v.Validate(row)
		if len(got) != MaxViolations {
			t.Fatalf("got %d violations, want %d: %v", len(got), MaxViolations, got)
		}
		for _, x := range got {
			if b, _ := json.Marshal(x); json.Valid(b) && containsSecret(string(b)) {
				t.Errorf("violation leaks a row value: %s", b)
			}
		}
	})
}

func containsSecret(s string) bool {
	for i := 0; i+6 <= len(s); i++ {
		if s[i:i+6] == "SECRET" {
			return true
		}
	}
	return false
}

func mustResolve(t *testing.T, in SchemaInput) *Resolved {
	t.Helper()
	s, err := NewSchema(in, "", now)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resolve(s)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func ops(t *testing.T, js string) []PatchOp {
	t.Helper()
	var o []PatchOp
	if err := json.Unmarshal([]byte(js), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestSchemaPatch(t *testing.T) {
	base := profileSchema(t, PersonDetailsFieldGroup)
	enabled := profileSchema(t, PersonDetailsFieldGroup, IdentityMapFieldGroup)
	enabled.ImmutableTags = []string{UnionTag}
	t.Run("add field group as AEP does", func(t *testing.T) {
		got, err := base.Patch(ops(t, `[{"op":"add","path":"/meta:extends/-","value":"`+PersonalDetailsFieldGroup+`"},{"op":"add","path":"/allOf/-","value":{"$ref":"`+PersonalDetailsFieldGroup+`"}}]`), now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != "1.1" {
			t.Errorf("got version %q, want 1.1", got.Version)
		}
		if d := cmp.Diff([]string{PersonDetailsFieldGroup, PersonalDetailsFieldGroup}, got.FieldGroups()); d != "" {
			t.Errorf("field groups (-want +got):\n%s", d)
		}
		if got.RegistryMetadata.LastModifiedDate != now.Add(time.Minute).UnixMilli() || got.RegistryMetadata.ETag == base.RegistryMetadata.ETag {
			t.Errorf("registry metadata not updated: %+v", got.RegistryMetadata)
		}
	})
	t.Run("enable profile", func(t *testing.T) {
		got, err := base.Patch(ops(t, `[{"op":"add","path":"/meta:immutableTags","value":["union"]}]`), now)
		if err != nil {
			t.Fatal(err)
		}
		if !got.ProfileEnabled() {
			t.Error("got not enabled, want enabled")
		}
	})
	for _, tc := range []struct {
		name  string
		s     Schema
		patch string
		code  string
	}{
		{"remove union", enabled, `[{"op":"remove","path":"/meta:immutableTags"}]`, "XDM-UNION-IRREVERSIBLE"},
		{"replace union with empty", enabled, `[{"op":"replace","path":"/meta:immutableTags","value":[]}]`, "XDM-UNION-IRREVERSIBLE"},
		{"remove field group of enabled schema", enabled, `[{"op":"remove","path":"/allOf/1"},{"op":"remove","path":"/meta:extends/2"}]`, "XDM-BREAKING"},
		{"change $id", base, `[{"op":"replace","path":"/$id","value":"https://ns.adobe.com/mosaic/schemas/x"}]`, "XDM-READONLY"},
		{"change version", base, `[{"op":"replace","path":"/version","value":"9.0"}]`, "XDM-READONLY"},
		{"change class", base, `[{"op":"replace","path":"/allOf/0","value":{"$ref":"` + EventClass + `"}}]`, "XDM-CLASS"},
		{"unknown field", base, `[{"op":"add","path":"/foo","value":1}]`, "XDM-PATCH"},
		{"failed test op", base, `[{"op":"test","path":"/title","value":"other"}]`, "XDM-PATCH"},
		{"bad op", base, `[{"op":"merge","path":"/title","value":"x"}]`, "XDM-PATCH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.s.Patch(ops(t, tc.patch), now)
			if k, c := kindCode(err); k != fault.Invalid || c != tc.code {
				t.Errorf("got %v (%s), want invalid %s", err, c, tc.code)
			}
		})
	}
}

func TestApplyPatch(t *testing.T) {
	doc := `{"a":{"b":[1,2,3]},"c":"x","t~/":1}`
	for _, tc := range []struct {
		name, patch, want string
		wantErr           bool
	}{
		{"add member", `[{"op":"add","path":"/d","value":true}]`, `{"a":{"b":[1,2,3]},"c":"x","d":true,"t~/":1}`, false},
		{"add to array end", `[{"op":"add","path":"/a/b/-","value":4}]`, `{"a":{"b":[1,2,3,4]},"c":"x","t~/":1}`, false},
		{"insert in array", `[{"op":"add","path":"/a/b/0","value":0}]`, `{"a":{"b":[0,1,2,3]},"c":"x","t~/":1}`, false},
		{"remove from array", `[{"op":"remove","path":"/a/b/1"}]`, `{"a":{"b":[1,3]},"c":"x","t~/":1}`, false},
		{"replace", `[{"op":"replace","path":"/c","value":{"y":1}}]`, `{"a":{"b":[1,2,3]},"c":{"y":1},"t~/":1}`, false},
		{"escaped token", `[{"op":"remove","path":"/t~0~1"}]`, `{"a":{"b":[1,2,3]},"c":"x"}`, false},
		{"move", `[{"op":"move","from":"/c","path":"/e"}]`, `{"a":{"b":[1,2,3]},"e":"x","t~/":1}`, false},
		{"copy", `[{"op":"copy","from":"/a/b/0","path":"/a/b/-"}]`, `{"a":{"b":[1,2,3,1]},"c":"x","t~/":1}`, false},
		{"test passes", `[{"op":"test","path":"/a/b","value":[1,2,3]}]`, doc, false},
		{"test fails", `[{"op":"test","path":"/c","value":"y"}]`, "", true},
		{"replace missing", `[{"op":"replace","path":"/zz","value":1}]`, "", true},
		{"remove missing", `[{"op":"remove","path":"/zz"}]`, "", true},
		{"index out of range", `[{"op":"add","path":"/a/b/9","value":1}]`, "", true},
		{"leading zero index", `[{"op":"remove","path":"/a/b/01"}]`, "", true},
		{"missing value", `[{"op":"add","path":"/x"}]`, "", true},
		{"bad pointer", `[{"op":"add","path":"x","value":1}]`, "", true},
		{"move into itself", `[{"op":"move","from":"/a","path":"/a/b/x"}]`, "", true},
		{"atomic: later failure keeps nothing", `[{"op":"add","path":"/d","value":1},{"op":"remove","path":"/zz"}]`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d any
			if err := json.Unmarshal([]byte(doc), &d); err != nil {
				t.Fatal(err)
			}
			got, err := ApplyPatch(d, ops(t, tc.patch))
			if tc.wantErr {
				if k, _ := kindCode(err); k != fault.Invalid {
					t.Errorf("got %v, want invalid", err)
				}
				var orig any
				_ = json.Unmarshal([]byte(doc), &orig)
				if d := cmp.Diff(orig, d); d != "" {
					t.Errorf("input modified (-want +got):\n%s", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want any
			_ = json.Unmarshal([]byte(tc.want), &want)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func FuzzApplyPatch(f *testing.F) {
	f.Add(`{"a":[1,{"b":2}]}`, `[{"op":"add","path":"/a/-","value":3}]`)
	f.Add(`{"a":1}`, `[{"op":"move","from":"/a","path":"/b"},{"op":"test","path":"/b","value":1}]`)
	f.Add(`[1,2]`, `[{"op":"remove","path":"/0"},{"op":"copy","from":"/0","path":"/-"}]`)
	f.Fuzz(func(t *testing.T, docJSON, patchJSON string) {
		var doc any
		var o []PatchOp
		if json.Unmarshal([]byte(docJSON), &doc) != nil || json.Unmarshal([]byte(patchJSON), &o) != nil {
			return
		}
		before, _ := json.Marshal(doc)
		got, err := ApplyPatch(doc, o)
		after, _ := json.Marshal(doc)
		if string(before) != string(after) {
			t.Fatalf("input modified")
		}
		if err != nil {
			if k, _ := kindCode(err); k != fault.Invalid {
				t.Fatalf("got error kind %v, want invalid", k)
			}
			return
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("result not encodable: %v", err)
		}
		// A test of every path the patch added holds on the result.
		again, err := ApplyPatch(got, nil)
		if err != nil || !jsonEqual(again, got) {
			t.Fatalf("empty patch changed the document")
		}
	})
}

func TestDescriptor(t *testing.T) {
	s := profileSchema(t, PersonalDetailsFieldGroup, PersonDetailsFieldGroup)
	res, err := Resolve(s)
	if err != nil {
		t.Fatal(err)
	}
	email := Descriptor{Type: DescriptorIdentity, SourceSchema: s.ID, SourceVersion: 1, SourceProperty: "/personalEmail/address", Namespace: "email", Property: "xdm:code", IsPrimary: true}
	t.Run("valid, namespace canonicalised", func(t *testing.T) {
		got, err := NewDescriptor(email, s, res, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == "" || got.Namespace != "Email" || got.ContainerID != "tenant" {
			t.Errorf("got @id %q namespace %q container %q", got.ID, got.Namespace, got.ContainerID)
		}
	})
	primary := email
	primary.ID = "existing"
	for _, tc := range []struct {
		name     string
		mod      func(d *Descriptor)
		existing []Descriptor
		kind     fault.Kind
		code     string
	}{
		{"unknown namespace", func(d *Descriptor) { d.Namespace = "NOPE" }, nil, fault.Invalid, "XDM-DESCRIPTOR-NAMESPACE"},
		{"properties segment", func(d *Descriptor) { d.SourceProperty = "/properties/personalEmail/properties/address" }, nil, fault.Invalid, "XDM-DESCRIPTOR-PROPERTY"},
		{"trailing slash", func(d *Descriptor) { d.SourceProperty = "/personalEmail/address/" }, nil, fault.Invalid, "XDM-DESCRIPTOR-PROPERTY"},
		{"not a string field", func(d *Descriptor) { d.SourceProperty = "/personalEmail" }, nil, fault.Invalid, "XDM-DESCRIPTOR-PROPERTY"},
		{"wrong type", func(d *Descriptor) { d.Type = "xdm:descriptorOneToOne" }, nil, fault.Invalid, "XDM-DESCRIPTOR-TYPE"},
		{"future version", func(d *Descriptor) { d.SourceVersion = 2 }, nil, fault.Invalid, "XDM-DESCRIPTOR-VERSION"},
		{"second primary", func(d *Descriptor) { d.SourceProperty = "/mobilePhone/number"; d.Namespace = "Phone" }, []Descriptor{primary}, fault.Conflict, "XDM-PRIMARY-EXISTS"},
		{"same field twice", func(d *Descriptor) { d.IsPrimary = false }, []Descriptor{primary}, fault.Conflict, "XDM-DESCRIPTOR-EXISTS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := email
			tc.mod(&d)
			_, err := NewDescriptor(d, s, res, tc.existing, now)
			if k, c := kindCode(err); k != tc.kind || c != tc.code {
				t.Errorf("got %v (%s), want %v %s", err, c, tc.kind, tc.code)
			}
		})
	}
	t.Run("namespace by id", func(t *testing.T) {
		d := email
		d.Namespace, d.Property = "38", "xdm:id"
		d.SourceProperty = "/personID"
		got, err := NewDescriptor(d, s, res, nil, now)
		if err != nil || got.Namespace != "CRMID" || got.Property != "xdm:code" {
			t.Errorf("got %+v, %v; want CRMID by code", got, err)
		}
	})
}

func TestCheckProfile(t *testing.T) {
	plain := profileSchema(t, PersonalDetailsFieldGroup)
	plain.ImmutableTags = []string{UnionTag}
	withMap := profileSchema(t, IdentityMapFieldGroup)
	withMap.ImmutableTags = []string{UnionTag}
	primary := Descriptor{Type: DescriptorIdentity, SourceSchema: plain.ID, SourceProperty: "/personalEmail/address", IsPrimary: true}
	for _, tc := range []struct {
		name    string
		s       Schema
		ds      []Descriptor
		wantErr bool
	}{
		{"no primary", plain, nil, true},
		{"secondary only", plain, []Descriptor{{Type: DescriptorIdentity, SourceSchema: plain.ID, SourceProperty: "/personalEmail/address"}}, true},
		{"primary descriptor", plain, []Descriptor{primary}, false},
		{"identityMap", withMap, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Resolve(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckProfile(tc.s, res, tc.ds)
			if (err != nil) != tc.wantErr {
				t.Errorf("got %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
