package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// FailedRecords keeps refused rows and messages in the catalog table, one
// item per record: pk "FAILED#<batchId>" (catalog.StreamBatchID for
// Kinesis, so that each streaming window is its own partition),
// sk "R#<file>#<row, zero-padded>" or "S#<shard>#<sequence>#<index>", the
// record as JSON in "rec". The key is the record's position, so a replay
// rewrites the same item. A key part that would pass DynamoDB's key limits
// (sort key 1,024 bytes; an S3 key alone may be 1,024 bytes) is replaced
// by the hex SHA-256 of it ("RH#<hash>#<row>", "SH#<hash>#<index>"), which
// keeps one file's records together and in row order; the record keeps the
// full names. Texts are bounded (MaxFailedMessageBytes,
// MaxFailedPointerBytes), so no item nears the 400 KB item limit. Both
// ingest functions can write the catalog table, so no extra grant is
// needed.
//
// Every item carries "expiresAt" (epoch seconds, written +
// catalog.FailedRetention), the catalog table's TTL attribute; every read
// leaves out items whose expiresAt has passed, since DynamoDB deletes
// expired items only within days, and an emulator never.
type FailedRecords struct {
	db    DynamoDB
	table string
	// Now dates expiresAt and the expiry filter of reads; time.Now.
	Now func() time.Time
}

// NewFailedRecords returns the failed-record store of the catalog table.
func NewFailedRecords(db DynamoDB, catalogTable string) *FailedRecords {
	return &FailedRecords{db: db, table: catalogTable, Now: time.Now}
}

// expiresAt is the TTL value of an item written now.
func (f *FailedRecords) expiresAt() types.AttributeValue {
	return profN(f.Now().Add(catalog.FailedRetention).Unix())
}

// liveFilter keeps items that have not expired (:now, epoch seconds).
const liveFilter = "attribute_not_exists(expiresAt) OR expiresAt > :now"

const failedPfx = "FAILED#"

// failedKeyPart is the longest key part kept as written.
const failedKeyPart = 900

func failedHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func failedKey(r catalog.FailedRecord) (string, string) {
	pk := failedPfx + r.Batch
	if len(r.Batch) > failedKeyPart {
		pk = failedPfx + "H#" + failedHash(r.Batch)
	}
	if r.Shard != "" || r.Seq != "" {
		// A KPL user record adds its sub-sequence number; a plain record
		// keeps the key it always had.
		sub := ""
		if r.SubSequence > 0 {
			sub = fmt.Sprintf("#%05d", r.SubSequence)
		}
		if pos := r.Shard + "#" + r.Seq; len(pos) > failedKeyPart {
			return pk, fmt.Sprintf("SH#%s#%04d%s", failedHash(pos), r.Index, sub)
		}
		return pk, fmt.Sprintf("S#%s#%s#%04d%s", r.Shard, r.Seq, r.Index, sub)
	}
	if len(r.File) > failedKeyPart {
		return pk, fmt.Sprintf("RH#%s#%010d", failedHash(r.File), r.Row)
	}
	return pk, fmt.Sprintf("R#%s#%010d", r.File, r.Row)
}

// failedBounded cuts the texts of r to their bounds; the key is made
// from the uncut record, so that cut names never collide.
func failedBounded(r catalog.FailedRecord) catalog.FailedRecord {
	r.Message = xdm.Truncate(r.Message, MaxFailedMessageBytes)
	for _, s := range []*string{&r.Batch, &r.Dataset, &r.File, &r.Shard, &r.Seq, &r.Code} {
		*s = xdm.Truncate(*s, MaxFailedPointerBytes)
	}
	return r
}

// PutFailed stores failed records, 25 to a request.
func (f *FailedRecords) PutFailed(ctx context.Context, recs []catalog.FailedRecord) error {
	for start := 0; start < len(recs); start += 25 {
		chunk := recs[start:min(start+25, len(recs))]
		seen := map[string]bool{}
		var reqs []types.WriteRequest
		for _, r := range chunk {
			pk, sk := failedKey(r)
			if seen[pk+sk] { // BatchWriteItem refuses duplicate keys
				continue
			}
			seen[pk+sk] = true
			r = failedBounded(r)
			b, err := json.Marshal(r)
			if err != nil {
				return fault.Wrap(err, fault.Internal, "STORE-ENCODE", "encode failed record")
			}
			item := map[string]types.AttributeValue{
				topology.PartitionKey: profS(pk),
				topology.SortKey:      profS(sk),
				"rec":                 profS(string(b)),
				"code":                profS(r.Code),
				"expiresAt":           f.expiresAt(),
			}
			if err := checkItem(item, "write failed records"); err != nil {
				return err
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		pending := map[string][]types.WriteRequest{f.table: reqs}
		for attempt := 0; len(pending[f.table]) > 0; attempt++ {
			if attempt == 5 {
				return fault.E(fault.Throttled, "STORE-THROTTLED", "write failed records: throttled")
			}
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return translate(ctx.Err(), "write failed records")
				case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
				}
			}
			out, err := f.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return translate(err, "write failed records")
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

// Failed lists the failed records of a batch (catalog.StreamBatchID for
// streamed records) in key order, at most limit of them; expired ones
// are left out.
func (f *FailedRecords) Failed(ctx context.Context, batch string, limit int) ([]catalog.FailedRecord, error) {
	out, _, err := f.FailedPage(ctx, batch, "", limit)
	return out, err
}

// CodeCursor refuses a FailedPage cursor that is not a failed record's
// sort key: any other would list nothing, or the partition's count items.
const CodeCursor = "STORE-CURSOR"

// isFailedCursor reports whether s has the shape of a failed record's
// sort key (see failedKey).
func isFailedCursor(s string) bool {
	for _, p := range []string{"R#", "RH#", "S#", "SH#"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// FailedPage lists at most limit failed records of a batch in key order,
// starting after the cursor after ("" from the first), and returns the
// cursor of the last record listed when more may follow ("" when the
// batch has no more). Expired records are left out. The cursor is the
// record's sort key: opaque to callers, stable across calls.
func (f *FailedRecords) FailedPage(ctx context.Context, batch, after string, limit int) ([]catalog.FailedRecord, string, error) {
	if limit <= 0 {
		return nil, "", nil
	}
	pk, _ := failedKey(catalog.FailedRecord{Batch: batch})
	// Failed records' sort keys start with R or S; the partition's count
	// items (streamCountPfx) sort before them.
	cond, from := "pk = :pk AND sk >= :from", failedRecordsFrom
	if after != "" && !isFailedCursor(after) {
		return nil, "", fault.E(fault.Invalid, CodeCursor, "the cursor is not one a listing of failed records gave")
	}
	if after != "" {
		cond, from = "pk = :pk AND sk > :from", after
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(f.table),
		KeyConditionExpression: aws.String(cond),
		FilterExpression:       aws.String(liveFilter),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": profS(pk), ":from": profS(from),
			":now": profN(f.Now().Unix())},
		ConsistentRead: aws.Bool(true),
	}
	var out []catalog.FailedRecord
	last, more := "", false
	err := queryPages(ctx, f.db, in, "read failed records", func(items []map[string]types.AttributeValue) (bool, error) {
		for _, item := range items {
			if len(out) == limit {
				more = true
				return false, nil
			}
			var r catalog.FailedRecord
			if err := json.Unmarshal([]byte(profStr(item["rec"])), &r); err != nil {
				return false, fault.Wrap(err, fault.Internal, "STORE-DECODE", "read failed records: stored record is corrupt")
			}
			out = append(out, r)
			last = profStr(item[topology.SortKey])
		}
		return true, nil
	})
	if err != nil {
		return nil, "", err
	}
	if !more && len(out) == limit {
		// The page ended exactly at limit: a next call finds out.
		more = true
	}
	if !more {
		last = ""
	}
	return out, last, nil
}

// failedRecordsFrom is the least sort key of a failed record.
const failedRecordsFrom = "R"
