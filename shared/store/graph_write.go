package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// LinkRefreshInterval is the granularity of a link's last-seen time, in
// ms of ordering time: 30 days. A link seen again is written again only
// when its record is at least this much newer than the last sighting
// stored (or known to the process), so that steady state writes nothing
// (docs/quality.md P6): a daily export that sends the same people again,
// each a day newer, pays the 2 WCU of a refresh once a month per link,
// about 0.07 WCU a row.
const LinkRefreshInterval = int64(30 * 24 * time.Hour / time.Millisecond)

// maxRepairRounds bounds the walks of one repair: a repair that changed
// the graph walks it again, until a walk finds nothing to do, at most
// this many times; what remains is repaired by the next write to the
// cluster.
const maxRepairRounds = 5

// ParseClusterCap reads the MOSAIC_CLUSTER_CAP setting: the most
// identities of a cluster, a positive integer of at most 10,000; empty
// means DefaultClusterCap.
func ParseClusterCap(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultClusterCap, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 10000 {
		return 0, fault.Errorf(fault.Invalid, "CONFIG-CLUSTER-CAP", "cluster cap %q is not a whole number from 1 to 10000", s)
	}
	return n, nil
}

// clusterCap is the cap of the rules, or DefaultClusterCap.
func (p *Profiles) clusterCap() int {
	if p.rules.Cap > 0 {
		return p.rules.Cap
	}
	return DefaultClusterCap
}

// walkBudget bounds every walk and partition read of the guardrails: the
// largest cluster one record can make by joining clusters within the cap
// (docs/identity-and-merge.md, "Bounds").
func (p *Profiles) walkBudget() int { return p.clusterCap() * (identity.MaxPerRecord + 1) }

// PutLinks writes links under the graph's guardrails (rules from
// SetGraphRules; docs/identity-and-merge.md):
//
//  1. A link this process wrote or decided on is skipped unless its
//     record is LinkRefreshInterval newer than the last sighting known
//     (steady state: no reads, no writes).
//  2. Pre-check: the clusters of the remaining links' ends are walked
//     (strongly consistent, bounded) and the links taken in link order
//     with the walked ones; a link that would put two values of a unique
//     namespace in one cluster is refused: not written, a GraphEvent
//     LINK-REFUSED recorded on both ends.
//  3. Each half of an accepted link is written by one UpdateItem when it
//     changes something: created (first and last seen, dataset, source),
//     its last sighting moved on (at most once per LinkRefreshInterval),
//     its first sighting moved back (an older record arriving late), or
//     a tombstone older than the record revived. A half whose tombstone
//     is not older than the record stays a tombstone.
//  4. Post-check: when a half was written where the pre-check read none,
//     the cluster is walked again and repaired (removals for uniqueness,
//     evictions for the cap, each recorded; see repair), so that
//     concurrent writers converge to the same graph.
//
// Both halves are size-checked before anything is written; an error
// leaves the links unknown to the process, so the retry of the row does
// it all again (each write is idempotent). Errors: Invalid
// STORE-KEY-TOO-LONG / STORE-ITEM-TOO-LARGE before any write, the
// translated SDK errors, and those of GraphRules.Unique.
//
// Cost (docs/identity-and-merge.md, "Cost"): a known link, none;
// a new link between identities of clusters of n identities in all, 2n
// strongly consistent Query calls (n before, n after), 1 write per half,
// and 1 write per graph event.
func (p *Profiles) PutLinks(ctx context.Context, links []identity.Link) error {
	var todo []identity.Link
	seen := map[string]bool{}
	for _, l := range links {
		if l.A == l.B {
			continue
		}
		ck := profLinkCacheKey(l.A.Key(), l.B.Key())
		if seen[ck] {
			continue
		}
		seen[ck] = true
		for _, h := range [2]halfWrite{{node: l.A, nb: l.B, idType: l.AType, l: l}, {node: l.B, nb: l.A, idType: l.BType, l: l}} {
			if err := checkItem(h.sizeItem(), "write identity link"); err != nil {
				return err
			}
		}
		if p.links.fresh(ck, l.At) {
			// A refusal holds only while its namespace is unique: a
			// namespace made not unique through the API lets the pair
			// be decided again.
			ns, refused := p.links.refusedFor(ck)
			if !refused {
				continue
			}
			if u, err := p.isUnique(ctx, ns); err != nil {
				return err
			} else if u {
				continue
			}
		}
		todo = append(todo, l)
	}
	if len(todo) == 0 {
		return nil
	}
	return p.guardLinks(ctx, todo)
}

// guardLinks runs steps 2 to 4 of PutLinks on links the process does not
// know.
func (p *Profiles) guardLinks(ctx context.Context, links []identity.Link) error {
	var starts []identity.ID
	types := map[string]string{}
	for _, l := range links {
		starts = append(starts, l.A, l.B)
		if l.AType != "" {
			types[l.A.Key()] = l.AType
		}
		if l.BType != "" {
			types[l.B.Key()] = l.BType
		}
	}
	view, err := p.walk(ctx, starts, p.walkBudget())
	if err != nil {
		return err
	}
	unique, err := p.uniqueOf(ctx, view, nil)
	if err != nil {
		return err
	}
	verdicts, violated := decideLinks(view, links, unique)
	var (
		writes  []halfWrite
		events  []GraphEvent
		created []identity.ID
		memo    = make([]int64, len(links))
	)
	for i, l := range links {
		memo[i] = l.At
		if v := verdicts[i]; v.refused {
			events = append(events, refusalEvents(l, v.why)...)
			continue
		}
		info, wasLive := view.live(l.A.Key(), l.B.Key())
		if wasLive && info.Last > l.At {
			memo[i] = info.Last
		}
		// A half written where the walk saw none (or a tombstone) may
		// make a link, or bring back a half a concurrent repair just
		// removed: either way the repair must see the result.
		grows := false
		for _, h := range [2]halfWrite{{node: l.A, nb: l.B, idType: l.AType, l: l}, {node: l.B, nb: l.A, idType: l.BType, l: l}} {
			h.act = halfActionOf(view, h)
			if h.act == halfNone {
				continue
			}
			writes = append(writes, h)
			grows = grows || h.act == halfRevive || h.act == halfPut
		}
		if grows {
			created = append(created, l.A, l.B)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(profWalkParallelism)
	for _, w := range writes {
		g.Go(func() error { return p.writeHalf(gctx, w) })
	}
	for _, e := range events {
		g.Go(func() error { return p.putGraphEvent(gctx, e) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if len(created) > 0 || violated {
		if len(created) == 0 {
			created = starts
		}
		own := map[string]bool{}
		for i, l := range links {
			if !verdicts[i].refused {
				own[profLinkCacheKey(l.A.Key(), l.B.Key())] = true
			}
		}
		if err := p.repair(ctx, created, types, unique, own); err != nil {
			return err
		}
	}
	for i, l := range links {
		ns := ""
		if verdicts[i].refused {
			ns = verdicts[i].why.ns
		}
		p.links.add(profLinkCacheKey(l.A.Key(), l.B.Key()), memo[i], ns)
	}
	return nil
}

// uniqueOf adds to known (nil: a new set) whether each namespace of the
// view is unique, asking GraphRules.Unique (or, without it, the standard
// namespaces' setting) once per namespace.
func (p *Profiles) uniqueOf(ctx context.Context, v *graphView, known uniqueSet) (uniqueSet, error) {
	if known == nil {
		known = uniqueSet{}
	}
	asked := map[string]bool{}
	for k := range v.nodes {
		ns := namespaceOf(k)
		if asked[ns] {
			continue
		}
		asked[ns] = true
		if _, ok := known[ns]; ok {
			continue
		}
		u, err := p.isUnique(ctx, ns)
		if err != nil {
			return nil, err
		}
		known[ns] = u
	}
	return known, nil
}

func (p *Profiles) isUnique(ctx context.Context, ns string) (bool, error) {
	if p.rules.Unique != nil {
		return p.rules.Unique(ctx, ns)
	}
	std, ok := identity.LookupStandard(ns)
	return ok && std.Unique, nil
}

// refusalEvents are the LINK-REFUSED events of l, one on each end.
func refusalEvents(l identity.Link, why conflict) []GraphEvent {
	reason := fmt.Sprintf("refused: %s is unique, and this link would join the cluster of %s to the cluster of %s", why.ns, why.mine, why.theirs)
	e := GraphEvent{Kind: GraphLinkRefused, At: l.At, Identity: l.A, Other: l.B, Namespace: why.ns, Reason: reason, Dataset: l.Dataset, Source: l.Source}
	f := e
	f.Identity, f.Other = l.B, l.A
	return []GraphEvent{e, f}
}

// halfAct is what a link write does to one half.
type halfAct int

const (
	halfNone halfAct = iota
	// halfPut creates the half or moves its last sighting on (one
	// UpdateItem whose condition keeps a newer sighting and a newer
	// tombstone).
	halfPut
	// halfRefresh moves the last sighting of a stored half on; it never
	// makes an item (a half a concurrent repair removed stays removed).
	halfRefresh
	// halfRevive rewrites a tombstone older than the record as a new link.
	halfRevive
	// halfFirst moves the first sighting back to an older record.
	halfFirst
)

// halfWrite is one half of l to write on node.
type halfWrite struct {
	node, nb identity.ID
	idType   string
	l        identity.Link
	act      halfAct
}

// halfActionOf decides h's write from the view: what its node's
// partition holds of it, when the walk read that far.
func halfActionOf(v *graphView, h halfWrite) halfAct {
	n := v.nodes[h.node.Key()]
	var (
		stored linkHalf
		ok     bool
	)
	if n != nil {
		stored, ok = n.halves[h.nb.Key()]
	}
	at := h.l.At
	switch {
	case !ok:
		return halfPut
	case stored.legacy:
		// Links of the earlier node format are kept as they are.
		return halfNone
	case stored.deleted > 0:
		if stored.deleted < at {
			return halfRevive
		}
		return halfNone
	case at >= stored.info.Last+LinkRefreshInterval:
		return halfRefresh
	case at < stored.info.First:
		return halfFirst
	}
	return halfNone
}

// halfType is the identity type h stores for its node: the link's, else
// the standard namespace's ("" when neither says).
func (h halfWrite) halfType() string {
	if h.idType != "" {
		return h.idType
	}
	if ns, ok := identity.LookupStandard(h.node.Namespace); ok {
		return ns.IDType
	}
	return ""
}

// sizeItem is the largest item the half can be, for the size check.
func (h halfWrite) sizeItem() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		topology.PartitionKey: profS(h.node.Key()),
		topology.SortKey:      profS(profLinkSK(h.nb.Key())),
		"nb":                  profS(h.nb.Key()),
		"first":               profN(h.l.At),
		"last":                profN(h.l.At),
		"dataset":             profS(h.l.Dataset),
		"source":              profS(h.l.Source),
		"lastDataset":         profS(h.l.Dataset),
		"lastSource":          profS(h.l.Source),
		"ns":                  profS(h.node.Namespace),
		"idType":              profS(h.halfType()),
	}
}

// The attribute names of a link half, as expression names: first, last,
// source and dataset are DynamoDB reserved words or may become ones.
var profLinkNames = map[string]string{
	"#nb": "nb", "#ns": "ns", "#t": "idType", "#first": "first", "#last": "last",
	"#ds": "dataset", "#src": "source", "#lds": "lastDataset", "#lsrc": "lastSource", "#del": profDeletedAttr,
}

// Conditions of the half writes (docs/architecture.md, "Storage"): a put
// keeps a newer sighting (the same ordering time breaks on the source)
// and a tombstone not older than the record; a refresh needs a live half
// seen before the record (so that it never brings back a half a repair
// removed); a revival needs a tombstone older than the record; moving
// the first sighting back needs a live half first seen later.
const (
	profHalfPutCond     = "attribute_not_exists(pk) OR ((attribute_not_exists(#last) OR #last < :at OR (#last = :at AND #lsrc < :src)) AND (attribute_not_exists(#del) OR #del < :at))"
	profHalfRefreshCond = "attribute_exists(pk) AND attribute_not_exists(#del) AND (#last < :at OR (#last = :at AND #lsrc < :src))"
	profHalfReviveCond  = "attribute_exists(#del) AND #del < :at"
	profHalfFirstCond   = "attribute_exists(pk) AND attribute_not_exists(#del) AND #first > :at"
)

// writeHalf writes h by one UpdateItem (two when a revival finds the
// tombstone gone). A failed condition is success: the stored half is
// newer than what h would say.
func (p *Profiles) writeHalf(ctx context.Context, h halfWrite) error {
	l := h.l
	vals := map[string]types.AttributeValue{
		":at": profN(l.At), ":ds": profS(l.Dataset), ":src": profS(l.Source),
	}
	var set []string
	var expr, cond string
	switch h.act {
	case halfFirst:
		expr, cond = "SET #first = :at, #ds = :ds, #src = :src", profHalfFirstCond
	case halfRefresh:
		expr, cond = "SET #last = :at, #lds = :ds, #lsrc = :src", profHalfRefreshCond
	default:
		vals[":nb"], vals[":ns"] = profS(h.nb.Key()), profS(h.node.Namespace)
		set = append(set, "#nb = :nb", "#ns = :ns")
		if t := h.halfType(); t != "" {
			vals[":t"] = profS(t)
			set = append(set, "#t = :t")
		}
		if h.act == halfRevive {
			set = append(set, "#first = :at", "#ds = :ds", "#src = :src")
			cond = profHalfReviveCond
		} else {
			set = append(set, "#first = if_not_exists(#first, :at)", "#ds = if_not_exists(#ds, :ds)", "#src = if_not_exists(#src, :src)")
			cond = profHalfPutCond
		}
		set = append(set, "#last = :at", "#lds = :ds", "#lsrc = :src")
		expr = "SET " + strings.Join(set, ", ") + " REMOVE #del"
	}
	_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(p.table),
		Key:                       profLinkKey(h.node, h.nb),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  used(profLinkNames, expr, cond),
		ExpressionAttributeValues: used(vals, expr, cond),
	})
	if err != nil && IsConditionFailed(err) {
		if h.act == halfRevive {
			h.act = halfPut
			return p.writeHalf(ctx, h)
		}
		return nil
	}
	return translate(err, "write identity link")
}

// used keeps the names or values (placeholders "#x", ":x") that the
// expressions use: DynamoDB refuses unused ones.
func used[V any](m map[string]V, exprs ...string) map[string]V {
	all := strings.Join(exprs, " ")
	out := map[string]V{}
	for k, v := range m {
		if strings.Contains(all, k) {
			out[k] = v
		}
	}
	return out
}

// profLinkKey is the key of node's half of its link to nb.
func profLinkKey(node, nb identity.ID) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		topology.PartitionKey: profS(node.Key()),
		topology.SortKey:      profS(profLinkSK(nb.Key())),
	}
}

// profLinkSK is the sort key of the link to neighbour in its node's
// partition: "L#<neighbour key>", or "LH#<hex SHA-256 of the key>" when
// that would pass the 1,024-byte sort key limit (identity keys may be
// 2,048 bytes). Both sort between the fragments ("F#…") and the node
// ("N").
func profLinkSK(neighbour string) string {
	if len(profLinkPfx)+len(neighbour) <= MaxSortKeyBytes {
		return profLinkPfx + neighbour
	}
	sum := sha256.Sum256([]byte(neighbour))
	return profLinkHashPfx + hex.EncodeToString(sum[:])
}

// repair walks the clusters of starts again (strongly consistent,
// bounded), removes what the guardrails forbid (planRepair), completes
// the links of own (link keys: the caller's) found on one node only, and
// records each decision. A round that changed anything is followed by
// another, which also reads the partitions it changed: a concurrent
// writer may have written a half back after a removal, or a concurrent
// repair removed one after a completion.
func (p *Profiles) repair(ctx context.Context, starts []identity.ID, types map[string]string, unique uniqueSet, own map[string]bool) error {
	for round := 0; round < maxRepairRounds; round++ {
		view, err := p.walk(ctx, starts, p.walkBudget())
		if err != nil {
			return err
		}
		if unique, err = p.uniqueOf(ctx, view, unique); err != nil {
			return err
		}
		typeOf := func(k string) string {
			if n := view.nodes[k]; n != nil && n.idType != "" {
				return n.idType
			}
			if t := types[k]; t != "" {
				return t
			}
			if ns, ok := identity.LookupStandard(namespaceOf(k)); ok {
				return ns.IDType
			}
			return ""
		}
		plan := planRepair(view, p.clusterCap(), unique, typeOf, own)
		if plan.empty() {
			return nil
		}
		if err := p.applyRepair(ctx, view, plan, typeOf); err != nil {
			return err
		}
		starts = withTouched(starts, plan)
	}
	return nil
}

// withTouched adds to starts the identities whose partitions plan
// changed.
func withTouched(starts []identity.ID, plan repairPlan) []identity.ID {
	have := map[string]bool{}
	for _, s := range starts {
		have[s.Key()] = true
	}
	add := func(keys ...string) {
		for _, k := range keys {
			if have[k] {
				continue
			}
			if id, err := identity.ParseKey(k); err == nil {
				have[k] = true
				starts = append(starts, id)
			}
		}
	}
	for _, r := range plan.removed {
		add(r.e.a, r.e.b)
	}
	for _, ev := range plan.evicted {
		add(ev.node)
		for _, e := range ev.links {
			add(e.a, e.b)
		}
	}
	for _, c := range plan.completed {
		add(c.node, c.nb)
	}
	return starts
}

// applyRepair deletes the links plan removes (both halves each), writes
// the halves it completes, and records its decisions.
func (p *Profiles) applyRepair(ctx context.Context, v *graphView, plan repairPlan, typeOf func(string) string) error {
	var (
		drops  []graphEdge
		events []GraphEvent
	)
	for _, r := range plan.removed {
		drops = append(drops, r.e)
		events = append(events, removalEvents(r)...)
	}
	for _, ev := range plan.evicted {
		drops = append(drops, ev.links...)
		events = append(events, evictionEvents(ev)...)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(profWalkParallelism)
	for _, e := range drops {
		for _, end := range [2][2]string{{e.a, e.b}, {e.b, e.a}} {
			legacy := false
			if n := v.nodes[end[0]]; n != nil {
				legacy = n.halves[end[1]].legacy
			}
			g.Go(func() error { return p.deleteHalf(gctx, end[0], end[1], legacy) })
		}
	}
	for _, e := range events {
		g.Go(func() error { return p.putGraphEvent(gctx, e) })
	}
	for _, c := range plan.completed {
		g.Go(func() error { return p.completeHalf(gctx, c, typeOf(c.node)) })
	}
	return g.Wait()
}

// completeHalf writes node's missing half of a link the repair keeps,
// as its other half says, unless a half is there by then (one being
// written, or a tombstone).
func (p *Profiles) completeHalf(ctx context.Context, c halfCopy, idType string) error {
	node, err := identity.ParseKey(c.node)
	if err != nil {
		return nil
	}
	item := map[string]types.AttributeValue{
		topology.PartitionKey: profS(c.node),
		topology.SortKey:      profS(profLinkSK(c.nb)),
		"nb":                  profS(c.nb),
		"ns":                  profS(node.Namespace),
		"first":               profN(c.info.First),
		"dataset":             profS(c.info.Dataset),
		"source":              profS(c.info.Source),
		"last":                profN(c.info.Last),
		"lastDataset":         profS(c.info.LastDataset),
		"lastSource":          profS(c.info.LastSource),
	}
	if idType != "" {
		item["idType"] = profS(idType)
	}
	if err := checkItem(item, "write identity link"); err != nil {
		return err
	}
	_, err = p.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(p.table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err != nil && IsConditionFailed(err) {
		return nil
	}
	return translate(err, "write identity link")
}

// removalEvents are the LINK-REMOVED events of r, on both ends: at the
// removed link's first sighting, with the dataset and source that made
// it, so that every writer taking the decision records the same items.
func removalEvents(r removal) []GraphEvent {
	a, _ := identity.ParseKey(r.e.a)
	b, _ := identity.ParseKey(r.e.b)
	reason := fmt.Sprintf("removed: %s is unique, and this link joined the cluster of %s to the cluster of %s, which older links had made", r.why.ns, r.why.mine, r.why.theirs)
	e := GraphEvent{Kind: GraphLinkRemoved, At: r.e.info.First, Identity: a, Other: b, Namespace: r.why.ns, Reason: reason, Dataset: r.e.info.Dataset, Source: r.e.info.Source}
	f := e
	f.Identity, f.Other = b, a
	return []GraphEvent{e, f}
}

// evictionEvents are the IDENTITY-EVICTED events of ev: on the evicted
// identity, and on each other end of the link that took the cluster over
// the cap (its newest), at that link's last sighting, with the dataset
// and source of that sighting.
func evictionEvents(ev eviction) []GraphEvent {
	x, _ := identity.ParseKey(ev.node)
	t := ev.idType
	if t == "" {
		t = "untyped"
	}
	reason := fmt.Sprintf("evicted: the cluster had %d identities, over its cap of %d; this %s identity, last seen at %d, had the lowest type priority (cookie, device, then the rest) and the oldest last sighting",
		ev.size, ev.capacity, t, ev.lastSeen)
	base := GraphEvent{Kind: GraphIdentityEvicted, At: ev.newest.info.Last, Reason: reason, Dataset: ev.newest.info.LastDataset, Source: ev.newest.info.LastSource}
	out := []GraphEvent{base}
	out[0].Identity = x
	for _, end := range []string{ev.newest.a, ev.newest.b} {
		if end == "" || end == ev.node {
			continue
		}
		id, err := identity.ParseKey(end)
		if err != nil {
			continue
		}
		e := base
		e.Identity, e.Other = id, x
		out = append(out, e)
	}
	return out
}

// deleteHalf removes node's half of its link to nb, unless it is a
// tombstone (a profile delete's, which must stay).
func (p *Profiles) deleteHalf(ctx context.Context, node, nb string, legacy bool) error {
	var err error
	if legacy {
		_, err = p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                aws.String(p.table),
			Key:                      map[string]types.AttributeValue{topology.PartitionKey: profS(node), topology.SortKey: profS(profNodeSK)},
			UpdateExpression:         aws.String("REMOVE #links.#k"),
			ConditionExpression:      aws.String("attribute_exists(#links.#k)"),
			ExpressionAttributeNames: map[string]string{"#links": "links", "#k": nb},
		})
	} else {
		_, err = p.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(p.table),
			Key: map[string]types.AttributeValue{
				topology.PartitionKey: profS(node), topology.SortKey: profS(profLinkSK(nb)),
			},
			ConditionExpression:      aws.String("attribute_not_exists(#del)"),
			ExpressionAttributeNames: map[string]string{"#del": profDeletedAttr},
		})
	}
	if err != nil && IsConditionFailed(err) {
		return nil
	}
	return translate(err, "remove identity link")
}

// profLinkCache remembers, for each link this process wrote or decided
// on, the latest ordering time it knows the link was seen at, so that the
// steady state of a stream costs no link reads or writes. It forgets
// everything when full: a forgotten link is merely checked again.
type profLinkCache struct {
	mu sync.Mutex
	m  map[string]int64
	// refused holds, for links of m the process refused, the unique
	// namespace that refused them.
	refused map[string]string
	max     int
}

// profLinkCacheKey names the link between two identities whichever is
// primary: a profile row links its e-mail to an ECID, an event the same
// ECID to the e-mail, and both are the one link.
func profLinkCacheKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "\x00" + b
}

func newProfLinkCache(max int) *profLinkCache {
	return &profLinkCache{m: map[string]int64{}, refused: map[string]string{}, max: max}
}

// fresh reports whether a sighting of link k at at says nothing new: the
// process knows k from a sighting less than LinkRefreshInterval before.
func (c *profLinkCache) fresh(k string, at int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen, ok := c.m[k]
	return ok && at < seen+LinkRefreshInterval
}

// refusedFor reports whether the process refused link k, and for which
// unique namespace.
func (c *profLinkCache) refusedFor(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns, ok := c.refused[k]
	return ns, ok
}

// add remembers that link k was seen at at, and, when refusedNS is not
// empty, that it was refused for that unique namespace (else that it was
// not refused).
func (c *profLinkCache) add(k string, at int64, refusedNS string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if refusedNS != "" {
		c.refused[k] = refusedNS
	} else {
		delete(c.refused, k)
	}
	if old, ok := c.m[k]; ok {
		c.m[k] = max(old, at)
		return
	}
	if len(c.m) >= c.max {
		c.m = map[string]int64{}
		c.refused = map[string]string{}
	}
	c.m[k] = at
}
