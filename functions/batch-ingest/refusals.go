package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// WriteDiagnosticsKey is the S3 key of the row diagnostics of a row that
// the scan accepted and its write refused: one object per row, beside the
// part's scan diagnostics (DiagnosticsKey) under the batch's row_errors,
// "part-<file:05d>-<part:06d>-write-<row:010d>.json". An object per row
// lets a retried or continued write rewrite or remove exactly that row's
// line whatever point an earlier attempt reached; such rows are rare (the
// write refuses what depends on stored data, like a fragment grown past
// its size limit, or a dataset changed since the scan).
func WriteDiagnosticsKey(batchID string, file, part, row int) string {
	return fmt.Sprintf("diagnostics/%s/row_errors/part-%05d-%06d-write-%010d.json", batchID, file, part, row)
}

// pendingRow is what a write refusal of a row in flight needs beyond the
// row: its number and the record as the file spells it.
type pendingRow struct {
	number int
	raw    []byte
}

// refusalRecorder is the pipeline of one write run of a part. It hands
// each row to the pipeline and, when the pipeline refuses it (a
// non-transient error), records the refusal before the row counts as done
// (so before the part's watermark can pass it): first the refusal item
// (store.WriteRefusal), then the row's diagnostics object. A row whose
// refusal an earlier attempt recorded and that this attempt writes has
// both removed (object first). Each step is idempotent, and a failure of
// any is transient: the row is not done, so the part's retry reaches it
// again and completes what was begun. The refusal items are what the
// batch's metrics count, so a row counts once however often it is tried.
type refusalRecorder struct {
	h        *handler
	inner    ingest.RowProcessor
	batchID  string
	filename string // the file's name in the batch (_filename)
	file     int
	part     int

	mu      sync.Mutex
	pending map[string]pendingRow // by ingest.Row.Src, unique per row
	earlier map[int]bool          // rows with a refusal recorded before this run
}

// newRefusalRecorder loads the refusals already recorded for the part's
// rows from mark on (the rows this run may write).
func (h *handler) newRefusalRecorder(ctx context.Context, inner ingest.RowProcessor, b catalog.Batch, file catalog.BatchFile, i, part, mark int) (*refusalRecorder, error) {
	rr := &refusalRecorder{h: h, inner: inner, batchID: b.ID, filename: file.Name, file: i, part: part,
		pending: map[string]pendingRow{}, earlier: map[int]bool{}}
	err := h.refusals.EachBatchWriteRefusal(ctx, b.ID, i, part, func(r store.WriteRefusal) error {
		if r.Row >= mark {
			rr.earlier[r.Row] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rr, nil
}

// writeRefusals counts the batch's write refusals by code (the message of
// the first row of each), holding no more than one entry per code.
func (h *handler) writeRefusals(ctx context.Context, batchID string) ([]catalog.BatchError, error) {
	byCode := map[string]*catalog.BatchError{}
	err := h.refusals.EachBatchWriteRefusal(ctx, batchID, -1, -1, func(r store.WriteRefusal) error {
		countError(byCode, r.Code, r.Message, 1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sortedErrors(byCode), nil
}

// hold keeps the number and raw record of the row whose source is src
// until Process takes it.
func (rr *refusalRecorder) hold(src string, number int, raw []byte) {
	rr.mu.Lock()
	rr.pending[src] = pendingRow{number: number, raw: raw}
	rr.mu.Unlock()
}

// Process implements ingest.RowProcessor.
func (rr *refusalRecorder) Process(ctx context.Context, spec *catalog.IngestSpec, row ingest.Row) (ingest.Outcome, error) {
	rr.mu.Lock()
	pr, ok := rr.pending[row.Src]
	delete(rr.pending, row.Src)
	had := ok && rr.earlier[pr.number]
	rr.mu.Unlock()
	out, err := rr.inner.Process(ctx, spec, row)
	if !ok || (err != nil && ingest.Transient(err)) {
		return out, err
	}
	if err != nil {
		code, msg := ingest.Describe(err)
		if rerr := rr.record(ctx, pr, code, msg); rerr != nil {
			return out, rerr
		}
		// The runner counts it on its tally (a log line of the run).
		return out, err
	}
	if had {
		if ferr := rr.forget(ctx, pr.number); ferr != nil {
			return out, ferr
		}
	}
	return out, nil
}

// record stores the refusal of row pr, then its diagnostics object.
func (rr *refusalRecorder) record(ctx context.Context, pr pendingRow, code, msg string) error {
	err := rr.h.refusals.PutBatchWriteRefusal(ctx, rr.batchID, store.WriteRefusal{File: rr.file, Part: rr.part, Row: pr.number, Code: code, Message: msg})
	if err != nil {
		return transient(err, "BATCH-WRITE-REFUSAL", "record a row refused when written")
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	d := diagnostic{Corrupt: validUTF8(pr.raw), Errors: []diagnosticErr{{Code: code, Message: msg}}, Filename: rr.filename, Row: pr.number}
	if err := enc.Encode(d); err != nil {
		return fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "encode row diagnostics")
	}
	_, err = rr.h.objects.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(rr.h.bucket), Key: aws.String(WriteDiagnosticsKey(rr.batchID, rr.file, rr.part, pr.number)),
		Body: bytes.NewReader(body.Bytes()), ContentType: aws.String("application/x-ndjson"),
	})
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "write row diagnostics")
	}
	return nil
}

// forget removes the diagnostics object, then the refusal, of a row an
// earlier attempt refused and this one wrote.
func (rr *refusalRecorder) forget(ctx context.Context, row int) error {
	_, err := rr.h.objects.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(rr.h.bucket), Key: aws.String(WriteDiagnosticsKey(rr.batchID, rr.file, rr.part, row)),
	})
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "delete row diagnostics")
	}
	if err := rr.h.refusals.DeleteBatchWriteRefusal(ctx, rr.batchID, rr.file, rr.part, row); err != nil {
		return transient(err, "BATCH-WRITE-REFUSAL", "forget a row refused when written")
	}
	rr.mu.Lock()
	delete(rr.earlier, row)
	rr.mu.Unlock()
	return nil
}

// transient is err as a transient error: a store failure while recording
// a refusal must stop the run (the row is not done) rather than refuse
// the row, whatever its kind.
func transient(err error, code, what string) error {
	if ingest.Transient(err) {
		return err
	}
	return fault.Wrap(err, fault.Unavailable, code, what)
}
