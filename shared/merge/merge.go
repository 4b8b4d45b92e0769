package merge

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// Result is a merged profile.
type Result struct {
	Entity map[string]any
	// Sources are the datasets whose fragments took part, sorted.
	Sources []string
	// LastModified is the newest ordering time of the merged fragments, epoch ms.
	LastModified int64
	// Provenance, filled by ProfileWithProvenance only, says where each
	// value of Entity came from, keyed by dotted path: one key per leaf
	// ("person.name.firstName"; an array is one leaf, "tags"), and one per
	// identityMap entry ("identityMap.<namespace>.<index in Entity's list>").
	Provenance map[string]Provenance
}

// Origin is the fragment a merged value was taken from.
type Origin struct {
	// Identity is the key ("<NS>#<value>") of the fragment's primary identity.
	Identity string `json:"identity"`
	Dataset  string `json:"dataSetId"`
	// Batch is the batch id, or the stream position for a streamed record
	// (Fragment.Batch).
	Batch string `json:"batchId,omitempty"`
	// Src is the record's position: file and row, or shard and sequence
	// number (Fragment.Src).
	Src string `json:"source,omitempty"`
	// TS is the fragment's ordering time for merging (OrderingTime), epoch ms.
	TS int64 `json:"timestamp"`
}

// Provenance is where one merged value came from: the fragment that won it.
// For an identityMap entry, Fragments lists every fragment that holds it
// (the union's sources), the winner first; the winner's entry object (its
// primary flag, say) is the one returned.
type Provenance struct {
	Origin
	Fragments []Origin `json:"fragments,omitempty"`
}

// OrderingTime is a fragment's ordering time for merging:
// extSourceSystemAudit.lastUpdatedDate when the record has a valid one,
// else the stored ordering time.
func OrderingTime(f Fragment) int64 {
	if t, ok := LastUpdated(f.Record); ok {
		return t
	}
	return f.TS
}

// LastUpdated reads extSourceSystemAudit.lastUpdatedDate as epoch ms.
func LastUpdated(record map[string]any) (int64, bool) {
	audit, ok := record["extSourceSystemAudit"].(map[string]any)
	if !ok {
		return 0, false
	}
	s, ok := audit["lastUpdatedDate"].(string)
	if !ok {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
}

// SetLastUpdated sets extSourceSystemAudit.lastUpdatedDate of record to t
// as an RFC 3339 UTC date-time with milliseconds (the clamp of a
// far-future ordering time).
func SetLastUpdated(record map[string]any, t time.Time) {
	audit, ok := record["extSourceSystemAudit"].(map[string]any)
	if !ok {
		audit = map[string]any{}
		record["extSourceSystemAudit"] = audit
	}
	audit["lastUpdatedDate"] = t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// Select returns the fragments of a cluster that a read of the identity
// asked (its key, "<NS>#<value>") takes under p's identity graph: with
// GraphNone those whose primary identity is asked, with GraphPDG all of
// them (AEP, "Merge policies overview": identity stitching).
// Profile then leaves out the datasets a dataSetPrecedence order does not
// list.
func Select(fragments []Fragment, asked string, p Policy) []Fragment {
	if p.IdentityGraph.Type != GraphNone {
		return fragments
	}
	out := make([]Fragment, 0, len(fragments))
	for _, f := range fragments {
		if f.Identity == asked {
			out = append(out, f)
		}
	}
	return out
}

// Profile merges fragments into one entity under policy p. Fragments are
// first put in winning order (the loser first), then laid over each other:
// objects merge key by key, arrays and scalars are taken whole, empty
// values (null, "", [], {}: see Empty) never win. identityMap is the
// union of every fragment's identities. The result does not depend on the
// order of fragments.
//
// Winning order: under timestampOrdered by ordering time (OrderingTime:
// extSourceSystemAudit.lastUpdatedDate when the record has it, across
// datasets), then Src, dataset, identity and stored ordering time; under dataSetPrecedence by
// the dataset's place in p.AttributeMerge.Order first (datasets it does
// not list are left out), then as timestampOrdered among fragments of one
// dataset.
func Profile(fragments []Fragment, p Policy) Result {
	return merge(fragments, p, false)
}

// ProfileWithProvenance is Profile with Result.Provenance filled.
func ProfileWithProvenance(fragments []Fragment, p Policy) Result {
	return merge(fragments, p, true)
}

type ordered struct {
	f  Fragment
	ts int64
}

func (o ordered) origin() *Origin {
	return &Origin{Identity: o.f.Identity, Dataset: o.f.Dataset, Batch: o.f.Batch, Src: o.f.Src, TS: o.ts}
}

func merge(fragments []Fragment, p Policy, provenance bool) Result {
	frags := make([]Fragment, 0, len(fragments))
	rank := map[string]int{}
	if p.AttributeMerge.Type == DataSetPrecedence {
		for i, ds := range p.AttributeMerge.Order {
			if _, ok := rank[ds]; !ok {
				rank[ds] = len(p.AttributeMerge.Order) - i
			}
		}
		for _, f := range fragments {
			if rank[f.Dataset] > 0 {
				frags = append(frags, f)
			}
		}
	} else {
		frags = append(frags, fragments...)
	}
	os := make([]ordered, len(frags))
	for i, f := range frags {
		os[i] = ordered{f, OrderingTime(f)}
	}
	sort.Slice(os, func(i, j int) bool {
		a, b := os[i], os[j]
		if ra, rb := rank[a.f.Dataset], rank[b.f.Dataset]; ra != rb {
			return ra < rb
		}
		if a.ts != b.ts {
			return a.ts < b.ts
		}
		if a.f.Src != b.f.Src {
			return a.f.Src < b.f.Src
		}
		if a.f.Dataset != b.f.Dataset {
			return a.f.Dataset < b.f.Dataset
		}
		if a.f.Identity != b.f.Identity {
			return a.f.Identity < b.f.Identity
		}
		// Parts of one fragment (one identity and dataset) have distinct
		// clocks, even when a part's lastUpdatedDate ties another's.
		return a.f.TS < b.f.TS
	})

	res := Result{Entity: map[string]any{}}
	var prov map[string]any // the provenance tree: *Origin leaves, map[string]any objects
	if provenance {
		prov = map[string]any{}
	}
	idm := identityUnion{}
	sources := map[string]bool{}
	for _, o := range os {
		var org *Origin
		if provenance {
			org = o.origin()
		}
		overlay(res.Entity, o.f.Record, prov, org)
		idm.add(o.f.Record["identityMap"], org)
		sources[o.f.Dataset] = true
		if o.ts > res.LastModified {
			res.LastModified = o.ts
		}
	}
	delete(res.Entity, "identityMap")
	if m := idm.build(); len(m) > 0 {
		res.Entity["identityMap"] = m
	}
	for ds := range sources {
		res.Sources = append(res.Sources, ds)
	}
	sort.Strings(res.Sources)
	if provenance {
		res.Provenance = map[string]Provenance{}
		delete(prov, "identityMap")
		flatten(res.Provenance, "", prov)
		idm.provenance(res.Provenance)
	}
	return res
}

// overlay lays src over dst: src's values win, objects merge key by key,
// and empty values (see Empty) are absent: they never replace a value.
// With prov (the provenance tree of dst) it records o as the origin of
// every leaf src sets, and forgets the origins of a subtree src replaces
// whole.
func overlay(dst, src map[string]any, prov map[string]any, o *Origin) {
	for k, v := range src {
		if k == "identityMap" || Empty(v) {
			continue
		}
		if sm, ok := v.(map[string]any); ok {
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
			}
			var pm map[string]any
			if prov != nil {
				if pm, ok = prov[k].(map[string]any); !ok {
					pm = map[string]any{}
					prov[k] = pm
				}
			}
			overlay(dm, sm, pm, o)
			dst[k] = dm
			continue
		}
		dst[k] = v
		if prov != nil {
			prov[k] = o
		}
	}
}

// flatten writes the leaves of a provenance tree as dotted paths.
func flatten(out map[string]Provenance, prefix string, tree map[string]any) {
	for k, v := range tree {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		switch x := v.(type) {
		case *Origin:
			out[path] = Provenance{Origin: *x}
		case map[string]any:
			flatten(out, path, x)
		}
	}
}

// Empty reports whether v counts as absent when merging: null, "", an
// empty array, or an object whose every field is absent (at any depth).
// A newer empty value therefore never wins over a filled one
// (docs/rules.md#merging); so [] never empties a list that another
// fragment filled.
func Empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, e := range x {
			if !Empty(e) {
				return false
			}
		}
		return true
	}
	return false
}

// identityUnion collects identityMap entries of several fragments, one per
// (namespace, normalised id); a later (winning) fragment's entry replaces an
// earlier one's.
type identityUnion struct {
	entries map[string]map[string]*unionEntry // ns code → normalised value → entry
	built   map[string][]*unionEntry          // ns code → entries in Entity's order (build)
}

type unionEntry struct {
	entry map[string]any
	// from are the origins of the fragments holding it, in merge order
	// (nil without provenance).
	from []Origin
}

func (u *identityUnion) add(v any, o *Origin) {
	im, ok := v.(map[string]any)
	if !ok {
		return
	}
	if u.entries == nil {
		u.entries = map[string]map[string]*unionEntry{}
	}
	for code, list := range im {
		entries, ok := list.([]any)
		if !ok {
			continue
		}
		// A custom namespace normalises as any non-standard one does
		// (trimmed, case kept), as the graph's keys do.
		ns, ok := identity.LookupStandard(strings.TrimSpace(code))
		if !ok {
			ns = identity.Namespace{Code: strings.TrimSpace(code)}
		}
		canon := ns.Code
		for _, e := range entries {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			raw, _ := m["id"].(string)
			key := strings.TrimSpace(raw)
			if id, err := identity.NormalizeValue(ns, raw); err == nil {
				key = id.Value
			}
			if u.entries[canon] == nil {
				u.entries[canon] = map[string]*unionEntry{}
			}
			ue := u.entries[canon][key]
			if ue == nil {
				ue = &unionEntry{}
				u.entries[canon][key] = ue
			}
			ue.entry = m
			// One fragment may hold an identity twice (under "Email"
			// and "email"): it is one source.
			if o != nil && (len(ue.from) == 0 || ue.from[len(ue.from)-1] != *o) {
				ue.from = append(ue.from, *o)
			}
		}
	}
}

// build returns the union: per namespace, its entries ordered by
// normalised value.
func (u *identityUnion) build() map[string]any {
	out := map[string]any{}
	u.built = map[string][]*unionEntry{}
	for code, byID := range u.entries {
		keys := make([]string, 0, len(byID))
		for k := range byID {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		list := make([]any, 0, len(keys))
		for _, k := range keys {
			list = append(list, byID[k].entry)
			u.built[code] = append(u.built[code], byID[k])
		}
		out[code] = list
	}
	return out
}

// provenance adds the origins of the built entries to out, keyed
// "identityMap.<namespace>.<index>".
func (u *identityUnion) provenance(out map[string]Provenance) {
	for code, list := range u.built {
		for i, ue := range list {
			if len(ue.from) == 0 {
				continue
			}
			from := make([]Origin, len(ue.from))
			for j, o := range ue.from {
				from[len(ue.from)-1-j] = o
			}
			out["identityMap."+code+"."+strconv.Itoa(i)] = Provenance{Origin: from[0], Fragments: from}
		}
	}
}
