package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/upsert"
)

// Sort keys of the profile table (docs/architecture.md, "Storage"). Within a partition the
// order is events ("E#…") < fragments ("F#…") < links ("L#…", "LH#…") <
// the node ("N", written by earlier versions only) < graph events ("R#…"),
// so fragments and links are read with sk BETWEEN "F" AND "N", events by
// a range on "E#" and graph events by a range on "R#".
const (
	profNodeSK       = "N"
	profFragmentPfx  = "F#"
	profLinkPfx      = "L#"
	profLinkHashPfx  = "LH#"
	profEventPfx     = "E#"
	profNodeAndFrags = "F"
)

// DefaultClusterCap is the most identities of a cluster, and bounds a
// lookup's walk (docs/rules.md#limits; AEP's 50).
const DefaultClusterCap = 50

// profWalkParallelism bounds the partitions read at once in a cluster walk.
const profWalkParallelism = 8

// Profiles is the profile table: identity nodes with their links,
// fragments and events, one partition per identity.
type Profiles struct {
	db    DynamoDB
	table string
	links *profLinkCache
	rules GraphRules
	// Now dates the expiry filter of Events and the deadlines of the
	// delete steps; time.Now. It may be changed before first use.
	Now func() time.Time
	// deletePage is the most items one page of a delete step reads;
	// 0 means profDeletePage.
	deletePage int32
}

// NewProfiles returns the profile store of table.
func NewProfiles(db DynamoDB, table string) *Profiles {
	return &Profiles{db: db, table: table, links: newProfLinkCache(1 << 17), Now: time.Now}
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

// PutFragment writes f, the update of its identity's fragment in its
// dataset that f.Op says (AEP's streaming header.operations.data; the
// rules are package upsert's, docs/rules.md#partial-updates), so that the
// stored fragment is what applying every update once in clock order (f.TS
// epoch ms, then f.Src) gives, whatever the order and number of their
// deliveries:
//
//   - create ("" or merge.OpCreate): f.Record (or f.Raw) replaces the
//     fragment unless the stored one is newer. Fast path: one conditional
//     PutItem of a plain item, no read, taken when nothing or a plain
//     fragment not newer is stored. When the condition fails, a
//     consistent GetItem decides: a plain fragment not older is kept
//     (losing to a newer fragment is success); otherwise (a clocked item:
//     merged into or deleted) the create is applied by read-modify-write.
//   - merge (merge.OpMerge): f.Record is a JSON Merge Patch (RFC 7386) of
//     the fragment, identityMap entries added as a set.
//   - delete (merge.OpDelete, f.Record nil): the fragment is removed; a
//     tombstone item (no rec) keeps older updates out.
//
// A read-modify-write is a consistent GetItem, upsert.State.Apply, and a
// PutItem on the condition that the item is unchanged (absent:
// attribute_not_exists(pk); plain: no m and the same ts and src; clocked:
// the same ver, ts and src, as ver starts over when a newer create makes
// the item plain and its ts and src, its newest clock, never go back),
// retried on a lost condition at most 10 times with jittered exponential
// backoff, then a Throttled error with CodeContention. An update that
// changes nothing (a replay, or one older than all it would change)
// writes nothing. A state that is one create and nothing since is stored
// plain (no m, no ver), so that the next create takes the fast path
// again. The item layout is described at profAttrClocks.
//
// Errors: upsert's Invalid FRAGMENT-TOO-LARGE (the record would pass
// upsert.MaxRecordBytes) and PATCH-IDENTITY-REMOVE (a null in identityMap)
// as they are, with nothing written; the store's Invalid refusals of keys
// and item sizes (checkItem) before any write; Throttled
// STORE-CONTENTION; and the SDK's errors as translate gives them.
//
// Cost, with an item of r KB: a create on the fast path is 1 write of
// ceil(r) WCUs (also when its condition fails); a create that loses it
// adds 1 strongly consistent read of ceil(r/4) RCUs, which is also the
// read of its first read-modify-write attempt, if any. Each
// read-modify-write attempt is such a read plus, unless nothing changes,
// 1 write of ceil(r') WCUs (r' the new item's size, its clock document
// included). (AWS, "DynamoDB read and write capacity units": a write is
// 1 WCU per KB and is charged when its condition fails; a strongly
// consistent read is 1 RCU per 4 KB.)
func (p *Profiles) PutFragment(ctx context.Context, f merge.Fragment) error {
	var (
		item map[string]types.AttributeValue
		read bool
	)
	switch f.Op {
	case "", merge.OpCreate:
		done, err := p.putFragmentFast(ctx, f)
		if err != nil || done {
			return err
		}
		if item, err = p.getFragment(ctx, f); err != nil {
			return err
		}
		read = true
		if item != nil {
			_, clocked := item[profAttrClocks]
			stored := upsert.Clock{TS: profNum(item[profAttrTS]), Src: profStr(item[profAttrSrc])}
			if !clocked && !stored.Before(upsert.Clock{TS: f.TS, Src: f.Src}) {
				return nil
			}
		}
	}
	op, err := upsert.OpOf(f)
	if err != nil {
		return err
	}
	return p.putFragmentRMW(ctx, f, op, item, read)
}

// EventSortKey is the sort key of an event: time first, so that a range
// on it reads a time window in order.
func EventSortKey(ts int64, id string) string {
	return fmt.Sprintf("%s%013d#%s", profEventPfx, ts, id)
}

// PutEvent writes an event, keyed by its time and _id: writing it again
// rewrites the same item. The item has e.ExpiresAt as its time to live
// (topology.ExpiryAttribute, epoch seconds) when it is set. The write is
// conditional on attribute_not_exists(deleted): an event a profile delete
// tombstoned (see DeleteIdentityStep) stays deleted whatever is replayed,
// and the lost condition is success. Cost: 1 write of ceil(item KB) WCUs,
// also when the condition fails.
func (p *Profiles) PutEvent(ctx context.Context, e merge.Event) error {
	rec, err := profRecordJSON(e.Raw, e.Record)
	if err != nil {
		return err
	}
	item := map[string]types.AttributeValue{
		topology.PartitionKey: profS(e.Identity),
		topology.SortKey:      profS(EventSortKey(e.Timestamp, e.ID)),
		"id":                  profS(e.ID),
		"ds":                  profS(e.Dataset),
		"rec":                 profS(rec),
		"ts":                  profN(e.Timestamp),
		"src":                 profS(e.Src),
		"batch":               profS(e.Batch),
	}
	if e.ExpiresAt > 0 {
		item[topology.ExpiryAttribute] = profN(e.ExpiresAt)
	}
	if err := checkItem(item, "write event"); err != nil {
		return err
	}
	_, err = p.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(p.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#deleted)"),
		ExpressionAttributeNames: map[string]string{"#deleted": profDeletedAttr},
	})
	if err != nil && IsConditionFailed(err) {
		return nil
	}
	return translate(err, "write event")
}

// Partition is what one identity's partition holds apart from events
// and graph events.
type Partition struct {
	// Found is true when the partition holds a link or a fragment that
	// exists: tombstones (a deleted fragment, a deleted link) alone are
	// not found.
	Found      bool
	Neighbours []identity.ID
	Links      map[string]LinkInfo
	Fragments  []merge.Fragment
	// Truncated: the read stopped at its bound of neighbours, and the
	// partition may hold more links.
	Truncated bool
}

// LinkInfo says when a link was first and last seen (epoch ms, the
// ordering times of the records that made it) and by what: Dataset and
// Source (batch id or stream position) of the first record, LastDataset
// and LastSource of the latest. Last moves on at most once per
// LinkRefreshInterval of ordering time (docs/rules.md#identities).
type LinkInfo struct {
	First       int64  `json:"first"`
	Last        int64  `json:"last"`
	Dataset     string `json:"dataset"`
	Source      string `json:"source"`
	LastDataset string `json:"lastDataset,omitempty"`
	LastSource  string `json:"lastSource,omitempty"`
}

// Partition reads an identity's fragments and links in one paged Query
// on sk BETWEEN "F" AND "N" (strongly consistent reads are not needed:
// lookups read what is committed), at most the guardrails' walk budget of
// neighbours (Cap × (identity.MaxPerRecord+1); past it Truncated is set).
// A link tombstone (an item with "deleted", left by a profile delete) is
// not a link. A plain fragment item is one merge.Fragment; a clocked one
// (see PutFragment) is one per part of its state (upsert.State.Parts) at
// the part's clock, with the item's batch, so that with timestampOrdered
// each attribute competes by the clock it was last written at; a
// tombstone is none. A stored item that cannot be decoded is an Internal
// error (STORE-DECODE, or upsert's FRAGMENT-CLOCKS). Cost: the Query's
// eventually consistent reads, half an RCU per 4 KB of the items read.
func (p *Profiles) Partition(ctx context.Context, id identity.ID) (Partition, error) {
	return p.partition(ctx, id, p.walkBudget())
}

// partition reads id's partition, and stops paging once maxNeighbours
// (> 0) neighbours are read, or twice as many link items (tombstones):
// pages are sized to that bound, so a hub's partition costs what the
// bound needs. Fragments sort before links, so all fragments are read
// whatever the bound, and the neighbours read are the first by key: a
// cluster walk capped at maxNeighbours identities needs no more to find
// the same members and to know it was truncated.
func (p *Profiles) partition(ctx context.Context, id identity.ID, maxNeighbours int) (Partition, error) {
	var part Partition
	in := &dynamodb.QueryInput{
		TableName:              aws.String(p.table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": profS(id.Key()), ":lo": profS(profNodeAndFrags), ":hi": profS(profNodeSK),
		},
	}
	linkItems := 0
	for {
		if maxNeighbours > 0 {
			in.Limit = aws.Int32(int32(max(maxNeighbours-len(part.Neighbours), 0) + profLinkPageSlack))
		}
		out, err := p.db.Query(ctx, in)
		if err != nil {
			return Partition{}, translate(err, "read identity")
		}
		for _, item := range out.Items {
			sk := profStr(item[topology.SortKey])
			switch {
			case strings.HasPrefix(sk, profLinkPfx), strings.HasPrefix(sk, profLinkHashPfx):
				linkItems++
				if _, deleted := item[profDeletedAttr]; deleted {
					// A link tombstone left by a profile delete is no link.
					continue
				}
				k := profStr(item["nb"])
				nid, err := identity.ParseKey(k)
				if err != nil {
					continue
				}
				part.Found = true
				if part.Links == nil {
					part.Links = map[string]LinkInfo{}
				}
				if _, dup := part.Links[k]; !dup {
					part.Neighbours = append(part.Neighbours, nid)
				}
				part.Links[k] = profLinkInfoItem(item)
			case sk == profNodeSK:
				part.Found = true
				// Links kept in a map on the node by earlier versions; read
				// for one release (docs/operations.md).
				if m, ok := item["links"].(*types.AttributeValueMemberM); ok {
					if part.Links == nil {
						part.Links = make(map[string]LinkInfo, len(m.Value))
					}
					for k, v := range m.Value {
						nid, err := identity.ParseKey(k)
						if err != nil {
							continue
						}
						if _, dup := part.Links[k]; !dup {
							part.Neighbours = append(part.Neighbours, nid)
							part.Links[k] = profLinkInfo(v)
						}
					}
				}
			case strings.HasPrefix(sk, profFragmentPfx):
				frags, exists, err := profItemFragments(id.Key(), item)
				if err != nil {
					return Partition{}, err
				}
				part.Found = part.Found || exists
				part.Fragments = append(part.Fragments, frags...)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		if maxNeighbours > 0 && (len(part.Neighbours) >= maxNeighbours || linkItems >= 2*maxNeighbours+profLinkPageSlack) {
			part.Truncated = true
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	sort.Slice(part.Neighbours, func(i, j int) bool { return part.Neighbours[i].Key() < part.Neighbours[j].Key() })
	return part, nil
}

// Cluster gathers the candidates of a lookup: with stitch, the identities
// of start's cluster found breadth-first (one round of parallel reads per
// graph level, at most limit identities, each partition read stopping
// past limit neighbours; Truncated when the cluster has more), else start
// alone (its partition read up to its first neighbour, enough to know it
// is Found).
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
				bound := 1
				if stitch {
					bound = limit
				}
				pt, err := p.partition(gctx, id, bound)
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
			// A partition read that stopped at its bound may leave
			// neighbours unread: the cluster may have more identities.
			c.Truncated = c.Truncated || pt.Truncated
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
// in time order (or reversed), at most limit of them. Event tombstones
// (items with deleted, see DeleteIdentityStep) and expired events
// (expiresAt ≤ Now, epoch seconds: DynamoDB deletes expired items only
// within days, and emulators never) are left out by a filter; the Query
// goes on paging until limit live events are read or the range ends, so a
// page is short only at the end of the range. Cost: the Query's
// eventually consistent reads of every item it evaluates, skipped ones
// included (AWS: a filter does not reduce the capacity a Query uses).
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
			":hi":  profS(fmt.Sprintf("%s%013d", profEventPfx, to)),
			":now": profN(p.Now().Unix()),
		},
		FilterExpression: aws.String("attribute_not_exists(#deleted) AND (attribute_not_exists(#exp) OR #exp > :now)"),
		ExpressionAttributeNames: map[string]string{
			"#deleted": profDeletedAttr, "#exp": topology.ExpiryAttribute,
		},
		ScanIndexForward: aws.Bool(!descending),
		Limit:            aws.Int32(int32(min(limit, 1000))),
	}
	var evs []merge.Event
	err := queryPages(ctx, p.db, in, "read events", func(items []map[string]types.AttributeValue) (bool, error) {
		for _, item := range items {
			e := merge.Event{
				Identity:  id.Key(),
				ID:        profStr(item["id"]),
				Timestamp: profNum(item["ts"]),
				Dataset:   profStr(item["ds"]),
				Src:       profStr(item["src"]),
				Batch:     profStr(item["batch"]),
				ExpiresAt: profNum(item[topology.ExpiryAttribute]),
			}
			if err := json.Unmarshal([]byte(profStr(item["rec"])), &e.Record); err != nil {
				return false, fault.Wrap(err, fault.Internal, "STORE-DECODE", "read events: stored event is corrupt")
			}
			evs = append(evs, e)
		}
		return len(evs) < limit, nil
	})
	if err != nil {
		return nil, err
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
	return profLinkInfoItem(m.Value)
}

// profLinkInfoItem reads a link half (or an entry of the legacy node's
// map). Halves written before last sightings were kept have no
// lastDataset or lastSource: their last sighting is their first.
func profLinkInfoItem(m map[string]types.AttributeValue) LinkInfo {
	li := LinkInfo{
		First: profNum(m["first"]), Last: profNum(m["last"]),
		Dataset: profStr(m["dataset"]), Source: profStr(m["source"]),
		LastDataset: profStr(m["lastDataset"]), LastSource: profStr(m["lastSource"]),
	}
	if _, ok := m["lastDataset"]; !ok {
		li.LastDataset, li.LastSource = li.Dataset, li.Source
	}
	return li
}
