package store

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// Streaming batch metrics (docs/streaming.md#failures-as-batches).
//
// A streaming batch's input count is kept in count items in the batch's
// own partition, next to its failed records: pk "FAILED#<batchId>", sk
// "C#<shard>#<sequence number of the chunk's first record>", the shard id
// in "shardId", a string set "seqs" of "<sequence number>=<messages>"
// entries (one per Kinesis record that finished, with how many of its
// messages belong to the batch) and expiresAt. A write is one UpdateItem
// that ADDs to the set: the union is idempotent, so a Kinesis batch
// delivered twice, retried from a batchItemFailure or bisected, or two
// invocations of one shard writing at once (ParallelizationFactor), never
// count a record twice: reads de-duplicate by shard and sequence number
// across items. A chunk holds at most StreamCountChunk records, so an item
// stays under 70 KB (a sequence number is at most 128 digits, usually 56:
// about 30 KB).
//
// The failed count and errors by code are the batch's failed records,
// which are keyed by their position and so are exact by construction.
//
// Read cost: StreamTotals queries the whole partition (count items and
// failed records): about 60 bytes per streamed record plus about 1 KB per
// failed record, one read unit per 4 KB. The batch routes do it only
// while a batch is open, then seal the totals into the batch item.

// StreamCountChunk is the most records one count item holds.
const StreamCountChunk = 500

// streamCountPfx starts the sort key of a count item; it sorts before
// the failed records' "R…" and "S…".
const streamCountPfx = "C#"

// SeqCount is one finished Kinesis record of a streaming batch: its
// sequence number and how many of its messages belong to the batch
// (its user records' messages included, for a KPL aggregate).
type SeqCount struct {
	Seq      string
	Messages int
}

// PutStreamCounts records that the given records of one shard finished
// in a streaming batch, in chunks of StreamCountChunk, one UpdateItem
// each. Writing the same record again changes nothing.
func (f *FailedRecords) PutStreamCounts(ctx context.Context, batchID, shard string, recs []SeqCount) error {
	pk, _ := failedKey(catalog.FailedRecord{Batch: batchID})
	for start := 0; start < len(recs); start += StreamCountChunk {
		chunk := recs[start:min(start+StreamCountChunk, len(recs))]
		entries := make([]string, 0, len(chunk))
		seen := map[string]bool{}
		for _, r := range chunk {
			e := r.Seq + "=" + strconv.Itoa(r.Messages)
			if !seen[e] {
				seen[e] = true
				entries = append(entries, e)
			}
		}
		sk := streamCountPfx + xdm.Truncate(shard, MaxFailedPointerBytes) + "#" + chunk[0].Seq
		if len(sk) > failedKeyPart {
			sk = streamCountPfx + "H#" + failedHash(shard+"#"+chunk[0].Seq)
		}
		_, err := f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(f.table),
			Key: map[string]types.AttributeValue{
				topology.PartitionKey: profS(pk),
				topology.SortKey:      profS(sk),
			},
			UpdateExpression: aws.String("ADD seqs :s SET expiresAt = :e, shardId = :shard"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":s":     &types.AttributeValueMemberSS{Value: entries},
				":e":     f.expiresAt(),
				":shard": profS(shard),
			},
		})
		if err != nil {
			return translate(err, "write stream counts")
		}
	}
	return nil
}

// StreamTotals are the metrics of a streaming batch as read from its
// partition: Input messages, of which Failed were refused, and the
// refusals by code (sorted by code, each with the message of its first
// record in key order).
type StreamTotals struct {
	Input, Failed int
	Errors        []catalog.BatchError
}

// StreamTotals sums a streaming batch's count items, de-duplicated by
// shard and sequence number (a record counted with two different numbers of
// messages, which only a change of the catalog between two deliveries
// can cause, counts the larger), and its failed records. Expired items
// are left out. Input is at least Failed: a failed record whose count
// item is missing (written before a crash) still counts as input.
func (f *FailedRecords) StreamTotals(ctx context.Context, batchID string) (StreamTotals, error) {
	pk, _ := failedKey(catalog.FailedRecord{Batch: batchID})
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(f.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String(liveFilter),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": profS(pk), ":now": profN(f.Now().Unix())},
		ConsistentRead:            aws.Bool(true),
	}
	perSeq := map[string]int{}
	codes := map[string]*catalog.BatchError{}
	var t StreamTotals
	err := queryPages(ctx, f.db, in, "read stream counts", func(items []map[string]types.AttributeValue) (bool, error) {
		for _, item := range items {
			if strings.HasPrefix(profStr(item[topology.SortKey]), streamCountPfx) {
				ss, _ := item["seqs"].(*types.AttributeValueMemberSS)
				if ss == nil {
					continue
				}
				shard := profStr(item["shardId"])
				for _, e := range ss.Value {
					seq, n, ok := strings.Cut(e, "=")
					m, err := strconv.Atoi(n)
					if !ok || err != nil {
						return false, fault.Errorf(fault.Internal, "STORE-DECODE", "read stream counts: entry %q is corrupt", e)
					}
					k := shard + "#" + seq
					perSeq[k] = max(perSeq[k], m)
				}
				continue
			}
			t.Failed++
			code := profStr(item["code"])
			e := codes[code]
			if e == nil {
				var r catalog.FailedRecord
				if err := json.Unmarshal([]byte(profStr(item["rec"])), &r); err != nil {
					return false, fault.Wrap(err, fault.Internal, "STORE-DECODE", "read failed records: stored record is corrupt")
				}
				e = &catalog.BatchError{Code: code, Description: r.Message}
				codes[code] = e
			}
			e.Rows++
		}
		return true, nil
	})
	if err != nil {
		return StreamTotals{}, err
	}
	for _, n := range perSeq {
		t.Input += n
	}
	t.Input = max(t.Input, t.Failed)
	for _, e := range codes {
		t.Errors = append(t.Errors, *e)
	}
	sort.Slice(t.Errors, func(i, j int) bool { return t.Errors[i].Code < t.Errors[j].Code })
	return t, nil
}
