package upsert

import (
	"bytes"
	"encoding/json"
	"sort"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// State is a fragment with the clock of each of its nodes and its
// tombstones. The zero value is not usable; use New, FromRecord or Decode.
type State struct {
	root *node // never nil
}

// New returns the state of a fragment never written.
func New() *State { return &State{root: &node{}} }

// FromRecord returns the state of a fragment written whole by one create
// at c and nothing since: what a fragment stored without clocks is.
func FromRecord(rec map[string]any, c Clock) *State {
	s := New()
	s.create(rec, c)
	return s
}

// Decode reads a state that Encode wrote: its record (nil when the
// fragment does not exist) and its clock document. A document that cannot
// be read is an Internal error with CodeClocks.
func Decode(rec map[string]any, clocks []byte) (*State, error) {
	return decode(rec, clocks)
}

// Apply applies op and reports whether the state changed (false for an
// update seen before, or one every part of which is older than what it
// would change). A merge holding a null inside identityMap is refused with
// an Invalid error with CodeIdentityRemove, and changes nothing. Apply
// does not check sizes: see Encode.
func (s *State) Apply(op Op) (changed bool, err error) {
	switch op.Kind {
	case Create:
		return s.create(op.Record, op.Clock), nil
	case Merge:
		if err := checkNoIdentityRemoval(op.Record); err != nil {
			return false, err
		}
		return mergeInto(s.root, bound{}, op.Clock, op.Record, true), nil
	case Delete:
		return s.root.setTomb(bound{}, op.Clock), nil
	}
	return false, fault.Errorf(fault.Internal, fault.InternalCode, "unknown update kind %d", op.Kind)
}

// create applies a create at c: a removal of everything older, then every
// node of rec written at c. Nulls are absent attributes.
func (s *State) create(rec map[string]any, c Clock) bool {
	changed := s.root.setTomb(bound{}, c)
	return createInto(s.root, bound{}.with(s.root), c, rec, true) || changed
}

func createInto(n *node, eff bound, c Clock, rec map[string]any, root bool) bool {
	changed := n.setReg(eff, c, true, nil)
	for k, v := range rec {
		if root && k == identityMapKey {
			changed = addIdentities(n, eff, c, v) || changed
			continue
		}
		switch x := v.(type) {
		case nil:
			continue
		case map[string]any:
			kid := n.kid(k)
			changed = createInto(kid, eff.with(kid), c, x, false) || changed
		default:
			kid := n.kid(k)
			changed = kid.setReg(eff.with(kid), c, false, x) || changed
		}
		n.tidy(k)
	}
	return changed
}

// mergeInto applies a merge patch at c to n (RFC 7386): n becomes an
// object node; a null removes its key; an object merges into its key; any
// other value replaces its key and everything older below it.
func mergeInto(n *node, above bound, c Clock, patch map[string]any, root bool) bool {
	eff := above.with(n)
	changed := n.setReg(eff, c, true, nil)
	for k, v := range patch {
		if root && k == identityMapKey {
			changed = addIdentities(n, eff, c, v) || changed
			continue
		}
		kid := n.kid(k)
		switch x := v.(type) {
		case nil:
			changed = kid.setTomb(eff, c) || changed
		case map[string]any:
			changed = mergeInto(kid, eff, c, x, false) || changed
		default:
			changed = kid.setTomb(eff, c) || changed
			changed = kid.setReg(eff.with(kid), c, false, x) || changed
		}
		n.tidy(k)
	}
	return changed
}

// Exists reports whether the fragment exists: some create or merge is
// newer than every delete of it.
func (s *State) Exists() bool { return s.root.reg }

// Record returns the fragment's record as reads return it (a new map the
// caller may change), or nil when it does not exist. Objects whose every
// attribute was removed are kept as {}; readers treat them as absent.
func (s *State) Record() map[string]any {
	if !s.root.reg {
		return nil
	}
	return renderObject(s.root, true)
}

func renderObject(n *node, root bool) map[string]any {
	out := make(map[string]any, len(n.kids))
	for k, kid := range n.kids {
		if root && k == identityMapKey {
			if ids := renderIdentities(kid, nil); len(ids) > 0 {
				out[k] = ids
			}
			continue
		}
		switch {
		case !kid.reg:
		case kid.obj:
			out[k] = renderObject(kid, false)
		default:
			out[k] = copyValue(kid.val)
		}
	}
	return out
}

// renderIdentities renders the identity set as identityMap: namespace →
// entries sorted by key, namespaces without entries left out. With only
// set, just the entries written at *only.
func renderIdentities(set *node, only *Clock) map[string]any {
	out := map[string]any{}
	for code, nsn := range set.kids {
		keys := make([]string, 0, len(nsn.kids))
		for key, en := range nsn.kids {
			if en.reg && (only == nil || en.clock == *only) {
				keys = append(keys, key)
			}
		}
		if len(keys) == 0 {
			continue
		}
		sort.Strings(keys)
		list := make([]any, len(keys))
		for i, key := range keys {
			list[i] = copyValue(nsn.kids[key].val)
		}
		out[code] = list
	}
	return out
}

// Parts splits Record by clock: one record per distinct clock, holding the
// attributes (and identityMap entries) last written at it, in clock order.
// Laying them over each other in order, objects key by key, gives Record;
// read-time merging uses them so that each attribute competes with other
// datasets' fragments by its own clock. Nil when the fragment does not
// exist.
func (s *State) Parts() []Part {
	if !s.root.reg {
		return nil
	}
	parts := map[Clock]map[string]any{}
	part := func(c Clock) map[string]any {
		p, ok := parts[c]
		if !ok {
			p = map[string]any{}
			parts[c] = p
		}
		return p
	}
	var walk func(n *node, path []string, root bool) bool
	walk = func(n *node, path []string, root bool) bool {
		found := false
		for k, kid := range n.kids {
			if root && k == identityMapKey {
				for _, en := range kid.kids {
					for _, e := range en.kids {
						if e.reg {
							found = true
							part(e.clock)[identityMapKey] = nil
						}
					}
				}
				continue
			}
			if !kid.reg {
				continue
			}
			found = true
			p := append(path[:len(path):len(path)], k)
			switch {
			case !kid.obj:
				put(part(kid.clock), p, copyValue(kid.val))
			case !walk(kid, p, false):
				put(part(kid.clock), p, map[string]any{})
			}
		}
		return found
	}
	if !walk(s.root, nil, true) {
		part(s.root.clock)
	}
	out := make([]Part, 0, len(parts))
	for c, rec := range parts {
		if _, ok := rec[identityMapKey]; ok {
			c := c
			rec[identityMapKey] = renderIdentities(s.root.kids[identityMapKey], &c)
		}
		out = append(out, Part{Clock: c, Record: rec})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Clock.Before(out[j].Clock) })
	return out
}

// put sets v at path in rec, making the objects on the way.
func put(rec map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		m, ok := rec[k].(map[string]any)
		if !ok {
			m = map[string]any{}
			rec[k] = m
		}
		rec = m
	}
	rec[path[len(path)-1]] = v
}

// Latest is the newest clock in the state, of a value or of a removal;
// the zero Clock for New().
func (s *State) Latest() Clock { return s.root.latest(bound{}).c }

// Plain reports whether the state is what FromRecord gives for its
// record and Latest: one create and nothing since. Such a fragment is
// stored without a clock document.
func (s *State) Plain() bool {
	r := s.root
	if !r.reg || !r.tombed || r.tomb != r.clock {
		return false
	}
	var uniform func(n *node) bool
	uniform = func(n *node) bool {
		for _, kid := range n.kids {
			if kid.tombed || (kid.reg && kid.clock != r.clock) || !uniform(kid) {
				return false
			}
		}
		return true
	}
	return uniform(r)
}

// Encode returns the JSON of Record (nil when the fragment does not
// exist) and the clock document (compact JSON, internal; clocks equal to
// their parent's are left out, so a plain fragment's document is a few
// bytes). A record over MaxRecordBytes is refused with an Invalid error
// with CodeTooLarge.
func (s *State) Encode() (rec []byte, clocks []byte, err error) {
	if s.root.reg {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // stored as is: <, > and & need no escape
		if err = enc.Encode(s.Record()); err != nil {
			return nil, nil, fault.Wrap(err, fault.Internal, fault.InternalCode, "the fragment cannot be encoded")
		}
		rec = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if len(rec) > MaxRecordBytes {
			return nil, nil, fault.Errorf(fault.Invalid, CodeTooLarge,
				"the fragment would be %d bytes, over the %d-byte limit of a profile fragment", len(rec), MaxRecordBytes)
		}
	}
	clocks, err = s.encodeClocks()
	if err != nil {
		return nil, nil, err
	}
	return rec, clocks, nil
}
