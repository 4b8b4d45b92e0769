// Package store is the only package that talks to DynamoDB. It keeps two
// tables (docs/architecture.md, "Storage"): the catalog table (schemas, descriptors,
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
	smithyhttp "github.com/aws/smithy-go/transport/http"

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
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// IsConditionFailed reports whether err is a lost conditional write.
func IsConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// translate gives an SDK error a fault kind at the boundary, by the
// error's type, so that callers decide retry versus failure by kind and
// never by matching strings. The safe message never names tables or SDK
// internals. The rule (docs/operations.md, "Errors and retries"):
//
//   - a lost condition is Conflict (STORE-CONDITION);
//   - throttling (ProvisionedThroughputExceeded, RequestLimitExceeded,
//     ThrottlingException) is Throttled; a timeout, a network error, an
//     HTTP 5xx or InternalServerError is Unavailable: all retried;
//   - ValidationException is Invalid for the request that met it
//     (STORE-KEY-TOO-LONG, STORE-ITEM-TOO-LARGE, STORE-REQUEST-INVALID):
//     no retry can make it succeed;
//   - any other refusal (a missing table, a denied or unsigned call) is a
//     deployment fault, not the row's: Unavailable (STORE-MISCONFIGURED),
//     so that rows wait for the fix instead of being dropped.
//
// Nothing is Internal here, so nothing is retried or refused by default.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var (
		fe    *fault.Error
		ccf   *types.ConditionalCheckFailedException
		thr   *types.ProvisionedThroughputExceededException
		lim   *types.RequestLimitExceeded
		rnf   *types.ResourceNotFoundException
		inErr *types.InternalServerError
		api   smithy.APIError
		resp  *smithyhttp.ResponseError
	)
	switch {
	case errors.As(err, &fe):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fault.Wrap(err, fault.Unavailable, "STORE-TIMEOUT", what+": timed out")
	case errors.As(err, &ccf):
		return fault.Wrap(err, fault.Conflict, "STORE-CONDITION", what+": changed concurrently")
	case errors.As(err, &thr), errors.As(err, &lim):
		return fault.Wrap(err, fault.Throttled, "STORE-THROTTLED", what+": throttled")
	case errors.As(err, &inErr):
		return fault.Wrap(err, fault.Unavailable, "STORE-UNAVAILABLE", what+": storage unavailable")
	case errors.As(err, &rnf):
		return fault.Wrap(err, fault.Unavailable, "STORE-MISCONFIGURED", what+": storage is not set up")
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "ThrottlingException", "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded":
			return fault.Wrap(err, fault.Throttled, "STORE-THROTTLED", what+": throttled")
		case "ValidationException":
			code := validationCode(api.ErrorMessage())
			msg := what + ": refused by storage"
			switch code {
			case CodeKeyTooLong:
				msg = what + ": an id or identity is over the size limit of a key"
			case CodeItemTooLarge:
				msg = what + ": the item is over the 400 KB limit of an item"
			}
			return fault.Wrap(err, fault.Invalid, code, msg)
		}
		if errors.As(err, &resp) && resp.HTTPStatusCode() >= 500 || api.ErrorFault() == smithy.FaultServer {
			return fault.Wrap(err, fault.Unavailable, "STORE-UNAVAILABLE", what+": storage unavailable")
		}
		return fault.Wrap(err, fault.Unavailable, "STORE-MISCONFIGURED", what+": storage refused the call")
	}
	// Network errors: retryable.
	return fault.Wrap(err, fault.Unavailable, "STORE-UNAVAILABLE", what+": storage unavailable")
}

// queryPages runs in page by page (following LastEvaluatedKey), handing
// each page's items to page, until the last page or until page answers
// false. page may change in.Limit for the next page. A failed call is
// translated with what.
func queryPages(ctx context.Context, db DynamoDB, in *dynamodb.QueryInput, what string, page func(items []map[string]types.AttributeValue) (more bool, err error)) error {
	for {
		out, err := db.Query(ctx, in)
		if err != nil {
			return translate(err, what)
		}
		more, err := page(out.Items)
		if err != nil || !more || len(out.LastEvaluatedKey) == 0 {
			return err
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
