package merge

import (
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func rec(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

var precedence = Policy{ID: "p", IdentityGraph: IdentityGraph{Type: GraphPDG},
	AttributeMerge: AttributeMerge{Type: DataSetPrecedence, Order: []string{"crm", "web"}}}

var mergeCases = []struct {
	name   string
	policy Policy
	frags  []Fragment
}{
	{
		name:   "timestamp_newest_wins_per_attribute",
		policy: Defaults()[0],
		frags: []Fragment{
			{Identity: "Email#a", Dataset: "crm", TS: 200, Src: "s3:a", Record: rec(`{"person":{"name":{"firstName":"Jane"}},"loyalty":{"tier":"gold"}}`)},
			{Identity: "ECID#1", Dataset: "web", TS: 100, Src: "s3:b", Record: rec(`{"person":{"name":{"firstName":"J","lastName":"Doe"}},"tags":["a","b"]}`)},
			{Identity: "ECID#1", Dataset: "app", TS: 300, Src: "s3:c", Record: rec(`{"tags":["c"],"loyalty":null}`)},
		},
	},
	{
		name:   "last_updated_date_beats_ingestion_time",
		policy: Defaults()[0],
		frags: []Fragment{
			{Identity: "Email#a", Dataset: "crm", TS: 900, Src: "s3:a", Record: rec(`{"extSourceSystemAudit":{"lastUpdatedDate":"1970-01-01T00:00:00.100Z"},"person":{"gender":"female"}}`)},
			{Identity: "Email#a", Dataset: "web", TS: 500, Src: "s3:b", Record: rec(`{"person":{"gender":"not_specified"}}`)},
		},
	},
	{
		name:   "ties_break_by_source",
		policy: Defaults()[0],
		frags: []Fragment{
			{Identity: "Email#a", Dataset: "crm", TS: 100, Src: "kinesis:s:2", Record: rec(`{"x":"from-2"}`)},
			{Identity: "Email#a", Dataset: "web", TS: 100, Src: "kinesis:s:1", Record: rec(`{"x":"from-1"}`)},
		},
	},
	{
		name:   "identity_map_union",
		policy: Defaults()[0],
		frags: []Fragment{
			{Identity: "Email#a", Dataset: "crm", TS: 1, Src: "a", Record: rec(`{"identityMap":{"Email":[{"id":"A@example.com","primary":true}],"CRMID":[{"id":"C1"}]}}`)},
			{Identity: "ECID#1", Dataset: "web", TS: 2, Src: "b", Record: rec(`{"identityMap":{"email":[{"id":"a@example.com"}],"ECID":[{"id":"11111111111111111111111111111111111111","primary":true}]}}`)},
		},
	},
	{
		name:   "dataset_precedence_excludes_unlisted",
		policy: precedence,
		frags: []Fragment{
			{Identity: "Email#a", Dataset: "web", TS: 900, Src: "a", Record: rec(`{"person":{"name":{"firstName":"Web","lastName":"W"}}}`)},
			{Identity: "Email#a", Dataset: "crm", TS: 100, Src: "b", Record: rec(`{"person":{"name":{"firstName":"Crm"}}}`)},
			{Identity: "Email#a", Dataset: "other", TS: 999, Src: "c", Record: rec(`{"person":{"name":{"firstName":"Other"}},"secret":true}`)},
		},
	},
	{
		name:   "type_conflict_newest_wins_whole",
		policy: Defaults()[0],
		frags: []Fragment{
			{Identity: "Email#a", Dataset: "crm", TS: 1, Src: "a", Record: rec(`{"address":{"city":"Paris"}}`)},
			{Identity: "Email#a", Dataset: "web", TS: 2, Src: "b", Record: rec(`{"address":"unknown"}`)},
		},
	},
	{
		name:   "empty_values_never_win",
		policy: Defaults()[0],
		frags: []Fragment{
			{Identity: "Email#a", Dataset: "crm", TS: 1, Src: "a", Record: rec(`{"person":{"name":{"firstName":"Jane","lastName":"Doe"}},"tags":["a"],"prefs":{"lang":"fr"},"nick":"JD"}`)},
			{Identity: "Email#a", Dataset: "web", TS: 2, Src: "b", Record: rec(`{"person":{"name":{"firstName":"","lastName":null}},"tags":[],"prefs":{},"nick":"","extra":{"a":{"b":""}}}`)},
		},
	},
	{name: "no_fragments", policy: Defaults()[0]},
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
			got := Profile([]Fragment{older, newer}, p).Entity
			if d := cmp.Diff(older.Record, got); d != "" {
				t.Errorf("%s under %s: merged (-want +got):\n%s", empty, p.AttributeMerge.Type, d)
			}
		}
	}
}

type golden struct {
	Entity       map[string]any `json:"entity"`
	Sources      []string       `json:"sources"`
	LastModified int64          `json:"lastModified"`
}

func TestProfileGolden(t *testing.T) {
	for _, tc := range mergeCases {
		t.Run(tc.name, func(t *testing.T) {
			res := Profile(tc.frags, tc.policy)
			got, err := json.MarshalIndent(golden(res), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("merge result (-golden +got):\n%s", diff)
			}
		})
	}
}

func TestProfileIndependentOfFragmentOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for _, tc := range mergeCases {
		t.Run(tc.name, func(t *testing.T) {
			want := Profile(tc.frags, tc.policy)
			frags := append([]Fragment(nil), tc.frags...)
			for range 20 {
				r.Shuffle(len(frags), func(i, j int) { frags[i], frags[j] = frags[j], frags[i] })
				if diff := cmp.Diff(want, Profile(frags, tc.policy)); diff != "" {
					t.Fatalf("merge depends on fragment order (-first +shuffled):\n%s", diff)
				}
			}
		})
	}
}

func TestProfileDoesNotModifyFragments(t *testing.T) {
	frags := []Fragment{
		{Dataset: "a", TS: 1, Record: rec(`{"o":{"x":1}}`)},
		{Dataset: "b", TS: 2, Record: rec(`{"o":{"y":2}}`)},
	}
	Profile(frags, Defaults()[0])
	if diff := cmp.Diff(rec(`{"o":{"x":1}}`), frags[0].Record); diff != "" {
		t.Errorf("input fragment changed (-want +got):\n%s", diff)
	}
}

func TestPolicyValidate(t *testing.T) {
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
