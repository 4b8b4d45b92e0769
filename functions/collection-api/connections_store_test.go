package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

func TestMain(m *testing.M) {
	code := m.Run()
	emulator.StopShared()
	os.Exit(code)
}

// TestConnectionStoreOnDynamoDB keeps connections in a table with the
// catalog's key schema on the DynamoDB emulator: create, a second create
// of the same id refused, get, unknown id, and a listing over more than
// one Query page.
func TestConnectionStoreOnDynamoDB(t *testing.T) {
	endpoint, err := emulator.SharedDynamoDB()
	if err != nil {
		emulator.SkipOrFail(t, err)
	}
	ctx := context.Background()
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	table := fmt.Sprintf("conns-%d", os.Getpid())
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
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
		t.Fatal(err)
	}
	s := &ddbConnections{db: db, table: table}
	// Items of about 350 KB make the 1 MB Query pages end after two.
	big := strings.Repeat("d", 350_000)
	var ids []string
	for i := range 5 {
		id, _ := newConnectionID()
		c := connection{ID: id, Name: fmt.Sprint("c", i), Description: big, CreatedAt: int64(i)}
		if err := s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := s.Create(ctx, connection{ID: ids[0]}); fault.KindOf(err) != fault.Conflict {
		t.Errorf("second create of %s: %v, want Conflict", ids[0], err)
	}
	got, err := s.Get(ctx, ids[3])
	if err != nil || got.Name != "c3" || got.CreatedAt != 3 {
		t.Errorf("Get = %+v, %v", got.Name, err)
	}
	if _, err := s.Get(ctx, "00000000-0000-4000-8000-000000000000"); fault.KindOf(err) != fault.NotFound {
		t.Errorf("Get unknown: %v, want NotFound", err)
	}
	all, err := s.List(ctx)
	if err != nil || len(all) != 5 {
		t.Fatalf("List = %d connections, %v; want 5", len(all), err)
	}
}
