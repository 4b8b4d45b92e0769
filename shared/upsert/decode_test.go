package upsert

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

func TestDecodeRefusesCorruptDocuments(t *testing.T) {
	for _, tc := range []struct{ name, rec, doc string }{
		{"empty", `{"a":1}`, ``},
		{"not JSON", `{"a":1}`, `{"c":`},
		{"null", ``, `null`},
		{"array", ``, `[]`},
		{"unknown member", ``, `{"x":1}`},
		{"data after the object", ``, `{}{}`},
		{"clock not a pair", `{}`, `{"c":[[1]],"n":{"":0}}`},
		{"clock time a string", `{}`, `{"c":[["1","s"]],"n":{"":0}}`},
		{"clock time a fraction", `{}`, `{"c":[[1.5,"s"]],"n":{"":0}}`},
		{"clock source null", `{}`, `{"c":[[1,null]],"n":{"":0}}`},
		{"clock source a number", `{}`, `{"c":[[1,2]],"n":{"":0}}`},
		{"index out of range", `{}`, `{"c":[[1,"s"]],"n":{"":1}}`},
		{"negative index", `{}`, `{"c":[[1,"s"]],"n":{"":-1}}`},
		{"record without its clock", `{"a":1}`, `{"c":[[1,"s"]]}`},
		{"clocks of no record", ``, `{"c":[[1,"s"]],"n":{"":0}}`},
		{"clock of a node not in the record", `{"a":1}`, `{"c":[[1,"s"]],"n":{"":0,"/b":0}}`},
		{"clock inside an identity", `{"identityMap":{"Email":[{"id":"a@x.com"}]}}`, `{"c":[[1,"s"]],"n":{"":0,"/identityMap/Email/a@x.com/id":0}}`},
		{"child newer than its parent", `{"a":{"b":1}}`, `{"c":[[1,"s"],[2,"s"]],"n":{"":1,"/a":0,"/a/b":1}}`},
		{"identity newer than the record", `{"identityMap":{"Email":[{"id":"a@x.com"}]}}`, `{"c":[[1,"s"],[2,"s"]],"n":{"":0,"/identityMap/Email/a@x.com":1}}`},
		{"pointer without a slash", `{}`, `{"c":[[1,"s"]],"n":{"":0},"t":{"a":0}}`},
		{"bad escape", `{}`, `{"c":[[1,"s"]],"n":{"":0},"t":{"/a~2":0}}`},
		{"tombstone in identityMap", `{}`, `{"c":[[1,"s"]],"n":{"":0},"t":{"/identityMap/Email":0}}`},
		{"removed node", `{"a":1}`, `{"c":[[1,"s"],[2,"s"]],"n":{"":1,"/a":0},"t":{"":1}}`},
		{"removed identity", `{"identityMap":{"Email":[{"id":"a@x.com"}]}}`, `{"c":[[1,"s"],[2,"s"]],"n":{"":1,"/identityMap/Email/a@x.com":0},"t":{"":1}}`},
		{"redundant tombstone", `{}`, `{"c":[[1,"s"],[2,"s"]],"n":{"":1},"t":{"":1,"/x":0}}`},
		{"tombstone of nothing", ``, `{"c":[[1,"s"]],"t":{"/x":0}}`},
		{"tombstone below a value", `{"a":1}`, `{"c":[[1,"s"]],"n":{"":0},"t":{"/a/b":0}}`},
		{"tombstone newer than its parent", `{"a":{}}`, `{"c":[[1,"s"],[2,"s"]],"n":{"":1,"/a":0},"t":{"/a/b":1}}`},
		{"value older than its tombstone", `{"a":1}`, `{"c":[[1,"s"],[2,"s"]],"n":{"":1,"/a":0},"t":{"/a":1}}`},
		{"null attribute", `{"a":null}`, `{"c":[[1,"s"]],"n":{"":0}}`},
		{"identityMap not an object", `{"identityMap":"x"}`, `{"c":[[1,"s"]],"n":{"":0}}`},
		{"namespace not a list", `{"identityMap":{"Email":"x"}}`, `{"c":[[1,"s"]],"n":{"":0}}`},
		{"empty namespace", `{"identityMap":{"Email":[]}}`, `{"c":[[1,"s"]],"n":{"":0}}`},
		{"entry not an object", `{"identityMap":{"Email":[1]}}`, `{"c":[[1,"s"]],"n":{"":0}}`},
		{"identity twice", `{"identityMap":{"Email":[{"id":"a@x.com"}],"email":[{"id":"A@x.com"}]}}`, `{"c":[[1,"s"]],"n":{"":0}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec map[string]any
			if tc.rec != "" {
				rec = obj(t, tc.rec)
			}
			s, err := Decode(rec, []byte(tc.doc))
			if !errors.Is(err, fault.E(fault.Internal, CodeClocks, "")) || s != nil {
				t.Errorf("Decode(%s, %s) = %v, %v; want %s", tc.rec, tc.doc, s, err, CodeClocks)
			}
		})
	}
}

func TestDecodeReadsWhatEncodeWrites(t *testing.T) {
	for _, tc := range []struct{ rec, doc string }{
		{``, `{}`},
		{``, ` {"c":[[5,"s"]],"t":{"":0}} `},
		{`{"a":1}`, `{"c":[[1,"s"]],"n":{"":0},"t":{"":0}}`},
		{`{"a":{"b":[null]},"c":2}`, `{"c":[[1,"s"],[2,"s"]],"n":{"":1,"/a":0},"t":{"/c":1}}`},
		{`{"a":1}`, `{"c":[[-5,"s"]],"n":{"":0},"t":{"":0}}`},
	} {
		var rec map[string]any
		if tc.rec != "" {
			rec = obj(t, tc.rec)
		}
		s, err := Decode(rec, []byte(tc.doc))
		if err != nil {
			t.Errorf("Decode(%s, %s): %v", tc.rec, tc.doc, err)
			continue
		}
		assertStable(t, s)
	}
}

// assertStable checks that what s encodes decodes to a state that encodes
// the same.
func assertStable(t *testing.T, s *State) {
	t.Helper()
	rec, doc, err := s.Encode()
	if err != nil {
		if errors.Is(err, fault.E(fault.Invalid, CodeTooLarge, "")) {
			return
		}
		t.Fatalf("encode of a decoded state: %v", err)
	}
	d := roundTrip(t, s)
	rec2, doc2, err := d.Encode()
	if err != nil || string(rec2) != string(rec) || string(doc2) != string(doc) {
		t.Fatalf("round trip: %s %s → %s %s (%v)", rec, doc, rec2, doc2, err)
	}
	if !sameTree(s.root, d.root) {
		t.Fatalf("round trip of %s %s changed the state", rec, doc)
	}
}

// FuzzDecode: Decode never panics, and what it accepts is a state that
// Encode writes back and Decode reads the same.
func FuzzDecode(f *testing.F) {
	s := apply(f,
		create(f, 1, `{"a":1,"o":{"x":1,"y":[1,null]},"identityMap":{"Email":[{"id":"a@x.com"}]}}`),
		mergeOp(f, 2, `{"o":{"x":null,"z":"~/"},"b":{"c":{}},"identityMap":{"ECID":[{"id":"12345678901234567890123456789012345678"}]}}`),
	)
	rec, doc, _ := s.Encode()
	f.Add(rec, doc)
	f.Add([]byte(`{"a":1}`), []byte(`{"c":[[1,"s"]],"n":{"":0},"t":{"":0}}`))
	f.Add([]byte(``), []byte(`{"c":[[5,"s"]],"t":{"":0}}`))
	f.Add([]byte(`{"a":{}}`), []byte(`{"c":[[1,"s"],[2,"s"]],"n":{"":1,"/a":0},"t":{"/a/b":1}}`))
	f.Add([]byte(`{"identityMap":{"email":[{"id":"A@x.com"}]}}`), []byte(`{"c":[[1,"s"]],"n":{"":0}}`))
	f.Fuzz(func(t *testing.T, recJSON, doc []byte) {
		var rec map[string]any
		if json.Unmarshal(recJSON, &rec) != nil {
			rec = nil
		}
		s, err := Decode(rec, doc)
		if err != nil {
			if !errors.Is(err, fault.E(fault.Internal, CodeClocks, "")) {
				t.Fatalf("error without %s: %v", CodeClocks, err)
			}
			return
		}
		assertStable(t, s)
	})
}
