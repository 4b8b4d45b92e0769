package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// The deletes of profile data (docs/identity-and-merge.md, "Deletes,
// tombstones and replays"): a profile delete (DELETE /access/entities, one
// identity at a time) and a dataset or batch delete (POST /system/jobs).
// Both run as steps of a profile job: each step reads pages until its
// deadline and returns a cursor to go on from, so that any amount of data
// is deleted by a chain of bounded Lambda runs, and a step run again from
// the same cursor (a redelivered task) does what it did once more,
// harmlessly.

// profGraphEventSKPfx is the sort key prefix of the graph events
// (GraphEvent) recorded in an identity's partition.
const profGraphEventSKPfx = "R#"

// Page sizes of the delete steps: a step checks its deadline between
// pages and finishes a page it started, so a page bounds how far a step
// runs past its deadline (about page/profDeleteParallelism write round
// trips).
const (
	profDeletePage        = 100
	profDeleteParallelism = 8
)

// CodeDeleteCursor is the Invalid error of a delete step given a cursor
// that no step returned.
const CodeDeleteCursor = "DELETE-CURSOR"

func (p *Profiles) deletePageSize() int32 {
	if p.deletePage > 0 {
		return p.deletePage
	}
	return profDeletePage
}

// DeleteIdentityStep removes id's profile data for a profile delete made
// at epoch ms at by src (e.g. "delete:<jobId>"): its fragments become
// delete tombstones at clock (at, src) (package upsert's rules), its
// events become event tombstones, its links link tombstones on both
// halves, and its graph events are removed; replaying records from
// before the delete brings none of it back. It works until deadline and
// returns where to go on (cursor, "" when done) and the items removed.
//
// It pages through id's whole partition (a strongly consistent Query,
// profDeletePage items a page, in sort key order) and, per item:
//
//   - a fragment ("F#<dataset>"): PutFragment with Op delete at clock
//     (at, src): the fragment becomes a tombstone (no rec) whose clock
//     keeps out every create and merge ordered before the delete, while
//     one ordered after it (a newer ordering time) still applies. A
//     tombstone already there gets the newer clock too.
//   - an event ("E#…"): its rec and expiresAt are removed and deleted =
//     at is set; the item keeps id, ds, ts and batch. PutEvent never
//     rewrites such an item: an event replayed with the same _id and
//     timestamp stays deleted. The tombstone does not expire: were
//     DynamoDB's TTL to reclaim it, a replay under a longer (or no) row
//     expiration would bring the event back.
//   - a link half ("L#…", "LH#…") whose last ≤ at: deleted = at on it and
//     on the neighbour's half (created as a tombstone when missing, so
//     that a replay cannot bring back half a link). A link writer writes
//     a half only when its time is after both last and deleted, so the
//     link comes back only from a record ordered after the delete. A link
//     last seen after at was made by newer data and is kept.
//   - the node ("N", links in a map written by earlier versions): each of
//     its links gets tombstones on both halves as above, the neighbour's
//     node loses its entry for id, and the node is deleted.
//   - a graph event ("R#…"): deleted.
//
// removed counts the items that held live data: fragments that existed,
// events and link halves of id not yet tombstoned, links of the node,
// graph events. A step always handles at least one page, so that a chain
// of steps ends whatever the deadlines. On an error it returns the cursor
// it was given (or of its last whole page): the pages handled again are
// handled the same way. Errors: Invalid CodeDeleteCursor, and those of
// the store's writes (translate, PutFragment).
//
// Cost per item: a fragment costs PutFragment's delete (a consistent read
// and a write); an event one UpdateItem; a link two (one per half); a
// graph event one DeleteItem; plus the Query's strongly consistent reads.
func (p *Profiles) DeleteIdentityStep(ctx context.Context, id identity.ID, at int64, src, cursor string, deadline time.Time) (next string, removed int, err error) {
	key := id.Key()
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(p.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": profS(key)},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(p.deletePageSize()),
	}
	if cursor != "" {
		start, err := decodeDeleteCursor(cursor)
		if err != nil {
			return cursor, 0, err
		}
		sk, ok := start[topology.SortKey]
		if !ok || len(start) != 1 {
			return cursor, 0, fault.E(fault.Invalid, CodeDeleteCursor, "delete identity: the cursor is not one a step of this delete returned")
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{topology.PartitionKey: profS(key), topology.SortKey: profS(sk)}
	}
	var n atomic.Int64
	for first := true; ; first = false {
		if !first && !p.Now().Before(deadline) {
			return cursor, int(n.Load()), nil
		}
		out, err := p.db.Query(ctx, in)
		if err != nil {
			return cursor, int(n.Load()), translate(err, "delete identity")
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(profDeleteParallelism)
		for _, item := range out.Items {
			g.Go(func() error {
				c, err := p.deleteIdentityItem(gctx, id, at, src, item)
				n.Add(int64(c))
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return cursor, int(n.Load()), err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return "", int(n.Load()), nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		cursor = encodeDeleteCursor(map[string]string{topology.SortKey: profStr(out.LastEvaluatedKey[topology.SortKey])})
	}
}

// deleteIdentityItem deletes or tombstones one item of id's partition
// (see DeleteIdentityStep) and returns how many live items it removed.
func (p *Profiles) deleteIdentityItem(ctx context.Context, id identity.ID, at int64, src string, item map[string]types.AttributeValue) (int, error) {
	sk := profStr(item[topology.SortKey])
	_, tomb := item[profDeletedAttr]
	switch {
	case strings.HasPrefix(sk, profEventPfx):
		if tomb {
			return 0, nil
		}
		return p.tombstoneEvent(ctx, item, at)
	case strings.HasPrefix(sk, profFragmentPfx):
		_, exists, err := profItemFragments(id.Key(), item)
		if err != nil {
			return 0, err
		}
		f := merge.Fragment{Identity: id.Key(), Dataset: strings.TrimPrefix(sk, profFragmentPfx),
			TS: at, Src: src, Batch: src, Op: merge.OpDelete}
		if err := p.PutFragment(ctx, f); err != nil {
			return 0, err
		}
		if exists {
			return 1, nil
		}
		return 0, nil
	case strings.HasPrefix(sk, profLinkPfx), strings.HasPrefix(sk, profLinkHashPfx):
		nb, err := identity.ParseKey(profStr(item["nb"]))
		if err != nil {
			// Not a half this version wrote: nothing links through it.
			return 0, nil
		}
		if profNum(item["last"]) > at {
			// Seen again by a record ordered after the delete: kept.
			return 0, nil
		}
		// A half already a tombstone is done again: the neighbour's half
		// may have been missed by a step that failed between the two.
		ours, err := p.tombstoneLink(ctx, id, nb, at)
		if err != nil || !ours || tomb {
			return 0, err
		}
		return 1, nil
	case sk == profNodeSK:
		return p.deleteLegacyNode(ctx, id, at, item)
	case strings.HasPrefix(sk, profGraphEventSKPfx):
		_, err := p.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(p.table),
			Key:       map[string]types.AttributeValue{topology.PartitionKey: item[topology.PartitionKey], topology.SortKey: item[topology.SortKey]},
		})
		if err != nil {
			return 0, translate(err, "delete identity: graph event")
		}
		return 1, nil
	}
	return 0, nil
}

// tombstoneEvent turns a stored event into an event tombstone: no rec,
// no expiresAt, deleted = at. It counts 1 unless the event was gone or
// already a tombstone by then.
func (p *Profiles) tombstoneEvent(ctx context.Context, item map[string]types.AttributeValue, at int64) (int, error) {
	_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(p.table),
		Key:                 map[string]types.AttributeValue{topology.PartitionKey: item[topology.PartitionKey], topology.SortKey: item[topology.SortKey]},
		UpdateExpression:    aws.String("SET #deleted = :at REMOVE #rec, #exp"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND attribute_not_exists(#deleted)"),
		ExpressionAttributeNames: map[string]string{
			"#deleted": profDeletedAttr, "#rec": profAttrRecord, "#exp": topology.ExpiryAttribute, "#pk": topology.PartitionKey,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": profN(at),
		},
	})
	if err != nil {
		if IsConditionFailed(err) {
			return 0, nil
		}
		return 0, translate(err, "delete identity: event")
	}
	return 1, nil
}

// tombstoneLink sets deleted = at on both halves of the link between id
// and nb, the neighbour's first (id's half, which the step's cursor walks,
// is the one that says the work is done). A half is created as a
// tombstone when missing; a half already tombstoned at or after at, or
// last seen after at, is left as it is. ours reports whether id's half
// was changed.
func (p *Profiles) tombstoneLink(ctx context.Context, id, nb identity.ID, at int64) (ours bool, err error) {
	if _, err := p.tombstoneLinkHalf(ctx, nb, id, at); err != nil {
		return false, err
	}
	return p.tombstoneLinkHalf(ctx, id, nb, at)
}

// tombstoneLinkHalf writes the tombstone of node's half of its link to
// neighbour (see tombstoneLink); changed is false when the condition kept
// the half as it was. last is set to at when the half has none, so that a
// link writer's condition (last < its time AND deleted < its time) lets a
// record ordered after the delete write it again.
func (p *Profiles) tombstoneLinkHalf(ctx context.Context, node, neighbour identity.ID, at int64) (changed bool, err error) {
	_, err = p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(p.table),
		Key: map[string]types.AttributeValue{
			topology.PartitionKey: profS(node.Key()),
			topology.SortKey:      profS(profLinkSK(neighbour.Key())),
		},
		UpdateExpression: aws.String("SET #deleted = :at, #last = if_not_exists(#last, :at), #nb = if_not_exists(#nb, :nb)"),
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR " +
			"((attribute_not_exists(#last) OR #last <= :at) AND (attribute_not_exists(#deleted) OR #deleted < :at))"),
		ExpressionAttributeNames: map[string]string{
			"#deleted": profDeletedAttr, "#last": "last", "#nb": "nb", "#pk": topology.PartitionKey,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": profN(at), ":nb": profS(neighbour.Key()),
		},
	})
	if err != nil {
		if IsConditionFailed(err) {
			return false, nil
		}
		return false, translate(err, "delete identity: link")
	}
	return true, nil
}

// deleteLegacyNode removes the node item earlier versions wrote (links in
// a map): each link gets tombstones on both halves, so that a link writer
// of this version does not write it again from an older record; the
// neighbour's node, if it has one, loses its entry for id; then the node
// is deleted. It counts the node's links.
func (p *Profiles) deleteLegacyNode(ctx context.Context, id identity.ID, at int64, item map[string]types.AttributeValue) (int, error) {
	m, _ := item["links"].(*types.AttributeValueMemberM)
	n := 0
	if m != nil {
		for k := range m.Value {
			nb, err := identity.ParseKey(k)
			if err != nil {
				continue
			}
			if _, err := p.tombstoneLink(ctx, id, nb, at); err != nil {
				return n, err
			}
			_, err = p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                aws.String(p.table),
				Key:                      map[string]types.AttributeValue{topology.PartitionKey: profS(k), topology.SortKey: profS(profNodeSK)},
				UpdateExpression:         aws.String("REMOVE #links.#k"),
				ConditionExpression:      aws.String("attribute_exists(#links)"),
				ExpressionAttributeNames: map[string]string{"#links": "links", "#k": id.Key()},
			})
			if err != nil && !IsConditionFailed(err) {
				return n, translate(err, "delete identity: node")
			}
			n++
		}
	}
	_, err := p.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(p.table),
		Key:       map[string]types.AttributeValue{topology.PartitionKey: item[topology.PartitionKey], topology.SortKey: item[topology.SortKey]},
	})
	if err != nil {
		return n, translate(err, "delete identity: node")
	}
	return n, nil
}

// DeleteDatasetStep scans the profile table from cursor and removes the
// fragments and events of dataset (with batch set, only that batch's
// events). It works until deadline and returns the cursor to go on from
// ("" when the scan is done) and the items removed.
//
// The Scan reads profDeletePage items a page with the filter
// "ds = dataset AND (sk begins with E# OR sk = F#<dataset>)" (with batch:
// "ds = dataset AND sk begins with E# AND batch = batch"), so fragment
// tombstones and event tombstones of the dataset go too, and each match
// is removed with a plain DeleteItem: a deleted dataset takes no more
// rows, so nothing needs to be kept out (a batch delete is AEP's
// "records of a time-series batch", whose rows are not ingested again
// under the same batch id). Links and graph events are kept: a delete of
// profile data leaves the identity graph as it is (AEP: a dataset delete
// job removes Profile data, not the identity graph).
//
// The cursor is the Scan's LastEvaluatedKey, encoded; removed counts the
// items this step's DeleteItems found (ReturnValues ALL_OLD), so a step
// run again from the same cursor counts none twice. A step always reads
// at least one page, so that a chain of steps ends whatever the
// deadlines. On an error it returns the cursor of its last whole page.
// Errors: Invalid CodeDeleteCursor and "DELETE-DATASET" (no dataset), and
// the store's (translate).
//
// Cost: the Scan reads the whole table once over the chain of steps
// (eventually consistent: half an RCU per 4 KB scanned), plus one
// DeleteItem (1 WCU per KB of the item) per item removed.
func (p *Profiles) DeleteDatasetStep(ctx context.Context, dataset, batch, cursor string, deadline time.Time) (next string, removed int, err error) {
	if dataset == "" {
		return cursor, 0, fault.E(fault.Invalid, "DELETE-DATASET", "delete dataset: no dataset given")
	}
	in := &dynamodb.ScanInput{
		TableName:            aws.String(p.table),
		Limit:                aws.Int32(p.deletePageSize()),
		ProjectionExpression: aws.String("#pk, #sk"),
		ExpressionAttributeNames: map[string]string{
			"#pk": topology.PartitionKey, "#sk": topology.SortKey, "#ds": profAttrDataset,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ds": profS(dataset), ":e": profS(profEventPfx),
		},
	}
	if batch == "" {
		in.FilterExpression = aws.String("#ds = :ds AND (begins_with(#sk, :e) OR #sk = :f)")
		in.ExpressionAttributeValues[":f"] = profS(profFragmentPfx + dataset)
	} else {
		in.FilterExpression = aws.String("#ds = :ds AND begins_with(#sk, :e) AND #batch = :b")
		in.ExpressionAttributeNames["#batch"] = profAttrBatch
		in.ExpressionAttributeValues[":b"] = profS(batch)
	}
	if cursor != "" {
		start, err := decodeDeleteCursor(cursor)
		if err != nil {
			return cursor, 0, err
		}
		pk, okPK := start[topology.PartitionKey]
		sk, okSK := start[topology.SortKey]
		if !okPK || !okSK || len(start) != 2 {
			return cursor, 0, fault.E(fault.Invalid, CodeDeleteCursor, "delete dataset: the cursor is not one a step of this delete returned")
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{topology.PartitionKey: profS(pk), topology.SortKey: profS(sk)}
	}
	var n atomic.Int64
	for first := true; ; first = false {
		if !first && !p.Now().Before(deadline) {
			return cursor, int(n.Load()), nil
		}
		out, err := p.db.Scan(ctx, in)
		if err != nil {
			return cursor, int(n.Load()), translate(err, "delete dataset")
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(profDeleteParallelism)
		for _, item := range out.Items {
			g.Go(func() error {
				del, err := p.db.DeleteItem(gctx, &dynamodb.DeleteItemInput{
					TableName:    aws.String(p.table),
					Key:          map[string]types.AttributeValue{topology.PartitionKey: item[topology.PartitionKey], topology.SortKey: item[topology.SortKey]},
					ReturnValues: types.ReturnValueAllOld,
				})
				if err != nil {
					return translate(err, "delete dataset")
				}
				if len(del.Attributes) > 0 {
					n.Add(1)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return cursor, int(n.Load()), err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return "", int(n.Load()), nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		cursor = encodeDeleteCursor(map[string]string{
			topology.PartitionKey: profStr(out.LastEvaluatedKey[topology.PartitionKey]),
			topology.SortKey:      profStr(out.LastEvaluatedKey[topology.SortKey]),
		})
	}
}

// encodeDeleteCursor is a step's cursor: the key to go on after, as
// base64url (RFC 4648 §5, unpadded) of its JSON, so that it is opaque and
// safe in a job item or a URL.
func encodeDeleteCursor(key map[string]string) string {
	b, _ := json.Marshal(key)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeDeleteCursor(c string) (map[string]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	var key map[string]string
	if err == nil {
		err = json.Unmarshal(b, &key)
	}
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, CodeDeleteCursor, "delete: the cursor is not one a step returned")
	}
	return key, nil
}
