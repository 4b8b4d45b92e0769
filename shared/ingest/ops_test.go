package ingest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/upsert"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// upsertSpec is p1ProfileSpec (a real compiled spec, primary identity
// /personalEmail/address) tagged isUpsert.
func upsertSpec(t testing.TB) *catalog.IngestSpec {
	s := *p1ProfileSpec(t)
	s.Upsert = true
	return &s
}

func jsonMap(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func process(t *testing.T, spec *catalog.IngestSpec, row Row) (*recorder, Outcome, error) {
	t.Helper()
	rec := &recorder{}
	out, err := (&Pipeline{Fragments: rec, Links: rec, Events: rec}).Process(context.Background(), spec, row)
	return rec, out, err
}

// TestEffectiveOperation: a row without an operation merges in an upsert
// dataset and is created elsewhere; its own operation wins.
func TestEffectiveOperation(t *testing.T) {
	// No descriptor field: only a partial row may leave it out.
	data := `{"identityMap":{"Email":[{"id":"a@example.com","primary":true}]},"person":{"name":{"firstName":"A"}}}`
	plain := p1ProfileSpec(t)
	for _, tc := range []struct {
		name     string
		spec     *catalog.IngestSpec
		op       string
		wantOp   string
		wantCode string
	}{
		{"upsert dataset, no operation", upsertSpec(t), "", merge.OpMerge, ""},
		{"upsert dataset, create", upsertSpec(t), OpCreate, "", xdm.CodeRequired},
		{"plain dataset, no operation", plain, "", "", xdm.CodeRequired},
		{"plain dataset, merge", plain, OpMerge, merge.OpMerge, ""},
		{"plain dataset, delete", plain, OpDelete, merge.OpDelete, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, _, err := process(t, tc.spec, Row{Data: []byte(data), Op: tc.op})
			if codeOf(err) != tc.wantCode {
				t.Fatalf("got %v, want code %q", err, tc.wantCode)
			}
			if tc.wantCode != "" {
				return
			}
			if len(rec.frags) != 1 || rec.frags[0].Op != tc.wantOp {
				t.Fatalf("fragments %+v, want one with op %q", rec.frags, tc.wantOp)
			}
		})
	}
}

func TestMergeWritesThePatchWithItsNulls(t *testing.T) {
	received := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	data := `{"personalEmail":{"address":" a@example.com "},"person":{"name":{"firstName":null,"lastName":"B"},"birthYear":"1990"},"mobilePhone":null,` +
		`"identityMap":{"ECID":[{"id":"` + strings.Repeat("7", 38) + `"}]}}`
	rec, out, err := process(t, upsertSpec(t), Row{Data: []byte(data), Received: received, Src: "s", Batch: "b"})
	if err != nil {
		t.Fatal(err)
	}
	want := merge.Fragment{
		Identity: "Email#a@example.com", Dataset: "p1-profile", TS: received.UnixMilli(), Src: "s", Batch: "b", Op: merge.OpMerge,
		Record: jsonMap(t, `{"personalEmail":{"address":"a@example.com"},"person":{"name":{"firstName":null,"lastName":"B"},"birthYear":1990},"mobilePhone":null,`+
			`"identityMap":{"ECID":[{"id":"`+strings.Repeat("7", 38)+`"}]}}`),
	}
	if d := cmp.Diff([]merge.Fragment{want}, rec.frags); d != "" {
		t.Errorf("fragments (-want +got):\n%s", d)
	}
	if out.Identities != 2 || out.Links != 1 || len(rec.links) != 1 || rec.links[0].Dataset != "p1-profile" {
		t.Errorf("outcome %+v, links %+v: want 2 identities and one link from the dataset", out, rec.links)
	}
}

func TestMergeOrderingTimeIsClamped(t *testing.T) {
	received := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	data := `{"personalEmail":{"address":"a@example.com"},"extSourceSystemAudit":{"lastUpdatedDate":"2099-01-01T00:00:00Z"},"mobilePhone":null}`
	rec, out, err := process(t, upsertSpec(t), Row{Data: []byte(data), Received: received})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Warnings) != 1 || out.Warnings[0].Code != CodeOrderingTimeClamped {
		t.Errorf("warnings %+v, want %s", out.Warnings, CodeOrderingTimeClamped)
	}
	f := rec.frags[0]
	if f.TS != received.UnixMilli() || f.Record["extSourceSystemAudit"].(map[string]any)["lastUpdatedDate"] != "2026-01-02T00:00:00.000Z" {
		t.Errorf("TS %d, record %v: want the receive time", f.TS, f.Record)
	}
	if v, ok := f.Record["mobilePhone"]; !ok || v != nil {
		t.Errorf("the patch lost its null: %v", f.Record)
	}
	past := `{"personalEmail":{"address":"a@example.com"},"extSourceSystemAudit":{"lastUpdatedDate":"2025-06-01T00:00:00Z"}}`
	rec, _, err = process(t, upsertSpec(t), Row{Data: []byte(past), Received: received})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli(); rec.frags[0].TS != want {
		t.Errorf("TS %d, want lastUpdatedDate %d", rec.frags[0].TS, want)
	}
}

// TestPartialRowRefusals: what a merge or delete is refused for, with the
// code and message users see; nothing is written.
func TestPartialRowRefusals(t *testing.T) {
	email := `"personalEmail":{"address":"a@example.com"}`
	events := *p1EventSpec(t)
	upsertEvents := events
	upsertEvents.Upsert = true
	for _, tc := range []struct {
		name     string
		spec     *catalog.IngestSpec
		op, data string
		code     string
		message  string
	}{
		{"null identityMap namespace", upsertSpec(t), "", `{` + email + `,"identityMap":{"ECID":null}}`,
			upsert.CodeIdentityRemove, "/identityMap/ECID is null: a partial update may add identities but never remove them"},
		{"null identityMap", upsertSpec(t), OpMerge, `{` + email + `,"identityMap":null}`,
			upsert.CodeIdentityRemove, "/identityMap is null: a partial update may add identities but never remove them"},
		{"null at an unknown field", upsertSpec(t), "", `{` + email + `,"person":{"nickName":null}}`,
			xdm.CodeUnknownField, "record does not match the schema: /person/nickName: field is not defined by the schema"},
		{"null below a scalar", upsertSpec(t), "", `{` + email + `,"person":{"birthYear":{"x":null}}}`,
			xdm.CodeType, "record does not match the schema: /person/birthYear: must be integer, got object; /person/birthYear/x: field is not defined by the schema"},
		{"null with a key no field has", upsertSpec(t), "", `{` + email + `,"person.name":null}`,
			xdm.CodeUnknownField, "record does not match the schema: /person.name: field is not defined by the schema"},
		{"unknown field", upsertSpec(t), "", `{` + email + `,"nickname":"J"}`,
			xdm.CodeUnknownField, "record does not match the schema: /nickname: field is not defined by the schema"},
		{"type", upsertSpec(t), "", `{` + email + `,"person":{"birthYear":"soon"}}`,
			xdm.CodeType, "record does not match the schema: /person/birthYear: must be integer, got string"},
		{"format", upsertSpec(t), OpMerge, `{` + email + `,"person":{"birthDate":"01/04/1990"}}`,
			xdm.CodeFormat, "record does not match the schema: /person/birthDate: must be a valid date"},
		{"array elements stay whole", upsertSpec(t), "", `{` + email + `,"identityMap":{"ECID":[{"primary":false}]}}`,
			xdm.CodeRequired, "record does not match the schema: /identityMap/ECID/0/id: required field is missing"},
		{"merge without primary", upsertSpec(t), "", `{"person":{"name":{"firstName":"A"}}}`,
			identity.CodeNoPrimary, ""},
		{"delete without primary", p1ProfileSpec(t), OpDelete, `{"person":{"name":{"firstName":"A"}}}`,
			identity.CodeNoPrimary, ""},
		{"delete with an unknown field", p1ProfileSpec(t), OpDelete, `{` + email + `,"nickname":"J"}`,
			xdm.CodeUnknownField, "record does not match the schema: /nickname: field is not defined by the schema"},
		{"merge on events", &events, OpMerge, `{"_id":"e"}`,
			CodeOperation, `operation "merge" is not supported on an experience event dataset: events are only ever created`},
		{"delete on events", &events, OpDelete, `{"_id":"e"}`,
			CodeOperation, `operation "delete" is not supported on an experience event dataset: events are only ever created`},
		{"upsert tag on events", &upsertEvents, "", `{"_id":"e"}`,
			CodeOperation, `operation "merge" is not supported on an experience event dataset: events are only ever created`},
		{"unknown operation", p1ProfileSpec(t), "upsert", `{` + email + `}`,
			CodeOperation, `operation "upsert" is not create, merge or delete`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, _, err := process(t, tc.spec, Row{Data: []byte(tc.data), Op: tc.op, IdentityDataset: "ids"})
			code, msg := Describe(err)
			if code != tc.code || (tc.message != "" && msg != tc.message) || Transient(err) {
				t.Fatalf("got %s %q, want %s %q", code, msg, tc.code, tc.message)
			}
			if n := len(rec.frags) + len(rec.events) + len(rec.links); n != 0 {
				t.Errorf("a refused row wrote %d things", n)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	ecid := strings.Repeat("7", 38)
	// Nulls are ignored, even where no field is; other identities link nothing.
	data := `{"personalEmail":{"address":"A@Example.com"},"nickname":null,"identityMap":{"ECID":[{"id":"` + ecid + `"}]},` +
		`"extSourceSystemAudit":{"lastUpdatedDate":"2025-06-01T00:00:00Z"}}`
	for _, idDataset := range []string{"", "ids"} {
		rec, out, err := process(t, p1ProfileSpec(t), Row{Data: []byte(data), Op: OpDelete, Src: "s", Batch: "b", IdentityDataset: idDataset})
		if err != nil {
			t.Fatal(err)
		}
		want := merge.Fragment{Identity: "Email#a@example.com", Dataset: "p1-profile", Op: merge.OpDelete,
			TS: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), Src: "s", Batch: "b"}
		if d := cmp.Diff([]merge.Fragment{want}, rec.frags); d != "" {
			t.Errorf("fragments (-want +got):\n%s", d)
		}
		if len(rec.links) != 0 || out.Links != 0 || out.Identities != 2 {
			t.Errorf("outcome %+v, %d links written: want 2 identities and no links", out, len(rec.links))
		}
	}
}

// TestIdentityDataset: links go with the identity dataset as their source
// when the row names one, whatever its own dataset's Identity flag.
func TestIdentityDataset(t *testing.T) {
	ecid := strings.Repeat("7", 38)
	data := `{"personalEmail":{"address":"a@example.com"},"identityMap":{"ECID":[{"id":"` + ecid + `"}]}}`
	identityOn := p1ProfileSpec(t)
	identityOff := *identityOn
	identityOff.IdentityEnabled = false
	neither := identityOff
	neither.ProfileEnabled = false
	for _, tc := range []struct {
		name      string
		spec      *catalog.IngestSpec
		op, ids   string
		wantLinks string // the links' dataset, "" for none
		wantFrags int
		wantCode  string
	}{
		{"create, identity-enabled dataset", identityOn, "", "ids", "ids", 1, ""},
		{"create, dataset not identity-enabled", &identityOff, OpCreate, "ids", "ids", 1, ""},
		{"merge, dataset not identity-enabled", &identityOff, OpMerge, "ids", "ids", 1, ""},
		{"create, no identity dataset", identityOn, "", "", "p1-profile", 1, ""},
		{"create, neither then", &identityOff, "", "", "", 1, ""},
		{"dataset enabled for nothing, identity dataset", &neither, OpMerge, "ids", "ids", 0, ""},
		{"dataset enabled for nothing, no identity dataset", &neither, OpMerge, "", "", 0, CodeNotEnabled},
		{"dataset enabled for nothing, delete", &neither, OpDelete, "ids", "", 0, CodeNotEnabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, out, err := process(t, tc.spec, Row{Data: []byte(data), Op: tc.op, IdentityDataset: tc.ids, Batch: "b"})
			if codeOf(err) != tc.wantCode {
				t.Fatalf("got %v, want code %q", err, tc.wantCode)
			}
			if len(rec.frags) != tc.wantFrags {
				t.Errorf("%d fragments, want %d", len(rec.frags), tc.wantFrags)
			}
			if tc.wantLinks == "" {
				if len(rec.links) != 0 || out.Links != 0 {
					t.Errorf("links %+v, want none", rec.links)
				}
				return
			}
			if len(rec.links) != 1 || rec.links[0].Dataset != tc.wantLinks || out.Links != 1 {
				t.Errorf("links %+v, want one from %s", rec.links, tc.wantLinks)
			}
		})
	}
}

func TestTakeAndPutNulls(t *testing.T) {
	rec := jsonMap(t, `{"a":[null,{"b":null}],"c":{"d":null,"e":{"f":null},"g":1},"h":null,"i":"x"}`)
	nulls := takeNulls(rec, nil, nil)
	if d := cmp.Diff([][]string{{"c", "d"}, {"c", "e", "f"}, {"h"}}, nulls); d != "" {
		t.Errorf("null paths (-want +got):\n%s", d)
	}
	if d := cmp.Diff(jsonMap(t, `{"a":[null,{"b":null}],"c":{"e":{},"g":1},"i":"x"}`), rec); d != "" {
		t.Errorf("row without nulls (-want +got):\n%s", d)
	}
	delete(rec, "c") // as if validation had dropped the object
	putNulls(rec, nulls)
	if d := cmp.Diff(jsonMap(t, `{"a":[null,{"b":null}],"c":{"d":null,"e":{"f":null}},"h":null,"i":"x"}`), rec); d != "" {
		t.Errorf("row with nulls back (-want +got):\n%s", d)
	}
}

func TestFieldDefined(t *testing.T) {
	types := map[string]string{"person": "object", "person.name": "object", "attrs": "map", "attrs.key": "object", "attrs.key.v": "string"}
	ft := func(p string) (string, bool) {
		if rest, ok := strings.CutPrefix(p, "attrs."); ok {
			// A map: every key has the same value schema.
			_, sub, _ := strings.Cut(rest, ".")
			p = "attrs.key"
			if sub != "" {
				p += "." + sub
			}
		}
		t, ok := types[p]
		return t, ok
	}
	for _, tc := range []struct {
		path []string
		want bool
	}{
		{[]string{"person", "name"}, true},
		{[]string{"person", "nick"}, false},
		{[]string{"person.name"}, false},
		{[]string{"attrs", "a.b"}, true},
		{[]string{"attrs", "a.b", "v"}, true},
		{[]string{"attrs", "[0]", "w"}, false},
		{[]string{"attrs", ""}, true},
		{[]string{"person", "", "x"}, false},
	} {
		if got := fieldDefined(ft, tc.path); got != tc.want {
			t.Errorf("fieldDefined(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
