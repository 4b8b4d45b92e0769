package profile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Page sizes of a cluster's history.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
)

// decisionsPerMember is the most guardrail decisions read from one
// identity (its newest) for a history or an explanation.
const decisionsPerMember = 1000

// KindLink is the kind of a history entry that is a link.
const KindLink = "LINK"

// GraphLink is one link of the graph: its two ends, when it was first and
// last seen (epoch ms, the ordering times of the records that made it),
// and what made it: the dataset and source (batch id, or stream position
// for streamed records) of the first record and of the latest.
type GraphLink struct {
	From          ClusterMember `json:"from"`
	To            ClusterMember `json:"to"`
	FirstSeen     int64         `json:"firstSeen"`
	LastSeen      int64         `json:"lastSeen"`
	DataSetID     string        `json:"dataSetId"`
	Source        string        `json:"source"`
	LastDataSetID string        `json:"lastDataSetId,omitempty"`
	LastSource    string        `json:"lastSource,omitempty"`
}

// GraphDecision is one decision of the graph's guardrails (a Decision):
// kind LINK-REFUSED, LINK-REMOVED or IDENTITY-EVICTED, when (epoch ms), the
// identity it is recorded on and the other end of the refused or removed
// link, the unique namespace at stake, why, and the dataset and source of
// the record that asked for the link.
type GraphDecision struct {
	Kind      string         `json:"kind"`
	At        int64          `json:"at"`
	Identity  ClusterMember  `json:"identity"`
	Other     *ClusterMember `json:"other,omitempty"`
	Namespace string         `json:"namespace,omitempty"`
	Reason    string         `json:"reason"`
	DataSetID string         `json:"dataSetId,omitempty"`
	Source    string         `json:"source,omitempty"`
}

// HistoryEntry is one entry of a cluster's history: a link (kind LINK, at
// its first sight) or a guardrail decision (its kind, at its time).
type HistoryEntry struct {
	Kind     string         `json:"kind"`
	At       int64          `json:"at"`
	Link     *GraphLink     `json:"link,omitempty"`
	Decision *GraphDecision `json:"decision,omitempty"`
}

// HistoryQuery selects a page of a cluster's history.
type HistoryQuery struct {
	Identity CompositeXID
	// Limit is the most entries of the page: 0 means DefaultHistoryLimit,
	// more than MaxHistoryLimit means MaxHistoryLimit.
	Limit int
	// Start is the cursor of a previous page's next, or empty.
	Start string
	// MaxBytes bounds the JSON of the page's entries; 0 means
	// topology.MaxPageBytes. A page holds at least one entry.
	MaxBytes int
}

// HistoryPage is one page of a cluster's history, newest first.
type HistoryPage struct {
	XID          string        `json:"xid"`
	CompositeXID ClusterMember `json:"compositeXid"`
	// Truncated is true when the cluster has more than the cap: the
	// history covers the links and decisions of its first ClusterCap
	// identities, breadth-first from the asked one.
	Truncated bool           `json:"truncated"`
	Entries   []HistoryEntry `json:"history"`
	Page      struct {
		Count int    `json:"count"`
		Next  string `json:"next"`
	} `json:"_page"`
}

// Explanation says why two identities are, or are not, one person.
type Explanation struct {
	SameCluster bool          `json:"sameCluster"`
	From        ClusterMember `json:"from"`
	To          ClusterMember `json:"to"`
	// Chain is a shortest chain of links from From to To when they are
	// in one cluster, each link oriented along the chain.
	Chain []GraphLink `json:"chain"`
	// Decisions are, when they are apart, the guardrail decisions that
	// kept them so, newest first.
	Decisions []GraphDecision `json:"decisions"`
	// FromMembers and ToMembers are, when they are apart, each side's
	// cluster, the asked identity first.
	FromMembers []ClusterMember `json:"fromMembers,omitempty"`
	ToMembers   []ClusterMember `json:"toMembers,omitempty"`
	// Truncated is true when a cluster walked has more than the cap: the
	// answer covers its first ClusterCap identities, so a chain may not
	// be the shortest, and two identities found apart may still be joined
	// beyond the cap.
	Truncated bool `json:"truncated"`
}

// recorded is a guardrail decision with the identity it was read from.
type recorded struct {
	on identity.ID
	ev Decision
}

// graphEvents reads the decisions recorded on each of ids, at most 8
// identities at once.
func (g *GraphService) graphEvents(ctx context.Context, ids []identity.ID) ([]recorded, error) {
	per := make([][]Decision, len(ids))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(graphWalkParallelism)
	for i, id := range ids {
		eg.Go(func() error {
			evs, err := g.Store.Decisions(ectx, id, decisionsPerMember)
			per[i] = evs
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	var out []recorded
	for i, evs := range per {
		for _, ev := range evs {
			out = append(out, recorded{on: ids[i], ev: ev})
		}
	}
	return out, nil
}

// twinKey names a decision whatever end it was recorded on: a refused or
// removed link is recorded on both, and is one decision.
// evictedOf is the identity an eviction is about: the other end of a
// record kept on a witness, else the identity it is recorded on.
func evictedOf(r recorded) identity.ID {
	if r.ev.Other != (identity.ID{}) {
		return r.ev.Other
	}
	return r.on
}

func twinKey(r recorded) string {
	if r.ev.Kind == DecisionIdentityEvicted {
		// Recorded on the evicted identity and on witnesses: one decision.
		return fmt.Sprintf("%s\x00%s\x00%d\x00%s\x00%s", r.ev.Kind, evictedOf(r).Key(), r.ev.At, r.ev.Dataset, r.ev.Source)
	}
	a, b := r.on.Key(), ""
	if r.ev.Other != (identity.ID{}) {
		b = r.ev.Other.Key()
	}
	if b != "" && b < a {
		a, b = b, a
	}
	return r.ev.Kind + "\x00" + a + "\x00" + b + "\x00" + r.ev.Dataset + "\x00" + r.ev.Source
}

// decisions turns recorded decisions into answers, newest first, each
// decision once (of twins, the one recorded on the smaller identity key),
// with the key each is ordered by within its time.
func decisions(rs []recorded, custom []identity.Namespace) ([]GraphDecision, []string) {
	// Of twins, the record on the evicted identity itself, else the one
	// on the smaller identity key, is shown.
	sort.Slice(rs, func(i, j int) bool {
		wi, wj := rs[i].ev.Kind == DecisionIdentityEvicted && rs[i].ev.Other != (identity.ID{}), rs[j].ev.Kind == DecisionIdentityEvicted && rs[j].ev.Other != (identity.ID{})
		if wi != wj {
			return !wi
		}
		return rs[i].on.Key() < rs[j].on.Key()
	})
	seen := map[string]bool{}
	type keyed struct {
		d   GraphDecision
		key string
	}
	var ks []keyed
	for _, r := range rs {
		tk := twinKey(r)
		if seen[tk] {
			continue
		}
		seen[tk] = true
		d := GraphDecision{
			Kind: r.ev.Kind, At: r.ev.At, Identity: memberOf(r.on, custom), Namespace: r.ev.Namespace,
			Reason: r.ev.Reason, DataSetID: r.ev.Dataset, Source: r.ev.Source,
		}
		if r.ev.Other != (identity.ID{}) {
			o := memberOf(r.ev.Other, custom)
			d.Other = &o
		}
		ks = append(ks, keyed{d, sortKey(tk)})
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].d.At != ks[j].d.At {
			return ks[i].d.At > ks[j].d.At
		}
		return ks[i].key < ks[j].key
	})
	out := make([]GraphDecision, len(ks))
	keys := make([]string, len(ks))
	for i, k := range ks {
		out[i], keys[i] = k.d, k.key
	}
	return out, keys
}

// sortKey orders entries of one time by a hash of what they are, so that a
// cursor names no identity value.
func sortKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

func (g *GraphService) graphLink(w *graphWalk, u, v identity.ID, custom []identity.Namespace) GraphLink {
	li, _ := w.link(u, v)
	return GraphLink{
		From: memberOf(u, custom), To: memberOf(v, custom),
		FirstSeen: li.First, LastSeen: li.Last, DataSetID: li.Dataset, Source: li.Source,
		LastDataSetID: li.LastDataset, LastSource: li.LastSource,
	}
}

// known reports whether the graph knows id: a link or a fragment read by
// the walk, or a decision recorded on it (a refused link's end may have
// nothing else).
func (g *GraphService) known(ctx context.Context, w *graphWalk, id identity.ID) (bool, error) {
	if w.found(id) {
		return true, nil
	}
	evs, err := g.Store.Decisions(ctx, id, 1)
	return len(evs) > 0, err
}

// History answers GET /data/core/identity/cluster/history: the links of
// the asked identity's cluster (each once, ends in key order) and every
// guardrail decision recorded on its members (the newest 1,000 of each;
// a decision recorded on both ends of a link once), newest first: a link
// at its first sight, a decision at its time; entries of one time in a
// fixed order. A page ends at q.Limit entries or where its JSON would pass
// q.MaxBytes; Page.Next continues there. A cluster over the cap is read
// to the cap and says Truncated. Errors: Resolve's; NotFound
// CodeIdentityNotFound; Invalid IDENTITY-CURSOR for a start no page gave.
func (g *GraphService) History(ctx context.Context, q HistoryQuery) (HistoryPage, error) {
	id, err := g.Resolve(ctx, q.Identity)
	if err != nil {
		return HistoryPage{}, err
	}
	var afterAt int64
	afterKey := ""
	if q.Start != "" {
		if afterAt, afterKey, err = parseCursor(q.Start); err != nil {
			return HistoryPage{}, err
		}
	}
	switch {
	case q.Limit <= 0:
		q.Limit = DefaultHistoryLimit
	case q.Limit > MaxHistoryLimit:
		q.Limit = MaxHistoryLimit
	}
	w := newGraphWalk(g.Store, g.cap(), true)
	if err := w.run(ctx, []identity.ID{id}); err != nil {
		return HistoryPage{}, err
	}
	members := w.members(id)
	rs, err := g.graphEvents(ctx, members)
	if err != nil {
		return HistoryPage{}, err
	}
	if !w.found(id) && len(rs) == 0 {
		return HistoryPage{}, notFound()
	}
	custom, err := g.custom(ctx)
	if err != nil {
		return HistoryPage{}, err
	}

	type keyed struct {
		e   HistoryEntry
		key string
	}
	var all []keyed
	done := map[string]bool{}
	for _, u := range members {
		for _, v := range w.nodes[u].Neighbours {
			a, b := u, v
			if b.Key() < a.Key() {
				a, b = b, a
			}
			lk := KindLink + "\x00" + a.Key() + "\x00" + b.Key()
			if done[lk] {
				continue
			}
			done[lk] = true
			l := g.graphLink(w, a, b, custom)
			all = append(all, keyed{HistoryEntry{Kind: KindLink, At: l.FirstSeen, Link: &l}, sortKey(lk)})
		}
	}
	ds, keys := decisions(rs, custom)
	for i := range ds {
		all = append(all, keyed{HistoryEntry{Kind: ds[i].Kind, At: ds[i].At, Decision: &ds[i]}, keys[i]})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].e.At != all[j].e.At {
			return all[i].e.At > all[j].e.At
		}
		return all[i].key < all[j].key
	})
	if q.Start != "" {
		kept := all[:0]
		for _, k := range all {
			if k.e.At < afterAt || (k.e.At == afterAt && k.key > afterKey) {
				kept = append(kept, k)
			}
		}
		all = kept
	}

	page := HistoryPage{XID: EntityID(id), CompositeXID: memberOf(id, custom), Truncated: w.truncated(id), Entries: []HistoryEntry{}}
	budget := q.MaxBytes
	if budget <= 0 {
		budget = topology.MaxPageBytes
	}
	size := 2 // the brackets of the array
	for i, k := range all {
		if i == q.Limit {
			break
		}
		b, err := json.Marshal(k.e)
		if err != nil {
			return HistoryPage{}, fault.Wrap(err, fault.Internal, "IDENTITY-ENCODE", "history entry could not be encoded")
		}
		if size += len(b) + 1; size > budget && i > 0 {
			break
		}
		page.Entries = append(page.Entries, k.e)
	}
	page.Page.Count = len(page.Entries)
	if n := len(page.Entries); n < len(all) {
		page.Page.Next = cursorOf(all[n-1].e.At, all[n-1].key)
	}
	return page, nil
}

// Explain answers GET /data/core/identity/cluster/explain: whether a and b
// are in one cluster and why. The clusters of both are walked at once
// (each bounded by the cap). When they are one, Chain is a shortest chain
// of links from a to b (breadth-first, neighbours in key order: the same
// graph gives the same chain), each link with its ends, first and last
// sight, datasets and sources. When they are not, Decisions are the
// guardrail decisions recorded on either cluster's members whose other end
// is in the other cluster (a refused or removed link between them, once
// however many of its ends record it), and the evictions recorded on a or
// b themselves; FromMembers and ToMembers are each side's cluster. Errors:
// Resolve's; NotFound CodeIdentityNotFound when the graph knows neither
// links, fragments nor decisions of a or of b.
func (g *GraphService) Explain(ctx context.Context, a, b CompositeXID) (Explanation, error) {
	ia, err := g.Resolve(ctx, a)
	if err != nil {
		return Explanation{}, err
	}
	ib, err := g.Resolve(ctx, b)
	if err != nil {
		return Explanation{}, err
	}
	w := newGraphWalk(g.Store, g.cap(), true)
	if err := w.run(ctx, []identity.ID{ia, ib}); err != nil {
		return Explanation{}, err
	}
	for _, id := range []identity.ID{ia, ib} {
		ok, err := g.known(ctx, w, id)
		if err != nil {
			return Explanation{}, err
		}
		if !ok {
			return Explanation{}, notFound()
		}
	}
	custom, err := g.custom(ctx)
	if err != nil {
		return Explanation{}, err
	}
	out := Explanation{
		From: memberOf(ia, custom), To: memberOf(ib, custom),
		Chain: []GraphLink{}, Decisions: []GraphDecision{},
		Truncated: w.truncated(ia) || w.truncated(ib),
	}
	if w.find(ia) == w.find(ib) {
		if chain := w.path(ia, ib); chain != nil {
			out.SameCluster = true
			for i := 1; i < len(chain); i++ {
				out.Chain = append(out.Chain, g.graphLink(w, chain[i-1], chain[i], custom))
			}
			return out, nil
		}
	}
	fromIDs, toIDs := w.members(ia), w.members(ib)
	out.FromMembers, out.ToMembers = membersOf(fromIDs, custom), membersOf(toIDs, custom)
	inFrom, inTo := idSet(fromIDs), idSet(toIDs)
	rs, err := g.graphEvents(ctx, append(append([]identity.ID{}, fromIDs...), toIDs...))
	if err != nil {
		return Explanation{}, err
	}
	var apart []recorded
	for _, r := range rs {
		if r.ev.Kind == DecisionIdentityEvicted {
			// An eviction explains the two apart only when it evicted one of them.
			if x := evictedOf(r); x == ia || x == ib {
				apart = append(apart, r)
			}
			continue
		}
		if (inFrom[r.on] && inTo[r.ev.Other]) || (inTo[r.on] && inFrom[r.ev.Other]) {
			apart = append(apart, r)
		}
	}
	out.Decisions, _ = decisions(apart, custom)
	return out, nil
}

func idSet(ids []identity.ID) map[identity.ID]bool {
	m := make(map[identity.ID]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
