package storetest

import (
	"context"
	"sort"
	"sync"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// Graph is an identity graph in memory with the graph reads of
// store.Profiles: Partition (links with their LinkInfo, neighbours in key
// order), Cluster (the same breadth-first walk, bounded and truncated as
// the store's) and GraphEvents (newest first). It counts partition reads.
type Graph struct {
	mu     sync.Mutex
	links  map[identity.ID]map[identity.ID]store.LinkInfo
	frags  map[identity.ID]bool
	events map[identity.ID][]store.GraphEvent
	reads  map[identity.ID]int
	// OnRead, when set, is called before each partition read, with the
	// context of the read.
	OnRead func(ctx context.Context, id identity.ID)
}

// NewGraph returns an empty Graph.
func NewGraph() *Graph {
	return &Graph{
		links: map[identity.ID]map[identity.ID]store.LinkInfo{}, frags: map[identity.ID]bool{},
		events: map[identity.ID][]store.GraphEvent{}, reads: map[identity.ID]int{},
	}
}

// Link stores the link a–b on both ends.
func (g *Graph) Link(a, b identity.ID, info store.LinkInfo) {
	g.LinkHalf(a, b, info)
	g.LinkHalf(b, a, info)
}

// LinkHalf stores the half of the link a–b kept in a's partition only.
func (g *Graph) LinkHalf(a, b identity.ID, info store.LinkInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.links[a] == nil {
		g.links[a] = map[identity.ID]store.LinkInfo{}
	}
	g.links[a][b] = info
}

// Fragment marks id as holding a fragment (a profile record).
func (g *Graph) Fragment(id identity.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.frags[id] = true
}

// Record keeps ev on ev.Identity.
func (g *Graph) Record(ev store.GraphEvent) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events[ev.Identity] = append(g.events[ev.Identity], ev)
}

// Reads returns how many times id's partition was read.
func (g *Graph) Reads(id identity.ID) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads[id]
}

// Partition reads id's links.
func (g *Graph) Partition(ctx context.Context, id identity.ID) (store.Partition, error) {
	if g.OnRead != nil {
		g.OnRead(ctx, id)
	}
	if err := ctx.Err(); err != nil {
		return store.Partition{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reads[id]++
	p := store.Partition{Found: g.frags[id] || len(g.links[id]) > 0}
	if p.Found && g.frags[id] {
		p.Fragments = []merge.Fragment{{Identity: id.Key(), Dataset: "ds"}}
	}
	for nb, info := range g.links[id] {
		if p.Links == nil {
			p.Links = map[string]store.LinkInfo{}
		}
		p.Links[nb.Key()] = info
		p.Neighbours = append(p.Neighbours, nb)
	}
	sort.Slice(p.Neighbours, func(i, j int) bool { return p.Neighbours[i].Key() < p.Neighbours[j].Key() })
	return p, nil
}

// Cluster walks start's cluster breadth-first as store.Profiles.Cluster
// does: at most limit identities, Truncated when a further one is not
// followed; with stitch false, start alone.
func (g *Graph) Cluster(ctx context.Context, start identity.ID, stitch bool, limit int) (merge.Candidates, error) {
	var c merge.Candidates
	visited := map[identity.ID]bool{start: true}
	queue := []identity.ID{start}
	for i := 0; i < len(queue); i++ {
		p, err := g.Partition(ctx, queue[i])
		if err != nil {
			return merge.Candidates{}, err
		}
		if i == 0 {
			if c.Found = p.Found; !c.Found {
				return c, nil
			}
		}
		c.Members = append(c.Members, queue[i])
		c.Fragments = append(c.Fragments, p.Fragments...)
		if !stitch {
			continue
		}
		for _, nb := range p.Neighbours {
			switch {
			case visited[nb]:
			case len(visited) >= limit:
				c.Truncated = true
			default:
				visited[nb] = true
				queue = append(queue, nb)
			}
		}
	}
	return c, nil
}

// GraphEvents reads the decisions recorded on id, newest first, at most
// limit.
func (g *Graph) GraphEvents(ctx context.Context, id identity.ID, limit int) ([]store.GraphEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	evs := append([]store.GraphEvent(nil), g.events[id]...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At > evs[j].At })
	if len(evs) > limit {
		evs = evs[:limit]
	}
	return evs, nil
}
