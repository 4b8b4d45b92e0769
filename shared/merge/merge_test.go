package merge

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the want member of testdata/golden/*.json")

func rec(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

// goldenCase is one file of testdata/golden: the fragments of a cluster,
// the asked identity and a policy, and the merge they must give.
type goldenCase struct {
	Description string        `json:"description"`
	Asked       string        `json:"asked"`
	Policy      goldenPolicy  `json:"policy"`
	Fragments   []goldenFrag  `json:"fragments"`
	Want        *goldenResult `json:"want,omitempty"`
	path        string
}

type goldenPolicy struct {
	IdentityGraph  string   `json:"identityGraph"`
	AttributeMerge string   `json:"attributeMerge"`
	Order          []string `json:"order,omitempty"`
}

func (p goldenPolicy) policy() Policy {
	return Policy{ID: "golden", IdentityGraph: IdentityGraph{Type: p.IdentityGraph},
		AttributeMerge: AttributeMerge{Type: p.AttributeMerge, Order: p.Order}}
}

type goldenFrag struct {
	Identity string         `json:"identity"`
	Dataset  string         `json:"dataset"`
	Batch    string         `json:"batch"`
	Src      string         `json:"src"`
	TS       int64          `json:"ts"`
	Record   map[string]any `json:"record"`
}

type goldenResult struct {
	Entity       map[string]any        `json:"entity"`
	Sources      []string              `json:"sources"`
	LastModified int64                 `json:"lastModified"`
	Provenance   map[string]Provenance `json:"provenance"`
}

func (c goldenCase) fragments() []Fragment {
	out := make([]Fragment, len(c.Fragments))
	for i, f := range c.Fragments {
		out[i] = Fragment{Identity: f.Identity, Dataset: f.Dataset, Batch: f.Batch, Src: f.Src, TS: f.TS, Record: f.Record}
	}
	return out
}

// run merges the case as a lookup does: the policy's candidates, then
// the merge with provenance.
func (c goldenCase) run(frags []Fragment) goldenResult {
	p := c.Policy.policy()
	return goldenResult(ProfileWithProvenance(Select(frags, c.Asked, p), p))
}

func readGolden(t *testing.T) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files (%v)", err)
	}
	var out []goldenCase
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var c goldenCase
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		c.path = path
		out = append(out, c)
	}
	return out
}

// jsonOf is v as JSON values (maps, []any, float64), so that what a file
// holds and what a merge gives compare alike.
func jsonOf(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProfileGolden merges every testdata/golden case and compares entity,
// sources, lastModified and provenance with the file's want (go test
// -update writes want from the code: review the diff).
func TestProfileGolden(t *testing.T) {
	graphs, merges := map[string]bool{}, map[string]bool{}
	for _, c := range readGolden(t) {
		graphs[c.Policy.IdentityGraph], merges[c.Policy.AttributeMerge] = true, true
		t.Run(strings.TrimSuffix(filepath.Base(c.path), ".json"), func(t *testing.T) {
			if err := c.Policy.policy().Validate(); err != nil {
				t.Fatalf("policy: %v", err)
			}
			got := c.run(c.fragments())
			if *update {
				c.Want = &got
				b, err := json.MarshalIndent(c, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(c.path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if c.Want == nil {
				t.Fatalf("%s has no want (run go test -update and review it)", c.path)
			}
			if diff := cmp.Diff(jsonOf(t, c.Want), jsonOf(t, got)); diff != "" {
				t.Errorf("%s\nmerge (-golden +got):\n%s", c.Description, diff)
			}
			// Without provenance the merge is the same.
			p := c.Policy.policy()
			plain := Profile(Select(c.fragments(), c.Asked, p), p)
			if plain.Provenance != nil {
				t.Errorf("Profile filled Provenance")
			}
			if diff := cmp.Diff(jsonOf(t, goldenResult{Entity: got.Entity, Sources: got.Sources, LastModified: got.LastModified}),
				jsonOf(t, goldenResult{Entity: plain.Entity, Sources: plain.Sources, LastModified: plain.LastModified})); diff != "" {
				t.Errorf("Profile and ProfileWithProvenance differ (-with +without):\n%s", diff)
			}
		})
	}
	// Every combination of the policy's two settings has a case.
	for _, g := range []string{GraphNone, GraphPDG} {
		for _, m := range []string{TimestampOrdered, DataSetPrecedence} {
			if !graphs[g] || !merges[m] {
				t.Errorf("no golden case under %s × %s", g, m)
			}
		}
	}
}

// TestProvenanceNamesEveryLeaf: each leaf of the merged entity (objects
// key by key, an array one leaf) and each identityMap entry has exactly
// one provenance key, and nothing else has one.
func TestProvenanceNamesEveryLeaf(t *testing.T) {
	for _, c := range readGolden(t) {
		got := c.run(c.fragments())
		want := map[string]bool{}
		var walk func(prefix string, m map[string]any)
		walk = func(prefix string, m map[string]any) {
			for k, v := range m {
				path := prefix + k
				if path == "identityMap" {
					for code, list := range v.(map[string]any) {
						for i := range list.([]any) {
							want[fmt.Sprintf("identityMap.%s.%d", code, i)] = true
						}
					}
					continue
				}
				if sub, ok := v.(map[string]any); ok {
					walk(path+".", sub)
					continue
				}
				want[path] = true
			}
		}
		walk("", got.Entity)
		have := map[string]bool{}
		for k := range got.Provenance {
			have[k] = true
		}
		if diff := cmp.Diff(want, have); diff != "" {
			t.Errorf("%s: provenance keys (-leaves +keys):\n%s", c.path, diff)
		}
	}
}

// TestProfileIndependentOfFragmentOrder: every golden case, its fragments
// shuffled, merges to the same result, provenance included.
func TestProfileIndependentOfFragmentOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for _, c := range readGolden(t) {
		want := jsonOf(t, c.run(c.fragments()))
		frags := c.fragments()
		for range 20 {
			r.Shuffle(len(frags), func(i, j int) { frags[i], frags[j] = frags[j], frags[i] })
			if diff := cmp.Diff(want, jsonOf(t, c.run(frags))); diff != "" {
				t.Fatalf("%s: merge depends on fragment order (-first +shuffled):\n%s", c.path, diff)
			}
		}
	}
}

// TestProfileOrderProperty: random clusters (identities, datasets,
// ordering times, nested records with empty values, type conflicts and
// identityMaps) under random policies merge to one result whatever the
// order of their fragments.
func TestProfileOrderProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	ids := []string{"Email#a@example.com", "ECID#1", "CRMID#C1"}
	dss := []string{"crm", "web", "app", "pos"}
	keys := []string{"a", "b", "c"}
	var value func(depth int) any
	value = func(depth int) any {
		switch n := r.IntN(8); {
		case n == 0:
			return nil
		case n == 1:
			return ""
		case n == 2:
			return []any{keys[r.IntN(len(keys))]}
		case n == 3:
			return []any{}
		case n < 6 && depth < 3:
			m := map[string]any{}
			for _, k := range keys[:r.IntN(len(keys))+1] {
				m[k] = value(depth + 1)
			}
			return m
		default:
			return float64(r.IntN(4))
		}
	}
	for i := range 300 {
		var frags []Fragment
		seen := map[string]bool{}
		for range r.IntN(6) {
			f := Fragment{Identity: ids[r.IntN(len(ids))], Dataset: dss[r.IntN(len(dss))], TS: int64(r.IntN(4)),
				Src: fmt.Sprintf("s%d", r.IntN(3)), Batch: "b"}
			if seen[f.Identity+f.Dataset+f.Src+fmt.Sprint(f.TS)] {
				continue // one update clock per fragment, as the store gives
			}
			seen[f.Identity+f.Dataset+f.Src+fmt.Sprint(f.TS)] = true
			rc, _ := value(0).(map[string]any)
			if rc == nil {
				rc = map[string]any{}
			}
			if r.IntN(2) == 0 {
				rc["identityMap"] = map[string]any{[]string{"Email", "email", "ECID"}[r.IntN(3)]: []any{
					map[string]any{"id": []string{"a@example.com", "A@Example.com", "b@example.com"}[r.IntN(3)], "primary": r.IntN(2) == 0}}}
			}
			if r.IntN(4) == 0 {
				rc["extSourceSystemAudit"] = map[string]any{"lastUpdatedDate": fmt.Sprintf("1970-01-01T00:00:00.00%dZ", r.IntN(5))}
			}
			f.Record = rc
			frags = append(frags, f)
		}
		p := Policy{IdentityGraph: IdentityGraph{Type: []string{GraphNone, GraphPDG}[r.IntN(2)]},
			AttributeMerge: AttributeMerge{Type: TimestampOrdered}}
		if r.IntN(2) == 0 {
			p.AttributeMerge = AttributeMerge{Type: DataSetPrecedence, Order: []string{dss[r.IntN(4)], dss[r.IntN(4)]}}
		}
		c := goldenCase{Asked: ids[r.IntN(len(ids))]}
		run := func(fs []Fragment) any {
			return jsonOf(t, goldenResult(ProfileWithProvenance(Select(fs, c.Asked, p), p)))
		}
		want := run(frags)
		for range 5 {
			r.Shuffle(len(frags), func(i, j int) { frags[i], frags[j] = frags[j], frags[i] })
			if diff := cmp.Diff(want, run(frags)); diff != "" {
				t.Fatalf("case %d: merge depends on fragment order (-first +shuffled):\n%s", i, diff)
			}
		}
	}
}

// TestEmptyNeverWins: null, "", [] and {} (at any depth) are absent: a
// newer fragment holding them never replaces a filled value, under either
// policy, and adds no empty field of its own.
func TestEmptyNeverWins(t *testing.T) {
	older := Fragment{Identity: "Email#a", Dataset: "crm", TS: 1, Src: "a",
		Record: rec(`{"person":{"name":{"firstName":"Jane"}},"tags":["a"],"prefs":{"lang":"fr"}}`)}
	for _, empty := range []string{`null`, `""`, `[]`, `{}`, `{"x":""}`, `{"x":{"y":null}}`} {
		newer := Fragment{Identity: "Email#a", Dataset: "web", TS: 2, Src: "b",
			Record: rec(`{"person":{"name":{"firstName":` + empty + `}},"tags":` + empty + `,"prefs":{"lang":` + empty + `},"other":` + empty + `}`)}
		for _, p := range []Policy{Defaults()[0], {ID: "p", IdentityGraph: IdentityGraph{Type: GraphPDG},
			AttributeMerge: AttributeMerge{Type: DataSetPrecedence, Order: []string{"web", "crm"}}}} {
			res := ProfileWithProvenance([]Fragment{older, newer}, p)
			if d := cmp.Diff(older.Record, res.Entity); d != "" {
				t.Errorf("%s under %s: merged (-want +got):\n%s", empty, p.AttributeMerge.Type, d)
			}
			for path, pv := range res.Provenance {
				if pv.Dataset != "crm" {
					t.Errorf("%s under %s: %s attributed to %s, want crm", empty, p.AttributeMerge.Type, path, pv.Dataset)
				}
			}
		}
	}
}

func TestProfileDoesNotModifyFragments(t *testing.T) {
	frags := []Fragment{
		{Dataset: "a", TS: 1, Record: rec(`{"o":{"x":1},"identityMap":{"Email":[{"id":"a@example.com"}]}}`)},
		{Dataset: "b", TS: 2, Record: rec(`{"o":{"y":2},"identityMap":{"Email":[{"id":"b@example.com"}]}}`)},
	}
	ProfileWithProvenance(frags, Defaults()[0])
	if diff := cmp.Diff(rec(`{"o":{"x":1},"identityMap":{"Email":[{"id":"a@example.com"}]}}`), frags[0].Record); diff != "" {
		t.Errorf("input fragment changed (-want +got):\n%s", diff)
	}
}

func TestPolicyValidate(t *testing.T) {
	precedence := Policy{ID: "p", IdentityGraph: IdentityGraph{Type: GraphPDG},
		AttributeMerge: AttributeMerge{Type: DataSetPrecedence, Order: []string{"crm", "web"}}}
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"default", Defaults()[0], true},
		{"precedence", precedence, true},
		{"precedence without order", Policy{IdentityGraph: IdentityGraph{GraphNone}, AttributeMerge: AttributeMerge{Type: DataSetPrecedence}}, false},
		{"bad graph", Policy{IdentityGraph: IdentityGraph{"all"}, AttributeMerge: AttributeMerge{Type: TimestampOrdered}}, false},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	if p, ok := Default(EventSchema); !ok || p.ID != DefaultEventPolicyID {
		t.Errorf("Default(%s) = %v, %v", EventSchema, p.ID, ok)
	}
	if SchemaName("https://ns.adobe.com/xdm/context/experienceevent") != EventSchema || SchemaName("https://ns.adobe.com/xdm/context/profile") != ProfileSchema {
		t.Errorf("SchemaName maps classes wrongly")
	}
}

func TestTimeline(t *testing.T) {
	evs := []Event{{ID: "b", Timestamp: 2, Dataset: "d"}, {ID: "a", Timestamp: 2, Dataset: "d"}, {ID: "c", Timestamp: 1, Dataset: "d"}, {ID: "a", Timestamp: 2, Dataset: "d"}}
	var got []string
	for _, e := range Timeline(evs, false) {
		got = append(got, e.ID)
	}
	if diff := cmp.Diff([]string{"c", "a", "b"}, got); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
}
