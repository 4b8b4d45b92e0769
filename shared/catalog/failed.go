package catalog

import "context"

// FailedRecord is one refused stream message (docs/rules.md#failed-records):
// where it was (shard, sequence number, index), a stable code and a
// readable message. It never holds the record's values. Refused rows of
// batch files are row diagnostics in S3 instead (docs/batch-ingestion.md).
type FailedRecord struct {
	// Batch is the batch id for a file, or the streaming batch
	// (StreamBatchID of the message's dataset, or of
	// StreamUnknownDataset, and its arrival time) for Kinesis records.
	Batch   string `json:"batchId"`
	Dataset string `json:"datasetId,omitempty"`
	File    string `json:"file,omitempty"`
	Row     int    `json:"row,omitempty"`
	Shard   string `json:"shard,omitempty"`
	Seq     string `json:"sequenceNumber,omitempty"`
	// SubSequence is the user record's position within a record
	// aggregated by the Kinesis Producer Library (ingest.SplitRecord).
	SubSequence int `json:"subSequenceNumber,omitempty"`
	// Index is the message's position within a {"messages":[…]} record.
	Index   int    `json:"index,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// At is when the record was refused, epoch ms.
	At int64 `json:"at"`
}

// FailedWriter stores failed records; writing the same record twice
// leaves one.
type FailedWriter interface {
	PutFailed(ctx context.Context, recs []FailedRecord) error
}
