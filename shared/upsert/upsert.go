// Package upsert keeps one profile fragment under partial updates, so
// that its state after any set of updates does not depend on the order
// or the number of their deliveries (docs/rules.md#partial-updates).
//
// An update is an Op: a create (the fragment is replaced by the row), a
// merge (the row is a JSON Merge Patch of the fragment, RFC 7386) or a
// delete (the fragment is removed). Each carries a Clock: its ordering
// time, then its source position. The state is the one that applying
// every update once, in clock order, gives. To reach it whatever the
// arrival order, the state keeps a clock per node of the record (each
// object, scalar and array; an array is one value) and tombstones: the
// clock of each removal (a merge's null, a delete, a create's replacement
// of everything older). A node survives unless a removal of it or of an
// ancestor, or a newer value written at an ancestor, has a newer clock.
//
// identityMap is a set, not an attribute: a merge only ever adds entries
// (one per namespace and normalised id; a newer clock replaces an entry's
// fields, such as primary), and a merge may not remove them. A create
// replaces it with the row's, as it replaces every attribute.
//
// The clocks are internal: Record returns the record alone.
package upsert

// MaxRecordBytes bounds the JSON of a fragment's record: AEP's profile
// record limit (100 KB, AEP guardrails for Real-Time Customer Profile).
const MaxRecordBytes = 100 << 10

// Codes of the refusals of this package.
const (
	// CodeTooLarge: the update would take the fragment's record past
	// MaxRecordBytes. The state is left as it was.
	CodeTooLarge = "FRAGMENT-TOO-LARGE"
	// CodeIdentityRemove: a merge holds a null in identityMap; identities
	// can only be added by a partial update (AEP: "Identities can only be
	// added, never updated/removed, via this path").
	CodeIdentityRemove = "PATCH-IDENTITY-REMOVE"
	// CodeClocks: a stored clock document cannot be read.
	CodeClocks = "FRAGMENT-CLOCKS"
)

// Clock orders updates: ordering time (epoch ms), then source position
// ("batch:…:<file>:<row>", "kinesis:<shard>:<seq>…", compared as
// strings; writers zero-pad their numbers so that this is their order).
type Clock struct {
	TS  int64
	Src string
}

// Before reports whether c is ordered before d.
func (c Clock) Before(d Clock) bool {
	if c.TS != d.TS {
		return c.TS < d.TS
	}
	return c.Src < d.Src
}

// Kind is what an update does.
type Kind uint8

// Kinds of update (AEP's streaming header.operations.data).
const (
	Create Kind = iota + 1
	Merge
	Delete
)

// Op is one update of a fragment.
type Op struct {
	Kind  Kind
	Clock Clock
	// Record is the row (Create) or the patch (Merge), as encoding/json
	// decodes JSON (map[string]any, []any, string, float64 or
	// json.Number, bool, nil); nil for Delete. A null in a patch removes
	// the attribute; a null inside an array is an element. Apply may keep
	// references into Record: do not change it afterwards.
	Record map[string]any
}

// Part is the attributes of a fragment last written at one clock.
type Part struct {
	Clock  Clock
	Record map[string]any
}
