// Package store is the only package that talks to DynamoDB. It keeps two
// tables (ARCHITECTURE §4): the catalog table (schemas, descriptors,
// datasets, batches, merge policies, jobs) and the profile table (identity
// nodes, fragments and events of an identity in one partition). It uses
// single-item conditional writes only: no transactions, streams or PartiQL,
// which the local emulators lack.
package store

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// DynamoDB is the slice of the SDK client the store uses; *dynamodb.Client
// satisfies it, and so can a fault-injecting wrapper in tests.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// IsConditionFailed reports whether err is a lost conditional write.
func IsConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// translate gives an SDK error a fault kind at the boundary, so that callers
// decide retry versus failure by kind and never by matching strings. The
// safe message never names tables or SDK internals.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var (
		ccf   *types.ConditionalCheckFailedException
		thr   *types.ProvisionedThroughputExceededException
		lim   *types.RequestLimitExceeded
		rnf   *types.ResourceNotFoundException
		inErr *types.InternalServerError
		api   smithy.APIError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fault.Wrap(err, fault.Unavailable, "STORE-TIMEOUT", what+": timed out")
	case errors.As(err, &ccf):
		return fault.Wrap(err, fault.Conflict, "STORE-CONDITION", what+": changed concurrently")
	case errors.As(err, &thr), errors.As(err, &lim):
		return fault.Wrap(err, fault.Throttled, "STORE-THROTTLED", what+": throttled")
	case errors.As(err, &rnf):
		return fault.Wrap(err, fault.Internal, "STORE-MISSING", what+": storage is not set up")
	case errors.As(err, &inErr):
		return fault.Wrap(err, fault.Unavailable, "STORE-UNAVAILABLE", what+": storage unavailable")
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "ThrottlingException", "TooManyRequestsException":
			return fault.Wrap(err, fault.Throttled, "STORE-THROTTLED", what+": throttled")
		case "ServiceUnavailable", "InternalFailure":
			return fault.Wrap(err, fault.Unavailable, "STORE-UNAVAILABLE", what+": storage unavailable")
		case "ValidationException":
			return fault.Wrap(err, fault.Internal, "STORE-REQUEST", what+": request refused by storage")
		}
	}
	// Network errors and anything unrecognised: retryable.
	return fault.Wrap(err, fault.Unavailable, "STORE-UNAVAILABLE", what+": storage unavailable")
}
