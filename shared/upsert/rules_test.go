package upsert

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// obj parses a JSON object as encoding/json does.
func obj(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func clk(ts int64) Clock { return Clock{TS: ts, Src: "s"} }

func create(t testing.TB, ts int64, s string) Op {
	return Op{Kind: Create, Clock: clk(ts), Record: obj(t, s)}
}

func mergeOp(t testing.TB, ts int64, s string) Op {
	return Op{Kind: Merge, Clock: clk(ts), Record: obj(t, s)}
}

func del(ts int64) Op { return Op{Kind: Delete, Clock: clk(ts)} }

// apply applies ops to a new state in the order given.
func apply(t testing.TB, ops ...Op) *State {
	t.Helper()
	s := New()
	for _, op := range ops {
		if _, err := s.Apply(op); err != nil {
			t.Fatalf("apply %+v: %v", op, err)
		}
	}
	return s
}

// permutations calls f with every order of ops.
func permutations(ops []Op, f func([]Op)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(ops) {
			f(append([]Op(nil), ops...))
			return
		}
		for i := k; i < len(ops); i++ {
			ops[k], ops[i] = ops[i], ops[k]
			rec(k + 1)
			ops[k], ops[i] = ops[i], ops[k]
		}
	}
	rec(0)
}

// wantRecord checks that every arrival order of ops gives want ("" for a
// fragment that does not exist), also through Encode and Decode.
func wantRecord(t *testing.T, want string, ops ...Op) {
	t.Helper()
	var w map[string]any
	if want != "" {
		w = obj(t, want)
	}
	permutations(ops, func(order []Op) {
		s := apply(t, order...)
		got := s.Record()
		if !cmp.Equal(got, w) || s.Exists() != (w != nil) {
			t.Errorf("order %v: record %v (exists %v), want %v", clocks(order), got, s.Exists(), w)
		}
		d := roundTrip(t, s)
		if got := d.Record(); !cmp.Equal(got, w) {
			t.Errorf("order %v, decoded: record %v, want %v", clocks(order), got, w)
		}
	})
}

func clocks(ops []Op) []int64 {
	out := make([]int64, len(ops))
	for i, op := range ops {
		out[i] = op.Clock.TS
	}
	return out
}

func roundTrip(t testing.TB, s *State) *State {
	t.Helper()
	rec, doc, err := s.Encode()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var m map[string]any
	if rec != nil {
		if err := json.Unmarshal(rec, &m); err != nil {
			t.Fatalf("encoded record %s: %v", rec, err)
		}
	}
	d, err := Decode(m, doc)
	if err != nil {
		t.Fatalf("decode %s %s: %v", rec, doc, err)
	}
	return d
}

func TestMergeReplacesScalarsMergesObjectsRemovesNullsTakesArraysWhole(t *testing.T) {
	wantRecord(t, `{"a":2,"o":{"x":1,"y":3},"arr":[9],"keep":true,"o2":{}}`,
		create(t, 1, `{"a":1,"o":{"x":1,"y":2},"arr":[1,2,3],"gone":"g","keep":true,"o2":{"z":1}}`),
		mergeOp(t, 2, `{"a":2,"o":{"y":3},"arr":[9],"gone":null,"o2":{"z":null}}`),
	)
}

func TestOlderMergeAfterNewerChangesOnlyWhatItIsNewestFor(t *testing.T) {
	wantRecord(t, `{"a":"new","b":"old","o":{"x":"new","y":"old"}}`,
		mergeOp(t, 1, `{"a":"old","b":"old","o":{"x":"old","y":"old"}}`),
		mergeOp(t, 2, `{"a":"new","o":{"x":"new"}}`),
	)
	// Applied newest first, the older merge changes b and o/y only.
	s := apply(t, mergeOp(t, 2, `{"a":"new","o":{"x":"new"}}`))
	if ch, _ := s.Apply(mergeOp(t, 1, `{"a":"old"}`)); ch {
		t.Errorf("an older merge of an attribute written since reported a change")
	}
}

func TestDeleteWinsOverOlderCreateAndMerge(t *testing.T) {
	wantRecord(t, "", create(t, 1, `{"a":1}`), mergeOp(t, 2, `{"b":2}`), del(3))
	wantRecord(t, `{"c":3}`, create(t, 1, `{"a":1}`), del(2), mergeOp(t, 3, `{"c":3}`))
	wantRecord(t, `{"a":1}`, del(1), create(t, 2, `{"a":1}`))
}

func TestDeleteOfNothingThenOlderCreateStaysDeleted(t *testing.T) {
	s := New()
	if ch, err := s.Apply(del(5)); err != nil || !ch {
		t.Fatalf("delete of nothing: changed %v, %v; want a tombstone", ch, err)
	}
	s = roundTrip(t, s)
	if ch, _ := s.Apply(create(t, 4, `{"a":1}`)); ch || s.Exists() {
		t.Errorf("older create after a delete: changed %v, exists %v", ch, s.Exists())
	}
	if ch, _ := s.Apply(mergeOp(t, 3, `{"a":1}`)); ch || s.Exists() {
		t.Errorf("older merge after a delete: changed %v, exists %v", ch, s.Exists())
	}
}

func TestTypeChangesAtOnePathInEveryOrder(t *testing.T) {
	wantRecord(t, `{"a":{"y":2}}`,
		mergeOp(t, 1, `{"a":{"x":1}}`), mergeOp(t, 2, `{"a":5}`), mergeOp(t, 3, `{"a":{"y":2}}`))
	wantRecord(t, `{"a":[1]}`,
		mergeOp(t, 1, `{"a":{"x":1}}`), mergeOp(t, 2, `{"a":{"y":2}}`), mergeOp(t, 3, `{"a":[1]}`))
	wantRecord(t, `{"a":{"x":{}}}`,
		create(t, 1, `{"a":"s"}`), mergeOp(t, 2, `{"a":{"x":{"z":1}}}`), mergeOp(t, 3, `{"a":{"x":{"z":null}}}`))
	wantRecord(t, `{"a":{}}`,
		mergeOp(t, 1, `{"a":{"x":1}}`), mergeOp(t, 2, `{"a":null}`), create(t, 3, `{"a":{"y":null}}`), mergeOp(t, 0, `{"a":7}`))
}

func TestIdentityMapOnlyGrowsUnderMergeAndCreateReplacesIt(t *testing.T) {
	wantRecord(t, `{"identityMap":{"Email":[{"id":"a@x.com","primary":true},{"id":"b@x.com"}],"CRMID":[{"id":"c1"}]}}`,
		create(t, 1, `{"identityMap":{"email":[{"id":"A@x.com"}]}}`),
		mergeOp(t, 2, `{"identityMap":{"Email":[{"id":"b@x.com"}],"CRMID":[{"id":"c1"}]}}`),
		mergeOp(t, 3, `{"identityMap":{"Email":[{"id":"a@x.com","primary":true}]}}`),
	)
	wantRecord(t, `{"identityMap":{"CRMID":[{"id":"c2"}]}}`,
		mergeOp(t, 1, `{"identityMap":{"Email":[{"id":"b@x.com"}]}}`),
		create(t, 2, `{"identityMap":{"CRMID":[{"id":"c2"}]}}`),
	)
}

func TestNullInIdentityMapIsRefusedAndChangesNothing(t *testing.T) {
	for _, patch := range []string{
		`{"a":1,"identityMap":null}`,
		`{"a":1,"identityMap":{"Email":null}}`,
		`{"a":1,"identityMap":{"Email":[null]}}`,
		`{"a":1,"identityMap":{"Email":[{"id":"a@x.com","primary":null}]}}`,
	} {
		s := apply(t, create(t, 1, `{"identityMap":{"Email":[{"id":"a@x.com"}]}}`))
		_, before, _ := s.Encode()
		ch, err := s.Apply(mergeOp(t, 2, patch))
		if !errors.Is(err, fault.E(fault.Invalid, CodeIdentityRemove, "")) || ch {
			t.Errorf("%s: changed %v, err %v; want %s", patch, ch, err, CodeIdentityRemove)
		}
		if _, after, _ := s.Encode(); string(after) != string(before) {
			t.Errorf("%s: refused merge changed the state: %s → %s", patch, before, after)
		}
	}
}

func TestTooLargeIsRefusedAndStateUnchanged(t *testing.T) {
	// {"a":"x","b":"…"} is 16 bytes of JSON around b's value.
	fits := strings.Repeat("y", MaxRecordBytes-16)
	stored := apply(t, create(t, 1, `{"a":"x"}`))
	rec0, doc0, err := stored.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		b    string
		fits bool
	}{{fits, true}, {fits + "y", false}} {
		s := roundTrip(t, stored)
		if _, err := s.Apply(Op{Kind: Merge, Clock: clk(2), Record: map[string]any{"b": tc.b}}); err != nil {
			t.Fatal(err)
		}
		rec, doc, err := s.Encode()
		if tc.fits {
			if err != nil || len(rec) != MaxRecordBytes {
				t.Errorf("a record of exactly %d bytes: %d bytes, %v", MaxRecordBytes, len(rec), err)
			}
			continue
		}
		if !errors.Is(err, fault.E(fault.Invalid, CodeTooLarge, "")) || rec != nil || doc != nil {
			t.Errorf("a record of %d bytes: %d bytes, %v; want %s", MaxRecordBytes+1, len(rec), err, CodeTooLarge)
		}
		// Encode changes nothing: the state still holds the update, and
		// the stored state it came from still reads as before.
		if got := s.Record()["b"]; got != tc.b {
			t.Errorf("refused Encode changed the state")
		}
		if rec, doc, _ := stored.Encode(); string(rec) != string(rec0) || string(doc) != string(doc0) {
			t.Errorf("stored state changed: %s %s", rec, doc)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	ops := []Op{
		create(t, 1, `{"a":1,"o":{"x":1,"y":[1,null]},"identityMap":{"Email":[{"id":"a@x.com"}]}}`),
		mergeOp(t, 2, `{"o":{"x":null,"z":"~/"},"b":{"c":{}},"identityMap":{"ECID":[{"id":"12345678901234567890123456789012345678"}]}}`),
		mergeOp(t, 3, `{"a/b~":{"q":5}}`),
		{Kind: Merge, Clock: Clock{TS: 3, Src: "t"}, Record: obj(t, `{"gone":null}`)},
	}
	s := apply(t, ops...)
	d := roundTrip(t, s)
	if !cmp.Equal(d.Record(), s.Record()) || !cmp.Equal(d.Parts(), s.Parts()) || d.Latest() != s.Latest() || d.Plain() != s.Plain() {
		t.Fatalf("decoded state differs:\n%v\n%v", d.Record(), s.Record())
	}
	if !sameTree(d.root, s.root) {
		t.Errorf("decoded tree differs")
	}
	// Future updates behave the same on both.
	for _, op := range []Op{mergeOp(t, 0, `{"o":{"x":9,"w":1},"gone":1}`), mergeOp(t, 4, `{"o":5}`), del(2)} {
		c1, _ := s.Apply(op)
		c2, _ := d.Apply(op)
		_, e1, _ := s.Encode()
		_, e2, _ := d.Encode()
		if c1 != c2 || string(e1) != string(e2) || !cmp.Equal(s.Record(), d.Record()) {
			t.Errorf("after %+v: %v %s vs %v %s", op, c1, e1, c2, e2)
		}
	}
}

func TestPlain(t *testing.T) {
	s := apply(t, create(t, 1, `{"a":1,"o":{"x":1},"identityMap":{"Email":[{"id":"a@x.com"}]}}`))
	if !s.Plain() {
		t.Errorf("one create is not plain")
	}
	_, doc, _ := s.Encode()
	if len(doc) > 40 {
		t.Errorf("plain clock document is %d bytes: %s", len(doc), doc)
	}
	s = apply(t, mergeOp(t, 1, `{"a":1}`), mergeOp(t, 2, `{"b":{"c":null}}`), del(3), mergeOp(t, 4, `{"x":1}`))
	if s.Plain() {
		t.Errorf("merged history is plain")
	}
	if ch, _ := s.Apply(create(t, 5, `{"z":1}`)); !ch || !s.Plain() {
		t.Errorf("newer create over clocked history: changed %v plain %v", ch, s.Plain())
	}
	if s := apply(t, del(1)); s.Plain() {
		t.Errorf("a deleted fragment is plain")
	}
	if s := apply(t, mergeOp(t, 1, `{"a":1}`)); s.Plain() {
		t.Errorf("a merge onto nothing is plain (an older create must still fill it)")
	}
}

func TestPartsOverlaidGiveRecord(t *testing.T) {
	s := apply(t,
		create(t, 1, `{"a":1,"o":{"x":1,"y":2},"e":{"f":1},"identityMap":{"Email":[{"id":"a@x.com"}]}}`),
		mergeOp(t, 2, `{"o":{"y":3},"e":{"f":null},"identityMap":{"Email":[{"id":"b@x.com"}]}}`),
		mergeOp(t, 3, `{"b":[1]}`),
	)
	parts := s.Parts()
	if len(parts) != 3 {
		t.Fatalf("parts %v, want 3", parts)
	}
	if got := overlayParts(parts); !cmp.Equal(got, s.Record()) {
		t.Errorf("parts overlaid %v, record %v", got, s.Record())
	}
	if got := New().Parts(); got != nil {
		t.Errorf("parts of nothing: %v", got)
	}
}

// overlayParts lays parts over each other in order, objects key by key and
// identityMap namespaces as unions sorted like Record's.
func overlayParts(parts []Part) map[string]any {
	out := map[string]any{}
	ids := map[string][]any{}
	for i, p := range parts {
		if i > 0 && !parts[i-1].Clock.Before(p.Clock) {
			return map[string]any{"parts out of order": true}
		}
		for k, v := range p.Record {
			if k == identityMapKey {
				for ns, list := range v.(map[string]any) {
					ids[ns] = append(ids[ns], list.([]any)...)
				}
				continue
			}
			overlayInto(out, k, v)
		}
	}
	if len(ids) > 0 {
		im := map[string]any{}
		for ns, list := range ids {
			sortEntries(ns, list)
			im[ns] = list
		}
		out[identityMapKey] = im
	}
	return out
}

func overlayInto(dst map[string]any, k string, v any) {
	sm, ok := v.(map[string]any)
	if !ok {
		dst[k] = v
		return
	}
	dm, ok := dst[k].(map[string]any)
	if !ok {
		dm = map[string]any{}
		dst[k] = dm
	}
	for kk, vv := range sm {
		overlayInto(dm, kk, vv)
	}
}

func TestClockDocument(t *testing.T) {
	for _, tc := range []struct {
		ops       []Op
		rec, want string
	}{
		{nil, ``, `{}`},
		{[]Op{create(t, 1, `{"a":{"b":1}}`)}, `{"a":{"b":1}}`, `{"c":[[1,"s"]],"n":{"":0},"t":{"":0}}`},
		{[]Op{del(2)}, ``, `{"c":[[2,"s"]],"t":{"":0}}`},
		{
			[]Op{create(t, 1, `{"a":{"b":1},"identityMap":{"Email":[{"id":"a@x.com"}]}}`), mergeOp(t, 2, `{"a":{"c":"<&>"},"d":null,"identityMap":{"Email":[{"id":"b@x.com"}]}}`)},
			`{"a":{"b":1,"c":"<&>"},"identityMap":{"Email":[{"id":"a@x.com"},{"id":"b@x.com"}]}}`,
			`{"c":[[1,"s"],[2,"s"]],"n":{"":1,"/a/b":0,"/identityMap/Email/a@x.com":0},"t":{"":0,"/d":1}}`,
		},
	} {
		rec, doc, err := apply(t, tc.ops...).Encode()
		if err != nil || string(rec) != tc.rec || string(doc) != tc.want {
			t.Errorf("%v: %s %s (%v), want %s %s", clocks(tc.ops), rec, doc, err, tc.rec, tc.want)
		}
	}
}
