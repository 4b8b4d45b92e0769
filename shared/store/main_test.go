package store

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

func TestMain(m *testing.M) {
	code := m.Run()
	emulator.StopShared()
	os.Exit(code)
}

var tableSeq atomic.Int64

// newTestTable creates a fresh table with Mosaic's key schema on the shared
// dynalite and returns a client and the table name.
func newTestTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	endpoint, err := emulator.SharedDynamoDB()
	if err != nil {
		emulator.SkipOrFail(t, err)
	}
	db := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	name := fmt.Sprintf("test-%d-%d", os.Getpid(), tableSeq.Add(1))
	_, err = db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(topology.PartitionKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(topology.SortKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(topology.PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(topology.SortKey), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	// dynalite creates tables asynchronously, as DynamoDB does.
	waiter := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	if err := waiter.Wait(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", name, err)
	}
	return db, name
}
