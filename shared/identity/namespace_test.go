package identity

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

func TestNewCustom(t *testing.T) {
	now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		in   NamespaceInput
		kind fault.Kind
		code string
	}{
		{"valid", NamespaceInput{Code: "MyCRM", Name: "My CRM", IDType: "cross_device"}, 0, ""},
		{"no code", NamespaceInput{Name: "x", IDType: "EMAIL"}, fault.Invalid, "NAMESPACE-CODE"},
		{"bad code", NamespaceInput{Code: "my crm", Name: "x", IDType: "EMAIL"}, fault.Invalid, "NAMESPACE-CODE"},
		{"no name", NamespaceInput{Code: "X", IDType: "EMAIL"}, fault.Invalid, "NAMESPACE-NAME"},
		{"unknown type", NamespaceInput{Code: "X", Name: "x", IDType: "PERSON"}, fault.Invalid, "NAMESPACE-TYPE"},
		{"standard code in other case", NamespaceInput{Code: "ecid", Name: "x", IDType: "COOKIE"}, fault.Conflict, "NAMESPACE-EXISTS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := NewCustom(tc.in, now)
			if tc.code == "" {
				if err != nil || !ns.Custom || ns.IDType != TypeCrossDevice || ns.Status != "ACTIVE" || ns.ID < 100000000 || ns.CreateTime != now.UnixMilli() {
					t.Errorf("got %+v, %v", ns, err)
				}
				return
			}
			if fe := fault.As(err); fe.Kind != tc.kind || fe.Code != tc.code {
				t.Errorf("got %v, want %v %s", err, tc.kind, tc.code)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	custom := []Namespace{{ID: 123456789, Code: "MyCRM", IDType: TypeCrossDevice, Custom: true}}
	for _, tc := range []struct {
		code, want string
		ok         bool
	}{
		{"email", "Email", true}, {"MYCRM", "MyCRM", true}, {"nope", "", false},
	} {
		ns, ok := Lookup(tc.code, custom)
		if ok != tc.ok || ns.Code != tc.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.code, ns.Code, ok, tc.want, tc.ok)
		}
	}
	if ns, ok := LookupID(123456789, custom); !ok || ns.Code != "MyCRM" {
		t.Errorf("LookupID: got %v %v", ns, ok)
	}
	if ns, ok := LookupID(6, nil); !ok || ns.Code != "Email" {
		t.Errorf("LookupID(6): got %v %v", ns, ok)
	}
}

// TestOverrides checks that a standard namespace as the tenant set it wins
// over the built-in one, by code and by id, and that CRMID is unique until
// the tenant says otherwise.
func TestOverrides(t *testing.T) {
	if ns, _ := LookupStandard("crmid"); !ns.Unique {
		t.Fatalf("CRMID is not unique by default")
	}
	set := Overridden([]Override{
		{Code: "crmid", Unique: false, UpdateTime: 7},
		{Code: "Email", Unique: true, UpdateTime: 8},
		{Code: "NotStandard", Unique: true},
	})
	if len(set) != 2 {
		t.Fatalf("Overridden = %+v, want CRMID and Email only", set)
	}
	custom := append(set, Namespace{ID: 100000001, Code: "Loyalty", IDType: TypeCrossDevice, Custom: true})
	if ns, ok := Lookup("CRMID", custom); !ok || ns.Unique || ns.UpdateTime != 7 || ns.Code != "CRMID" {
		t.Errorf("Lookup(CRMID) = %+v, want CRMID not unique", ns)
	}
	if ns, ok := LookupID(6, custom); !ok || !ns.Unique || ns.Name != "Email" {
		t.Errorf("LookupID(6) = %+v, want Email unique", ns)
	}
	if ns, ok := Lookup("phone", custom); !ok || ns.Unique || ns.Code != "Phone" {
		t.Errorf("Lookup(phone) = %+v, want the standard Phone", ns)
	}
	if ns, ok := Lookup("loyalty", custom); !ok || !ns.Custom {
		t.Errorf("Lookup(loyalty) = %+v, want the custom namespace", ns)
	}
	if got := (Override{Code: "Phone", Unique: true}).Apply(Standard[0]); got != Standard[0] {
		t.Errorf("an override of Phone changed %s", got.Code)
	}
}

// TestCheckNamespaceText: a name is required and, like the description,
// bounded in characters (not bytes), so that the namespace list stays one
// answer.
func TestCheckNamespaceText(t *testing.T) {
	tests := []struct {
		name, desc, code string
	}{
		{"Loyalty", "", ""},
		{"   ", "", "NAMESPACE-NAME"},
		{strings.Repeat("é", MaxNamespaceName), strings.Repeat("ü", MaxNamespaceDescription), ""},
		{strings.Repeat("n", MaxNamespaceName+1), "", "NAMESPACE-NAME"},
		{"Loyalty", strings.Repeat("d", MaxNamespaceDescription+1), "NAMESPACE-DESCRIPTION"},
	}
	for _, tt := range tests {
		err := CheckNamespaceText(tt.name, tt.desc)
		if tt.code == "" {
			if err != nil {
				t.Errorf("name of %d, description of %d characters: %v", len([]rune(tt.name)), len([]rune(tt.desc)), err)
			}
			continue
		}
		if !errors.Is(err, fault.E(fault.Invalid, tt.code, "")) {
			t.Errorf("name of %d, description of %d characters: %v, want %s", len([]rune(tt.name)), len([]rune(tt.desc)), err, tt.code)
		}
	}
	if _, err := NewCustom(NamespaceInput{Code: "Big", Name: strings.Repeat("n", 390000), IDType: TypeCrossDevice}, time.Now()); !errors.Is(err, fault.E(fault.Invalid, "NAMESPACE-NAME", "")) {
		t.Errorf("a 390,000-character name: %v, want NAMESPACE-NAME", err)
	}
}
