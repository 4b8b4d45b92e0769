package merge

import (
	"sort"
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

// Profile merges fragments into one entity under policy p. Fragments are
// first put in winning order (the loser first), then laid over each other:
// objects merge key by key, arrays and scalars are taken whole, empty
// values (null, "", [], {}: see Empty) never win. identityMap is the
// union of every fragment's identities. The result does not depend on the
// order of fragments.
func Profile(fragments []Fragment, p Policy) Result {
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
	type ordered struct {
		f  Fragment
		ts int64
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
		return a.f.Identity < b.f.Identity
	})

	res := Result{Entity: map[string]any{}}
	idm := identityUnion{}
	sources := map[string]bool{}
	for _, o := range os {
		overlay(res.Entity, o.f.Record)
		idm.add(o.f.Record["identityMap"])
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
	return res
}

// overlay lays src over dst: src's values win, objects merge key by key,
// and empty values (see Empty) are absent: they never replace a value.
func overlay(dst, src map[string]any) {
	for k, v := range src {
		if k == "identityMap" || Empty(v) {
			continue
		}
		if sm, ok := v.(map[string]any); ok {
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
			}
			overlay(dm, sm)
			dst[k] = dm
			continue
		}
		dst[k] = v
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
	entries map[string]map[string]any // ns code → normalised value → entry
	names   map[string]string         // ns code → spelling to show
}

func (u *identityUnion) add(v any) {
	im, ok := v.(map[string]any)
	if !ok {
		return
	}
	if u.entries == nil {
		u.entries = map[string]map[string]any{}
		u.names = map[string]string{}
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
				u.entries[canon] = map[string]any{}
			}
			u.entries[canon][key] = m
			if _, ok := u.names[canon]; !ok {
				u.names[canon] = canon
			}
		}
	}
}

func (u *identityUnion) build() map[string]any {
	out := map[string]any{}
	for code, byID := range u.entries {
		keys := make([]string, 0, len(byID))
		for k := range byID {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		list := make([]any, 0, len(keys))
		for _, k := range keys {
			list = append(list, byID[k])
		}
		out[u.names[code]] = list
	}
	return out
}
