package ingest

import (
	"context"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// FailedRecord is one refused row or message, in the one format used for
// S3 files and Kinesis records alike (PRODUCT §7.6): where it was (file and
// row, or shard and sequence number), a stable code and a readable message.
// It never holds the record's values.
type FailedRecord struct {
	// Batch is the batch id for a file, or "stream" for Kinesis records.
	Batch   string `json:"batchId"`
	Dataset string `json:"datasetId,omitempty"`
	File    string `json:"file,omitempty"`
	Row     int    `json:"row,omitempty"`
	Shard   string `json:"shard,omitempty"`
	Seq     string `json:"sequenceNumber,omitempty"`
	// SubSequence is the user record's position within a record
	// aggregated by the Kinesis Producer Library (see SplitRecord).
	SubSequence int `json:"subSequenceNumber,omitempty"`
	// Index is the message's position within a {"messages":[…]} record.
	Index   int    `json:"index,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// At is when the record was refused, epoch ms.
	At int64 `json:"at"`
}

// StreamBatch is FailedRecord.Batch for Kinesis records.
const StreamBatch = "stream"

// FailedWriter stores failed records; writing the same record twice
// leaves one.
type FailedWriter interface {
	PutFailed(ctx context.Context, recs []FailedRecord) error
}

// Transient reports whether err should be retried rather than recorded as
// a failed record.
func Transient(err error) bool { return fault.KindOf(err).Transient() }

// Size bounds of a failed record's parts, in bytes, so that a failed
// record always fits a DynamoDB item (400 KB:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)
// and a batch's error summary stays small. Longer values are cut at a
// UTF-8 boundary and end in "…".
const (
	MaxCodeBytes         = 64
	MaxPointerBytes      = xdm.MaxPointerBytes
	MaxErrorMessageBytes = xdm.MaxMessageBytes
)

// Describe returns the stable code and the safe message of a row error,
// within MaxCodeBytes and MaxErrorMessageBytes.
func Describe(err error) (code, message string) {
	code, message = fault.Public(err)
	return xdm.Truncate(code, MaxCodeBytes), xdm.Truncate(message, MaxErrorMessageBytes)
}
