package catalog

import "time"

// Streamed records are reported as batches, as AEP reports streaming
// ingestion: one batch per dataset per StreamWindow of receive time, with
// the batch metrics and failed records of a batch file
// (docs/streaming.md#failures-as-batches).
const (
	// StreamWindow is the span of receive time one streaming batch covers.
	StreamWindow = 15 * time.Minute
	// StreamUnknownDataset stands for the dataset in the id of the
	// stream-level batch: records whose dataset cannot be known (not
	// JSON, no header, a dataset that does not exist).
	StreamUnknownDataset = "unknown"
	// FailedRetention is how long a failed streamed record is kept
	// (DynamoDB TTL on the item's expiresAt; reads leave out expired ones).
	FailedRetention = 30 * 24 * time.Hour
)

// StreamBatchID is the id of the streaming batch that holds a record of
// datasetID (or StreamUnknownDataset) received at t:
// "stream-<datasetId>-<window start, UTC, 20060102T1504Z>".
func StreamBatchID(datasetID string, t time.Time) string {
	start := t.UTC().Truncate(StreamWindow)
	return "stream-" + datasetID + "-" + start.Format("20060102T1504Z")
}
