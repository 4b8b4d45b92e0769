package catalog

import (
	"strings"
	"time"
)

// BatchOriginStream is Batch.Origin of a streaming batch
// (StreamBatchID): created by the stream's first record of a dataset and
// window.
const BatchOriginStream = "stream"

// StreamGrace is how long after its window ends a streaming batch stays
// processing, for records of the window still being processed or retried
// (Lambda retries a failing shard's batch, and a record may wait in the
// stream while its shard is blocked). After it, the batch routes seal the
// batch: its metrics and errors are summed once into the batch, and its
// status becomes success, or failed when every record failed (AEP: a
// streaming batch keeps the valid records and holds the invalid ones as
// its failed records). A record processed after the seal is not in the
// sealed metrics; its failed record is still listed and downloadable.
const StreamGrace = time.Hour

// NewStreamBatch is the batch of datasetID (or StreamUnknownDataset,
// whose batch names no dataset) for the window holding t: status
// processing, created and started at the window's start (epoch ms).
func NewStreamBatch(datasetID string, t time.Time, now time.Time) Batch {
	start := t.UTC().Truncate(StreamWindow).UnixMilli()
	b := Batch{ID: StreamBatchID(datasetID, t), DatasetID: datasetID, Status: BatchProcessing, Created: start,
		Started: start, Updated: now.UnixMilli(), Origin: BatchOriginStream, EnableErrorDiagnostics: true}
	if datasetID == StreamUnknownDataset {
		b.DatasetID = ""
	}
	return b
}

// StreamSealAt is when a streaming batch created at windowStart (epoch
// ms) is sealed: the window's end plus StreamGrace.
func StreamSealAt(windowStart int64) time.Time {
	return time.UnixMilli(windowStart).Add(StreamWindow + StreamGrace)
}

// ParseStreamBatchID reads the dataset id (StreamUnknownDataset for the
// stream-level batch) and window start of a StreamBatchID; ok is false
// for any other id.
func ParseStreamBatchID(id string) (datasetID string, start time.Time, ok bool) {
	rest, found := strings.CutPrefix(id, "stream-")
	i := strings.LastIndexByte(rest, '-')
	if !found || i <= 0 {
		return "", time.Time{}, false
	}
	start, err := time.Parse("20060102T1504Z", rest[i+1:])
	if err != nil || !start.Equal(start.Truncate(StreamWindow)) {
		return "", time.Time{}, false
	}
	return rest[:i], start, true
}
