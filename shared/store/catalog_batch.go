package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// Batches are kept by id, each with two index entries (pk BATCH#BY-TIME and
// BATCH#DATASET#<dataset>, sk <created ms>#<id>) that ListBatches reads
// newest first.

func catBatchSort(b catalog.Batch) string { return fmt.Sprintf("%013d#%s", b.Created, b.ID) }

// catBatchItem is the item of b, its error summary bounded (boundErrors)
// and its status also kept as an attribute for PutBatch's condition.
func catBatchItem(b catalog.Batch) (catalog.Batch, map[string]types.AttributeValue, error) {
	if b.ID == "" {
		return b, nil, fault.E(fault.Invalid, "BATCH-ID", "batch id is empty")
	}
	b.Errors = boundErrors(b.Errors)
	item, err := catItem(catPKBatch, b.ID, b, map[string]string{"dataset": b.DatasetID, "status": b.Status})
	if err != nil {
		return b, nil, err
	}
	return b, item, nil
}

// boundErrors keeps at most MaxBatchErrors entries, each code and
// description cut to MaxBatchErrorBytes; the rows of the entries left out
// are counted in one more entry, CodeBatchErrorsOmitted, so that the rows
// still add up to the failed records.
func boundErrors(errs []catalog.BatchError) []catalog.BatchError {
	if len(errs) == 0 {
		return errs
	}
	out := make([]catalog.BatchError, 0, min(len(errs), MaxBatchErrors+1))
	omitted, kinds := 0, 0
	for i, e := range errs {
		if i >= MaxBatchErrors {
			omitted += e.Rows
			kinds++
			continue
		}
		e.Code = xdm.Truncate(e.Code, MaxBatchErrorBytes)
		e.Description = xdm.Truncate(e.Description, MaxBatchErrorBytes)
		out = append(out, e)
	}
	if kinds > 0 {
		out = append(out, catalog.BatchError{
			Code:        CodeBatchErrorsOmitted,
			Description: fmt.Sprintf("%d more kinds of error are not listed; the failed records name them", kinds),
			Rows:        omitted,
		})
	}
	return out
}

// CreateBatch stores b unless a batch with its ID exists; then it returns
// created=false and the stored batch. Either way the listing entries are
// (re)written, so a retried create repairs them.
func (c *Catalog) CreateBatch(ctx context.Context, b catalog.Batch) (bool, catalog.Batch, error) {
	b, item, err := catBatchItem(b)
	if err != nil {
		return false, catalog.Batch{}, err
	}
	created, err := c.catCreate(ctx, item, "create batch")
	if err != nil {
		return false, catalog.Batch{}, err
	}
	stored := b
	if !created {
		if stored, err = c.GetBatch(ctx, b.ID); err != nil {
			return false, catalog.Batch{}, err
		}
	}
	if err := c.catIndexBatch(ctx, stored); err != nil {
		return false, catalog.Batch{}, err
	}
	if created {
		return true, catalog.Batch{}, nil
	}
	return false, stored, nil
}

// CodeBatchFinal is the Conflict of a write to a batch that has reached a
// final state.
const CodeBatchFinal = "BATCH-FINAL"

// PutBatch writes b over the stored batch with its ID unless that batch
// has reached a final state (success, failed, aborted): a batch's status
// never goes back, whatever a duplicate or late delivery writes. Such a
// write is refused with Conflict CodeBatchFinal, which means "already
// finished". The check is one conditional write.
func (c *Catalog) PutBatch(ctx context.Context, b catalog.Batch) error {
	return c.putBatchIf(ctx, b, "attribute_not_exists(#s) OR NOT (#s IN (:success, :failed, :aborted))",
		map[string]types.AttributeValue{
			":success": &types.AttributeValueMemberS{Value: catalog.BatchSuccess},
			":failed":  &types.AttributeValueMemberS{Value: catalog.BatchFailed},
			":aborted": &types.AttributeValueMemberS{Value: catalog.BatchAborted},
		}, CodeBatchFinal, "the batch has already finished")
}

// putBatchIf writes b when cond (over #s, the stored status, and values)
// holds, else answers Conflict code with msg; then it indexes b.
func (c *Catalog) putBatchIf(ctx context.Context, b catalog.Batch, cond string, values map[string]types.AttributeValue, code, msg string) error {
	b, item, err := catBatchItem(b)
	if err != nil {
		return err
	}
	_, err = c.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(c.table),
		Item:                      item,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: values,
	})
	if IsConditionFailed(err) {
		return fault.Wrap(err, fault.Conflict, code, msg)
	}
	if err != nil {
		return translate(err, "write batch")
	}
	return c.catIndexBatch(ctx, b)
}

// CodeBatchStatusChanged is the Conflict of PutBatchFrom when the stored
// batch is no longer in the status the write expected.
const CodeBatchStatusChanged = "BATCH-STATUS-CHANGED"

// PutBatchFrom writes b over the stored batch only while that batch's
// status is from: one conditional write, so that of two callers moving a
// batch out of one status (COMPLETE and ABORT of a loading batch) exactly
// one wins. The loser gets Conflict CodeBatchStatusChanged and should read
// the batch again.
func (c *Catalog) PutBatchFrom(ctx context.Context, b catalog.Batch, from string) error {
	return c.putBatchIf(ctx, b, "#s = :from", map[string]types.AttributeValue{":from": &types.AttributeValueMemberS{Value: from}},
		CodeBatchStatusChanged, "the batch is no longer "+from)
}

func (c *Catalog) catIndexBatch(ctx context.Context, b catalog.Batch) error {
	sk := catBatchSort(b)
	byTime := catKey(catPKBatchByTime, sk)
	byTime["batch"] = &types.AttributeValueMemberS{Value: b.ID}
	byDS := catKey(catPKBatchDataset+b.DatasetID, sk)
	byDS["batch"] = &types.AttributeValueMemberS{Value: b.ID}
	req := map[string][]types.WriteRequest{c.table: {
		{PutRequest: &types.PutRequest{Item: byTime}},
		{PutRequest: &types.PutRequest{Item: byDS}},
	}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt == 5 {
			return fault.E(fault.Throttled, "STORE-THROTTLED", "index batch: throttled")
		}
		out, err := c.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
		if err != nil {
			return translate(err, "index batch")
		}
		req = out.UnprocessedItems
	}
	return nil
}

// GetBatch reads a batch (NotFound "BATCH-NOT-FOUND").
func (c *Catalog) GetBatch(ctx context.Context, id string) (catalog.Batch, error) {
	if id == "" {
		return catalog.Batch{}, fault.E(fault.NotFound, "BATCH-NOT-FOUND", "batch id is empty")
	}
	item, err := c.catGet(ctx, catPKBatch, id, "read batch")
	if err != nil {
		return catalog.Batch{}, err
	}
	if item == nil {
		return catalog.Batch{}, fault.Errorf(fault.NotFound, "BATCH-NOT-FOUND", "batch %q does not exist", id)
	}
	var b catalog.Batch
	return b, catDecode(item, &b)
}

// ListBatches lists batches newest first, of one dataset or of all when
// datasetID is empty, at most limit (100 when limit <= 0).
func (c *Catalog) ListBatches(ctx context.Context, datasetID string, limit int) ([]catalog.Batch, error) {
	return c.QueryBatches(ctx, BatchQuery{DatasetID: datasetID, Limit: limit})
}

// MaxBatchPage is the most batches one QueryBatches call returns (AEP
// Catalog, "Filter Catalog data using query parameters": limit is 1 to 100).
const MaxBatchPage = 100

// BatchQuery selects batches for QueryBatches. Every field is optional.
type BatchQuery struct {
	DatasetID string
	Status    string
	// CreatedAfter keeps batches created strictly after it (epoch ms).
	CreatedAfter int64
	// Limit is 1 to MaxBatchPage (MaxBatchPage when <= 0 or above it);
	// Start skips that many matching batches (AEP's start offset).
	Limit, Start int
}

// QueryBatches lists the batches q selects, newest first (created, then id
// descending), skipping q.Start of them and returning at most q.Limit. A
// page also ends before the documents' JSON passes topology.MaxPageBytes
// (always holding at least one batch), so a caller pages on with
// Start += len(result) until it receives none. The creation-time bound is
// a key condition on the index; dataset and status are checked on the
// batch documents, read 100 at a time.
func (c *Catalog) QueryBatches(ctx context.Context, q BatchQuery) ([]catalog.Batch, error) {
	if q.Limit <= 0 || q.Limit > MaxBatchPage {
		q.Limit = MaxBatchPage
	}
	q.Start = max(q.Start, 0)
	pk := catPKBatchByTime
	if q.DatasetID != "" {
		pk = catPKBatchDataset + q.DatasetID
	}
	cond := "pk = :pk"
	values := map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}}
	if q.CreatedAfter > 0 {
		cond += " AND sk >= :after"
		values[":after"] = &types.AttributeValueMemberS{Value: fmt.Sprintf("%013d", q.CreatedAfter+1)}
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(c.table),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(100),
	}
	var out []catalog.Batch
	seen := map[string]bool{}
	skipped, size := 0, 0
	full := false
	err := queryPages(ctx, c.db, in, "list batches", func(items []map[string]types.AttributeValue) (bool, error) {
		// Index entries may repeat a batch whose creation time was
		// rewritten; the first (newest) entry of each counts.
		var ids []string
		for _, it := range items {
			if id := catAttr(it, "batch"); id != "" && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		docs, err := c.catBatchGet(ctx, catPKBatch, ids, "list batches")
		if err != nil {
			return false, err
		}
		for _, id := range ids {
			it, ok := docs[id]
			if !ok {
				continue
			}
			var b catalog.Batch
			if err := catDecode(it, &b); err != nil {
				return false, err
			}
			if (q.DatasetID != "" && b.DatasetID != q.DatasetID) || (q.Status != "" && b.Status != q.Status) || b.Created <= q.CreatedAfter {
				continue
			}
			if skipped < q.Start {
				skipped++
				continue
			}
			n := len(catAttr(it, "doc"))
			if len(out) == q.Limit || (size+n > topology.MaxPageBytes && len(out) > 0) {
				full = true
				return false, nil
			}
			size += n
			out = append(out, b)
		}
		return !full, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
