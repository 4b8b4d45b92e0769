package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Sort keys of the profile table (ARCHITECTURE §4). Within a partition the
// order is events ("E#…") < fragments ("F#…") < the node ("N"), so the node
// and the fragments are read with sk >= "F" and events by a range on "E#".
const (
	profNodeSK       = "N"
	profFragmentPfx  = "F#"
	profEventPfx     = "E#"
	profNodeAndFrags = "F"
)

// DefaultClusterCap bounds a cluster walk (PRODUCT §6).
const DefaultClusterCap = 50

// profWalkParallelism bounds the partitions read at once in a cluster walk.
const profWalkParallelism = 8

// Profiles is the profile table: identity nodes with their links,
// fragments and events, one partition per identity.
type Profiles struct {
	db    DynamoDB
	table string
	links *profLinkCache
}

// NewProfiles returns the profile store of table.
func NewProfiles(db DynamoDB, table string) *Profiles {
	return &Profiles{db: db, table: table, links: newProfLinkCache(1 << 17)}
}

func profS(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func profN(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func profRecordJSON(raw []byte, rec map[string]any) (string, error) {
	if len(raw) > 0 {
		return string(raw), nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return "", fault.Wrap(err, fault.Internal, "STORE-ENCODE", "encode record")
	}
	return string(b), nil
}

// PutFragment writes f unless the stored fragment of the same identity and
// dataset is newer (ordering time, then source). Losing to a newer
// fragment is success: the store already holds what must win.
func (p *Profiles) PutFragment(ctx context.Context, f merge.Fragment) error {
	rec, err := profRecordJSON(f.Raw, f.Record)
	if err != nil {
		return err
	}
	_, err = p.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(p.table),
		Item: map[string]types.AttributeValue{
			topology.PartitionKey: profS(f.Identity),
			topology.SortKey:      profS(profFragmentPfx + f.Dataset),
			"ds":                  profS(f.Dataset),
			"rec":                 profS(rec),
			"ts":                  profN(f.TS),
			"src":                 profS(f.Src),
			"batch":               profS(f.Batch),
		},
		ConditionExpression: aws.String("attribute_not_exists(pk) OR ts < :ts OR (ts = :ts AND src <= :src)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ts":  profN(f.TS),
			":src": profS(f.Src),
		},
	})
	if err != nil && IsConditionFailed(err) {
		return nil
	}
	return translate(err, "write fragment")
}

// EventSortKey is the sort key of an event: time first, so that a range
// on it reads a time window in order.
func EventSortKey(ts int64, id string) string {
	return fmt.Sprintf("%s%013d#%s", profEventPfx, ts, id)
}

// PutEvent writes an event, keyed by its time and _id: writing it again
// rewrites the same item.
func (p *Profiles) PutEvent(ctx context.Context, e merge.Event) error {
	rec, err := profRecordJSON(e.Raw, e.Record)
	if err != nil {
		return err
	}
	_, err = p.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(p.table),
		Item: map[string]types.AttributeValue{
			topology.PartitionKey: profS(e.Identity),
			topology.SortKey:      profS(EventSortKey(e.Timestamp, e.ID)),
			"id":                  profS(e.ID),
			"ds":                  profS(e.Dataset),
			"rec":                 profS(rec),
			"ts":                  profN(e.Timestamp),
			"src":                 profS(e.Src),
			"batch":               profS(e.Batch),
		},
	})
	return translate(err, "write event")
}

// PutLinks writes each link on both of its nodes. Links already written by
// this process are skipped, so that steady state costs no link writes.
func (p *Profiles) PutLinks(ctx context.Context, links []identity.Link) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(profWalkParallelism)
	for _, l := range links {
		if l.A == l.B {
			continue
		}
		ck := l.A.Key() + "\x00" + l.B.Key()
		if p.links.has(ck) {
			continue
		}
		g.Go(func() error {
			if err := p.putLinkHalf(ctx, l.A, l.AType, l.B, l); err != nil {
				return err
			}
			if err := p.putLinkHalf(ctx, l.B, l.BType, l.A, l); err != nil {
				return err
			}
			p.links.add(ck)
			return nil
		})
	}
	return g.Wait()
}

// putLinkHalf adds the link to neighbour on node's item. A nested SET
// needs the links map to exist, so the first link of a node creates the map
// under the condition that it is still missing; a writer that loses that
// race adds its entry to the map the winner made. Nothing is lost and no
// transaction is needed. An existing entry is kept: it records when and by
// what the link was first made.
func (p *Profiles) putLinkHalf(ctx context.Context, node identity.ID, idType string, neighbour identity.ID, l identity.Link) error {
	entry := &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"first":   profN(l.At),
		"last":    profN(l.At),
		"dataset": profS(l.Dataset),
		"source":  profS(l.Source),
	}}
	if idType == "" {
		if ns, ok := identity.LookupStandard(node.Namespace); ok {
			idType = ns.IDType
		}
	}
	key := map[string]types.AttributeValue{
		topology.PartitionKey: profS(node.Key()),
		topology.SortKey:      profS(profNodeSK),
	}
	names := map[string]string{"#l": "links", "#n": "ns", "#t": "idType", "#f": "firstSeen"}
	common := "#n = if_not_exists(#n, :ns), #t = if_not_exists(#t, :type), #f = if_not_exists(#f, :at)"
	for attempt := 0; attempt < 4; attempt++ {
		_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                aws.String(p.table),
			Key:                      key,
			UpdateExpression:         aws.String("SET #l.#k = if_not_exists(#l.#k, :v), " + common),
			ConditionExpression:      aws.String("attribute_exists(#l)"),
			ExpressionAttributeNames: withProfName(names, "#k", neighbour.Key()),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v": entry, ":ns": profS(node.Namespace), ":type": profS(idType), ":at": profN(l.At),
			},
		})
		if err == nil || !IsConditionFailed(err) {
			return translate(err, "write identity link")
		}
		_, err = p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                aws.String(p.table),
			Key:                      key,
			UpdateExpression:         aws.String("SET #l = :m, " + common),
			ConditionExpression:      aws.String("attribute_not_exists(#l)"),
			ExpressionAttributeNames: names,
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":m":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{neighbour.Key(): entry}},
				":ns": profS(node.Namespace), ":type": profS(idType), ":at": profN(l.At),
			},
		})
		if err == nil || !IsConditionFailed(err) {
			return translate(err, "write identity link")
		}
	}
	return fault.E(fault.Unavailable, "STORE-CONTENDED", "write identity link: too much contention")
}

func withProfName(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// Partition is what one identity's partition holds apart from events.
type Partition struct {
	Found      bool
	Neighbours []identity.ID
	Links      map[string]LinkInfo
	Fragments  []merge.Fragment
}

// LinkInfo says when and by what a link was first made.
type LinkInfo struct {
	First   int64  `json:"first"`
	Last    int64  `json:"last"`
	Dataset string `json:"dataset"`
	Source  string `json:"source"`
}

// Partition reads an identity's node and fragments in one Query.
func (p *Profiles) Partition(ctx context.Context, id identity.ID) (Partition, error) {
	var part Partition
	in := &dynamodb.QueryInput{
		TableName:              aws.String(p.table),
		KeyConditionExpression: aws.String("pk = :pk AND sk >= :f"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": profS(id.Key()), ":f": profS(profNodeAndFrags),
		},
	}
	for {
		out, err := p.db.Query(ctx, in)
		if err != nil {
			return Partition{}, translate(err, "read identity")
		}
		for _, item := range out.Items {
			part.Found = true
			sk := profStr(item[topology.SortKey])
			switch {
			case sk == profNodeSK:
				if m, ok := item["links"].(*types.AttributeValueMemberM); ok {
					part.Links = make(map[string]LinkInfo, len(m.Value))
					for k, v := range m.Value {
						nid, err := identity.ParseKey(k)
						if err != nil {
							continue
						}
						part.Neighbours = append(part.Neighbours, nid)
						part.Links[k] = profLinkInfo(v)
					}
				}
			case len(sk) > len(profFragmentPfx) && sk[:len(profFragmentPfx)] == profFragmentPfx:
				f := merge.Fragment{
					Identity: id.Key(),
					Dataset:  profStr(item["ds"]),
					TS:       profNum(item["ts"]),
					Src:      profStr(item["src"]),
					Batch:    profStr(item["batch"]),
				}
				if err := json.Unmarshal([]byte(profStr(item["rec"])), &f.Record); err != nil {
					return Partition{}, fault.Wrap(err, fault.Internal, "STORE-DECODE", "read identity: stored fragment is corrupt")
				}
				part.Fragments = append(part.Fragments, f)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	sort.Slice(part.Neighbours, func(i, j int) bool { return part.Neighbours[i].Key() < part.Neighbours[j].Key() })
	return part, nil
}

// Cluster gathers the candidates of a lookup: with stitch, the identities
// of start's cluster found breadth-first (one round of parallel reads per
// graph level, at most limit identities), else start alone.
func (p *Profiles) Cluster(ctx context.Context, start identity.ID, stitch bool, limit int) (merge.Candidates, error) {
	if limit <= 0 {
		limit = DefaultClusterCap
	}
	var c merge.Candidates
	visited := map[identity.ID]bool{start: true}
	level := []identity.ID{start}
	for depth := 0; len(level) > 0; depth++ {
		parts := make([]Partition, len(level))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(profWalkParallelism)
		for i, id := range level {
			g.Go(func() error {
				pt, err := p.Partition(gctx, id)
				parts[i] = pt
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return merge.Candidates{}, err
		}
		if depth == 0 {
			c.Found = parts[0].Found
			if !c.Found {
				return c, nil
			}
		}
		var next []identity.ID
		for i, pt := range parts {
			c.Members = append(c.Members, level[i])
			c.Fragments = append(c.Fragments, pt.Fragments...)
			if !stitch {
				continue
			}
			for _, n := range pt.Neighbours {
				if visited[n] {
					continue
				}
				if len(visited) >= limit {
					c.Truncated = true
					continue
				}
				visited[n] = true
				next = append(next, n)
			}
		}
		level = next
	}
	return c, nil
}

// Events reads an identity's events with from ≤ timestamp < to (epoch ms),
// in time order (or reversed), at most limit of them.
func (p *Profiles) Events(ctx context.Context, id identity.ID, from, to int64, limit int, descending bool) ([]merge.Event, error) {
	if to <= from || limit <= 0 {
		return nil, nil
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(p.table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": profS(id.Key()),
			":lo": profS(fmt.Sprintf("%s%013d#", profEventPfx, max(from, 0))),
			// "E#<to>" sorts after every "E#<to-1>#…" and before "E#<to>#…".
			":hi": profS(fmt.Sprintf("%s%013d", profEventPfx, to)),
		},
		ScanIndexForward: aws.Bool(!descending),
		Limit:            aws.Int32(int32(min(limit, 1000))),
	}
	var evs []merge.Event
	for len(evs) < limit {
		out, err := p.db.Query(ctx, in)
		if err != nil {
			return nil, translate(err, "read events")
		}
		for _, item := range out.Items {
			e := merge.Event{
				Identity:  id.Key(),
				ID:        profStr(item["id"]),
				Timestamp: profNum(item["ts"]),
				Dataset:   profStr(item["ds"]),
				Src:       profStr(item["src"]),
				Batch:     profStr(item["batch"]),
			}
			if err := json.Unmarshal([]byte(profStr(item["rec"])), &e.Record); err != nil {
				return nil, fault.Wrap(err, fault.Internal, "STORE-DECODE", "read events: stored event is corrupt")
			}
			evs = append(evs, e)
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(evs) > limit {
		evs = evs[:limit]
	}
	return evs, nil
}

func profStr(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func profNum(v types.AttributeValue) int64 {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(n.Value, 10, 64)
		return i
	}
	return 0
}

func profLinkInfo(v types.AttributeValue) LinkInfo {
	m, ok := v.(*types.AttributeValueMemberM)
	if !ok {
		return LinkInfo{}
	}
	return LinkInfo{
		First: profNum(m.Value["first"]), Last: profNum(m.Value["last"]),
		Dataset: profStr(m.Value["dataset"]), Source: profStr(m.Value["source"]),
	}
}

// profLinkCache remembers links this process has written, so that the
// steady state of a stream costs about one write per row. It forgets
// everything when full: a forgotten link is merely rewritten.
type profLinkCache struct {
	mu  sync.Mutex
	m   map[string]struct{}
	max int
}

func newProfLinkCache(max int) *profLinkCache {
	return &profLinkCache{m: map[string]struct{}{}, max: max}
}

func (c *profLinkCache) has(k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	return ok
}

func (c *profLinkCache) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.m = map[string]struct{}{}
	}
	c.m[k] = struct{}{}
}
