package xdm

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// partialPair is a full validator and the partial one of the same schema.
type partialPair struct {
	name          string
	full, partial *Validator
}

// partialPairs are the schemas of the differential tests: the realistic
// profile (with its primary identity made required, as a descriptor does)
// and event schemas, and the hand-made modelled and slow ones.
func partialPairs(t testing.TB) []partialPair {
	t.Helper()
	resolve := func(in SchemaInput) *Resolved {
		s, err := NewSchema(in, "", now)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Resolve(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	raw := func(js string) *Resolved {
		var m map[string]any
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			t.Fatal(err)
		}
		return &Resolved{Class: EventClass, JSON: m}
	}
	profile := resolve(SchemaInput{Title: "CRM", Type: "object", AllOf: []Ref{{Ref: ProfileClass},
		{Ref: PersonalDetailsFieldGroup}, {Ref: PersonDetailsFieldGroup}, {Ref: IdentityMapFieldGroup}, {Ref: SourceAuditFieldGroup}}})
	event := resolve(SchemaInput{Title: "Web", Type: "object", AllOf: []Ref{{Ref: EventClass},
		{Ref: WebFieldGroup}, {Ref: CommerceFieldGroup}, {Ref: IdentityMapFieldGroup}, {Ref: SourceAuditFieldGroup}}})
	var out []partialPair
	for _, c := range []struct {
		name     string
		res      *Resolved
		required []string
	}{
		{"profile", profile, []string{"/personalEmail/address"}},
		{"event", event, nil},
		{"modelled", raw(modelledSchema), nil},
		{"slow", raw(slowSchema), nil},
	} {
		full, err := Compile(c.res, c.required...)
		if err != nil {
			t.Fatal(err)
		}
		partial, err := CompilePartial(c.res)
		if err != nil {
			t.Fatal(err)
		}
		clock := func() time.Time { return now }
		full.Now, partial.Now = clock, clock
		out = append(out, partialPair{c.name, full, partial})
	}
	return out
}

func decodeRow(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPartialRowsNeedNoRequiredFields(t *testing.T) {
	pairs := partialPairs(t)
	byName := map[string]partialPair{}
	for _, p := range pairs {
		byName[p.name] = p
	}
	for _, tc := range []struct {
		schema, row string
		full        []Violation // what the full validator says
		partial     []Violation // what the partial one says
	}{
		{"profile", `{"person":{"name":{"firstName":"Jane"}}}`,
			[]Violation{{Pointer: "/personalEmail", Code: CodeRequired, Message: "required field is missing"}}, nil},
		{"profile", `{"personalEmail":{"status":"active"},"identityMap":{"Email":[{"id":"a@example.com","primary":true}]}}`,
			[]Violation{{Pointer: "/personalEmail/address", Code: CodeRequired, Message: "required field is missing"}}, nil},
		{"event", `{"web":{"webPageDetails":{"name":"home"}}}`,
			[]Violation{{Pointer: "/_id", Code: CodeRequired, Message: "required field is missing"},
				{Pointer: "/timestamp", Code: CodeRequired, Message: "required field is missing"}}, nil},
		{"modelled", `{"level":"3"}`,
			[]Violation{{Pointer: "/id", Code: CodeRequired, Message: "required field is missing"}}, nil},
		// An array is replaced whole: its elements keep their required fields.
		{"profile", `{"identityMap":{"Email":[{"primary":true}]}}`,
			[]Violation{{Pointer: "/identityMap/Email/0/id", Code: CodeRequired, Message: "required field is missing"},
				{Pointer: "/personalEmail", Code: CodeRequired, Message: "required field is missing"}},
			[]Violation{{Pointer: "/identityMap/Email/0/id", Code: CodeRequired, Message: "required field is missing"}}},
		{"modelled", `{"list":[{"d":"2025-01-01T00:00:00Z"}]}`,
			[]Violation{{Pointer: "/id", Code: CodeRequired, Message: "required field is missing"},
				{Pointer: "/list/0/n", Code: CodeRequired, Message: "required field is missing"}},
			[]Violation{{Pointer: "/list/0/n", Code: CodeRequired, Message: "required field is missing"}}},
		// A combinator's required fields decide its branch: kept.
		{"slow", `{"choice":{"a":"x","b":"y"}}`,
			[]Violation{{Pointer: "/choice", Code: CodeInvalid, Message: "does not match the schema"}},
			[]Violation{{Pointer: "/choice", Code: CodeInvalid, Message: "does not match the schema"}}},
		{"slow", `{"choice":{"a":"x"}}`, nil, nil},
		// Everything but required is refused as before.
		{"profile", `{"person":{"birthYear":"soon"},"nickname":"J"}`,
			[]Violation{{Pointer: "/nickname", Code: CodeUnknownField, Message: "field is not defined by the schema"},
				{Pointer: "/person/birthYear", Code: CodeType, Message: "must be integer, got string"},
				{Pointer: "/personalEmail", Code: CodeRequired, Message: "required field is missing"}},
			[]Violation{{Pointer: "/nickname", Code: CodeUnknownField, Message: "field is not defined by the schema"},
				{Pointer: "/person/birthYear", Code: CodeType, Message: "must be integer, got string"}}},
		{"profile", `{"person":{"birthDate":"01/04/1990"}}`,
			[]Violation{{Pointer: "/person/birthDate", Code: CodeFormat, Message: "must be a valid date"},
				{Pointer: "/personalEmail", Code: CodeRequired, Message: "required field is missing"}},
			[]Violation{{Pointer: "/person/birthDate", Code: CodeFormat, Message: "must be a valid date"}}},
		{"event", `{"timestamp":"2025-03-01T12:06:00Z"}`,
			[]Violation{{Pointer: "/_id", Code: CodeRequired, Message: "required field is missing"},
				{Pointer: "/timestamp", Code: CodeTimestampFuture, Message: "must not be in the future"}},
			[]Violation{{Pointer: "/timestamp", Code: CodeTimestampFuture, Message: "must not be in the future"}}},
	} {
		t.Run(tc.schema+" "+tc.row, func(t *testing.T) {
			p := byName[tc.schema]
			if d := cmp.Diff(tc.full, p.full.Validate(decodeRow(t, tc.row))); d != "" {
				t.Errorf("full validator (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.partial, p.partial.Validate(decodeRow(t, tc.row))); d != "" {
				t.Errorf("partial validator (-want +got):\n%s", d)
			}
			if tc.partial == nil && p.name != "slow" && !p.partial.fast.object(decodeRow(t, tc.row)) {
				t.Errorf("a valid partial row took the library path, want the fast walk")
			}
		})
	}
}

// TestPartialCoercesAsFull: coercion is the same, and the row is changed
// exactly when the full validator changes it.
func TestPartialCoercesAsFull(t *testing.T) {
	p := partialPairs(t)[0]
	in := `{"personalEmail":{"primary":"TRUE"},"person":{"birthYear":" 1990 ","birthDate":631152000000,"name":{"firstName":""}}}`
	full, partial := decodeRow(t, in), decodeRow(t, in)
	_, fc := p.full.ValidateRow(full)
	vs, pc := p.partial.ValidateRow(partial)
	if vs != nil || !pc || !fc {
		t.Fatalf("partial: %+v changed %v; full changed %v: want no violations and both changed", vs, pc, fc)
	}
	want := decodeRow(t, `{"personalEmail":{"primary":true},"person":{"birthYear":1990,"birthDate":"1990-01-01","name":{}}}`)
	if d := cmp.Diff(want, partial); d != "" {
		t.Errorf("partial coerced row (-want +got):\n%s", d)
	}
	if d := cmp.Diff(full, partial); d != "" {
		t.Errorf("coerced rows differ (-full +partial):\n%s", d)
	}
}

// TestPartialMatchesFull is a differential test over generated rows (with
// fields, required ones included, left out at random): the partial
// validator coerces as the full one does and refuses what it refuses,
// except the missing fields the full schema requires of an object reached
// through properties and map values.
func TestPartialMatchesFull(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	for i, p := range partialPairs(t) {
		t.Run(p.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 99))
			dropped, refused := 0, 0
			for range n {
				row := genObject(r, p.full.root, 0, []int{0, 300, 60, 10}[r.IntN(4)])
				dropKeys(r, row)
				b, err := json.Marshal(row)
				if err != nil {
					t.Fatal(err)
				}
				full, partial := decodeRow(t, string(b)), decodeRow(t, string(b))
				fvs, fc := p.full.ValidateRow(full)
				pvs, pc := p.partial.ValidateRow(partial)
				if d := cmp.Diff(full, partial); d != "" || fc != pc {
					t.Fatalf("row %s: coercion differs (changed %v, %v) (-full +partial):\n%s", b, fc, pc, d)
				}
				want := make([]Violation, 0, len(fvs))
				for _, v := range fvs {
					if v.Code == CodeRequired && requiredByProperty(p.full.root, v.Pointer) {
						dropped++
						continue
					}
					want = append(want, v)
				}
				// The full list stops at MaxViolations: what it kept is a
				// prefix of the partial list, which is whole when the full
				// one is.
				got := pvs
				if len(fvs) == MaxViolations && len(got) > len(want) {
					got = got[:len(want)]
				}
				if len(want) == 0 {
					want = nil
				}
				if len(got) == 0 {
					got = nil
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Fatalf("row %s: partial violations (-want +got):\n%s\nfull: %+v", b, d, fvs)
				}
				if len(pvs) > 0 {
					refused++
				}
				checkSamePath(t, p.partial, b)
			}
			// Both kinds must occur, or the comparison proves little (the
			// slow schema requires nothing outside its combinators).
			if (dropped == 0 && p.name != "slow") || refused == 0 {
				t.Errorf("%d required violations dropped, %d rows refused: the sample must hold both", dropped, refused)
			}
			t.Logf("%d required violations dropped, %d of %d rows refused", dropped, refused, n)
		})
	}
}

// dropKeys removes about a third of the members of every object in v.
func dropKeys(r *rand.Rand, v any) {
	switch c := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if r.IntN(3) == 0 {
				delete(c, k)
				continue
			}
			dropKeys(r, c[k])
		}
	case []any:
		for _, x := range c {
			dropKeys(r, x)
		}
	}
}

// requiredByProperty reports whether the missing field at ptr is listed in
// the "required" of its parent's schema, reached from the root through
// properties and additionalProperties only.
func requiredByProperty(root map[string]any, ptr string) bool {
	toks := strings.Split(ptr, "/")[1:]
	sch := root
	for _, tok := range toks[:len(toks)-1] {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		props, _ := sch["properties"].(map[string]any)
		next, _ := props[tok].(map[string]any)
		if next == nil {
			next, _ = sch["additionalProperties"].(map[string]any)
		}
		if next == nil {
			return false // through an array element, or unknown
		}
		sch = next
	}
	return slices.Contains(stringsOf(sch["required"]), toks[len(toks)-1])
}
