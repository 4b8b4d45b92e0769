package upsert

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"testing/quick"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// The property: whatever the arrival order and the number of deliveries of
// a set of updates, also through Encode and Decode between them, the state
// ends as the sequential reference does: each distinct update applied once
// in clock order, merges by RFC 7386 (evanphx/json-patch's MergePatch), the
// identityMap as a set union.

// gen draws updates over a small key space, so that they collide: nested
// objects, arrays, nulls, scalars, type changes and identityMap entries.
type gen struct{ r *rand.Rand }

var (
	genKeys   = []string{"a", "b", "c", "d/e"}
	genSub    = []string{"x", "y", "z~"}
	genIDs    = [][2]string{{"Email", "a@x.com"}, {"email", "A@X.com"}, {" EMAIL ", " a@x.com"}, {"Email", "b@x.com"}, {"CRMID", "c1"}, {"crmid", "c2"}, {"custom", "k"}, {"Custom", "k"}, {"Phone", "+1 (555) 010"}, {"Phone", "+1555010"}}
	genScalar = []any{1.0, 2.0, "s", "t", true, false, 0.5}
)

func (g gen) value(depth int, nulls bool) any {
	switch n := g.r.IntN(10); {
	case n < 4:
		return genScalar[g.r.IntN(len(genScalar))]
	case n < 6:
		// Arrays are values; nulls inside them are elements. Objects in
		// arrays hold no nulls: MergePatch's implementation prunes them.
		a := make([]any, g.r.IntN(3))
		for i := range a {
			switch g.r.IntN(4) {
			case 0:
				a[i] = nil
			case 1:
				a[i] = map[string]any{"k": genScalar[g.r.IntN(len(genScalar))]}
			default:
				a[i] = genScalar[g.r.IntN(len(genScalar))]
			}
		}
		return a
	case n < 8 && nulls:
		return nil
	default:
		if depth >= 2 {
			return genScalar[g.r.IntN(len(genScalar))]
		}
		return g.object(genSub, depth+1, nulls)
	}
}

func (g gen) object(keys []string, depth int, nulls bool) map[string]any {
	m := map[string]any{}
	for _, k := range keys {
		if g.r.IntN(2) == 0 {
			m[k] = g.value(depth, nulls)
		}
	}
	return m
}

func (g gen) identityMap() map[string]any {
	im := map[string]any{}
	for range g.r.IntN(3) {
		e := genIDs[g.r.IntN(len(genIDs))]
		entry := map[string]any{"id": e[1]}
		if g.r.IntN(2) == 0 {
			entry["primary"] = g.r.IntN(2) == 0
		}
		list, _ := im[e[0]].([]any)
		im[e[0]] = append(list, entry)
	}
	return im
}

// ops draws n updates with distinct clocks, some with equal times and
// different sources.
func (g gen) ops(n int) []Op {
	var clocks []Clock
	for ts := int64(1); ts <= 4; ts++ {
		for _, src := range []string{"k:1", "k:2", "s:1"} {
			clocks = append(clocks, Clock{ts, src})
		}
	}
	g.r.Shuffle(len(clocks), func(i, j int) { clocks[i], clocks[j] = clocks[j], clocks[i] })
	ops := make([]Op, n)
	for i := range ops {
		op := Op{Clock: clocks[i]}
		switch k := g.r.IntN(10); {
		case k < 2:
			op.Kind = Delete
		case k < 4:
			op.Kind = Create
			op.Record = g.object(genKeys, 0, true)
		default:
			op.Kind = Merge
			op.Record = g.object(genKeys, 0, true)
		}
		if op.Kind != Delete && g.r.IntN(2) == 0 {
			op.Record[identityMapKey] = g.identityMap()
			if op.Kind == Merge && g.r.IntN(8) == 0 {
				op.Record[identityMapKey].(map[string]any)["Email"] = []any{nil}
			}
		}
		ops[i] = op
	}
	return ops
}

// refusesIdentityRemoval reports whether op is a merge holding a null in
// identityMap.
func refusesIdentityRemoval(op Op) bool {
	if op.Kind != Merge {
		return false
	}
	im, ok := op.Record[identityMapKey].(map[string]any)
	if !ok {
		return op.Record != nil && op.Record[identityMapKey] == nil && hasKey(op.Record, identityMapKey)
	}
	for _, list := range im {
		l, ok := list.([]any)
		if !ok {
			return true
		}
		for _, e := range l {
			if e == nil {
				return true
			}
		}
	}
	return false
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// reference applies each update once, in clock order, to "absent":
// create → the row (nulls are absent attributes), merge → MergePatch of
// the current record or {}, delete → absent; identityMap is a set of
// entries by canonical namespace and normalised id, a later entry
// replacing an earlier one, that a create replaces and a merge adds to.
func reference(t testing.TB, ops []Op) map[string]any {
	t.Helper()
	sorted := append([]Op(nil), ops...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Clock.Before(sorted[j].Clock) })
	var doc []byte
	var ids map[string]map[string]any
	for _, op := range sorted {
		switch op.Kind {
		case Delete:
			doc, ids = nil, nil
		case Create:
			doc, ids = mustJSON(t, withoutNulls(without(op.Record, identityMapKey))), map[string]map[string]any{}
			refUnion(ids, op.Record[identityMapKey])
		case Merge:
			base := doc
			if base == nil {
				base = []byte("{}")
			}
			var err error
			doc, err = jsonpatch.MergePatch(base, mustJSON(t, without(op.Record, identityMapKey)))
			if err != nil {
				t.Fatalf("MergePatch: %v", err)
			}
			if ids == nil {
				ids = map[string]map[string]any{}
			}
			refUnion(ids, op.Record[identityMapKey])
		}
	}
	if doc == nil {
		return nil
	}
	var rec map[string]any
	if err := json.Unmarshal(doc, &rec); err != nil {
		t.Fatal(err)
	}
	im := map[string]any{}
	for ns, byID := range ids {
		keys := make([]string, 0, len(byID))
		for k := range byID {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		list := []any{}
		for _, k := range keys {
			list = append(list, byID[k])
		}
		if len(list) > 0 {
			im[ns] = list
		}
	}
	if len(im) > 0 {
		rec[identityMapKey] = im
	}
	return rec
}

// refUnion adds the entries of an identityMap to ids (namespace code →
// normalised id → entry), namespaces in the order of their codes.
func refUnion(ids map[string]map[string]any, v any) {
	im, _ := v.(map[string]any)
	codes := make([]string, 0, len(im))
	for code := range im {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		ns, ok := identity.LookupStandard(strings.TrimSpace(code))
		if !ok {
			ns = identity.Namespace{Code: strings.TrimSpace(code)}
		}
		list, _ := im[code].([]any)
		for _, e := range list {
			entry := e.(map[string]any)
			raw, _ := entry["id"].(string)
			id, err := identity.NormalizeValue(ns, raw)
			key := strings.TrimSpace(raw)
			if err == nil {
				key = id.Value
			}
			if ids[ns.Code] == nil {
				ids[ns.Code] = map[string]any{}
			}
			ids[ns.Code][key] = entry
		}
	}
}

func without(m map[string]any, k string) map[string]any {
	out := make(map[string]any, len(m))
	for kk, v := range m {
		if kk != k {
			out[kk] = v
		}
	}
	return out
}

func withoutNulls(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch x := v.(type) {
		case nil:
		case map[string]any:
			out[k] = withoutNulls(x)
		default:
			out[k] = v
		}
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// normal makes numbers comparable: both sides as encoding/json decodes.
func normal(t testing.TB, m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(mustJSON(t, m), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSeed draws updates from seed and checks the property over several
// arrival orders with duplicates. It reports the first failure.
func checkSeed(t testing.TB, seed uint64) error {
	g := gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	ops := g.ops(2 + g.r.IntN(6))
	var accepted []Op
	var latest Clock
	for _, op := range ops {
		if !refusesIdentityRemoval(op) {
			accepted = append(accepted, op)
			if latest.Before(op.Clock) {
				latest = op.Clock
			}
		}
	}
	want := reference(t, accepted)
	var firstDoc string
	for round := range 4 {
		var arrivals []Op
		for _, op := range ops {
			for range 1 + g.r.IntN(2) {
				arrivals = append(arrivals, op)
			}
		}
		g.r.Shuffle(len(arrivals), func(i, j int) { arrivals[i], arrivals[j] = arrivals[j], arrivals[i] })
		s := New()
		_, doc0, _ := s.Encode()
		before := string(doc0)
		for i, op := range arrivals {
			changed, err := s.Apply(op)
			if refusesIdentityRemoval(op) {
				if !errors.Is(err, fault.E(fault.Invalid, CodeIdentityRemove, "")) || changed {
					return fmt.Errorf("round %d step %d: merge with a null identity: changed %v err %v", round, i, changed, err)
				}
			} else if err != nil {
				return fmt.Errorf("round %d step %d: %v", round, i, err)
			}
			rec, after, err := s.Encode()
			if err != nil {
				return fmt.Errorf("round %d step %d: encode: %v", round, i, err)
			}
			if changed != (before != string(after)) {
				return fmt.Errorf("round %d step %d %+v: changed %v but clocks %s → %s", round, i, op, changed, before, after)
			}
			before = string(after)
			if g.r.IntN(3) == 0 {
				var m map[string]any
				if rec != nil {
					if err := json.Unmarshal(rec, &m); err != nil {
						return err
					}
				}
				d, err := Decode(m, after)
				if err != nil {
					return fmt.Errorf("round %d step %d: decode %s %s: %v", round, i, rec, after, err)
				}
				if !sameTree(d.root, s.root) {
					return fmt.Errorf("round %d step %d: decoded state differs: %s %s", round, i, rec, after)
				}
				s = d
			}
		}
		got := normal(t, s.Record())
		if !cmp.Equal(got, want) || s.Exists() != (want != nil) {
			return fmt.Errorf("round %d: arrivals %s\nrecord %v (exists %v)\nwant   %v\ndiff %s", round, describe(arrivals), got, s.Exists(), want, cmp.Diff(want, got))
		}
		if s.Latest() != latest {
			return fmt.Errorf("round %d: latest %v, want %v", round, s.Latest(), latest)
		}
		if s.Exists() {
			if over := normal(t, overlayParts(s.Parts())); !cmp.Equal(over, got) {
				return fmt.Errorf("round %d: parts overlaid %v, record %v", round, over, got)
			}
			if plain := sameTree(s.root, FromRecord(s.Record(), s.Latest()).root); plain != s.Plain() {
				return fmt.Errorf("round %d: Plain() %v, but equal to FromRecord: %v", round, s.Plain(), plain)
			}
		} else if s.Plain() || s.Parts() != nil {
			return fmt.Errorf("round %d: a fragment that does not exist is plain or has parts", round)
		}
		if round == 0 {
			firstDoc = before
		} else if before != firstDoc {
			return fmt.Errorf("round %d: clocks %s, first round %s", round, before, firstDoc)
		}
	}
	return nil
}

func describe(ops []Op) string {
	var b strings.Builder
	for _, op := range ops {
		rec, _ := json.Marshal(op.Record)
		fmt.Fprintf(&b, "\n  %d %v %s", op.Kind, op.Clock, rec)
	}
	return b.String()
}

func TestAnyOrderReachesTheClockOrderResult(t *testing.T) {
	f := func(seed uint64) bool {
		if err := checkSeed(t, seed); err != nil {
			t.Errorf("seed %d: %v", seed, err)
			return false
		}
		return true
	}
	cfg := &quick.Config{MaxCount: 1500}
	if testing.Short() {
		cfg.MaxCount = 300
	}
	if err := quick.Check(f, cfg); err != nil {
		t.Error(err)
	}
}

func FuzzAnyOrder(f *testing.F) {
	for _, seed := range []uint64{0, 1, 2, 3, 42, 1 << 40, 0xdeadbeef} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		if err := checkSeed(t, seed); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	})
}
