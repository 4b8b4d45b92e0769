package profile

import (
	"context"
	"errors"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// graphWalkParallelism bounds the partitions a walk reads at once.
const graphWalkParallelism = 8

// graphWalk reads the clusters of several identities breadth-first, one
// graph level at a time, reading each partition at most once: walks from
// identities of one cluster meet and become one (a union-find over the
// links read), so a cluster is read once however many starts it holds.
// Each cluster is bounded as store.Profiles.Cluster bounds a lookup: once
// it holds cap identities, a further neighbour is not followed and the
// cluster is truncated. With stop set, no read starts after it (by now);
// the identities left unread make their clusters incomplete.
type graphWalk struct {
	st     GraphStore
	cap    int
	stitch bool
	stop   time.Time
	now    func() time.Time

	nodes  map[identity.ID]GraphNode // the identities read
	seen   map[identity.ID]bool      // read or to be read
	unread []identity.ID             // seen, never read (stop)
	parent map[identity.ID]identity.ID
	size   map[identity.ID]int  // of a root: identities seen in its cluster
	cut    map[identity.ID]bool // of a root: a neighbour was not followed
}

func newGraphWalk(st GraphStore, cap int, stitch bool) *graphWalk {
	return &graphWalk{
		st: st, cap: cap, stitch: stitch,
		nodes: map[identity.ID]GraphNode{}, seen: map[identity.ID]bool{},
		parent: map[identity.ID]identity.ID{}, size: map[identity.ID]int{}, cut: map[identity.ID]bool{},
	}
}

func (w *graphWalk) find(id identity.ID) identity.ID {
	for {
		p, ok := w.parent[id]
		if !ok || p == id {
			return id
		}
		if gp, ok := w.parent[p]; ok {
			w.parent[id] = gp // path halving
		}
		id = p
	}
}

func (w *graphWalk) union(a, b identity.ID) {
	ra, rb := w.find(a), w.find(b)
	if ra == rb {
		return
	}
	if rb.Key() < ra.Key() { // any fixed choice; keeps runs reproducible
		ra, rb = rb, ra
	}
	w.parent[rb] = ra
	w.size[ra] += w.size[rb]
	w.cut[ra] = w.cut[ra] || w.cut[rb] || w.size[ra] > w.cap
	delete(w.size, rb)
	delete(w.cut, rb)
}

func (w *graphWalk) add(id identity.ID) bool {
	if w.seen[id] {
		return false
	}
	w.seen[id] = true
	w.parent[id] = id
	w.size[id] = 1
	return true
}

// past reports whether the walk's stop time has come.
func (w *graphWalk) past() bool {
	return !w.stop.IsZero() && !w.now().Before(w.stop)
}

// run walks from starts until every cluster is read, truncated, or the
// stop time comes. A read cut short by the context's deadline leaves its
// identity unread; any other error of the store ends the walk.
func (w *graphWalk) run(ctx context.Context, starts []identity.ID) error {
	var level []identity.ID
	for _, s := range starts {
		if w.add(s) {
			level = append(level, s)
		}
	}
	for len(level) > 0 {
		parts := make([]GraphNode, len(level))
		read := make([]bool, len(level))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(graphWalkParallelism)
		for i, id := range level {
			if w.past() {
				break
			}
			g.Go(func() error {
				pt, err := w.st.Node(gctx, id)
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
						return nil
					}
					return err
				}
				parts[i], read[i] = pt, true
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		var next []identity.ID
		for i, id := range level {
			if !read[i] {
				w.unread = append(w.unread, id)
				continue
			}
			pt := parts[i]
			w.nodes[id] = pt
			if !w.stitch {
				continue
			}
			for _, nb := range pt.Neighbours {
				if w.seen[nb] {
					w.union(id, nb)
					continue
				}
				if r := w.find(id); w.size[r] >= w.cap {
					w.cut[r] = true
					continue
				}
				w.add(nb)
				w.union(id, nb)
				next = append(next, nb)
			}
		}
		level = next
	}
	return nil
}

// found reports whether id's partition was read and holds a link or a
// fragment.
func (w *graphWalk) found(id identity.ID) bool {
	pt, ok := w.nodes[id]
	return ok && pt.Found
}

// truncated reports whether id's cluster passed the cap.
func (w *graphWalk) truncated(id identity.ID) bool { return w.cut[w.find(id)] }

// complete reports whether every identity of id's cluster was read.
func (w *graphWalk) complete(id identity.ID) bool {
	r := w.find(id)
	for _, u := range w.unread {
		if w.find(u) == r {
			return false
		}
	}
	return true
}

// answered reports whether id's members can be answered: it is known, and
// its cluster was read whole and within the cap.
func (w *graphWalk) answered(id identity.ID) bool {
	return w.found(id) && w.complete(id) && !w.truncated(id)
}

// members lists the cluster of start breadth-first over the links read,
// start first and each identity's neighbours in key order: the order of
// store.Profiles.Cluster, so that one identity's members read alone or
// among others are the same list.
func (w *graphWalk) members(start identity.ID) []identity.ID {
	out := []identity.ID{start}
	visited := map[identity.ID]bool{start: true}
	for i := 0; i < len(out); i++ {
		for _, nb := range w.nodes[out[i]].Neighbours {
			if !visited[nb] && w.seen[nb] {
				visited[nb] = true
				out = append(out, nb)
			}
		}
	}
	return out
}

// neighbours is the undirected adjacency of u among the links read (a
// link half read on either end), in key order.
func (w *graphWalk) neighbours(u identity.ID, back map[identity.ID][]identity.ID) []identity.ID {
	set := map[identity.ID]bool{}
	for _, nb := range w.nodes[u].Neighbours {
		set[nb] = true
	}
	for _, nb := range back[u] {
		set[nb] = true
	}
	out := make([]identity.ID, 0, len(set))
	for nb := range set {
		out = append(out, nb)
	}
	sortIDs(out)
	return out
}

// backLinks maps each identity to those whose read partitions link to it.
func (w *graphWalk) backLinks() map[identity.ID][]identity.ID {
	back := map[identity.ID][]identity.ID{}
	for u, pt := range w.nodes {
		for _, nb := range pt.Neighbours {
			back[nb] = append(back[nb], u)
		}
	}
	return back
}

// path is a shortest chain of links from a to b among the links read
// (breadth-first, neighbours in key order, so the same graph gives the
// same chain), nil when none is known.
func (w *graphWalk) path(a, b identity.ID) []identity.ID {
	if a == b {
		return []identity.ID{a}
	}
	back := w.backLinks()
	prev := map[identity.ID]identity.ID{}
	visited := map[identity.ID]bool{a: true}
	queue := []identity.ID{a}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, nb := range w.neighbours(u, back) {
			if visited[nb] {
				continue
			}
			visited[nb], prev[nb] = true, u
			if nb == b {
				chain := []identity.ID{b}
				for x := b; x != a; {
					x = prev[x]
					chain = append(chain, x)
				}
				for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
					chain[i], chain[j] = chain[j], chain[i]
				}
				return chain
			}
			queue = append(queue, nb)
		}
	}
	return nil
}

// link is what the walk knows of the link u–v: both halves merged, the
// earliest first sight with its dataset and source, the latest last sight
// with its own; ok is false when neither half was read.
func (w *graphWalk) link(u, v identity.ID) (LinkRecord, bool) {
	h1, ok1 := w.nodes[u].Links[v.Key()]
	h2, ok2 := w.nodes[v].Links[u.Key()]
	switch {
	case !ok1 && !ok2:
		return LinkRecord{}, false
	case !ok2:
		return h1, true
	case !ok1:
		return h2, true
	}
	out := h1
	if h2.First < out.First || (h2.First == out.First && out.Dataset == "") {
		out.First, out.Dataset, out.Source = h2.First, h2.Dataset, h2.Source
	}
	if h2.Last > out.Last {
		out.Last, out.LastDataset, out.LastSource = h2.Last, h2.LastDataset, h2.LastSource
	}
	return out, true
}

func sortIDs(ids []identity.ID) {
	sort.Slice(ids, func(i, j int) bool { return ids[i].Key() < ids[j].Key() })
}
