package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// FailedRecords keeps refused rows and messages in the catalog table, one
// item per record: pk "FAILED#<batchId>" ("FAILED#stream" for Kinesis),
// sk "R#<file>#<row, zero-padded>" or "S#<shard>#<sequence>#<index>", the
// record as JSON in "rec". The key is the record's position, so a replay
// rewrites the same item. Both ingest functions can write the catalog
// table, so no extra grant is needed.
type FailedRecords struct {
	db    DynamoDB
	table string
}

// NewFailedRecords returns the failed-record store of the catalog table.
func NewFailedRecords(db DynamoDB, catalogTable string) *FailedRecords {
	return &FailedRecords{db: db, table: catalogTable}
}

const profFailedPfx = "FAILED#"

func profFailedKey(r ingest.FailedRecord) (string, string) {
	if r.Shard != "" || r.Seq != "" {
		sk := fmt.Sprintf("S#%s#%s#%04d", r.Shard, r.Seq, r.Index)
		if r.SubSequence > 0 {
			sk += fmt.Sprintf("#%05d", r.SubSequence)
		}
		return profFailedPfx + r.Batch, sk
	}
	return profFailedPfx + r.Batch, fmt.Sprintf("R#%s#%010d", r.File, r.Row)
}

// PutFailed stores failed records, 25 to a request.
func (f *FailedRecords) PutFailed(ctx context.Context, recs []ingest.FailedRecord) error {
	for start := 0; start < len(recs); start += 25 {
		chunk := recs[start:min(start+25, len(recs))]
		seen := map[string]bool{}
		var reqs []types.WriteRequest
		for _, r := range chunk {
			pk, sk := profFailedKey(r)
			if seen[pk+sk] { // BatchWriteItem refuses duplicate keys
				continue
			}
			seen[pk+sk] = true
			b, err := json.Marshal(r)
			if err != nil {
				return fault.Wrap(err, fault.Internal, "STORE-ENCODE", "encode failed record")
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				topology.PartitionKey: profS(pk),
				topology.SortKey:      profS(sk),
				"rec":                 profS(string(b)),
				"code":                profS(r.Code),
			}}})
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

// Failed lists the failed records of a batch ("stream" for Kinesis), at
// most limit of them.
func (f *FailedRecords) Failed(ctx context.Context, batch string, limit int) ([]ingest.FailedRecord, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(f.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": profS(profFailedPfx + batch)},
	}
	var out []ingest.FailedRecord
	for len(out) < limit {
		res, err := f.db.Query(ctx, in)
		if err != nil {
			return nil, translate(err, "read failed records")
		}
		for _, item := range res.Items {
			var r ingest.FailedRecord
			if err := json.Unmarshal([]byte(profStr(item["rec"])), &r); err != nil {
				return nil, fault.Wrap(err, fault.Internal, "STORE-DECODE", "read failed records: stored record is corrupt")
			}
			out = append(out, r)
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
