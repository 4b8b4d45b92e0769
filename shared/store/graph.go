package store

import (
	"context"

	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// Kinds of GraphEvent: the decisions of the identity graph's guardrails
// (docs/identity-and-merge.md).
const (
	// GraphLinkRefused: a link that would have put two values of a unique
	// namespace in one cluster was never written.
	GraphLinkRefused = "LINK-REFUSED"
	// GraphLinkRemoved: a written link was removed by the repair that runs
	// after concurrent writers, for the same reason.
	GraphLinkRemoved = "LINK-REMOVED"
	// GraphIdentityEvicted: the identity left the graph (all its links
	// removed) because its cluster passed the cap.
	GraphIdentityEvicted = "IDENTITY-EVICTED"
)

// GraphEvent is one recorded decision of the graph's guardrails, kept in
// the partition of each identity it concerns.
type GraphEvent struct {
	Kind string `json:"kind"`
	// At is when it was decided, in ordering time (epoch ms): the At of a
	// refused link, the first sighting of a removed one, the last
	// sighting of the link that took a cluster over the cap. Never the
	// clock, so that a replay records the same event.
	At int64 `json:"at"`
	// Identity is the node it is recorded on; Other the other end of a
	// refused or removed link (zero for an eviction).
	Identity identity.ID `json:"identity"`
	Other    identity.ID `json:"other"`
	// Namespace is the unique namespace of a refusal or removal.
	Namespace string `json:"namespace,omitempty"`
	// Reason says why, readably.
	Reason string `json:"reason"`
	// Dataset and Source are what the record that asked for the link came
	// from: dataset id, and batch id or stream position.
	Dataset string `json:"dataset,omitempty"`
	Source  string `json:"source,omitempty"`
}

// GraphRules are the guardrails PutLinks applies (docs/rules.md#identities).
type GraphRules struct {
	// Cap is the most identities of a cluster; 0 means DefaultClusterCap.
	Cap int
	// Unique reports whether a namespace (by code) holds at most one value
	// per cluster; nil means the standard namespaces' setting.
	Unique func(ctx context.Context, namespace string) (bool, error)
}

// SetGraphRules sets the guardrails of later PutLinks calls.
func (p *Profiles) SetGraphRules(r GraphRules) { p.rules = r }

// GraphEvents reads the guardrail decisions recorded on id, newest first
// (by At, then by their item's key), at most limit (none when limit <= 0):
// one Query read backwards on the partition's "R#…" items, paged.
func (p *Profiles) GraphEvents(ctx context.Context, id identity.ID, limit int) ([]GraphEvent, error) {
	return p.graphEvents(ctx, id, limit)
}

// profDeletedAttr marks a tombstone left by a profile delete on a link or
// an event item: the epoch ms of the delete. Such an item is never read as
// a link or an event, and a write of it whose time is not after the
// delete does nothing.
const profDeletedAttr = "deleted"
