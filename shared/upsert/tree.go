package upsert

// node is one JSON-Pointer path of the fragment (RFC 6901): its register
// (the newest write at the path: an object node or a value) and its
// tombstone (the newest removal at the path). Nodes hold no register that
// is dead and no tombstone that an ancestor's covers, so that two states
// reached by the same updates in any order are the same tree.
type node struct {
	reg    bool  // the register is set
	clock  Clock // clock of the register
	obj    bool  // the register is an object node (else a value)
	val    any   // the value, when !obj
	tombed bool  // the tombstone is set
	tomb   Clock // clock of the tombstone
	kids   map[string]*node
}

// bound is the newest removal on a path from the root: every node written
// before it is dead.
type bound struct {
	set bool
	c   Clock
}

// with returns b raised by n's own tombstone.
func (b bound) with(n *node) bound {
	if n.tombed && (!b.set || b.c.Before(n.tomb)) {
		return bound{true, n.tomb}
	}
	return b
}

// kills reports whether a node written at c is dead under b.
func (b bound) kills(c Clock) bool { return b.set && c.Before(b.c) }

// covers reports whether a removal at c is redundant under b (b is not
// older than c).
func (b bound) covers(c Clock) bool { return b.set && !b.c.Before(c) }

func (n *node) kid(k string) *node {
	if n.kids == nil {
		n.kids = map[string]*node{}
	}
	kid, ok := n.kids[k]
	if !ok {
		kid = &node{}
		n.kids[k] = kid
	}
	return kid
}

func (n *node) empty() bool { return !n.reg && !n.tombed && len(n.kids) == 0 }

// tidy removes kid k when it holds nothing, so that a write that lost
// leaves no trace.
func (n *node) tidy(k string) {
	if kid, ok := n.kids[k]; ok && kid.empty() {
		delete(n.kids, k)
	}
}

// setTomb records a removal at n at c, under the removals above of its
// ancestors, and drops what it makes dead. It reports a change.
func (n *node) setTomb(above bound, c Clock) bool {
	if above.covers(c) || (n.tombed && !n.tomb.Before(c)) {
		return false
	}
	n.tombed, n.tomb = true, c
	n.prune(c)
	return true
}

// prune drops the registers of n's subtree (n included) written before c
// and the tombstones below n that are not newer than c.
func (n *node) prune(c Clock) {
	if n.reg && n.clock.Before(c) {
		n.reg, n.clock, n.obj, n.val = false, Clock{}, false, nil
	}
	for k, kid := range n.kids {
		if kid.tombed && !c.Before(kid.tomb) {
			kid.tombed, kid.tomb = false, Clock{}
		}
		kid.prune(c)
		if kid.empty() {
			delete(n.kids, k)
		}
	}
}

// setReg writes n's register at c unless eff (the removals of n and its
// ancestors) kills it or the register is not older. It reports a change.
func (n *node) setReg(eff bound, c Clock, obj bool, val any) bool {
	if eff.kills(c) || (n.reg && !n.clock.Before(c)) {
		return false
	}
	n.reg, n.clock, n.obj, n.val = true, c, obj, val
	if obj {
		n.val = nil
	}
	return true
}

// latest returns the newest clock in n's subtree, of a register or a
// tombstone.
func (n *node) latest(b bound) bound {
	if n.reg && (!b.set || b.c.Before(n.clock)) {
		b = bound{true, n.clock}
	}
	b = b.with(n)
	for _, kid := range n.kids {
		b = kid.latest(b)
	}
	return b
}

// copyValue copies a JSON value deeply, so that callers may change what
// they get.
func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = copyValue(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = copyValue(e)
		}
		return a
	}
	return v
}
