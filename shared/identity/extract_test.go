package identity

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

func TestExtract(t *testing.T) {
	ecid := strings.Repeat("1", 38)
	custom := []Namespace{
		{ID: 100000001, Code: "LoyaltyPlus", IDType: TypeCrossDevice, Custom: true},
		{ID: 100000002, Code: "StoreID", IDType: TypeNonPeople, Custom: true},
		{ID: 100000003, Code: "PartnerX", IDType: TypePartner, Custom: true},
	}
	emailField := []Field{{Path: "/personalEmail/address", Namespace: "Email", Primary: true}}
	withPrimary := func(im map[string]any) map[string]any {
		return map[string]any{"personalEmail": map[string]any{"address": "a@example.com"}, "identityMap": im}
	}
	primaryA := Identity{ID: ID{"Email", "a@example.com"}, Primary: true, Type: TypeEmail}
	entry := func(id any) []any { return []any{map[string]any{"id": id}} }
	many := func(n int) map[string]any {
		var es []any
		for i := range n {
			es = append(es, map[string]any{"id": "C-" + strconv.Itoa(i), "primary": i == n-1})
		}
		return map[string]any{"identityMap": map[string]any{"CRMID": es}}
	}
	tests := []struct {
		name      string
		record    map[string]any
		fields    []Field
		custom    []Namespace
		want      []Identity
		wantN     int // when want is nil: the count of identities
		wantCode  string
		wantWarns []string
	}{
		{
			name: "descriptor primary and identityMap",
			record: map[string]any{
				"personalEmail": map[string]any{"address": "Jane@Example.com"},
				"identityMap": map[string]any{
					"ECID":  []any{map[string]any{"id": ecid, "authenticatedState": "ambiguous"}},
					"email": []any{map[string]any{"id": "jane@example.com"}},
				},
			},
			fields: emailField,
			want: []Identity{
				{ID: ID{"Email", "jane@example.com"}, Primary: true, Type: TypeEmail},
				{ID: ID{"ECID", ecid}, AuthenticatedState: "ambiguous", Type: TypeCookie},
			},
		},
		{
			name:   "descriptor primary outranks identityMap primary",
			record: withPrimary(map[string]any{"ECID": []any{map[string]any{"id": ecid, "primary": true}}}),
			fields: emailField,
			want:   []Identity{primaryA, {ID: ID{"ECID", ecid}, Type: TypeCookie}},
		},
		{
			name: "identityMap primary when no descriptor primary",
			record: map[string]any{"identityMap": map[string]any{
				"Email": []any{map[string]any{"id": "a@example.com"}},
				"CRMID": []any{map[string]any{"id": "C1", "primary": true}},
			}},
			want: []Identity{{ID: ID{"CRMID", "C1"}, Primary: true, Type: TypeCrossDevice}, {ID: ID{"Email", "a@example.com"}, Type: TypeEmail}},
		},
		{
			name: "first flagged identityMap entry wins among several",
			record: map[string]any{"identityMap": map[string]any{
				"CRMID": []any{map[string]any{"id": "C1", "primary": true}, map[string]any{"id": "C2", "primary": true}},
			}},
			want: []Identity{{ID: ID{"CRMID", "C1"}, Primary: true, Type: TypeCrossDevice}, {ID: ID{"CRMID", "C2"}, Type: TypeCrossDevice}},
		},
		{
			name:     "no primary refuses the record",
			record:   map[string]any{"identityMap": map[string]any{"Email": []any{map[string]any{"id": "a@example.com"}}}},
			wantCode: CodeNoPrimary,
		},
		{
			name:     "descriptor field absent and no map refuses the record",
			record:   map[string]any{"person": map[string]any{}},
			fields:   emailField,
			wantCode: CodeNoPrimary,
		},
		{
			name: "custom namespace accepted in identityMap",
			record: map[string]any{"identityMap": map[string]any{
				"loyaltyplus": []any{map[string]any{"id": " LP-9 ", "primary": true}},
			}},
			custom: custom,
			want:   []Identity{{ID: ID{"LoyaltyPlus", "LP-9"}, Primary: true, Type: TypeCrossDevice}},
		},
		{
			name:   "custom namespace accepted on a descriptor field",
			record: map[string]any{"_tenant": map[string]any{"loyaltyId": "LP-1"}},
			fields: []Field{{Path: "/_tenant/loyaltyId", Namespace: "LOYALTYPLUS", Primary: true}},
			custom: custom,
			want:   []Identity{{ID: ID{"LoyaltyPlus", "LP-1"}, Primary: true, Type: TypeCrossDevice}},
		},
		{
			name:   "standard code matched case-insensitively",
			record: map[string]any{"identityMap": map[string]any{"eMaIl": []any{map[string]any{"id": "A@Example.com", "primary": true}}}},
			want:   []Identity{{ID: ID{"Email", "a@example.com"}, Primary: true, Type: TypeEmail}},
		},
		{
			name:     "unknown identityMap namespace refuses the record",
			record:   withPrimary(map[string]any{"Nope": entry("x")}),
			fields:   emailField,
			wantCode: CodeUnknownNamespace,
		},
		{
			name:     "a code too long for any namespace says so",
			record:   withPrimary(map[string]any{strings.Repeat("N", MaxNamespaceBytes+6): entry("x")}),
			fields:   emailField,
			wantCode: CodeNamespaceTooLong,
		},
		{
			name:     "custom namespace of no list is unknown",
			record:   withPrimary(map[string]any{"LoyaltyPlus": entry("x")}),
			fields:   emailField,
			wantCode: CodeUnknownNamespace,
		},
		{
			name:     "unknown descriptor namespace refuses the record",
			record:   map[string]any{"x": "1"},
			fields:   []Field{{Path: "/x", Namespace: "Gone", Primary: true}},
			wantCode: CodeUnknownNamespace,
		},
		{
			name:     "blocked primary refuses the record",
			record:   map[string]any{"personalEmail": map[string]any{"address": "null"}},
			fields:   emailField,
			wantCode: CodeBlockedValue,
		},
		{
			name:     "whitespace primary refuses the record",
			record:   map[string]any{"identityMap": map[string]any{"CRMID": []any{map[string]any{"id": "  ", "primary": true}}}},
			wantCode: CodeEmptyValue,
		},
		{name: "null value dropped", record: withPrimary(map[string]any{"CRMID": entry("NULL")}), fields: emailField, want: []Identity{primaryA}, wantWarns: []string{CodeBlockedValue}},
		{name: "anonymous value dropped", record: withPrimary(map[string]any{"CRMID": entry("anonymous")}), fields: emailField, want: []Identity{primaryA}, wantWarns: []string{CodeBlockedValue}},
		{name: "invalid value dropped", record: withPrimary(map[string]any{"CRMID": entry("Invalid")}), fields: emailField, want: []Identity{primaryA}, wantWarns: []string{CodeBlockedValue}},
		{name: "empty value dropped", record: withPrimary(map[string]any{"CRMID": entry("")}), fields: emailField, want: []Identity{primaryA}, wantWarns: []string{CodeEmptyValue}},
		{name: "whitespace value dropped", record: withPrimary(map[string]any{"CRMID": entry(" \t\n")}), fields: emailField, want: []Identity{primaryA}, wantWarns: []string{CodeEmptyValue}},
		{name: "value over 1024 bytes dropped", record: withPrimary(map[string]any{"CRMID": entry(strings.Repeat("ü", 513))}), fields: emailField, want: []Identity{primaryA}, wantWarns: []string{CodeValueTooLong}},
		{name: "ECID not 38 digits dropped", record: withPrimary(map[string]any{"ECID": entry(ecid[:37])}), fields: emailField, want: []Identity{primaryA}, wantWarns: []string{CodeValueFormat}},
		{name: "non-string id dropped", record: withPrimary(map[string]any{"Phone": entry(5.0)}), fields: emailField, want: []Identity{primaryA}, wantWarns: []string{CodeValueType}},
		{
			name:   "email trimmed and lower-cased",
			record: map[string]any{"personalEmail": map[string]any{"address": "  Jane.DOE@Example.COM "}},
			fields: emailField,
			want:   []Identity{{ID: ID{"Email", "jane.doe@example.com"}, Primary: true, Type: TypeEmail}},
		},
		{
			name:   "phone without spaces and punctuation",
			record: withPrimary(map[string]any{"phone": entry("+1 (555) 010-0000")}),
			fields: emailField,
			want:   []Identity{primaryA, {ID: ID{"Phone", "+15550100000"}, Type: TypePhone}},
		},
		{
			name:   "numeric descriptor value read as a string",
			record: map[string]any{"crm": 42.0},
			fields: []Field{{Path: "/crm", Namespace: "CRMID", Primary: true}},
			want:   []Identity{{ID: ID{"CRMID", "42"}, Primary: true, Type: TypeCrossDevice}},
		},
		{
			name:   "duplicates after normalisation kept once",
			record: withPrimary(map[string]any{"Email": entry(" A@EXAMPLE.com")}),
			fields: emailField,
			want:   []Identity{primaryA},
		},
		{
			name:   "non-people and partner types carried for linking",
			record: withPrimary(map[string]any{"StoreID": entry("S1"), "PartnerX": entry("P1")}),
			fields: emailField,
			custom: custom,
			want:   []Identity{primaryA, {ID: ID{"PartnerX", "P1"}, Type: TypePartner}, {ID: ID{"StoreID", "S1"}, Type: TypeNonPeople}},
		},
		{name: "20 identities kept without warning", record: many(20), wantN: 20},
		{name: "21 identities: 20 kept and the row warned", record: many(21), wantN: 20, wantWarns: []string{CodeTooMany}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Extract(tt.record, tt.fields, tt.custom)
			if tt.wantCode != "" {
				if !errors.Is(err, fault.E(fault.Invalid, tt.wantCode, "")) {
					t.Fatalf("got %+v, %v; want code %s", got, err, tt.wantCode)
				}
				if !IsRefused(err) {
					t.Errorf("error %v is not a refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, got.Identities); diff != "" {
					t.Errorf("identities (-want +got):\n%s", diff)
				}
			} else if len(got.Identities) != tt.wantN {
				t.Errorf("got %d identities, want %d", len(got.Identities), tt.wantN)
			}
			if !got.Identities[0].Primary {
				t.Errorf("first identity %v is not the primary", got.Identities[0])
			}
			var warns []string
			for _, w := range got.Warnings {
				warns = append(warns, w.Code)
			}
			if diff := cmp.Diff(tt.wantWarns, warns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtractKeepsPrimaryPastTheCap(t *testing.T) {
	var entries []any
	for i := range 25 {
		entries = append(entries, map[string]any{"id": "c" + strings.Repeat("x", i)})
	}
	entries = append(entries, map[string]any{"id": "zzz", "primary": true})
	got, err := Extract(map[string]any{"identityMap": map[string]any{"CRMID": entries}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Identities) != MaxPerRecord {
		t.Fatalf("got %d identities, want %d", len(got.Identities), MaxPerRecord)
	}
	if got.Primary() != (ID{"CRMID", "zzz"}) {
		t.Errorf("primary %v was not kept first", got.Primary())
	}
}

func TestExtractErrorsNeverEchoValues(t *testing.T) {
	const secret = "secret-person@example.com"
	records := map[string]map[string]any{
		"blocked primary":   {"identityMap": map[string]any{"Email": []any{map[string]any{"id": secret + strings.Repeat("x", 1100), "primary": true}}}},
		"unknown namespace": {"identityMap": map[string]any{"Nope": []any{map[string]any{"id": secret, "primary": true}}}},
		"no primary":        {"identityMap": map[string]any{"Email": []any{map[string]any{"id": secret}}}},
	}
	for name, rec := range records {
		t.Run(name, func(t *testing.T) {
			_, err := Extract(rec, nil, nil)
			if err == nil || strings.Contains(err.Error(), "secret-person") {
				t.Errorf("got %v, want an error without the value", err)
			}
		})
	}
}

func TestPointer(t *testing.T) {
	doc := map[string]any{"a/b": map[string]any{"~c": []any{"x", "y"}}, "p": map[string]any{"q": "z"}}
	for _, tt := range []struct {
		name, ptr string
		want      any
	}{
		{"escaped tokens and index", "/a~1b/~0c/1", "y"},
		{"nested object", "/p/q", "z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if v, ok := Pointer(doc, tt.ptr); !ok || v != tt.want {
				t.Errorf("got %v %v, want %v", v, ok, tt.want)
			}
		})
	}
	for _, p := range []string{"/missing", "/a~1b/~0c/2", "/a~1b/~0c/-1", "nope", "/p/q/r"} {
		t.Run("absent "+p, func(t *testing.T) {
			if _, ok := Pointer(doc, p); ok {
				t.Errorf("Pointer(%q) found a value, want none", p)
			}
		})
	}
}

// TestSameValueEitherSource: a value gives the same node key whether it
// comes from a descriptor field or from identityMap, in any namespace
// spelling, with the same refusals.
func TestSameValueEitherSource(t *testing.T) {
	ecid := strings.Repeat("7", 38)
	custom := []Namespace{{ID: 100000001, Code: "LoyaltyPlus", IDType: TypeCrossDevice, Custom: true}}
	tests := []struct {
		ns    string
		value any
	}{
		{"Email", "  Jane.Doe@Example.COM\t"},
		{"email", "\u00a0jane.doe@example.com\n"},
		{"Phone", " +1 (555) 010-0000 "},
		{"phone", "+1.555.010.0000"},
		{"Phone_E.164", "+1 555 010 0000"},
		{"ECID", " " + ecid + " "},
		{"CRMID", "  C-Abc "},
		{"LoyaltyPlus", " Gold-42 "},
		{"loyaltyplus", "Gold-42"},
		{"Email_LC_SHA256", " ABCDEF0123 "},
		{"GAID", " 38400000-8CF0-11BD-B23E-10B96E40000D "},
		{"CRMID", strings.Repeat("ü", MaxValueBytes/2+1)},
		{"ECID", ecid[:37] + " 1"},
	}
	for _, tt := range tests {
		s, _ := tt.value.(string)
		byField, errField := Extract(
			map[string]any{"person": map[string]any{"id": tt.value}},
			[]Field{{Path: "/person/id", Namespace: tt.ns, Primary: true}}, custom)
		byMap, errMap := Extract(
			map[string]any{"identityMap": map[string]any{" " + tt.ns + " ": []any{map[string]any{"id": s, "primary": true}}}},
			nil, custom)
		if (errField == nil) != (errMap == nil) {
			t.Errorf("%s %q: descriptor error %v, identityMap error %v", tt.ns, s, errField, errMap)
			continue
		}
		if errField != nil {
			if fault.As(errField).Code != fault.As(errMap).Code {
				t.Errorf("%s %q: descriptor code %s, identityMap code %s", tt.ns, s, fault.As(errField).Code, fault.As(errMap).Code)
			}
			continue
		}
		if a, b := byField.Primary().Key(), byMap.Primary().Key(); a != b {
			t.Errorf("%s %q: descriptor key %q, identityMap key %q", tt.ns, s, a, b)
		}
	}
}
