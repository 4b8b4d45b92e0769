package cloud

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/johannesboyne/gofakes3"
)

// createTables creates each table of the topology under its physical name,
// on-demand, keyed by its string partition and sort keys, and waits until
// it is active. A table that exists already is kept.
func (c *Cloud) createTables(ctx context.Context, ddb *dynamodb.Client) error {
	for _, t := range c.cfg.Tables {
		name := c.names[t.ID]
		_, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:   aws.String(name),
			BillingMode: dtypes.BillingModePayPerRequest,
			AttributeDefinitions: []dtypes.AttributeDefinition{
				{AttributeName: aws.String(t.PartitionKey), AttributeType: dtypes.ScalarAttributeTypeS},
				{AttributeName: aws.String(t.SortKey), AttributeType: dtypes.ScalarAttributeTypeS},
			},
			KeySchema: []dtypes.KeySchemaElement{
				{AttributeName: aws.String(t.PartitionKey), KeyType: dtypes.KeyTypeHash},
				{AttributeName: aws.String(t.SortKey), KeyType: dtypes.KeyTypeRange},
			},
		})
		var inUse *dtypes.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", name, err)
		}
		if err := dynamodb.NewTableExistsWaiter(ddb).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
	}
	return nil
}

// createStreams creates each stream of the topology with its shard count
// (at least one) and waits until it is active. A stream that exists
// already is kept.
func (c *Cloud) createStreams(ctx context.Context, kin *kinesis.Client) error {
	for _, s := range c.cfg.Streams {
		name := c.names[s.ID]
		_, err := kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(max(s.ShardCount, 1)))})
		var inUse *ktypes.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create stream %s: %w", name, err)
		}
		if err := kinesis.NewStreamExistsWaiter(kin).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	return nil
}

// createBuckets creates each bucket that backend does not hold yet (a
// -data directory keeps them across restarts).
func (c *Cloud) createBuckets(backend gofakes3.Backend) error {
	for _, b := range c.cfg.Buckets {
		name := c.names[b.ID]
		if ok, _ := backend.BucketExists(name); !ok {
			if err := backend.CreateBucket(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
	}
	return nil
}
