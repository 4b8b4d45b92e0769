package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// A row the scan of a batch accepted but its write refused (a
// non-transient error of the ingest pipeline when written, such as a
// fragment grown past its size limit) is one item in the catalog table,
// beside the batch's parts:
//
//	write refusal  pk BATCHWREF#<batchId>  sk <file:05d>#<part:06d>#<row:010d>
//	               code (S), msg (S)
//
// One item per row keyed by the row makes recording idempotent without a
// bound: a retried or continued write that refuses the row again rewrites
// the same item, so the row counts once in the batch's metrics.
const catPKBatchWriteRefusal = "BATCHWREF#"

// WriteRefusal is a row of a batch part, accepted by the scan, that its
// write refused: the file index, part and record number of the row
// (records.Record.Number), and the row error's code and message
// (ingest.Describe), each at most MaxBatchErrorBytes when stored.
type WriteRefusal struct {
	File    int
	Part    int
	Row     int
	Code    string
	Message string
}

func writeRefusalKey(file, part, row int) string {
	return fmt.Sprintf("%s#%010d", PartKey(file, part), row)
}

// PutBatchWriteRefusal records r for the batch, replacing any record of
// the same row (the code and message of the latest refusal stand). A
// negative file, part or row, or an empty code, is refused (Invalid
// BATCH-WRITE-REFUSAL).
func (c *Catalog) PutBatchWriteRefusal(ctx context.Context, batchID string, r WriteRefusal) error {
	if r.File < 0 || r.Part < 0 || r.Row < 0 || r.Code == "" {
		return fault.Errorf(fault.Invalid, "BATCH-WRITE-REFUSAL", "a write refusal needs a file, part and row from 0 and a code; got %d, %d, %d, %q", r.File, r.Part, r.Row, r.Code)
	}
	item := catKey(catPKBatchWriteRefusal+batchID, writeRefusalKey(r.File, r.Part, r.Row))
	item["code"] = &types.AttributeValueMemberS{Value: xdm.Truncate(r.Code, MaxBatchErrorBytes)}
	if r.Message != "" {
		item["msg"] = &types.AttributeValueMemberS{Value: xdm.Truncate(r.Message, MaxBatchErrorBytes)}
	}
	_, err := c.catPutIf(ctx, item, "", nil, "record batch write refusal")
	return err
}

// DeleteBatchWriteRefusal removes the record of a row (a row refused by
// one attempt and written by a later one); a row without one is left as
// it is.
func (c *Catalog) DeleteBatchWriteRefusal(ctx context.Context, batchID string, file, part, row int) error {
	_, err := c.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(c.table),
		Key:       catKey(catPKBatchWriteRefusal+batchID, writeRefusalKey(file, part, row)),
	})
	return translate(err, "delete batch write refusal")
}

// EachBatchWriteRefusal calls each with the write refusals of one part
// (file ≥ 0 and part ≥ 0) or of the whole batch (file < 0), in file, part
// and row order, page by page (1 MB each, DynamoDB's Query limit), so that
// a caller holds no more than it keeps of them; an error of each stops
// and is returned.
func (c *Catalog) EachBatchWriteRefusal(ctx context.Context, batchID string, file, part int, each func(WriteRefusal) error) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(c.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: catPKBatchWriteRefusal + batchID}},
		ConsistentRead:            aws.Bool(true),
	}
	if file >= 0 {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :p)")
		in.ExpressionAttributeValues[":p"] = &types.AttributeValueMemberS{Value: PartKey(file, max(part, 0)) + "#"}
	}
	return queryPages(ctx, c.db, in, "list batch write refusals", func(page []map[string]types.AttributeValue) (bool, error) {
		for _, it := range page {
			r, err := decodeWriteRefusal(it)
			if err != nil {
				return false, err
			}
			if err := each(r); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

func decodeWriteRefusal(item map[string]types.AttributeValue) (WriteRefusal, error) {
	sk := catAttr(item, "sk")
	bad := fault.Errorf(fault.Internal, "STORE-DECODE", "batch write refusal key %q is corrupt", sk)
	fields := strings.Split(sk, "#")
	if len(fields) != 3 {
		return WriteRefusal{}, bad
	}
	var nums [3]int
	for i, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil {
			return WriteRefusal{}, bad
		}
		nums[i] = n
	}
	return WriteRefusal{File: nums[0], Part: nums[1], Row: nums[2], Code: catAttr(item, "code"), Message: catAttr(item, "msg")}, nil
}
