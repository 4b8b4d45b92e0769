package xdm

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fuzzValidators are a realistic profile schema (primary identity required)
// and an event schema with web and commerce details.
func fuzzValidators(t testing.TB) (*Validator, *Validator) {
	t.Helper()
	ps, err := NewSchema(SchemaInput{Title: "CRM", Type: "object", AllOf: []Ref{{Ref: ProfileClass},
		{Ref: PersonalDetailsFieldGroup}, {Ref: PersonDetailsFieldGroup}, {Ref: IdentityMapFieldGroup}, {Ref: SourceAuditFieldGroup}}}, "", now)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := Resolve(ps)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := Compile(pr, "/personalEmail/address")
	if err != nil {
		t.Fatal(err)
	}
	es, err := NewSchema(SchemaInput{Title: "Web", Type: "object", AllOf: []Ref{{Ref: EventClass},
		{Ref: WebFieldGroup}, {Ref: CommerceFieldGroup}, {Ref: SourceAuditFieldGroup}}}, "", now)
	if err != nil {
		t.Fatal(err)
	}
	er, err := Resolve(es)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Compile(er)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	pv.Now, ev.Now = clock, clock
	return pv, ev
}

func FuzzValidate(f *testing.F) {
	f.Add(`{"personalEmail":{"address":"jane@example.com"},"person":{"name":{"firstName":"Jane"},"birthDate":"1990-04-01","birthYear":"1990","gender":"female"},"identityMap":{"ECID":[{"id":"1","primary":"true"}]}}`, false)
	f.Add(`{"personalEmail":{"address":null},"person":{"name":{"firstName":""}},"extSourceSystemAudit":{"lastUpdatedDate":1735689600000},"x":[1,2]}`, false)
	f.Add(`{"_id":"e1","timestamp":1735689600000,"productListItems":[{"SKU":"a","quantity":"2","priceTotal":"9.5"},null],"commerce":{"purchases":{"value":"1"}}}`, true)
	f.Add(`{"_id":"","timestamp":"2999-01-01T00:00:00Z","web":{"webPageDetails":{"name":5,"isHomePage":"yes"}},"identityMap":{"Email":"x"}}`, true)
	f.Add(`{"_id":"e","timestamp":"2025-01-01T00:00:00Z","commerce":{"order":{"priceTotal":"1e400","payments":[{"paymentAmount":"-0.5"}]}}}`, true)
	pv, ev := fuzzValidators(f)
	f.Fuzz(func(t *testing.T, rowJSON string, event bool) {
		var row map[string]any
		if json.Unmarshal([]byte(rowJSON), &row) != nil || row == nil {
			return
		}
		v := pv
		if event {
			v = ev
		}
		first := v.Validate(row)
		if len(first) > MaxViolations {
			t.Fatalf("got %d violations, want at most %d", len(first), MaxViolations)
		}
		coerced, err := json.Marshal(row)
		if err != nil {
			t.Fatalf("coerced row does not encode: %v", err)
		}
		second := v.Validate(row)
		if d := cmp.Diff(first, second); d != "" {
			t.Fatalf("validating the coerced row again differs (-first +second):\n%s", d)
		}
		again, _ := json.Marshal(row)
		if string(again) != string(coerced) {
			t.Fatalf("coercion is not idempotent:\n%s\n%s", coerced, again)
		}
		for _, x := range first {
			if x.Code == "" || x.Message == "" {
				t.Fatalf("violation without code or message: %+v", x)
			}
		}
	})
}

func TestCoercion(t *testing.T) {
	pv, ev := fuzzValidators(t)
	for _, tc := range []struct {
		name    string
		v       *Validator
		row     string
		wantRow string
		want    []Violation
	}{
		{"strings to integer, number, boolean", pv,
			`{"personalEmail":{"address":"a@b.co","primary":"TRUE"},"person":{"birthYear":" 1990 "}}`,
			`{"personalEmail":{"address":"a@b.co","primary":true},"person":{"birthYear":1990}}`, nil},
		{"integer string with fraction stays", pv,
			`{"personalEmail":{"address":"a@b.co"},"person":{"birthYear":"1990.5"}}`,
			`{"personalEmail":{"address":"a@b.co"},"person":{"birthYear":"1990.5"}}`,
			[]Violation{{Pointer: "/person/birthYear", Code: CodeType, Message: "must be integer, got string"}}},
		{"not a number stays", ev,
			`{"_id":"e","timestamp":"2025-01-01T00:00:00Z","commerce":{"order":{"priceTotal":"NaN"}}}`,
			`{"_id":"e","timestamp":"2025-01-01T00:00:00Z","commerce":{"order":{"priceTotal":"NaN"}}}`,
			[]Violation{{Pointer: "/commerce/order/priceTotal", Code: CodeType, Message: "must be number, got string"}}},
		{"epoch ms to date-time and date", pv,
			`{"personalEmail":{"address":"a@b.co"},"person":{"birthDate":631152000000},"extSourceSystemAudit":{"lastUpdatedDate":1735689600123}}`,
			`{"personalEmail":{"address":"a@b.co"},"person":{"birthDate":"1990-01-01"},"extSourceSystemAudit":{"lastUpdatedDate":"2025-01-01T00:00:00.123Z"}}`, nil},
		{"never to an array", ev,
			`{"_id":"e","timestamp":"2025-01-01T00:00:00Z","productListItems":"SKU-1"}`,
			`{"_id":"e","timestamp":"2025-01-01T00:00:00Z","productListItems":"SKU-1"}`,
			[]Violation{{Pointer: "/productListItems", Code: CodeType, Message: "must be array, got string"}}},
		{"inside arrays", ev,
			`{"_id":"e","timestamp":1735689600000,"productListItems":[{"SKU":"a","quantity":"2","priceTotal":"9.5"}]}`,
			`{"_id":"e","timestamp":"2025-01-01T00:00:00Z","productListItems":[{"SKU":"a","quantity":2,"priceTotal":9.5}]}`, nil},
		{"bad date string", pv,
			`{"personalEmail":{"address":"a@b.co"},"person":{"birthDate":"01/04/1990"}}`,
			`{"personalEmail":{"address":"a@b.co"},"person":{"birthDate":"01/04/1990"}}`,
			[]Violation{{Pointer: "/person/birthDate", Code: CodeFormat, Message: "must be a valid date"}}},
		{"timestamp in the future", ev,
			`{"_id":"e","timestamp":"2025-03-01T12:06:00Z"}`, `{"_id":"e","timestamp":"2025-03-01T12:06:00Z"}`,
			[]Violation{{Pointer: "/timestamp", Code: CodeTimestampFuture, Message: "must not be in the future"}}},
		{"timestamp within clock skew", ev,
			`{"_id":"e","timestamp":"2025-03-01T12:04:00Z"}`, `{"_id":"e","timestamp":"2025-03-01T12:04:00Z"}`, nil},
		{"map keys are free", pv,
			`{"personalEmail":{"address":"a@b.co"},"identityMap":{"AnyNamespace":[{"id":"1","primary":"false"}]}}`,
			`{"personalEmail":{"address":"a@b.co"},"identityMap":{"AnyNamespace":[{"id":"1","primary":false}]}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var row, want map[string]any
			if err := json.Unmarshal([]byte(tc.row), &row); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.wantRow), &want); err != nil {
				t.Fatal(err)
			}
			got := tc.v.Validate(row)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("violations (-want +got):\n%s", d)
			}
			if d := cmp.Diff(want, row); d != "" {
				t.Errorf("coerced row (-want +got):\n%s", d)
			}
		})
	}
}
