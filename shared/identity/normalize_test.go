package identity

import (
	"errors"
	"strings"
	"testing"

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
		{"too long", "CRMID", strings.Repeat("a", MaxValueBytes+1), ID{}, CodeValueTooLong},
		{"at the limit", "CRMID", strings.Repeat("a", MaxValueBytes), ID{"CRMID", strings.Repeat("a", MaxValueBytes)}, ""},
		{"invalid utf-8", "CRMID", "a\xffb", ID{}, CodeValueEncoding},
		{"phone without digits", "Phone", "()-", ID{}, CodeValueFormat},
		{"undefined", "CRMID", " UNDEFINED ", ID{}, CodeBlockedValue},
		{"blocked word inside a value is kept", "CRMID", "null-42", ID{"CRMID", "null-42"}, ""},
		{"limit counts bytes: two-byte runes at the limit", "CRMID", strings.Repeat("é", MaxValueBytes/2), ID{"CRMID", strings.Repeat("é", MaxValueBytes/2)}, ""},
		{"limit counts bytes: two-byte runes over it", "CRMID", strings.Repeat("é", MaxValueBytes/2+1), ID{}, CodeValueTooLong},
		{"600 emoji are 2,400 bytes", "Email", strings.Repeat("😀", 600), ID{}, CodeValueTooLong},
		{"surrounding spaces do not count", "CRMID", " " + strings.Repeat("a", MaxValueBytes) + " ", ID{"CRMID", strings.Repeat("a", MaxValueBytes)}, ""},
		{"email with non-ASCII upper case", "Email", "ÉLISE@Example.com", ID{"Email", "élise@example.com"}, ""},
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

// TestKeyFitsPartitionKey: every key an accepted identity gives fits
// DynamoDB's 2,048-byte partition key, whatever its namespace code.
func TestKeyFitsPartitionKey(t *testing.T) {
	const partitionKeyBytes = 2048
	long := Namespace{Code: strings.Repeat("N", MaxNamespaceBytes), IDType: TypeCrossDevice, Custom: true}
	id, err := NormalizeValue(long, strings.Repeat("\U0010FFFF", MaxValueBytes/4))
	if err != nil {
		t.Fatalf("longest namespace and value refused: %v", err)
	}
	if n := len(id.Key()); n > partitionKeyBytes {
		t.Errorf("key is %d bytes, over %d", n, partitionKeyBytes)
	}
	tooLong := Namespace{Code: strings.Repeat("N", 3000), IDType: TypeCrossDevice, Custom: true}
	_, err = NormalizeValue(tooLong, "x")
	if !errors.Is(err, fault.E(fault.Invalid, CodeNamespaceTooLong, "")) {
		t.Fatalf("a 3,000-byte namespace code: got %v, want %s", err, CodeNamespaceTooLong)
	}
	if n := len(err.Error()); n > 512 {
		t.Errorf("error message is %d bytes", n)
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
