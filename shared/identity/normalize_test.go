package identity

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

func TestNormalize(t *testing.T) {
	ecid := strings.Repeat("1234567890", 3) + "12345678"
	tests := []struct {
		name, ns, value string
		want            ID
		wantCode        string
	}{
		{"email trimmed and lower-cased", "email", "  Jane.Doe@Example.COM ", ID{"Email", "jane.doe@example.com"}, ""},
		{"namespace case-insensitive", "EMAIL", "a@b.c", ID{"Email", "a@b.c"}, ""},
		{"phone punctuation dropped", "phone", "+1 (555) 010-0000", ID{"Phone", "+15550100000"}, ""},
		{"phone plus only kept first", "Phone", "555+0100", ID{"Phone", "5550100"}, ""},
		{"ecid 38 digits", "ecid", ecid, ID{"ECID", ecid}, ""},
		{"ecid too short", "ECID", ecid[:37], ID{}, CodeValueFormat},
		{"ecid not digits", "ECID", ecid[:37] + "x", ID{}, CodeValueFormat},
		{"crmid keeps case", "crmid", " C-Abc ", ID{"CRMID", "C-Abc"}, ""},
		{"unknown namespace", "Nope", "x", ID{}, CodeUnknownNamespace},
		{"empty", "Email", "", ID{}, CodeEmptyValue},
		{"whitespace", "Email", " \t ", ID{}, CodeEmptyValue},
		{"null", "Email", "NULL", ID{}, CodeBlockedValue},
		{"anonymous", "CRMID", "Anonymous", ID{}, CodeBlockedValue},
		{"invalid", "CRMID", "invalid", ID{}, CodeBlockedValue},
		{"too long", "CRMID", strings.Repeat("a", MaxValueLength+1), ID{}, CodeValueTooLong},
		{"at the limit", "CRMID", strings.Repeat("a", MaxValueLength), ID{"CRMID", strings.Repeat("a", MaxValueLength)}, ""},
		{"invalid utf-8", "CRMID", "a\xffb", ID{}, CodeValueEncoding},
		{"phone without digits", "Phone", "()-", ID{}, CodeValueFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.ns, tt.value)
			if tt.wantCode != "" {
				if !errors.Is(err, fault.E(fault.Invalid, tt.wantCode, "")) {
					t.Fatalf("got %v, %v; want code %s", got, err, tt.wantCode)
				}
				if tt.wantCode != CodeBlockedValue && len(tt.value) > 3 && strings.Contains(err.Error(), tt.value) {
					t.Errorf("error %q echoes the value", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			again, err := Normalize(got.Namespace, got.Value)
			if err != nil || again != got {
				t.Errorf("normalising twice changed %v to %v (%v)", got, again, err)
			}
		})
	}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, id := range []ID{{"Email", "a#b@example.com"}, {"ECID", "1"}} {
		got, err := ParseKey(id.Key())
		if err != nil || got != id {
			t.Errorf("ParseKey(%q) = %v, %v; want %v", id.Key(), got, err, id)
		}
	}
	for _, bad := range []string{"", "Email", "#x", "Email#"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) succeeded, want an error", bad)
		}
	}
}

func TestExtract(t *testing.T) {
	ecid := strings.Repeat("1", 38)
	emailField := []Field{{Path: "/personalEmail/address", Namespace: "Email", Primary: true}}
	tests := []struct {
		name      string
		record    map[string]any
		fields    []Field
		want      []Identity
		wantCode  string
		wantWarns []string
	}{
		{
			name: "descriptor primary and identityMap",
			record: map[string]any{
				"personalEmail": map[string]any{"address": "Jane@Example.com"},
				"identityMap": map[string]any{
					"ECID":  []any{map[string]any{"id": ecid, "primary": true, "authenticatedState": "ambiguous"}},
					"email": []any{map[string]any{"id": "jane@example.com"}},
				},
			},
			fields: emailField,
			want: []Identity{
				{ID: ID{"Email", "jane@example.com"}, Primary: true},
				{ID: ID{"ECID", ecid}, AuthenticatedState: "ambiguous"},
			},
		},
		{
			name: "identityMap primary when no descriptor primary",
			record: map[string]any{"identityMap": map[string]any{
				"Email": []any{map[string]any{"id": "a@example.com"}},
				"CRMID": []any{map[string]any{"id": "C1", "primary": true}},
			}},
			want: []Identity{{ID: ID{"CRMID", "C1"}, Primary: true}, {ID: ID{"Email", "a@example.com"}}},
		},
		{
			name:     "no primary",
			record:   map[string]any{"identityMap": map[string]any{"Email": []any{map[string]any{"id": "a@example.com"}}}},
			wantCode: CodeNoPrimary,
		},
		{
			name:     "descriptor field absent and no map",
			record:   map[string]any{"person": map[string]any{}},
			fields:   emailField,
			wantCode: CodeNoPrimary,
		},
		{
			name:     "blocked primary refuses the record",
			record:   map[string]any{"personalEmail": map[string]any{"address": "null"}},
			fields:   emailField,
			wantCode: CodeBlockedValue,
		},
		{
			name: "bad secondary is dropped with a warning",
			record: map[string]any{
				"personalEmail": map[string]any{"address": "a@example.com"},
				"identityMap": map[string]any{
					"Nope":  []any{map[string]any{"id": "x"}},
					"Phone": []any{map[string]any{"id": 5}},
				},
			},
			fields:    emailField,
			want:      []Identity{{ID: ID{"Email", "a@example.com"}, Primary: true}},
			wantWarns: []string{CodeUnknownNamespace, CodeValueType},
		},
		{
			name: "unknown namespace as primary",
			record: map[string]any{"identityMap": map[string]any{
				"Nope": []any{map[string]any{"id": "x", "primary": true}},
			}},
			wantCode: CodeUnknownNamespace,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Extract(tt.record, tt.fields)
			if tt.wantCode != "" {
				if !errors.Is(err, fault.E(fault.Invalid, tt.wantCode, "")) {
					t.Fatalf("got %+v, %v; want code %s", got, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Identities); diff != "" {
				t.Errorf("identities (-want +got):\n%s", diff)
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

func TestExtractCapsIdentities(t *testing.T) {
	var entries []any
	for i := range 25 {
		entries = append(entries, map[string]any{"id": "c" + strings.Repeat("x", i)})
	}
	entries = append(entries, map[string]any{"id": "zzz", "primary": true})
	got, err := Extract(map[string]any{"identityMap": map[string]any{"CRMID": entries}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Identities) != MaxPerRecord {
		t.Fatalf("got %d identities, want %d", len(got.Identities), MaxPerRecord)
	}
	if got.Primary() != (ID{"CRMID", "zzz"}) {
		t.Errorf("primary %v was not kept first", got.Primary())
	}
	if len(got.Warnings) != 1 || got.Warnings[0].Code != CodeTooMany {
		t.Errorf("warnings %+v, want one %s", got.Warnings, CodeTooMany)
	}
}

func TestPointer(t *testing.T) {
	doc := map[string]any{"a/b": map[string]any{"~c": []any{"x", "y"}}}
	if v, ok := Pointer(doc, "/a~1b/~0c/1"); !ok || v != "y" {
		t.Errorf("got %v %v, want y", v, ok)
	}
	for _, p := range []string{"/missing", "/a~1b/~0c/2", "/a~1b/~0c/-1", "nope"} {
		if _, ok := Pointer(doc, p); ok {
			t.Errorf("Pointer(%q) found a value, want none", p)
		}
	}
}
