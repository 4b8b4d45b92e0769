package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// The files of a batch are items of their own, one partition per batch:
//
//	batch file         pk BATCHFILE#<batchId>    sk <file name>
//
// so that an upload records its file without rewriting the batch item,
// and the engine lists a batch's files in name order.

const catPKBatchFile = "BATCHFILE#"

// MaxBatchFileNameBytes bounds a batch file's name (its path within the
// batch), in UTF-8 bytes: well under DynamoDB's 1,024-byte sort key, and
// under S3's 1,024-byte object key once prefixed with
// staging/<batchId>/<datasetId>/ and a chunk suffix.
const MaxBatchFileNameBytes = 512

// CodeBatchFileNotFound is the NotFound of GetBatchFile.
const CodeBatchFileNotFound = "BATCH-FILE-NOT-FOUND"

// PutBatchFile writes f as a file of batch batchID, replacing a file of
// the same name. A name that is empty or over MaxBatchFileNameBytes is
// refused (Invalid "BATCH-FILE-NAME"); an item over DynamoDB's 400 KB
// (about 2,000 chunk objects) is refused with CodeItemTooLarge.
func (c *Catalog) PutBatchFile(ctx context.Context, batchID string, f catalog.BatchFile) error {
	if batchID == "" {
		return fault.E(fault.Invalid, "BATCH-ID", "batch id is empty")
	}
	if f.Name == "" || len(f.Name) > MaxBatchFileNameBytes {
		return fault.Errorf(fault.Invalid, "BATCH-FILE-NAME", "a file name is 1 to %d bytes", MaxBatchFileNameBytes)
	}
	item, err := catItem(catPKBatchFile+batchID, f.Name, f, nil)
	if err != nil {
		return err
	}
	if _, err := c.catPutIf(ctx, item, "", nil, "write batch file"); err != nil {
		return err
	}
	return nil
}

// GetBatchFile reads one file of a batch (NotFound CodeBatchFileNotFound).
func (c *Catalog) GetBatchFile(ctx context.Context, batchID, name string) (catalog.BatchFile, error) {
	if batchID == "" || name == "" || len(name) > MaxBatchFileNameBytes {
		return catalog.BatchFile{}, fault.Errorf(fault.NotFound, CodeBatchFileNotFound, "batch %q has no file %q", batchID, name)
	}
	item, err := c.catGet(ctx, catPKBatchFile+batchID, name, "read batch file")
	if err != nil {
		return catalog.BatchFile{}, err
	}
	if item == nil {
		return catalog.BatchFile{}, fault.Errorf(fault.NotFound, CodeBatchFileNotFound, "batch %q has no file %q", batchID, name)
	}
	var f catalog.BatchFile
	return f, catDecode(item, &f)
}

// ListBatchFiles lists every file of a batch, sorted by name (DynamoDB's
// sort-key order, bytewise UTF-8), reading all pages; a batch with no
// files has none.
func (c *Catalog) ListBatchFiles(ctx context.Context, batchID string) ([]catalog.BatchFile, error) {
	if batchID == "" {
		return nil, nil
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(c.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: catPKBatchFile + batchID}},
		ConsistentRead:            aws.Bool(true),
	}
	var out []catalog.BatchFile
	err := queryPages(ctx, c.db, in, "list batch files", func(items []map[string]types.AttributeValue) (bool, error) {
		for _, it := range items {
			var f catalog.BatchFile
			if err := catDecode(it, &f); err != nil {
				return false, err
			}
			out = append(out, f)
		}
		return true, nil
	})
	return out, err
}
