package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// profGraphEventPfx starts the sort key of a graph event: after the node
// ("N"), so that a lookup's range (sk BETWEEN "F" AND "N") never reads
// one.
const profGraphEventPfx = "R#"

// graphEventSK is the sort key of e in its identity's partition:
// "R#<at, 13 digits>#<16 hex of SHA-256(kind, other, dataset, source)>".
// Every part comes from the decision and the record behind it, never from
// the clock, so a replay (or a second writer taking the same decision)
// rewrites the same item; the time first makes a partition's events a
// range read newest first.
func graphEventSK(e GraphEvent) string {
	h := sha256.New()
	for _, s := range []string{e.Kind, graphEventOther(e), e.Dataset, e.Source} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%s%013d#%s", profGraphEventPfx, max(e.At, 0), hex.EncodeToString(h.Sum(nil)[:8]))
}

func graphEventOther(e GraphEvent) string {
	if e.Other == (identity.ID{}) {
		return ""
	}
	return e.Other.Key()
}

// maxGraphEventReasonBytes bounds a reason (it names up to two identity
// keys of at most 1,089 bytes each).
const maxGraphEventReasonBytes = 4096

// graphEventItem is e's item.
func graphEventItem(e GraphEvent) map[string]types.AttributeValue {
	reason := e.Reason
	if len(reason) > maxGraphEventReasonBytes {
		reason = cutUTF8(reason, maxGraphEventReasonBytes)
	}
	item := map[string]types.AttributeValue{
		topology.PartitionKey: profS(e.Identity.Key()),
		topology.SortKey:      profS(graphEventSK(e)),
		"kind":                profS(e.Kind),
		"at":                  profN(e.At),
		"reason":              profS(reason),
	}
	for attr, s := range map[string]string{"other": graphEventOther(e), "ns": e.Namespace, "dataset": e.Dataset, "source": e.Source} {
		if s != "" {
			item[attr] = profS(s)
		}
	}
	return item
}

// cutUTF8 cuts s to at most n bytes at a rune boundary.
func cutUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// putGraphEvent records e (one PutItem; the same decision rewrites the
// same item).
func (p *Profiles) putGraphEvent(ctx context.Context, e GraphEvent) error {
	item := graphEventItem(e)
	if err := checkItem(item, "record graph event"); err != nil {
		return err
	}
	_, err := p.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(p.table), Item: item})
	return translate(err, "record graph event")
}

// graphEvents reads id's graph events, newest first, at most limit: one
// Query on "R#…" read backwards, paged.
func (p *Profiles) graphEvents(ctx context.Context, id identity.ID, limit int) ([]GraphEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(p.table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :r)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": profS(id.Key()), ":r": profS(profGraphEventPfx),
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(min(limit, 1000))),
	}
	var out []GraphEvent
	err := queryPages(ctx, p.db, in, "read graph events", func(items []map[string]types.AttributeValue) (bool, error) {
		for _, item := range items {
			e := GraphEvent{
				Kind: profStr(item["kind"]), At: profNum(item["at"]), Identity: id,
				Namespace: profStr(item["ns"]), Reason: profStr(item["reason"]),
				Dataset: profStr(item["dataset"]), Source: profStr(item["source"]),
			}
			if o := profStr(item["other"]); o != "" {
				if oid, err := identity.ParseKey(o); err == nil {
					e.Other = oid
				}
			}
			out = append(out, e)
		}
		in.Limit = aws.Int32(int32(min(limit-len(out), 1000)))
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
