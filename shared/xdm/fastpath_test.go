package xdm

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Hand-made schemas for the differential tests: modelledSchema uses only
// keywords the fast walk checks itself (with edge cases such as fractional
// bounds it leaves to the library), slowSchema keywords it leaves to the
// library, so the tests also cover the way back.
const (
	modelledSchema = `{"type":"object","required":["id"],"properties":{
		"id":{"type":"string","minLength":2,"maxLength":8,"pattern":"^[a-z0-9]+$"},
		"email":{"type":"string","format":"email"},
		"site":{"type":"string","format":"uri"},
		"day":{"type":"string","format":"date"},
		"at":{"type":"string","format":"date-time"},
		"level":{"type":"integer","minimum":1,"maximum":5},
		"ratio":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1},
		"flag":{"type":"boolean"},
		"color":{"type":"string","enum":["red","green",1]},
		"bag":{"type":"object","additionalProperties":{"type":"integer","maximum":10}},
		"free":{"type":"array"},
		"tags":{"type":"array","items":{"type":"string","maxLength":3}},
		"list":{"type":"array","items":{"type":"object","required":["n"],"properties":{"n":{"type":"integer"},"d":{"type":"string","format":"date-time"}}}},
		"nothing":{"type":"null"}
	}}`
	slowSchema = `{"type":"object","properties":{
		"score":{"type":"number","multipleOf":0.5},
		"half":{"type":"number","minimum":0.5},
		"kind":{"type":"string","const":"a"},
		"size":{"type":"integer","enum":[1,2,3]},
		"either":{"type":["string","integer"]},
		"untyped":{"title":"anything"},
		"choice":{"type":"object","oneOf":[{"required":["a"]},{"required":["b"]}],"properties":{"a":{"type":"string"},"b":{"type":"string"}}},
		"closed":{"type":"object","additionalProperties":false,"properties":{"x":{"type":"integer"}}},
		"tags":{"type":"array","minItems":1,"items":{"type":"string"}},
		"pairs":{"type":"object","patternProperties":{"^p":{"type":"integer"}}},
		"never":false
	}}`
)

func compileJSON(t testing.TB, js string) *Validator {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	v, err := Compile(&Resolved{Class: EventClass, JSON: m})
	if err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return now }
	return v
}

// differentialValidators are the validators the differential tests use.
func differentialValidators(t testing.TB) []*Validator {
	pv, ev := fuzzValidators(t)
	return []*Validator{pv, ev, compileJSON(t, modelledSchema), compileJSON(t, slowSchema)}
}

// checkSamePath validates two copies of rowJSON, one through Validate and
// one through the library alone, and fails if the violations or the
// coerced rows differ.
func checkSamePath(t *testing.T, v *Validator, rowJSON []byte) {
	t.Helper()
	var fast, lib map[string]any
	if json.Unmarshal(rowJSON, &fast) != nil || fast == nil {
		return
	}
	_ = json.Unmarshal(rowJSON, &lib)
	var libChanged bool
	got, fastChanged := v.ValidateRow(fast)
	want := v.validateLibrary(lib, &libChanged)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("row %s: violations differ from the library's (-library +fast):\n%s", rowJSON, d)
	}
	if d := cmp.Diff(lib, fast); d != "" {
		t.Fatalf("row %s: coerced rows differ (-library +fast):\n%s", rowJSON, d)
	}
	var orig map[string]any
	_ = json.Unmarshal(rowJSON, &orig)
	if same := cmp.Equal(orig, fast); fastChanged == same || libChanged == same {
		t.Fatalf("row %s: changed is %v (fast) and %v (library), but the coerced row equals the input: %v", rowJSON, fastChanged, libChanged, same)
	}
}

func TestFastPathTakesValidRows(t *testing.T) {
	pv, ev := fuzzValidators(t)
	for _, tc := range []struct {
		name string
		v    *Validator
		row  string
	}{
		{"profile", pv, `{"_id":"1","personalEmail":{"address":"Jane.Doe@Example.com","primary":"true","status":"active"},` +
			`"person":{"name":{"firstName":"Jane"},"birthDate":"1985-04-12","birthDayAndMonth":"04-12","birthYear":"1985","gender":"female"},` +
			`"homeAddress":{"countryCode":"US"},"identityMap":{"ECID":[{"id":"1","primary":false}]},` +
			`"extSourceSystemAudit":{"createdDate":"2019-05-01T00:00:00.000Z","lastUpdatedDate":1735689600000}}`},
		{"event", ev, `{"_id":"e1","timestamp":"2025-01-15T10:20:30+01:00","eventType":"commerce.purchases",` +
			`"web":{"webPageDetails":{"name":"home","isHomePage":true}},` +
			`"commerce":{"order":{"priceTotal":"19.5","currencyCode":"EUR"},"purchases":{"value":1}},` +
			`"productListItems":[{"SKU":"a","quantity":2,"priceTotal":9.5}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var row map[string]any
			if err := json.Unmarshal([]byte(tc.row), &row); err != nil {
				t.Fatal(err)
			}
			if !tc.v.fast.object(row) {
				t.Fatalf("got the library path for a valid row, want the fast walk to accept it")
			}
			if vs := tc.v.Validate(row); vs != nil {
				t.Fatalf("got violations %+v, want none", vs)
			}
		})
	}
}

func TestDateShapes(t *testing.T) {
	for _, tc := range []struct {
		s              string
		date, dateTime bool
	}{
		{"2024-02-29", true, false},
		{"2023-02-29", false, false},
		{"2100-02-29", false, false},
		{"2000-02-29", true, false},
		{"2024-13-01", false, false},
		{"2024-04-31", false, false},
		{"0000-01-01", true, false},
		{"2024-1-01", false, false},
		{"2025-01-01T00:00:00Z", false, true},
		{"2025-01-01t23:59:59.123456789z", false, true},
		{"2025-01-01T00:00:00+23:59", false, true},
		{"2025-01-01T00:00:00+24:00", false, false},
		{"2025-01-01T24:00:00Z", false, false},
		{"2025-01-01T23:59:60Z", false, false}, // a leap second: the library decides
		{"2025-01-01T00:00:00.Z", false, false},
		{"2025-01-01T00:00:00", false, false},
		{"2025-01-01 00:00:00Z", false, false},
	} {
		t.Run(tc.s, func(t *testing.T) {
			if got := isDate(tc.s); got != tc.date {
				t.Errorf("isDate: got %v, want %v", got, tc.date)
			}
			if got := isDateTime(tc.s); got != tc.dateTime {
				t.Errorf("isDateTime: got %v, want %v", got, tc.dateTime)
			}
			// Soundness: what the fast shapes accept, the library accepts.
			if tc.date && validateWithLibraryFormat(t, "date", tc.s) != nil {
				t.Errorf("isDate accepts what the library refuses")
			}
			if tc.dateTime && validateWithLibraryFormat(t, "date-time", tc.s) != nil {
				t.Errorf("isDateTime accepts what the library refuses")
			}
		})
	}
}

// validateWithLibraryFormat checks s with the library's checker of format.
func validateWithLibraryFormat(t *testing.T, format, s string) error {
	t.Helper()
	v, err := Compile(&Resolved{JSON: map[string]any{"type": "object", "properties": map[string]any{
		"f": map[string]any{"type": "string", "format": format}}}})
	if err != nil {
		t.Fatal(err)
	}
	return v.schema.Properties["f"].Format.Validate(s)
}

func TestFastPathMatchesLibrary(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i, v := range differentialValidators(t) {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 42))
			fastRows := 0
			for range n {
				row := genObject(r, v.root, 0, []int{0, 300, 60, 10}[r.IntN(4)])
				b, err := json.Marshal(row)
				if err != nil {
					t.Fatal(err)
				}
				checkSamePath(t, v, b)
				var probe map[string]any
				_ = json.Unmarshal(b, &probe)
				if v.fast.object(probe) {
					fastRows++
				}
			}
			// The generator is meant to exercise both paths; a walk that
			// never accepts would pass the comparison trivially.
			if i < 3 && fastRows == 0 {
				t.Errorf("the fast walk accepted none of %d generated rows", n)
			}
			t.Logf("%d of %d rows took the fast walk", fastRows, n)
		})
	}
}

func FuzzFastPath(f *testing.F) {
	vs := differentialValidators(f)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 60 {
		which := i % len(vs)
		b, _ := json.Marshal(genObject(r, vs[which].root, 0, []int{0, 60, 10}[i%3]))
		f.Add(string(b), uint8(which))
	}
	f.Add(`{"personalEmail":{"address":"a@b.co"},"person":{"birthDate":"2024-02-30"}}`, uint8(0))
	f.Add(`{"_id":"e","timestamp":"2025-01-01T23:59:60Z"}`, uint8(1))
	f.Add(`{"id":"ab","level":"3","bag":{"k":"11"},"list":[null,{"n":"1"}],"never":1}`, uint8(2))
	f.Fuzz(func(t *testing.T, rowJSON string, which uint8) {
		checkSamePath(t, vs[int(which)%len(vs)], []byte(rowJSON))
	})
}

// genObject builds a random row for the raw schema sch. One value in
// noise (none when noise is 0) is a mutation the coercion pass and the
// checks care about: a null, an empty string, a number as a string, epoch
// milliseconds, a wrong type, an unknown field, a near-miss date.
func genObject(r *rand.Rand, sch map[string]any, depth, noise int) map[string]any {
	out := map[string]any{}
	props, _ := sch["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys) // map order would make runs differ
	for _, k := range keys {
		if r.IntN(3) == 0 && !strings.Contains(fmt.Sprint(sch["required"]), k) {
			continue
		}
		ps, _ := props[k].(map[string]any)
		out[k] = genValue(r, ps, depth+1, noise)
	}
	if addl, ok := sch["additionalProperties"].(map[string]any); ok {
		for i := range r.IntN(3) {
			out[fmt.Sprintf("K%d", i)] = genValue(r, addl, depth+1, noise)
		}
	}
	if mutate(r, noise) {
		out["unknownField"] = "x"
	}
	if mutate(r, noise) && len(keys) > 0 {
		delete(out, keys[r.IntN(len(keys))])
	}
	return out
}

func mutate(r *rand.Rand, noise int) bool { return noise > 0 && r.IntN(noise) == 0 }

func genValue(r *rand.Rand, sch map[string]any, depth, noise int) any {
	bad := mutate(r, noise)
	if bad && r.IntN(2) == 0 {
		return pick(r, nil, "", []any{1.0}, map[string]any{"a": 1.0}, true, 2.5, "x")
	}
	if sch == nil || depth > 8 {
		return "free"
	}
	typ, _ := sch["type"].(string)
	switch typ {
	case "object":
		return genObject(r, sch, depth, noise)
	case "array":
		items, _ := sch["items"].(map[string]any)
		a := make([]any, r.IntN(4))
		for i := range a {
			if mutate(r, noise) {
				continue // a null element
			}
			a[i] = genValue(r, items, depth+1, noise)
		}
		return a
	case "integer", "number":
		if sch["minimum"] != nil || sch["exclusiveMinimum"] != nil || sch["maximum"] != nil {
			if r.IntN(2) == 0 {
				return pick(r, 0.0, 0.5, 0.25, 1.0, 3.0, 5.0, 6.0, 10.0, 11.0, 1e16, -1e16, "0.75", "4")
			}
		}
	}
	switch typ {
	case "integer":
		if bad {
			return pick(r, 1.5, 1e21, "1.5", "NaN", "0x10", "1e400", 0.0, -3.0, 11.0, 40000.0)
		}
		return pick(r, 1.0, 1990.0, 2.0, "42", " 7 ", "1e3", 5.0)
	case "number":
		if bad {
			return pick(r, "Inf", "1_000", "abc", "5.", 0.3, 1e300)
		}
		return pick(r, 9.5, 0.0, -1.25, "9.5", "-1.5e3", ".5", 0.5)
	case "boolean":
		if bad {
			return pick(r, "yes", 1.0, "0")
		}
		return pick(r, true, false, "true", "FALSE", " True ")
	case "string":
		if enum, ok := sch["enum"].([]any); ok && !bad {
			return enum[r.IntN(len(enum))]
		}
		switch sch["format"] {
		case "date":
			if bad {
				return pick(r, "2023-02-29", "01/04/1990", "1985-4-12", 1.5, -62135596800001.0)
			}
			return pick(r, "1985-04-12", "2024-02-29", 631152000000.0, "0001-01-01")
		case "date-time":
			if bad {
				return pick(r, "2025-01-01T23:59:60Z", "2025-06-30T23:59:60-00:00", "2025-01-01T00:00:00", "2025-01-01T00:00:00+24:00",
					"2999-01-01T00:00:00Z", "2025-03-01T12:06:00Z", 253402300800000.0, 1.5)
			}
			return pick(r, "2025-01-01T00:00:00Z", "2025-01-01T00:00:00.123+05:30", "2025-01-01t00:00:00z",
				"2025-03-01T12:04:00Z", 1735689600123.0, 253402300799999.0)
		case "email":
			if bad {
				return pick(r, "a@b", "no-at", "a..b@c.com", "a@-x.com", "é@x.com")
			}
			return pick(r, "jane@example.com", "Jane.Doe@Example.com", `"q"@x.org`, "a@[127.0.0.1]")
		case "uri":
			if bad {
				return pick(r, "relative/path", "::")
			}
			return pick(r, "https://example.com/a", "http://[::1]/")
		}
		if p, ok := sch["pattern"].(string); ok {
			switch p {
			case "^[A-Z]{3}$":
				if bad {
					return pick(r, "usd", "EURO")
				}
				return pick(r, "USD", "EUR")
			case "^[A-Za-z]{2}$":
				if bad {
					return pick(r, "u5", "USA")
				}
				return "US"
			case "[0-1][0-9]-[0-9]{2}":
				if bad {
					return "4-12"
				}
				return "04-12"
			}
		}
		if bad {
			return pick(r, "abcdefghij", "ABC", "a", "ü", 42.0)
		}
		return pick(r, "jane", "ab", "x/y~z", "42", "a b", "é", "red")
	case "null":
		return nil
	}
	return pick(r, "free", 1.0, []any{"x", nil}, map[string]any{"y": 2.0})
}

func pick(r *rand.Rand, xs ...any) any { return xs[r.IntN(len(xs))] }

// BenchmarkValidate compares Validate with the reference path alone on a
// valid profile row, to show what the fast walk saves per row.
func BenchmarkValidate(b *testing.B) {
	pv, _ := fuzzValidators(b)
	data := []byte(`{"_id":"1","personalEmail":{"address":"Jane.Doe@Example.com","primary":true,"status":"active"},` +
		`"person":{"name":{"firstName":"Jane","lastName":"Doe"},"birthDate":"1985-04-12","birthDayAndMonth":"04-12","birthYear":1985,"gender":"female"},` +
		`"homeAddress":{"city":"Springfield","countryCode":"US"},"identityMap":{"ECID":[{"id":"1","primary":false}]},` +
		`"extSourceSystemAudit":{"createdDate":"2019-05-01T00:00:00.000Z","lastUpdatedDate":"2026-01-15T10:20:30.000Z"}}`)
	for _, bc := range []struct {
		name     string
		validate func(map[string]any) []Violation
	}{{"fast", pv.Validate}, {"library", func(row map[string]any) []Violation {
		var changed bool
		return pv.validateLibrary(row, &changed)
	}}} {
		b.Run(bc.name, func(b *testing.B) {
			var row map[string]any
			if err := json.Unmarshal(data, &row); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if vs := bc.validate(row); vs != nil {
					b.Fatalf("got violations %+v, want none", vs)
				}
			}
		})
	}
}
