package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// Streaming batches (docs/streaming.md#failures-as-batches): a batch of
// catalog.BatchOriginStream has no files; its metrics are counted in its
// partition of the catalog table (store.FailedRecords.StreamTotals) and
// its failed rows are its failed records.

// streamStore is what the batch routes need of the failed-record store.
type streamStore interface {
	StreamTotals(ctx context.Context, batchID string) (store.StreamTotals, error)
	FailedPage(ctx context.Context, batch, after string, limit int) ([]catalog.FailedRecord, string, error)
}

// streamPage is how many failed records one row_errors file or one
// /failed answer of a streaming batch holds: a record's line is at most
// about 30 KB (its texts are bounded by store.MaxFailedMessageBytes and
// store.MaxFailedPointerBytes, JSON escapes included), so a page stays
// under maxInlineBytes.
const streamPage = 100

// maxCursorBytes is the longest /failed cursor: a sort key (DynamoDB:
// 1,024 bytes).
const maxCursorBytes = 1024

func isStreamBatch(b catalog.Batch) bool { return b.Origin == catalog.BatchOriginStream }

// streamMetrics gives a streaming batch that is still processing its
// metrics and errors as counted so far (one Query of its partition). Once
// catalog.StreamSealAt has passed it seals the batch: the totals are
// written into the batch with status success, or failed when every
// message failed, by one conditional write from processing; a batch
// sealed by a concurrent request is read again. Other batches are
// returned as they are.
func (h *handler) streamMetrics(ctx context.Context, b catalog.Batch) (catalog.Batch, error) {
	if h.streams == nil || !isStreamBatch(b) || b.Status != catalog.BatchProcessing {
		return b, nil
	}
	t, err := h.streams.StreamTotals(ctx, b.ID)
	if err != nil {
		return b, err
	}
	b.Metrics.InputRecordCount = t.Input
	b.Metrics.FailedRecordCount = t.Failed
	b.Metrics.OutputRecordCount = t.Input - t.Failed
	b.Errors = t.Errors
	now := h.now()
	if now.Before(catalog.StreamSealAt(b.Created)) {
		return b, nil
	}
	b.Status = catalog.BatchSuccess
	if t.Input > 0 && t.Failed == t.Input {
		b.Status = catalog.BatchFailed
	}
	b.Completed, b.Updated = now.UnixMilli(), now.UnixMilli()
	err = h.cat.PutBatchFrom(ctx, b, catalog.BatchProcessing)
	if isKind(err, fault.Conflict) {
		return h.cat.GetBatch(ctx, b.ID)
	}
	return b, err
}

// streamRowError is a streaming batch's failed row in the row_errors
// format: _corrupt_record is always "" (a failed record never keeps the
// message's values; the stream keeps them for its retention, found by
// shard and sequence number), _errors as for a file's row, and where the
// message was instead of _filename and _row.
type streamRowError struct {
	CorruptRecord string         `json:"_corrupt_record"`
	Errors        []rowErrorCode `json:"_errors"`
	DatasetID     string         `json:"_datasetId,omitempty"`
	Shard         string         `json:"_shard"`
	Seq           string         `json:"_sequenceNumber"`
	SubSequence   int            `json:"_subSequenceNumber,omitempty"`
	Index         int            `json:"_index"`
	// FailedAt is when the message was refused, epoch ms.
	FailedAt int64 `json:"_failedAt"`
}

type rowErrorCode struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// streamLines renders failed records as JSON Lines.
func streamLines(recs []catalog.FailedRecord) ([]byte, error) {
	var out []byte
	for _, r := range recs {
		b, err := json.Marshal(streamRowError{Errors: []rowErrorCode{{Code: r.Code, Message: r.Message}}, DatasetID: r.Dataset,
			Shard: r.Shard, Seq: r.Seq, SubSequence: r.SubSequence, Index: r.Index, FailedAt: r.At})
		if err != nil {
			return nil, fault.Wrap(err, fault.Internal, "EXPORT-ENCODE", "encode a failed record")
		}
		out = append(append(out, b...), '\n')
	}
	return out, nil
}

// streamPartName is the name of a streaming batch's n-th row_errors
// file (from 0): streamPage failed records in position order.
func streamPartName(n int) string { return fmt.Sprintf("part-%06d.json", n) }

func parseStreamPartName(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "part-")
	s, ok2 := strings.CutSuffix(s, ".json")
	n, err := strconv.Atoi(s)
	if !ok || !ok2 || err != nil || n < 0 || streamPartName(n) != name {
		return 0, false
	}
	return n, true
}

// streamParts reads a streaming batch's failed records page by page,
// calling part with each row_errors file's number and lines, until part
// returns false or the records end. It reads every page up to the last
// one asked for: a listing or a file costs a Query of the failed records
// before it.
func (h *handler) streamParts(ctx context.Context, batchID string, part func(n int, body []byte, more bool) bool) error {
	after := ""
	for n := 0; ; n++ {
		recs, next, err := h.streams.FailedPage(ctx, batchID, after, streamPage)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		body, err := streamLines(recs)
		if err != nil {
			return err
		}
		if !part(n, body, next != "") || next == "" {
			return nil
		}
		after = next
	}
}

// streamRowErrors is meta?path=row_errors of a streaming batch: its
// failed records as files of streamPage records, part-000000.json on,
// from start (a name, inclusive), at most limit.
func (h *handler) streamRowErrors(ctx context.Context, b catalog.Batch, r *apigw.Request, limit int) (int, any, error) {
	first := 0
	if s := r.Query.Get("start"); s != "" {
		n, ok := parseStreamPartName(s)
		if !ok {
			return 0, nil, fault.Errorf(fault.Invalid, "EXPORT-PATH", "start %q is not a file name of this batch (part-<n>.json)", s)
		}
		first = n
	}
	var out metaPage
	out.Data = []metaEntry{}
	next := -1
	err := h.streamParts(ctx, b.ID, func(n int, body []byte, more bool) bool {
		if n < first {
			return true
		}
		if len(out.Data) == limit {
			next = n
			return false
		}
		name := streamPartName(n)
		out.Data = append(out.Data, metaEntry{Name: name, Length: strconv.Itoa(len(body)),
			Links: map[string]hrefLink{"self": {Href: metaHref(b.ID, "row_errors/"+name)}}})
		return true
	})
	if err != nil {
		return 0, nil, err
	}
	out.Page.Count, out.Page.Limit = len(out.Data), limit
	if next >= 0 {
		out.Links = map[string]hrefLink{"next": {Href: metaHref(b.ID, "row_errors") + "&limit=" + strconv.Itoa(limit) + "&start=" + queryEscape(streamPartName(next))}}
	}
	return http.StatusOK, out, nil
}

// streamRowErrorFile is meta?path=row_errors/<name> of a streaming batch.
func (h *handler) streamRowErrorFile(ctx context.Context, b catalog.Batch, name string) (int, any, error) {
	want, ok := parseStreamPartName(name)
	var found []byte
	if ok {
		err := h.streamParts(ctx, b.ID, func(n int, body []byte, more bool) bool {
			if n == want {
				found = body
				return false
			}
			return true
		})
		if err != nil {
			return 0, nil, err
		}
	}
	if found == nil {
		return 0, nil, fault.Errorf(fault.NotFound, "EXPORT-FILE-NOT-FOUND", "batch %s has no diagnostics file %q", b.ID, name)
	}
	return http.StatusOK, jsonLines(found, nil), nil
}

// streamFailed is /failed of a streaming batch: streamPage failed records
// from start (the cursor a previous answer's Link header gave, opaque),
// with a Link header to the next page when more remain.
func (h *handler) streamFailed(ctx context.Context, b catalog.Batch, r *apigw.Request) (int, any, error) {
	start := r.Query.Get("start")
	if len(start) > maxCursorBytes {
		return 0, nil, fault.E(fault.Invalid, "EXPORT-START", "start is the cursor a previous answer's Link header gave")
	}
	recs, next, err := h.streams.FailedPage(ctx, b.ID, start, streamPage)
	if fault.As(err).Code == store.CodeCursor {
		return 0, nil, fault.E(fault.Invalid, "EXPORT-START", "start is the cursor a previous answer's Link header gave")
	}
	if err != nil {
		return 0, nil, err
	}
	body, err := streamLines(recs)
	if err != nil {
		return 0, nil, err
	}
	var headers map[string]string
	if next != "" {
		headers = map[string]string{"link": failedLink(b.ID, next)}
	}
	return http.StatusOK, jsonLines(body, headers), nil
}
