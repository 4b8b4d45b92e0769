package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

func wantFault(t *testing.T, err error, kind fault.Kind, code string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != kind || fe.Code != code {
		t.Fatalf("got %v (kind %v), want %v %s", err, fault.KindOf(err), kind, code)
	}
	// What the ingest functions decide from it: retry only what may pass.
	if ingest.Transient(err) != (kind == fault.Throttled || kind == fault.Unavailable) {
		t.Fatalf("%v: ingest.Transient() = %v", fe, ingest.Transient(err))
	}
}

func withStatus(err error, status int) error {
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "PutItem", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err,
	}}
}

// The SDK's errors get their kind from their type: nothing falls through
// to Internal (which is never retried), and only throttling and server or
// network faults are retried.
func TestTranslateClassifiesByType(t *testing.T) {
	validation := func(msg string) error {
		return withStatus(&smithy.GenericAPIError{Code: "ValidationException", Message: msg, Fault: smithy.FaultClient}, 400)
	}
	tests := []struct {
		name string
		err  error
		kind fault.Kind
		code string
	}{
		{"hash key too long", validation("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes"), fault.Invalid, CodeKeyTooLong},
		{"range key too long", validation("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"), fault.Invalid, CodeKeyTooLong},
		{"item too large", validation("Item size has exceeded the maximum allowed size"), fault.Invalid, CodeItemTooLarge},
		{"update too large", validation("Item size to update has exceeded the maximum allowed size"), fault.Invalid, CodeItemTooLarge},
		{"bad expression value", validation("ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An AttributeValue may not contain an empty string"), fault.Invalid, CodeRequestRefuse},
		{"condition lost", withStatus(&types.ConditionalCheckFailedException{}, 400), fault.Conflict, "STORE-CONDITION"},
		{"provisioned throughput", withStatus(&types.ProvisionedThroughputExceededException{}, 400), fault.Throttled, "STORE-THROTTLED"},
		{"request limit", withStatus(&types.RequestLimitExceeded{}, 400), fault.Throttled, "STORE-THROTTLED"},
		{"throttling", withStatus(&smithy.GenericAPIError{Code: "ThrottlingException"}, 400), fault.Throttled, "STORE-THROTTLED"},
		{"internal server error", withStatus(&types.InternalServerError{}, 500), fault.Unavailable, "STORE-UNAVAILABLE"},
		{"unknown 503", withStatus(&smithy.GenericAPIError{Code: "ServiceUnavailable"}, 503), fault.Unavailable, "STORE-UNAVAILABLE"},
		{"missing table", withStatus(&types.ResourceNotFoundException{}, 400), fault.Unavailable, "STORE-MISCONFIGURED"},
		{"access denied", withStatus(&smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}, 400), fault.Unavailable, "STORE-MISCONFIGURED"},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, fault.Unavailable, "STORE-UNAVAILABLE"},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), fault.Unavailable, "STORE-TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFault(t, translate(tt.err, "write"), tt.kind, tt.code)
		})
	}
}

// emoji is n four-byte runes: 4n UTF-8 bytes, but 2n UTF-16 units, which
// is what dynalite counts.
func emoji(n int) string { return strings.Repeat("\U0001F600", n) }

// A row DynamoDB would refuse is refused by the store first, as Invalid
// with a stable code, on both implementations; and DynamoDB's own refusal
// of the same item is Invalid too, never retried.
func TestStoreRefusesOversizedRowsAsInvalid(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		p := NewProfiles(db, table)
		longID := identity.ID{Namespace: "Email", Value: emoji(600)} // 2,406 bytes
		ok := identity.ID{Namespace: "Email", Value: "jane@example.com"}
		rec := map[string]any{"a": "b"}

		t.Run("identity key over 2,048 bytes", func(t *testing.T) {
			err := p.PutFragment(ctx, merge.Fragment{Identity: longID.Key(), Dataset: "ds", Record: rec, TS: 1, Src: "s"})
			wantFault(t, err, fault.Invalid, CodeKeyTooLong)
			err = p.PutEvent(ctx, merge.Event{Identity: longID.Key(), ID: "e1", Dataset: "ds", Record: rec, Timestamp: 1})
			wantFault(t, err, fault.Invalid, CodeKeyTooLong)
		})
		t.Run("event id over the sort key limit", func(t *testing.T) {
			err := p.PutEvent(ctx, merge.Event{Identity: ok.Key(), ID: emoji(260), Dataset: "ds", Record: rec, Timestamp: 1})
			wantFault(t, err, fault.Invalid, CodeKeyTooLong)
		})
		t.Run("item over 400 KB", func(t *testing.T) {
			big := map[string]any{"a": strings.Repeat("x", 410*1024)}
			err := p.PutFragment(ctx, merge.Fragment{Identity: ok.Key(), Dataset: "ds", Record: big, TS: 1, Src: "s"})
			wantFault(t, err, fault.Invalid, CodeItemTooLarge)
		})
		t.Run("a link to an identity over the limit writes neither half", func(t *testing.T) {
			err := p.PutLinks(ctx, []identity.Link{{A: ok, B: longID, At: 1, Dataset: "ds"}})
			wantFault(t, err, fault.Invalid, CodeKeyTooLong)
			part, err := p.Partition(ctx, ok)
			if err != nil {
				t.Fatal(err)
			}
			if len(part.Neighbours) != 0 {
				t.Errorf("half a link was written: neighbours %v", part.Neighbours)
			}
		})
		t.Run("DynamoDB's own refusal is Invalid", func(t *testing.T) {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
				topology.PartitionKey: profS(strings.Repeat("k", 2100)), topology.SortKey: profS("N"),
			}})
			if err == nil {
				t.Fatal("a 2,100-byte partition key was accepted")
			}
			wantFault(t, translate(err, "write"), fault.Invalid, CodeKeyTooLong)
			_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
				topology.PartitionKey: profS("k"), topology.SortKey: profS("N"), "big": profS(strings.Repeat("x", 410*1024)),
			}})
			if err == nil {
				t.Fatal("a 410 KB item was accepted")
			}
			wantFault(t, translate(err, "write"), fault.Invalid, CodeItemTooLarge)
		})
	})
}
