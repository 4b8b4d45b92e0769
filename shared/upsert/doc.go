package upsert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// The clock document (internal to the store) is compact JSON:
//
//	{"c":[[ts,"src"],…],"n":{"<ptr>":i,…},"t":{"<ptr>":i,…}}
//
// c lists the distinct clocks in clock order; n gives the clock (an index
// into c) of each node of the record whose clock differs from its
// parent's (the root always; an identityMap entry's parent is the root);
// t gives the tombstones, except the one a value written by a merge
// leaves at its own path with its own clock, which Decode restores.
// Pointers are JSON Pointers (RFC 6901) into the record; an identityMap
// entry's is /identityMap/<namespace>/<normalised id>. Empty members are
// left out: New() is {}.
type clockDoc struct {
	C []json.RawMessage `json:"c,omitempty"`
	N map[string]int    `json:"n,omitempty"`
	T map[string]int    `json:"t,omitempty"`
}

func (s *State) encodeClocks() ([]byte, error) {
	seen := map[Clock]bool{}
	type entry struct {
		ptr string
		c   Clock
	}
	var ns, ts []entry
	var walk func(n *node, ptr string, parent *node, above bound, inIDs bool)
	walk = func(n *node, ptr string, parent *node, above bound, inIDs bool) {
		if n.reg {
			seen[n.clock] = true
			if parent == nil || parent.clock != n.clock {
				ns = append(ns, entry{ptr, n.clock})
			}
		}
		if n.tombed {
			seen[n.tomb] = true
			// A merge's value leaves its own tombstone; Decode restores it.
			if !(n.reg && !n.obj && !inIDs && n.tomb == n.clock && !above.covers(n.tomb)) {
				ts = append(ts, entry{ptr, n.tomb})
			}
		}
		eff := above.with(n)
		p := parent
		if n.reg {
			p = n
		}
		for k, kid := range n.kids {
			walk(kid, ptr+"/"+escape(k), p, eff, inIDs || (n == s.root && k == identityMapKey))
		}
	}
	walk(s.root, "", nil, bound{}, false)

	clocks := make([]Clock, 0, len(seen))
	for c := range seen {
		clocks = append(clocks, c)
	}
	sort.Slice(clocks, func(i, j int) bool { return clocks[i].Before(clocks[j]) })
	index := make(map[Clock]int, len(clocks))
	var doc clockDoc
	for i, c := range clocks {
		index[c] = i
		raw, err := json.Marshal([2]any{c.TS, c.Src})
		if err != nil {
			return nil, fault.Wrap(err, fault.Internal, CodeClocks, "the fragment's clocks cannot be encoded")
		}
		doc.C = append(doc.C, raw)
	}
	if len(ns) > 0 {
		doc.N = make(map[string]int, len(ns))
		for _, e := range ns {
			doc.N[e.ptr] = index[e.c]
		}
	}
	if len(ts) > 0 {
		doc.T = make(map[string]int, len(ts))
		for _, e := range ts {
			doc.T[e.ptr] = index[e.c]
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, CodeClocks, "the fragment's clocks cannot be encoded")
	}
	return out, nil
}

// corrupt is the error of a clock document that cannot be read.
func corrupt(format string, args ...any) error {
	return fault.Wrap(fmt.Errorf(format, args...), fault.Internal, CodeClocks, "the fragment's clocks cannot be read")
}

func decode(rec map[string]any, data []byte) (*State, error) {
	var doc clockDoc
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, corrupt("clock document is not an object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, corrupt("clock document: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, corrupt("clock document: data after the object")
	}
	clocks := make([]Clock, len(doc.C))
	for i, raw := range doc.C {
		var pair []json.RawMessage
		if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
			return nil, corrupt("clock %d is not [ts, src]", i)
		}
		if err := json.Unmarshal(pair[0], &clocks[i].TS); err != nil {
			return nil, corrupt("clock %d: time: %w", i, err)
		}
		if err := json.Unmarshal(pair[1], &clocks[i].Src); err != nil || bytes.Equal(bytes.TrimSpace(pair[1]), []byte("null")) {
			return nil, corrupt("clock %d: source is not a string", i)
		}
	}
	clockAt := func(i int) (Clock, error) {
		if i < 0 || i >= len(clocks) {
			return Clock{}, corrupt("clock index %d out of range", i)
		}
		return clocks[i], nil
	}

	s := New()
	used := 0
	if rec != nil {
		i, ok := doc.N[""]
		if !ok {
			return nil, corrupt("no clock for the record")
		}
		c, err := clockAt(i)
		if err != nil {
			return nil, err
		}
		used++
		s.root.reg, s.root.obj, s.root.clock = true, true, c
		for k, v := range rec {
			if k == identityMapKey {
				if err := decodeIdentities(s.root, v, doc.N, clockAt, &used); err != nil {
					return nil, err
				}
				continue
			}
			if err := decodeNode(s.root.kid(k), "/"+escape(k), c, v, doc.N, clockAt, &used); err != nil {
				return nil, err
			}
		}
	}
	if used != len(doc.N) {
		return nil, corrupt("%d node clocks name no node of the record", len(doc.N)-used)
	}

	for ptr, i := range doc.T {
		c, err := clockAt(i)
		if err != nil {
			return nil, err
		}
		path, err := parsePointer(ptr)
		if err != nil {
			return nil, err
		}
		if len(path) > 0 && path[0] == identityMapKey {
			return nil, corrupt("tombstone %q in identityMap", ptr)
		}
		n := s.root
		for _, k := range path {
			n = n.kid(k)
		}
		n.tombed, n.tomb = true, c
	}
	if err := restoreAndCheck(s.root, bound{}, nil, true); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeNode gives n (at ptr, below a node written at parent) the value v
// of the record and its clock.
func decodeNode(n *node, ptr string, parent Clock, v any, clocks map[string]int, clockAt func(int) (Clock, error), used *int) error {
	c := parent
	if i, ok := clocks[ptr]; ok {
		var err error
		if c, err = clockAt(i); err != nil {
			return err
		}
		*used++
	}
	if parent.Before(c) {
		return corrupt("node %q is newer than its parent", ptr)
	}
	n.reg, n.clock = true, c
	switch x := v.(type) {
	case nil:
		return corrupt("null attribute at %q", ptr)
	case map[string]any:
		n.obj = true
		for k, e := range x {
			if err := decodeNode(n.kid(k), ptr+"/"+escape(k), c, e, clocks, clockAt, used); err != nil {
				return err
			}
		}
	default:
		n.val = x
	}
	return nil
}

// decodeIdentities reads the record's identityMap into root's identity set.
func decodeIdentities(root *node, v any, clocks map[string]int, clockAt func(int) (Clock, error), used *int) error {
	im, ok := v.(map[string]any)
	if !ok {
		return corrupt("identityMap is not an object")
	}
	set := root.kid(identityMapKey)
	for code, list := range im {
		entries, ok := list.([]any)
		if !ok || len(entries) == 0 {
			return corrupt("identityMap namespace %q is not a list of entries", code)
		}
		ns := canonicalNamespace(code)
		nsn := set.kid(ns.Code)
		for _, e := range entries {
			entry, ok := e.(map[string]any)
			if !ok {
				return corrupt("identityMap namespace %q holds an entry that is not an object", code)
			}
			key := entryKey(ns, entry)
			if _, dup := nsn.kids[key]; dup {
				return corrupt("identityMap namespace %q holds %q twice", code, key)
			}
			ptr := "/" + identityMapKey + "/" + escape(ns.Code) + "/" + escape(key)
			c := root.clock
			if i, ok := clocks[ptr]; ok {
				var err error
				if c, err = clockAt(i); err != nil {
					return err
				}
				*used++
			}
			if root.clock.Before(c) {
				return corrupt("identity %q is newer than the record", ptr)
			}
			en := nsn.kid(key)
			en.reg, en.clock, en.val = true, c, entry
		}
	}
	return nil
}

// restoreAndCheck restores the tombstone of each value a merge wrote (at
// its own clock, unless an ancestor's covers it) and checks what Encode
// guarantees: no dead node, no redundant tombstone, no tombstone newer
// than its parent object's clock or below a value.
func restoreAndCheck(n *node, above bound, parent *node, root bool) error {
	if n.tombed && above.covers(n.tomb) {
		return corrupt("redundant tombstone")
	}
	if n.tombed && parent != nil && (!parent.reg || !parent.obj || parent.clock.Before(n.tomb)) {
		return corrupt("tombstone with no parent object")
	}
	if n.reg && !n.obj && !n.tombed && parent != nil && !above.covers(n.clock) {
		n.tombed, n.tomb = true, n.clock
	}
	eff := above.with(n)
	if n.reg && eff.kills(n.clock) {
		return corrupt("removed node in the record")
	}
	if n.reg && !n.obj && n.tombed && n.tomb != n.clock {
		return corrupt("value with a tombstone of another clock")
	}
	if n.reg && !n.obj && len(n.kids) > 0 {
		return corrupt("tombstone below a value")
	}
	for k, kid := range n.kids {
		if root && k == identityMapKey {
			if err := checkIdentitySet(kid, eff); err != nil {
				return err
			}
			continue
		}
		if err := restoreAndCheck(kid, eff, n, false); err != nil {
			return err
		}
	}
	return nil
}

// checkIdentitySet checks the entries of the identity set: alive (identity
// entries carry no tombstones).
func checkIdentitySet(set *node, eff bound) error {
	for _, nsn := range set.kids {
		for _, en := range nsn.kids {
			if eff.kills(en.clock) {
				return corrupt("removed identity in the record")
			}
		}
	}
	return nil
}

// escape escapes a key as a JSON Pointer reference token (RFC 6901 §3).
func escape(k string) string {
	if !strings.ContainsAny(k, "~/") {
		return k
	}
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// parsePointer splits a JSON Pointer (RFC 6901) into its keys.
func parsePointer(ptr string) ([]string, error) {
	if ptr == "" {
		return nil, nil
	}
	if ptr[0] != '/' {
		return nil, corrupt("pointer %q does not start with /", ptr)
	}
	parts := strings.Split(ptr[1:], "/")
	for i, p := range parts {
		if !strings.Contains(p, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			if p[j] != '~' {
				b.WriteByte(p[j])
				continue
			}
			if j+1 == len(p) || (p[j+1] != '0' && p[j+1] != '1') {
				return nil, corrupt("pointer %q has a bad escape", ptr)
			}
			if p[j+1] == '0' {
				b.WriteByte('~')
			} else {
				b.WriteByte('/')
			}
			j++
		}
		parts[i] = b.String()
	}
	return parts, nil
}

func itoa(i int) string { return strconv.Itoa(i) }
