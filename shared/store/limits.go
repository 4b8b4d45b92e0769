package store

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// DynamoDB's size limits, counted in UTF-8 bytes as DynamoDB counts them
// (AWS, "Service, account, and table quotas in Amazon DynamoDB": partition
// key 1–2,048 bytes, sort key 1–1,024 bytes, item 400 KB including
// attribute names).
const (
	MaxPartitionKeyBytes = 2048
	MaxSortKeyBytes      = 1024
	MaxItemBytes         = 400 * 1024
)

// Codes of the store's own refusals. They are Invalid: the row is wrong
// for storage, and no retry changes that.
const (
	CodeKeyTooLong    = "STORE-KEY-TOO-LONG"
	CodeItemTooLarge  = "STORE-ITEM-TOO-LARGE"
	CodeRequestRefuse = "STORE-REQUEST-INVALID"
)

// checkKey refuses a key DynamoDB would refuse, before anything is
// written, so that a row is refused whole and with our code.
func checkKey(pk, sk, what string) error {
	switch {
	case pk == "" || sk == "":
		return fault.Errorf(fault.Invalid, CodeRequestRefuse, "%s: empty key", what)
	case len(pk) > MaxPartitionKeyBytes:
		return fault.Errorf(fault.Invalid, CodeKeyTooLong, "%s: identity key is %d bytes, over the %d-byte limit", what, len(pk), MaxPartitionKeyBytes)
	case len(sk) > MaxSortKeyBytes:
		return fault.Errorf(fault.Invalid, CodeKeyTooLong, "%s: sort key is %d bytes, over the %d-byte limit", what, len(sk), MaxSortKeyBytes)
	}
	return nil
}

// checkItem refuses an item whose key or size DynamoDB would refuse.
func checkItem(item map[string]types.AttributeValue, what string) error {
	if err := checkKey(profStr(item[topology.PartitionKey]), profStr(item[topology.SortKey]), what); err != nil {
		return err
	}
	if n := itemSize(item); n > MaxItemBytes {
		return fault.Errorf(fault.Invalid, CodeItemTooLarge, "%s: item is about %d bytes, over the %d-byte limit", what, n, MaxItemBytes)
	}
	return nil
}

// itemSize is an upper bound of the size DynamoDB counts for item:
// attribute names and string values in UTF-8 bytes, a number as its
// decimal text (DynamoDB stores it in fewer), 3 bytes per map or list plus
// 1 per element.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value) + 1
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberM:
		return 3 + itemSize(v.Value) + len(v.Value)
	case *types.AttributeValueMemberL:
		n := 3 + len(v.Value)
		for _, e := range v.Value {
			n += valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	default:
		return 1
	}
}

// validationCode gives a ValidationException its stable code. DynamoDB has
// one error type for every refused request; what was refused is only in
// the message (AWS, "Error handling with DynamoDB"), so the kind is set by
// the type and the message only refines the code.
func validationCode(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "item size") || strings.Contains(m, "maximum allowed size"):
		return CodeItemTooLarge
	case strings.Contains(m, "key") && (strings.Contains(m, "size") || strings.Contains(m, "too long")):
		return CodeKeyTooLong
	}
	return CodeRequestRefuse
}

// Bounds of what the store keeps about refused rows and failed batches,
// so that no failed-record or batch item can reach DynamoDB's 400 KB item
// limit whatever the input (docs/operations.md, "Size limits"). Texts are
// cut at a UTF-8 boundary and end with "…" when cut.
const (
	// MaxFailedMessageBytes bounds a failed record's message.
	MaxFailedMessageBytes = 4096
	// MaxFailedPointerBytes bounds each other text of a failed record:
	// file name, shard, sequence number, dataset, batch and code.
	MaxFailedPointerBytes = 1024
	// MaxBatchErrors bounds the entries of a batch's error summary; the
	// rows of the entries left out are counted in one more entry,
	// CodeBatchErrorsOmitted.
	MaxBatchErrors = 50
	// MaxBatchErrorBytes bounds an error entry's code and description.
	MaxBatchErrorBytes = 1024
)

// CodeBatchErrorsOmitted is the error entry that counts the rows of the
// entries beyond MaxBatchErrors.
const CodeBatchErrorsOmitted = "BATCH-ERRORS-OMITTED"
