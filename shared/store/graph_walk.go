package store

import (
	"context"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// The guardrails of the identity graph (docs/identity-and-merge.md)
// decide on what a walk reads: the link halves of a cluster's partitions,
// read consistently, so that a decision sees every write that finished
// before it. A walk reads only links ("L#…", "LH#…") and the legacy node
// ("N"): fragments, events and graph events are never read.
const (
	profLinksLo = "L"
	profLinksHi = profNodeSK
)

// linkHalf is one stored half of a link, as a walk read it.
type linkHalf struct {
	info LinkInfo
	// deleted is the epoch ms of the profile delete that left this half as
	// a tombstone (profDeletedAttr): then it is not a link.
	deleted int64
	// legacy: an entry of the links map of the node item "N" written by
	// earlier versions.
	legacy bool
}

// graphNode is an identity a walk reached.
type graphNode struct {
	id identity.ID
	// idType is the identity type its own link halves carry ("" if none
	// says).
	idType string
	// more: its partition holds links past those read (the read stopped
	// at the walk's budget).
	more bool
	// halves are the link halves of its partition by neighbour key,
	// tombstones included.
	halves map[string]linkHalf
}

// graphView is what a walk read: at most its budget of identities, each
// with its partition's link halves. An edge is known only between two
// identities of the view.
type graphView struct {
	nodes map[string]*graphNode
	// truncated: the cluster goes on past what was read (the budget was
	// reached, or a partition read stopped early).
	truncated bool
	// queries and items count the Query calls and the items they read.
	queries, items int
}

// graphEdge is a link as a view knows it, from its live halves: First
// with Dataset and Source from the half that saw it first, Last with
// LastDataset and LastSource from the one that saw it last.
type graphEdge struct {
	a, b string // node keys, a < b
	info LinkInfo
}

// key is the edge's link key (profLinkCacheKey), the tie-breaker of every
// order of links.
func (e graphEdge) key() string { return e.a + "\x00" + e.b }

// walk reads, breadth-first from starts, the clusters they are in: every
// partition of at most budget identities (starts always included), each
// partition read stopping past budget neighbours. Reads are strongly
// consistent, one round of parallel Query calls per graph level.
func (p *Profiles) walk(ctx context.Context, starts []identity.ID, budget int) (*graphView, error) {
	v := &graphView{nodes: map[string]*graphNode{}}
	var level []*graphNode
	for _, s := range starts {
		if _, ok := v.nodes[s.Key()]; ok {
			continue
		}
		n := &graphNode{id: s}
		v.nodes[s.Key()] = n
		level = append(level, n)
	}
	for len(level) > 0 {
		reads := make([]linkRead, len(level))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(profWalkParallelism)
		for i, n := range level {
			g.Go(func() error {
				r, err := p.readLinks(gctx, n.id, budget)
				reads[i] = r
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		var next []*graphNode
		for i, n := range level {
			r := reads[i]
			n.halves, n.idType, n.more = r.halves, r.idType, r.more
			v.queries += r.queries
			v.items += r.items
			v.truncated = v.truncated || r.more
			for _, nb := range r.liveNeighbours() {
				if _, ok := v.nodes[nb]; ok {
					continue
				}
				if len(v.nodes) >= budget {
					v.truncated = true
					continue
				}
				id, err := identity.ParseKey(nb)
				if err != nil {
					continue
				}
				m := &graphNode{id: id}
				v.nodes[nb] = m
				next = append(next, m)
			}
		}
		level = next
	}
	return v, nil
}

// linkRead is what one partition read found.
type linkRead struct {
	halves         map[string]linkHalf
	idType         string
	more           bool
	queries, items int
}

// liveNeighbours are the neighbours of the halves that are links (not
// tombstones), by key.
func (r linkRead) liveNeighbours() []string {
	var out []string
	for k, h := range r.halves {
		if h.deleted == 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// profLinkPageSlack is added to a bounded read's page size: the items a
// page may hold besides the neighbours still wanted (tombstones, the
// legacy node), so that a small partition takes one page.
const profLinkPageSlack = 16

// readLinks reads the link halves of id's partition, strongly consistent,
// and stops paging once bound (> 0) live neighbours are read, or twice as
// many link items (tombstones): then more is set.
func (p *Profiles) readLinks(ctx context.Context, id identity.ID, bound int) (linkRead, error) {
	r := linkRead{halves: map[string]linkHalf{}}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(p.table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": profS(id.Key()), ":lo": profS(profLinksLo), ":hi": profS(profLinksHi),
		},
		ConsistentRead: aws.Bool(true),
	}
	live, seen := 0, 0
	for {
		if bound > 0 {
			in.Limit = aws.Int32(int32(max(bound-live, 0) + profLinkPageSlack))
		}
		out, err := p.db.Query(ctx, in)
		if err != nil {
			return linkRead{}, translate(err, "read identity links")
		}
		r.queries++
		r.items += len(out.Items)
		for _, item := range out.Items {
			sk := profStr(item[topology.SortKey])
			switch {
			case strings.HasPrefix(sk, profLinkPfx), strings.HasPrefix(sk, profLinkHashPfx):
				seen++
				nb := profStr(item["nb"])
				if nb == "" {
					continue
				}
				h := linkHalf{info: profLinkInfoItem(item), deleted: profNum(item[profDeletedAttr])}
				r.halves[nb] = h
				if h.deleted == 0 {
					live++
				}
				if t := profStr(item["idType"]); t != "" {
					r.idType = t
				}
			case sk == profNodeSK:
				if t := profStr(item["idType"]); t != "" && r.idType == "" {
					r.idType = t
				}
				m, ok := item["links"].(*types.AttributeValueMemberM)
				if !ok {
					continue
				}
				for k, lv := range m.Value {
					if _, dup := r.halves[k]; dup {
						continue
					}
					r.halves[k] = linkHalf{info: profLinkInfo(lv), legacy: true}
					live++
				}
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return r, nil
		}
		if bound > 0 && (live >= bound || seen >= 2*bound+profLinkPageSlack) {
			r.more = true
			return r, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// edges are the view's links between two of its identities, sorted by
// key. A link is live when a half of it is read and none of its halves
// read is a tombstone.
func (v *graphView) edges() []graphEdge {
	m := map[string]*graphEdge{}
	dead := map[string]bool{}
	for k, n := range v.nodes {
		for nb, h := range n.halves {
			if _, ok := v.nodes[nb]; !ok || nb == k {
				continue
			}
			e := graphEdge{a: min(k, nb), b: max(k, nb), info: h.info}
			ek := e.key()
			if h.deleted > 0 {
				dead[ek] = true
				continue
			}
			if old, ok := m[ek]; ok {
				old.info = mergeLinkInfo(old.info, h.info)
				continue
			}
			m[ek] = &e
		}
	}
	out := make([]graphEdge, 0, len(m))
	for k, e := range m {
		if !dead[k] {
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// live reports whether the view holds the link between a and b (see
// edges), with what it knows of it.
func (v *graphView) live(a, b string) (LinkInfo, bool) {
	var (
		info  LinkInfo
		found bool
	)
	for _, end := range [2][2]string{{a, b}, {b, a}} {
		n, ok := v.nodes[end[0]]
		if !ok {
			continue
		}
		h, ok := n.halves[end[1]]
		if !ok {
			continue
		}
		if h.deleted > 0 {
			return LinkInfo{}, false
		}
		if found {
			info = mergeLinkInfo(info, h.info)
		} else {
			info, found = h.info, true
		}
	}
	return info, found
}

// mergeLinkInfo is what two halves of one link say together: the earlier
// first sighting and the later last one.
func mergeLinkInfo(x, y LinkInfo) LinkInfo {
	out := x
	if y.First < x.First {
		out.First, out.Dataset, out.Source = y.First, y.Dataset, y.Source
	}
	if y.Last > x.Last {
		out.Last, out.LastDataset, out.LastSource = y.Last, y.LastDataset, y.LastSource
	}
	return out
}
