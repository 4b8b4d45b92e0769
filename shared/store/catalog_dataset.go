package store

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// UpdateDataset replaces dataset d, which was read as prev: the write
// succeeds only while the stored dataset is still prev (optimistic
// concurrency, compared on the stored document), else it is a Conflict
// "DATASET-VERSION-CONFLICT"; a dataset that no longer exists is NotFound
// "DATASET-NOT-FOUND". The id cannot change.
func (c *Catalog) UpdateDataset(ctx context.Context, d, prev catalog.Dataset) error {
	if d.ID == "" || d.ID != prev.ID {
		return fault.E(fault.Invalid, "DATASET-ID", "a dataset update keeps its id")
	}
	prevDoc, err := json.Marshal(prev)
	if err != nil {
		return fault.Wrap(err, fault.Internal, "STORE-ENCODE", "catalog item could not be encoded")
	}
	item, err := catItem(catPKDataset, d.ID, d, nil)
	if err != nil {
		return err
	}
	_, err = c.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(c.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_exists(pk) AND doc = :prev"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":prev": &types.AttributeValueMemberS{Value: string(prevDoc)}},
	})
	if IsConditionFailed(err) {
		if _, gerr := c.GetDataset(ctx, d.ID); gerr != nil {
			return gerr
		}
		return fault.E(fault.Conflict, "DATASET-VERSION-CONFLICT", "the dataset changed since it was read; read it again and retry")
	}
	if err != nil {
		return translate(err, "update dataset")
	}
	return nil
}
