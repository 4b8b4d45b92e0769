package store

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// The item reads and writes of the catalog table. what names the operation
// in errors ("create schema"); SDK errors are translated at this boundary.

func catKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		topology.PartitionKey: &types.AttributeValueMemberS{Value: pk},
		topology.SortKey:      &types.AttributeValueMemberS{Value: sk},
	}
}

// catItem is the item of doc at (pk, sk), with extra string attributes kept
// beside the document for conditions and filters; an item over DynamoDB's
// limits is refused before it is sent (checkItem).
func catItem(pk, sk string, doc any, extra map[string]string) (map[string]types.AttributeValue, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "STORE-ENCODE", "catalog item could not be encoded")
	}
	item := catKey(pk, sk)
	item["doc"] = &types.AttributeValueMemberS{Value: string(b)}
	for k, v := range extra {
		item[k] = &types.AttributeValueMemberS{Value: v}
	}
	if err := checkItem(item, "write "+strings.ToLower(pk)); err != nil {
		return nil, err
	}
	return item, nil
}

func catDecode(item map[string]types.AttributeValue, v any) error {
	s, ok := item["doc"].(*types.AttributeValueMemberS)
	if !ok {
		return fault.E(fault.Internal, "STORE-DECODE", "catalog item has no document")
	}
	if err := json.Unmarshal([]byte(s.Value), v); err != nil {
		return fault.Wrap(err, fault.Internal, "STORE-DECODE", "catalog item could not be decoded")
	}
	return nil
}

func catAttr(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

const catNotExists = "attribute_not_exists(pk)"

// catCreate writes item unless its key exists; it reports false when it does.
func (c *Catalog) catCreate(ctx context.Context, item map[string]types.AttributeValue, what string) (bool, error) {
	return c.catPutIf(ctx, item, catNotExists, nil, what)
}

// catPutIf writes item when cond holds (no condition when cond is empty);
// it reports false when cond does not hold.
func (c *Catalog) catPutIf(ctx context.Context, item map[string]types.AttributeValue, cond string, values map[string]types.AttributeValue, what string) (bool, error) {
	in := &dynamodb.PutItemInput{TableName: aws.String(c.table), Item: item}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
		in.ExpressionAttributeValues = values
	}
	_, err := c.db.PutItem(ctx, in)
	if IsConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, translate(err, what)
	}
	return true, nil
}

// catKeyFits reports whether an item can have the key (pk, sk): an id
// asked for that is longer than any stored key names nothing, so reading
// or deleting it finds nothing rather than failing.
func catKeyFits(pk, sk string) bool {
	return len(pk) <= MaxPartitionKeyBytes && len(sk) <= MaxSortKeyBytes
}

// catGet reads an item; it is nil when there is none.
func (c *Catalog) catGet(ctx context.Context, pk, sk, what string) (map[string]types.AttributeValue, error) {
	if !catKeyFits(pk, sk) {
		return nil, nil
	}
	out, err := c.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(c.table),
		Key:            catKey(pk, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, translate(err, what)
	}
	return out.Item, nil
}

// catQuery reads a partition in sort-key order (descending when newest),
// stopping after limit items when limit > 0.
func (c *Catalog) catQuery(ctx context.Context, pk string, newest bool, limit int, what string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(c.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ScanIndexForward:          aws.Bool(!newest),
		ConsistentRead:            aws.Bool(true),
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(limit))
	}
	var items []map[string]types.AttributeValue
	err := queryPages(ctx, c.db, in, what, func(page []map[string]types.AttributeValue) (bool, error) {
		items = append(items, page...)
		if limit <= 0 {
			return true, nil
		}
		in.Limit = aws.Int32(int32(limit - len(items)))
		return len(items) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// catBatchGet reads items of one partition by sort key, 100 per call (the
// BatchGetItem limit), giving up as Throttled after five rounds that leave
// keys unprocessed.
func (c *Catalog) catBatchGet(ctx context.Context, pk string, sks []string, what string) (map[string]map[string]types.AttributeValue, error) {
	got := map[string]map[string]types.AttributeValue{}
	for start := 0; start < len(sks); start += 100 {
		end := min(start+100, len(sks))
		keys := make([]map[string]types.AttributeValue, 0, end-start)
		for _, sk := range sks[start:end] {
			keys = append(keys, catKey(pk, sk))
		}
		req := map[string]types.KeysAndAttributes{c.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt == 5 {
				return nil, fault.E(fault.Throttled, "STORE-THROTTLED", what+": throttled")
			}
			out, err := c.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, translate(err, what)
			}
			for _, it := range out.Responses[c.table] {
				got[catAttr(it, topology.SortKey)] = it
			}
			req = out.UnprocessedKeys
		}
	}
	return got, nil
}

// catDelete deletes an item; it reports false when there was none.
func (c *Catalog) catDelete(ctx context.Context, pk, sk, what string) (bool, error) {
	if !catKeyFits(pk, sk) {
		return false, nil
	}
	_, err := c.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(c.table),
		Key:                 catKey(pk, sk),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	if IsConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, translate(err, what)
	}
	return true, nil
}
