package store

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/upsert"
)

// Attributes of a fragment item beyond the key (docs/architecture.md,
// "Storage"). Every fragment has ds, ts, src and batch; rec is the record
// as JSON, absent on a tombstone (a fragment deleted, or never created and
// deleted). A plain fragment (one create and nothing since, the only kind
// earlier versions wrote) has neither m nor ver: ts and src are its
// create's clock. A clocked fragment adds m, the clock document of
// package upsert (a string of compact JSON), and ver, a number: 1 when
// it became clocked, raised by one on every write since, the token of its
// optimistic concurrency with ts and src, which are the newest clock of
// the state (upsert.State.Latest). batch is that of the update that last
// changed the item.
const (
	profAttrDataset = "ds"
	profAttrRecord  = "rec"
	profAttrTS      = "ts"
	profAttrSrc     = "src"
	profAttrBatch   = "batch"
	profAttrClocks  = "m"
	profAttrVersion = "ver"
)

// CodeContention is the code of the Throttled error a read-modify-write
// of a fragment returns when other writers changed the item between its
// read and its write on every one of its attempts: transient, the caller
// retries the row later.
const CodeContention = "STORE-CONTENTION"

// Bounds of the optimistic read-modify-write of a fragment: after a lost
// condition it reads again after a pause drawn uniformly from
// [0, min(profRMWMaxBackoff, profRMWBaseBackoff·2^attempt)) ("full
// jitter", AWS Architecture Blog, "Exponential Backoff And Jitter"), at
// most profRMWRetries times.
const (
	profRMWRetries     = 10
	profRMWBaseBackoff = 4 * time.Millisecond
	profRMWMaxBackoff  = 250 * time.Millisecond
)

// profFragmentKey is the key of the fragment of identity in dataset.
func profFragmentKey(identity, dataset string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		topology.PartitionKey: profS(identity),
		topology.SortKey:      profS(profFragmentPfx + dataset),
	}
}

// putFragmentFast is the create's single conditional put: it writes f as
// a plain fragment when nothing is stored, or when a plain fragment is
// stored whose clock is not newer. It reports false when the condition
// failed: a clocked item or a newer plain one is stored.
func (p *Profiles) putFragmentFast(ctx context.Context, f merge.Fragment) (bool, error) {
	rec, err := profRecordJSON(f.Raw, f.Record)
	if err != nil {
		return false, err
	}
	item := profFragmentKey(f.Identity, f.Dataset)
	item[profAttrDataset] = profS(f.Dataset)
	item[profAttrRecord] = profS(rec)
	item[profAttrTS] = profN(f.TS)
	item[profAttrSrc] = profS(f.Src)
	item[profAttrBatch] = profS(f.Batch)
	if err := checkItem(item, "write fragment"); err != nil {
		return false, err
	}
	_, err = p.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(p.table),
		Item:      item,
		ConditionExpression: aws.String("attribute_not_exists(pk) OR " +
			"(attribute_not_exists(m) AND (ts < :ts OR (ts = :ts AND src <= :src)))"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ts":  profN(f.TS),
			":src": profS(f.Src),
		},
	})
	if err != nil && IsConditionFailed(err) {
		return false, nil
	}
	return err == nil, translate(err, "write fragment")
}

// getFragment reads the stored fragment item of f's identity and dataset
// with a strongly consistent read; nil when there is none.
func (p *Profiles) getFragment(ctx context.Context, f merge.Fragment) (map[string]types.AttributeValue, error) {
	out, err := p.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(p.table),
		Key:            profFragmentKey(f.Identity, f.Dataset),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, translate(err, "read fragment")
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// profStored is a stored fragment item as a state, with the condition
// that a write replacing it must hold: that the item is still the one read.
type profStored struct {
	state *upsert.State
	ver   int64 // 0 when absent or plain
	cond  string
	vals  map[string]types.AttributeValue
}

// profStoredState reads item (nil: no item) as a state (DESIGN: absent →
// upsert.New, plain → upsert.FromRecord at its ts and src, clocked →
// upsert.Decode) and gives the condition of a write that replaces it.
func profStoredState(item map[string]types.AttributeValue) (profStored, error) {
	if item == nil {
		return profStored{state: upsert.New(), cond: "attribute_not_exists(pk)"}, nil
	}
	rec, err := profItemRecord(item)
	if err != nil {
		return profStored{}, err
	}
	c := upsert.Clock{TS: profNum(item[profAttrTS]), Src: profStr(item[profAttrSrc])}
	if m, ok := item[profAttrClocks]; ok {
		st, err := upsert.Decode(rec, []byte(profStr(m)))
		if err != nil {
			return profStored{}, err
		}
		// ver starts over at 1 whenever a plain item becomes clocked, so
		// ver alone could match an item that went clocked → plain (a
		// newer create) → clocked since it was read. Such an item's ts
		// and src (its newest clock, which never goes back) differ.
		ver := profNum(item[profAttrVersion])
		return profStored{state: st, ver: ver, cond: "ver = :over AND ts = :ots AND src = :osrc",
			vals: map[string]types.AttributeValue{":over": profN(ver), ":ots": profN(c.TS), ":osrc": profS(c.Src)}}, nil
	}
	if rec == nil {
		rec = map[string]any{}
	}
	return profStored{state: upsert.FromRecord(rec, c),
		cond: "attribute_not_exists(m) AND ts = :ots AND src = :osrc",
		vals: map[string]types.AttributeValue{":ots": profN(c.TS), ":osrc": profS(c.Src)}}, nil
}

// profItemRecord decodes a fragment item's rec; nil when it has none (a
// tombstone).
func profItemRecord(item map[string]types.AttributeValue) (map[string]any, error) {
	v, ok := item[profAttrRecord]
	if !ok {
		return nil, nil
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(profStr(v)), &rec); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "STORE-DECODE", "read fragment: stored fragment is corrupt")
	}
	return rec, nil
}

// putFragmentRMW applies op to the stored fragment of f's identity and
// dataset by optimistic concurrency: read (consistent), apply, write on
// the condition that the item is still the one read, and on a lost
// condition start again, at most profRMWRetries more times. When read is
// set, item is the stored item (nil: none) just read with a consistent
// read, and the first attempt uses it rather than reading again.
func (p *Profiles) putFragmentRMW(ctx context.Context, f merge.Fragment, op upsert.Op, item map[string]types.AttributeValue, read bool) error {
	for attempt := 0; ; attempt++ {
		if !read || attempt > 0 {
			var err error
			if item, err = p.getFragment(ctx, f); err != nil {
				return err
			}
		}
		old, err := profStoredState(item)
		if err != nil {
			return err
		}
		changed, err := old.state.Apply(op)
		if err != nil || !changed {
			return err
		}
		next, err := profStateItem(f, old.state, old.ver+1)
		if err != nil {
			return err
		}
		_, err = p.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(p.table),
			Item:                      next,
			ConditionExpression:       aws.String(old.cond),
			ExpressionAttributeValues: old.vals,
		})
		if err == nil {
			return nil
		}
		if !IsConditionFailed(err) {
			return translate(err, "write fragment")
		}
		if attempt == profRMWRetries {
			return fault.Wrap(err, fault.Throttled, CodeContention,
				"write fragment: changed concurrently by other writers "+strconv.Itoa(profRMWRetries+1)+" times in a row")
		}
		if err := profSleep(ctx, profBackoff(attempt)); err != nil {
			return err
		}
	}
}

// profStateItem is the item storing st as the fragment of f's identity
// and dataset, written by f's batch: plain (no m, no ver) when st is
// plain, else with its clock document and ver; no rec when the fragment
// does not exist. It is size-checked; a record over upsert.MaxRecordBytes
// is upsert's FRAGMENT-TOO-LARGE, returned as it is.
func profStateItem(f merge.Fragment, st *upsert.State, ver int64) (map[string]types.AttributeValue, error) {
	rec, clocks, err := st.Encode()
	if err != nil {
		return nil, err
	}
	latest := st.Latest()
	item := profFragmentKey(f.Identity, f.Dataset)
	item[profAttrDataset] = profS(f.Dataset)
	item[profAttrTS] = profN(latest.TS)
	item[profAttrSrc] = profS(latest.Src)
	item[profAttrBatch] = profS(f.Batch)
	if rec != nil {
		item[profAttrRecord] = profS(string(rec))
	}
	if !st.Plain() {
		item[profAttrClocks] = profS(string(clocks))
		item[profAttrVersion] = profN(ver)
	}
	if err := checkItem(item, "write fragment"); err != nil {
		return nil, err
	}
	return item, nil
}

// profBackoff is the pause before retry attempt+1 (see profRMWRetries).
func profBackoff(attempt int) time.Duration {
	ceil := profRMWMaxBackoff
	if attempt < 16 {
		ceil = min(ceil, profRMWBaseBackoff<<attempt)
	}
	return rand.N(ceil) + 1
}

// profSleep waits d or until ctx ends.
func profSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return translate(ctx.Err(), "write fragment")
	case <-t.C:
		return nil
	}
}

// profItemFragments reads a fragment item of identity as the fragments
// read-time merging takes: a plain item is one fragment at its ts and
// src; a clocked one is one fragment per upsert.Part, at the part's
// clock, so that each attribute competes with other datasets' by its own
// clock; a tombstone is none, and exists is false.
func profItemFragments(identity string, item map[string]types.AttributeValue) (frags []merge.Fragment, exists bool, err error) {
	base := merge.Fragment{
		Identity: identity,
		Dataset:  profStr(item[profAttrDataset]),
		TS:       profNum(item[profAttrTS]),
		Src:      profStr(item[profAttrSrc]),
		Batch:    profStr(item[profAttrBatch]),
	}
	rec, err := profItemRecord(item)
	if err != nil {
		return nil, false, err
	}
	m, clocked := item[profAttrClocks]
	if !clocked {
		base.Record = rec
		return []merge.Fragment{base}, true, nil
	}
	st, err := upsert.Decode(rec, []byte(profStr(m)))
	if err != nil {
		return nil, false, err
	}
	if !st.Exists() {
		return nil, false, nil
	}
	parts := st.Parts()
	if len(parts) == 0 {
		// A fragment whose every attribute was removed still exists.
		parts = []upsert.Part{{Clock: st.Latest(), Record: st.Record()}}
	}
	out := make([]merge.Fragment, 0, len(parts))
	for _, pt := range parts {
		f := base
		f.TS, f.Src, f.Record = pt.Clock.TS, pt.Clock.Src, pt.Record
		if f.Src != base.Src || f.TS != base.TS {
			f.Batch = profPartBatch(f.Src)
		}
		out = append(out, f)
	}
	return out, true, nil
}

// profPartBatch is the batch of a part of a clocked fragment written by
// an update other than the item's latest (whose batch the item keeps):
// read from its source where the source names it, a batch API row's
// "batch:<started>:<batchId>:<file>:<row>" or a streamed record's
// position (the batch of a streamed row is its position); "" for a
// dropped file's row ("s3:<key>#<upload>:<row>"), whose implicit batch
// the source does not name.
func profPartBatch(src string) string {
	if strings.HasPrefix(src, "kinesis:") {
		return src
	}
	if rest, ok := strings.CutPrefix(src, "batch:"); ok {
		parts := strings.Split(rest, ":")
		if len(parts) >= 2 {
			return parts[1]
		}
	}
	return ""
}
