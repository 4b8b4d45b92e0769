package merge

import (
	"sort"

	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// Fragment is what one dataset knows about one primary identity.
type Fragment struct {
	// Identity is the key ("<NS>#<value>") of the fragment's primary identity.
	Identity string
	Dataset  string
	Record   map[string]any
	// Raw, when set, is Record as JSON: the bytes received, passed on only
	// when validation's coercions changed nothing, so that writers store
	// them as they are rather than encoding Record again. When nil,
	// writers encode Record (the coerced row).
	Raw []byte
	// TS is the ordering time, epoch ms: extSourceSystemAudit.lastUpdatedDate
	// when the record had it, else when its source received it.
	TS int64
	// Src breaks ties of TS deterministically: "s3:<key>#<padded
	// sequencer>:<row>" or "kinesis:<shard>:<seq>[:<sub-sequence>]".
	Src string
	// Batch is the batch id or stream position that wrote it.
	Batch string
	// Op is how the fragment changes the stored one (AEP's streaming
	// header.operations.data): "" or OpCreate replaces it whole, OpMerge
	// patches it with Record (JSON Merge Patch, RFC 7386), OpDelete
	// removes it (Record nil). See package upsert for the order-safe rules.
	Op string
}

// Operations of a fragment write (AEP's header.operations.data).
const (
	OpCreate = "create"
	OpMerge  = "merge"
	OpDelete = "delete"
)

// Newer reports whether a is ordered after b: ordering time, then source.
func Newer(a, b Fragment) bool {
	if a.TS != b.TS {
		return a.TS > b.TS
	}
	if a.Src != b.Src {
		return a.Src > b.Src
	}
	return a.Dataset > b.Dataset
}

// Event is one experience event, stored under its primary identity.
type Event struct {
	Identity  string
	ID        string // the event's _id
	Timestamp int64  // epoch ms
	Dataset   string
	Record    map[string]any
	Raw       []byte // Record as JSON, when the bytes received are it (see Fragment.Raw)
	Src       string
	Batch     string
	// ExpiresAt is when the event expires, epoch seconds: its timestamp
	// plus its dataset's row expiration (docs/identity-and-merge.md,
	// "Event expiry"); 0 when it never does.
	ExpiresAt int64
}

// Timeline returns the union of events ordered by timestamp (then _id),
// with duplicates of one _id removed: events are never merged.
func Timeline(events []Event, descending bool) []Event {
	seen := map[string]bool{}
	out := make([]Event, 0, len(events))
	for _, e := range events {
		k := e.Dataset + "\x00" + e.ID
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Timestamp != b.Timestamp {
			return (a.Timestamp < b.Timestamp) != descending
		}
		return (a.ID < b.ID) != descending
	})
	return out
}

// Candidates are what a lookup found: the identities of the cluster
// (the asked one first) and their fragments.
type Candidates struct {
	Members   []identity.ID
	Fragments []Fragment
	// Found is false when the asked identity has neither a node nor a fragment.
	Found bool
	// Truncated is true when the walk stopped at the cluster cap.
	Truncated bool
}
