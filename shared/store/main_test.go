package store

import (
	"context"
	"fmt"
	"os"
	"strings"
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

// The store tests run on two independent DynamoDB implementations: dynalite
// (fast; the engine of the local cloud) and moto's server, which counts key
// and item sizes in UTF-8 bytes as DynamoDB does, where dynalite counts
// UTF-16 units. Each emulator is started once per test binary.
var testDynamoDBs = []struct {
	name  string
	start func() (string, error)
}{
	{"dynalite", emulator.SharedDynamoDB},
	{"moto", emulator.SharedMoto},
}

// onEachDynamoDB runs body as one subtest per DynamoDB implementation;
// newTestTable called within it creates the table on that implementation.
func onEachDynamoDB(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	for _, d := range testDynamoDBs {
		t.Run(d.name, body)
	}
}

// serializesUpdates reports whether the implementation t runs on applies
// concurrent updates of one item one at a time, as DynamoDB does. moto's
// server handles requests on several threads without a lock around an
// item's read-modify-write, so two concurrent ADDs to one set can lose one
// (seen under load: TestBatchRun); tests of concurrent updates send them
// one after another there, and check concurrency on dynalite.
func serializesUpdates(t *testing.T) bool {
	parts := strings.Split(t.Name(), "/")
	return len(parts) < 2 || parts[1] != "moto"
}

// testEndpoint is the endpoint of the implementation that t runs on: the
// one named by the subtest onEachDynamoDB made, else dynalite (tests that
// run on dynalite only say why).
func testEndpoint(t *testing.T) (string, error) {
	parts := strings.Split(t.Name(), "/")
	for _, d := range testDynamoDBs {
		if len(parts) > 1 && parts[1] == d.name {
			return d.start()
		}
	}
	return emulator.SharedDynamoDB()
}

// newTestTable creates a fresh table with Mosaic's key schema on the shared
// emulator that t runs on (see onEachDynamoDB) and returns a client and the
// table name.
func newTestTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	endpoint, err := testEndpoint(t)
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
