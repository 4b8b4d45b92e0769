package store

import (
	"sort"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// The decisions of the identity graph's guardrails
// (docs/identity-and-merge.md), as pure functions of what a walk
// read, so that every writer that reads the same graph decides the same:
//
//   - uniqueness: links are taken in the order (first seen, link key), as
//     Kruskal's algorithm takes edges; a link whose two clusters hold
//     different values of one unique namespace is refused (not yet
//     written) or removed (written by a concurrent writer, or displaced by
//     an older link that arrived late). The clusters are what the links
//     before it made, so the oldest links win, whatever the arrival order.
//   - the cap: while a cluster holds more than the cap, the identity of
//     the lowest type priority (identity.EvictionPriority), then the
//     oldest last-seen time (the latest last of its links), then the
//     smallest key leaves: all its links are removed.

// uniqueSet says which namespaces (canonical codes) are unique.
type uniqueSet map[string]bool

// namespaceOf is the namespace code of an identity key.
func namespaceOf(key string) string {
	ns, _, _ := strings.Cut(key, "#")
	return ns
}

// clusters is a union-find of identity keys that keeps, for each cluster,
// its value (identity key) of each unique namespace.
type clusters struct {
	parent map[string]string
	size   map[string]int
	values map[string]map[string]string // root → namespace → identity key
	unique uniqueSet
}

func newClusters(unique uniqueSet) *clusters {
	return &clusters{parent: map[string]string{}, size: map[string]int{}, values: map[string]map[string]string{}, unique: unique}
}

func (c *clusters) find(k string) string {
	p, ok := c.parent[k]
	if !ok {
		c.parent[k], c.size[k] = k, 1
		if ns := namespaceOf(k); c.unique[ns] {
			c.values[k] = map[string]string{ns: k}
		}
		return k
	}
	if p == k {
		return k
	}
	r := c.find(p)
	c.parent[k] = r
	return r
}

// conflict is a unique namespace of which two clusters hold different
// values: mine on one side, theirs on the other.
type conflict struct {
	ns, mine, theirs string
}

// join unites the clusters of a and b, unless together they would hold
// two values of a unique namespace: then it returns that conflict (the
// first namespace by code), mine being a's side's value.
func (c *clusters) join(a, b string) (conflict, bool) {
	ra, rb := c.find(a), c.find(b)
	if ra == rb {
		return conflict{}, true
	}
	va, vb := c.values[ra], c.values[rb]
	var clash []string
	for ns := range va {
		if _, ok := vb[ns]; ok {
			clash = append(clash, ns)
		}
	}
	if len(clash) > 0 {
		sort.Strings(clash)
		ns := clash[0]
		return conflict{ns: ns, mine: va[ns], theirs: vb[ns]}, false
	}
	if c.size[ra] < c.size[rb] {
		ra, rb, va, vb = rb, ra, vb, va
	}
	c.parent[rb] = ra
	c.size[ra] += c.size[rb]
	if len(vb) > 0 {
		if va == nil {
			va = map[string]string{}
			c.values[ra] = va
		}
		for ns, v := range vb {
			va[ns] = v
		}
	}
	delete(c.values, rb)
	return conflict{}, true
}

// linkOrder sorts edges by first sighting, then link key.
func linkOrder(es []graphEdge) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].info.First != es[j].info.First {
			return es[i].info.First < es[j].info.First
		}
		return es[i].key() < es[j].key()
	})
}

// linkVerdict is the pre-check's decision on one link of a record.
type linkVerdict struct {
	refused bool
	// why: the unique namespace, mine the value on the link's A side,
	// theirs on its B side.
	why conflict
}

// decideLinks is the pre-check: the view's links and the new links
// (those the view does not hold, first seen at their At) in link order;
// a new link that would join two values of a unique namespace is
// refused. violated is set when a link the view holds would be removed:
// the graph needs the repair even if nothing new is written.
func decideLinks(v *graphView, links []identity.Link, unique uniqueSet) (verdicts []linkVerdict, violated bool) {
	verdicts = make([]linkVerdict, len(links))
	type cand struct {
		e    graphEdge
		link int // index in links; -1 for a link the view holds
	}
	var cands []cand
	for _, e := range v.edges() {
		cands = append(cands, cand{e, -1})
	}
	for i, l := range links {
		a, b := l.A.Key(), l.B.Key()
		if _, ok := v.live(a, b); ok {
			continue
		}
		cands = append(cands, cand{graphEdge{a: min(a, b), b: max(a, b), info: LinkInfo{First: l.At, Last: l.At}}, i})
	}
	sort.SliceStable(cands, func(i, j int) bool {
		x, y := cands[i].e, cands[j].e
		if x.info.First != y.info.First {
			return x.info.First < y.info.First
		}
		return x.key() < y.key()
	})
	cs := newClusters(unique)
	for _, c := range cands {
		why, ok := cs.join(c.e.a, c.e.b)
		if ok {
			continue
		}
		if c.link < 0 {
			violated = true
			continue
		}
		if links[c.link].A.Key() != c.e.a {
			why.mine, why.theirs = why.theirs, why.mine
		}
		verdicts[c.link] = linkVerdict{refused: true, why: why}
	}
	return verdicts, violated
}

// removal is a link the repair removes for uniqueness.
type removal struct {
	e   graphEdge
	why conflict // mine on e.a's side
}

// eviction is an identity the repair takes out of a cluster over the cap.
type eviction struct {
	node     string
	idType   string
	lastSeen int64
	// size is the cluster's size when the identity was chosen, over
	// capacity; newest its newest link then (by last seen, then key): the
	// link that took it over the cap.
	size, capacity int
	newest         graphEdge
	// links are all its links, removed.
	links []graphEdge
}

// halfCopy is a half the repair writes: node's half of its link to nb,
// which the view found only on nb's side.
type halfCopy struct {
	node, nb string
	info     LinkInfo
}

// repairPlan is what the repair removes, and the halves it completes.
type repairPlan struct {
	removed   []removal
	evicted   []eviction
	completed []halfCopy
}

func (r repairPlan) empty() bool {
	return len(r.removed) == 0 && len(r.evicted) == 0 && len(r.completed) == 0
}

// planRepair decides the repair of the view: uniqueness first (links in
// link order), then the cap on the clusters that remain; and the links of
// own (link keys) it keeps but found on one node only, to complete.
// typeOf gives an identity's type.
//
// A link found on one node only is being written (its writer completes
// it) or being removed (its remover deletes the other half): either way
// it counts as a link here, and only its writer, who knows it meant to
// write it, completes it.
func planRepair(v *graphView, capacity int, unique uniqueSet, typeOf func(string) string, own map[string]bool) repairPlan {
	var plan repairPlan
	edges := v.edges()
	linkOrder(edges)
	cs := newClusters(unique)
	adj := map[string]map[string]graphEdge{}
	for k := range v.nodes {
		adj[k] = map[string]graphEdge{}
	}
	for _, e := range edges {
		if why, ok := cs.join(e.a, e.b); !ok {
			plan.removed = append(plan.removed, removal{e: e, why: why})
			continue
		}
		adj[e.a][e.b], adj[e.b][e.a] = e, e
	}
	keys := make([]string, 0, len(adj))
	for k := range adj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	done := map[string]bool{}
	var queue [][]string
	for _, k := range keys {
		if !done[k] {
			comp := component(adj, k)
			for _, m := range comp {
				done[m] = true
			}
			queue = append(queue, comp)
		}
	}
	for len(queue) > 0 {
		comp := queue[0]
		queue = queue[1:]
		if len(comp) <= capacity {
			continue
		}
		ev := chooseEviction(adj, comp, typeOf)
		ev.size, ev.capacity = len(comp), capacity
		for _, nb := range sortedKeys(adj[ev.node]) {
			e := adj[ev.node][nb]
			ev.links = append(ev.links, e)
			delete(adj[nb], ev.node)
		}
		adj[ev.node] = map[string]graphEdge{}
		plan.evicted = append(plan.evicted, ev)
		left := map[string]bool{}
		for _, m := range comp {
			if m == ev.node || left[m] {
				continue
			}
			part := component(adj, m)
			for _, x := range part {
				left[x] = true
			}
			queue = append(queue, part)
		}
	}
	// One of own's links kept with one half only (a concurrent repair
	// removed the other after the write) is completed, where the walk
	// read the partition whole.
	for _, k := range keys {
		for _, nb := range sortedKeys(adj[k]) {
			n := v.nodes[k]
			if _, ok := n.halves[nb]; ok || n.more || !own[adj[k][nb].key()] {
				continue
			}
			plan.completed = append(plan.completed, halfCopy{node: k, nb: nb, info: adj[k][nb].info})
		}
	}
	return plan
}

// chooseEviction picks the identity of comp that leaves first, and the
// component's newest link.
func chooseEviction(adj map[string]map[string]graphEdge, comp []string, typeOf func(string) string) eviction {
	var best eviction
	bestPrio := -1
	var newest graphEdge
	haveNewest := false
	for _, k := range comp {
		var seen int64
		first := true
		for _, e := range adj[k] {
			if first || e.info.Last > seen {
				seen, first = e.info.Last, false
			}
			if !haveNewest || e.info.Last > newest.info.Last || e.info.Last == newest.info.Last && e.key() > newest.key() {
				newest, haveNewest = e, true
			}
		}
		t := typeOf(k)
		prio := identity.EvictionPriority(t)
		if bestPrio < 0 || prio < bestPrio || prio == bestPrio && (seen < best.lastSeen || seen == best.lastSeen && k < best.node) {
			best, bestPrio = eviction{node: k, idType: t, lastSeen: seen}, prio
		}
	}
	best.newest = newest
	return best
}

// component is the identities connected to k through adj, sorted.
func component(adj map[string]map[string]graphEdge, k string) []string {
	seen := map[string]bool{k: true}
	stack := []string{k}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for nb := range adj[x] {
			if !seen[nb] {
				seen[nb] = true
				stack = append(stack, nb)
			}
		}
	}
	return sortedKeys(seen)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
