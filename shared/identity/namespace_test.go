package identity

import (
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
