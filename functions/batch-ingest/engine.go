package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/records"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// Decisions recorded on the batch's progress.
const (
	decideWrite  = "write"
	decideFailed = "failed"
)

// DiagnosticsKey is the S3 key of a part's row diagnostics.
func DiagnosticsKey(batchID string, file, part int) string {
	return fmt.Sprintf("diagnostics/%s/row_errors/part-%05d-%06d.json", batchID, file, part)
}

// diagnostic is one line of a part's row diagnostics (JSON Lines), AEP's
// shape for failed rows.
type diagnostic struct {
	Corrupt  string          `json:"_corrupt_record"`
	Errors   []diagnosticErr `json:"_errors"`
	Filename string          `json:"_filename"`
	Row      int             `json:"_row"`
}

type diagnosticErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// formatOfBatch is the records format of a batch's files.
func formatOfBatch(b catalog.Batch) records.Format {
	name := b.InputFormat
	if name == "" {
		name = catalog.FormatJSON
	}
	return records.Format{Name: name, MultiLine: b.MultiLineJSON}
}

// schemaOf is what typed readers (CSV, Parquet) learn of field types:
// the dataset's resolved schema.
func schemaOf(spec *catalog.IngestSpec) records.Schema {
	return records.SchemaFunc(spec.FieldType)
}

// received is the ordering time of a batch's rows that carry no
// lastUpdatedDate: when processing started (the drop-in's S3 event, the
// API batch's COMPLETE).
func received(b catalog.Batch) time.Time {
	if b.Started != 0 {
		return time.UnixMilli(b.Started)
	}
	return time.UnixMilli(b.Created)
}

// fileOf returns file index i of the batch.
func (h *handler) fileOf(ctx context.Context, batchID string, i int) (catalog.BatchFile, []catalog.BatchFile, bool, error) {
	files, err := h.files.ListBatchFiles(ctx, batchID)
	if err != nil {
		return catalog.BatchFile{}, nil, false, err
	}
	if i < 0 || i >= len(files) {
		slog.WarnContext(ctx, "task names no file of its batch; skipped", "batchId", batchID, "file", i)
		return catalog.BatchFile{}, files, false, nil
	}
	return files[i], files, true, nil
}

// specOf reads the batch's ingest spec; a spec that can never be read
// fails the batch (ok=false, nil error).
func (h *handler) specOf(ctx context.Context, b catalog.Batch, files []catalog.BatchFile) (*catalog.IngestSpec, bool, error) {
	spec, err := h.specs.Spec(ctx, b.DatasetID)
	if err == nil {
		return spec, true, nil
	}
	if ingest.Transient(err) {
		return nil, false, err
	}
	code, msg := ingest.Describe(err)
	return nil, false, h.fail(ctx, b, totalSize(files), len(files), code, msg)
}

func totalSize(files []catalog.BatchFile) int64 {
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n
}

// isFileError reports whether err is a file-level error of a reader
// (fault.Invalid with a FILE-* code): the batch fails.
func isFileError(err error) bool {
	var fe *fault.Error
	return err != nil && fault.KindOf(err) == fault.Invalid && errors.As(err, &fe) && strings.HasPrefix(fe.Code, "FILE-")
}

// scan scans file i of the batch after its last stored part (a task's
// "-from-<part>" names where its run expected to go on; the stored parts
// decide), storing each part once, then adds the file to the scanned set
// and, when that completes it, decides.
func (h *handler) scan(ctx context.Context, batchID string, i int) error {
	b, ok, err := h.processing(ctx, batchID)
	if err != nil || !ok {
		return err
	}
	file, files, ok, err := h.fileOf(ctx, batchID, i)
	if err != nil || !ok {
		return err
	}
	log := slog.With("batchId", b.ID, "datasetId", b.DatasetID, "file", i)
	stored, err := h.parts.ListBatchParts(ctx, b.ID, i)
	if err != nil {
		return err
	}
	var at records.Position
	next := 0
	done := false
	if n := len(stored); n > 0 {
		last := stored[n-1]
		at, next, done = last.End, last.Part+1, last.Last
	}
	if !done {
		spec, ok, err := h.specOf(ctx, b, files)
		if err != nil || !ok {
			return err
		}
		src := &s3Source{api: h.objects, bucket: h.bucket, file: file}
		rd, err := h.open(ctx, src, formatOfBatch(b), schemaOf(spec), at)
		if err != nil {
			return h.fileFailed(ctx, b, files, err)
		}
		defer rd.Close()
		run, err := h.parts.GetBatchRun(ctx, b.ID)
		if err != nil {
			return err
		}
		stopAt := h.run.StopAt(ctx)
		var took time.Duration
		for first := true; ; first = false {
			// A run goes on while the last part's time is left before its
			// deadline guard. One that has no time for any part returns an
			// error rather than a continuation, so that a function that can
			// never progress ends in Lambda's retries and the on-failure
			// destination instead of handing the same work on for ever.
			if !stopAt.IsZero() && h.run.Now().Add(took).After(stopAt) {
				if first {
					return fault.E(fault.Unavailable, "BATCH-DEADLINE", "no time was left to scan a part before the invocation deadline")
				}
				log.InfoContext(ctx, "scan continues in a new invocation", "part", next)
				return h.putTask(ctx, b.ID, task{kind: taskScan, file: i, part: next})
			}
			began := h.run.Now()
			p, err := h.scanPart(ctx, b, spec, run.Src, file.Name, i, next, at, rd)
			if err != nil {
				return h.fileFailed(ctx, b, files, err)
			}
			if _, err := h.parts.PutBatchPart(ctx, b.ID, p); err != nil {
				return err
			}
			took = h.run.Now().Sub(began)
			if p.Last {
				break
			}
			at, next = p.End, next+1
		}
	}
	run, err := h.parts.AddScannedFile(ctx, b.ID, i)
	if err != nil {
		return err
	}
	if !run.ScanDone() {
		return nil
	}
	return h.decide(ctx, b.ID)
}

// fileFailed fails the batch for a file-level error and returns any other
// error as it is (for Lambda to retry).
func (h *handler) fileFailed(ctx context.Context, b catalog.Batch, files []catalog.BatchFile, err error) error {
	if !isFileError(err) {
		return err
	}
	code, msg := ingest.Describe(err)
	// The metrics are those of the parts stored before the error.
	if parts, lerr := h.parts.ListBatchParts(ctx, b.ID, -1); lerr == nil {
		if refused, rerr := h.writeRefusals(ctx, b.ID); rerr == nil {
			b.Metrics = summarise(files, parts, refused).metrics
		}
	}
	return h.fail(ctx, b, totalSize(files), len(files), code, msg)
}

// A part is checked in windows of at most windowRows records holding at
// most windowBytes of record data (or one record, if larger), so that a
// scan holds a bounded amount of memory whatever the part's size: a
// window's rows are checked rowWorkers at once, then their results are
// counted and their diagnostics written in row order.
const (
	windowRows  = rowWorkers * 4
	windowBytes = 16 << 20
)

// diagnosticsPartSize is the size of the parts of a multipart upload of
// diagnostics, S3's minimum part size (Amazon S3 User Guide, "Amazon S3
// multipart upload limits"); a diagnostics object smaller than this is
// written by one PutObject.
const diagnosticsPartSize = 5 << 20

// checked is what the scan found of one record.
type checked struct {
	number   int
	refused  bool
	code     string
	message  string
	data     []byte // the record to check; nil once refused by its reader
	raw      []byte
	warnings []identity.Warning
}

// scanPart reads up to partRows records of rd and checks them, window by
// window (windowRows, windowBytes), keeping their order; it streams the
// part's row diagnostics to S3 as refusals are found (the object is
// complete before scanPart returns, and is only written when a row is
// refused) and returns the part to store. Its memory is bounded by a window
// and the upload's buffers, whatever the part holds.
func (h *handler) scanPart(ctx context.Context, b catalog.Batch, spec *catalog.IngestSpec, srcPrefix, name string, file, part int, at records.Position, rd records.Reader) (p store.BatchPart, err error) {
	p = store.BatchPart{File: file, Part: part, Start: at}
	errs := map[string]*catalog.BatchError{}
	warns := map[string]*catalog.BatchError{}
	var diag *diagnosticsStream
	defer func() {
		if diag != nil && err != nil {
			diag.abort(err)
		}
	}()
	recv := received(b)
	win := make([]checked, 0, windowRows)
	held := 0
	flush := func() error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(rowWorkers)
		for j := range win {
			if win[j].refused {
				continue
			}
			c := &win[j]
			g.Go(func() error {
				row := ingest.Row{Data: c.data, Received: recv, Src: rowSource(srcPrefix, file, c.number), Batch: b.ID}
				out, err := h.check.Check(gctx, spec, row)
				if err != nil {
					if ingest.Transient(err) {
						return err
					}
					c.refused = true
					c.code, c.message = ingest.Describe(err)
					return nil
				}
				c.warnings = out.Warnings
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for j := range win {
			r := &win[j]
			for _, w := range r.warnings {
				countError(warns, w.Code, w.Message, 1)
			}
			if r.refused {
				p.Refused = append(p.Refused, r.number)
				countError(errs, r.code, r.message, 1)
				if diag == nil {
					p.Diagnostics = DiagnosticsKey(b.ID, file, part)
					diag = h.startDiagnostics(ctx, p.Diagnostics)
				}
				if err := diag.write(diagnostic{Corrupt: validUTF8(r.raw), Errors: []diagnosticErr{{Code: r.code, Message: r.message}}, Filename: name, Row: r.number}); err != nil {
					return err
				}
			}
			win[j] = checked{} // let the window's records go
		}
		win, held = win[:0], 0
		return nil
	}
	for p.Rows < h.partRows {
		rec, err := rd.Next()
		if err == io.EOF {
			p.Last = true
			break
		}
		if err != nil {
			return p, err
		}
		p.Rows++
		c := checked{number: rec.Number, raw: bytes.Clone(rec.Raw)}
		if rec.Err != nil {
			c.refused = true
			c.code, c.message = ingest.Describe(rec.Err)
		} else {
			c.data = bytes.Clone(rec.Data)
		}
		win = append(win, c)
		held += len(c.raw) + len(c.data)
		if len(win) == windowRows || held >= windowBytes {
			if err := flush(); err != nil {
				return p, err
			}
		}
	}
	if err := flush(); err != nil {
		return p, err
	}
	p.End = rd.Position()
	p.Errors, p.Warnings = sortedErrors(errs), sortedErrors(warns)
	if diag != nil {
		if err := diag.close(); err != nil {
			diag = nil // closed: nothing left to abort
			return p, err
		}
	}
	return p, nil
}

// diagnosticsStream writes the JSON Lines of one diagnostics object to S3
// as they are encoded, through a pipe to an upload manager that holds at
// most one diagnosticsPartSize buffer (a multipart upload past it).
type diagnosticsStream struct {
	pw   *io.PipeWriter
	enc  *json.Encoder
	done chan error
}

// startDiagnostics starts the upload of the diagnostics object key of the
// landing bucket; the same key is rewritten whole by a retried scan.
func (h *handler) startDiagnostics(ctx context.Context, key string) *diagnosticsStream {
	pr, pw := io.Pipe()
	s := &diagnosticsStream{pw: pw, enc: json.NewEncoder(pw), done: make(chan error, 1)}
	s.enc.SetEscapeHTML(false)
	up := transfermanager.New(h.objects, func(o *transfermanager.Options) {
		o.PartSizeBytes = diagnosticsPartSize
		o.Concurrency = 1
	})
	go func() {
		_, err := up.UploadObject(ctx, &transfermanager.UploadObjectInput{
			Bucket: aws.String(h.bucket), Key: aws.String(key),
			Body: pr, ContentType: aws.String("application/x-ndjson"),
		})
		if err != nil {
			err = fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "write row diagnostics")
		}
		// An upload that stopped early unblocks the writer with its error.
		pr.CloseWithError(err)
		s.done <- err
	}()
	return s
}

// write appends d as one line.
func (s *diagnosticsStream) write(d diagnostic) error {
	if err := s.enc.Encode(d); err != nil {
		// The struct always encodes: the error is the upload's (the pipe
		// closed with it).
		if fault.KindOf(err) == fault.Unavailable {
			return err
		}
		return fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "write row diagnostics")
	}
	return nil
}

// close ends the object and waits for its upload.
func (s *diagnosticsStream) close() error {
	s.pw.Close()
	return <-s.done
}

// abort ends the upload without writing the object (a multipart upload
// started is aborted by the manager) and waits for it.
func (s *diagnosticsStream) abort(cause error) {
	s.pw.CloseWithError(cause)
	<-s.done
}

// validUTF8 is raw as a string with invalid bytes replaced, as a JSON
// string must be valid UTF-8 (RFC 8259 §8.1).
func validUTF8(raw []byte) string {
	if utf8.Valid(raw) {
		return string(raw)
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

func countError(m map[string]*catalog.BatchError, code, msg string, rows int) {
	e := m[code]
	if e == nil {
		e = &catalog.BatchError{Code: code, Description: msg}
		m[code] = e
	}
	e.Rows += rows
}

func sortedErrors(m map[string]*catalog.BatchError) []catalog.BatchError {
	out := make([]catalog.BatchError, 0, len(m))
	for _, e := range m {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	if len(out) == 0 {
		return nil
	}
	return out
}

// summary is the sum of a batch's parts and write refusals.
type summary struct {
	metrics  catalog.BatchMetrics
	errors   []catalog.BatchError
	warnings []catalog.BatchError
	// toWrite are the parts holding rows to write.
	toWrite []store.BatchPart
	// writeRefused is how many of metrics.FailedRecordCount the write
	// refused after the scan accepted them.
	writeRefused int
}

// summarise sums the parts and the rows refused when written once into
// the batch's metrics, errors and warnings (AEP's batch metrics:
// inputByteSize is the files' stored size). A row refused when written
// counts as failed, under its code, like a row the scan refused;
// writeRefused are those rows by code.
func summarise(files []catalog.BatchFile, parts []store.BatchPart, writeRefused []catalog.BatchError) summary {
	s := summary{metrics: catalog.BatchMetrics{InputFileCount: len(files), InputByteSize: totalSize(files)}}
	errs := map[string]*catalog.BatchError{}
	warns := map[string]*catalog.BatchError{}
	for _, p := range parts {
		s.metrics.InputRecordCount += p.Rows
		s.metrics.FailedRecordCount += len(p.Refused)
		for _, e := range p.Errors {
			countError(errs, e.Code, e.Description, e.Rows)
		}
		for _, w := range p.Warnings {
			countError(warns, w.Code, w.Description, w.Rows)
		}
		if p.Rows > len(p.Refused) {
			s.toWrite = append(s.toWrite, p)
		}
	}
	for _, e := range writeRefused {
		countError(errs, e.Code, e.Description, e.Rows)
		s.writeRefused += e.Rows
	}
	s.metrics.FailedRecordCount += s.writeRefused
	s.metrics.OutputRecordCount = s.metrics.InputRecordCount - s.metrics.FailedRecordCount
	s.errors, s.warnings = sortedErrors(errs), sortedErrors(warns)
	return s
}

// CodeTooManyFailed is the first error of a batch that failed because
// more than partialIngestionPercent of its records were refused (AEP
// reports the same as INGEST-1212-400); the errors after it are the
// refusals by code.
const CodeTooManyFailed = "BATCH-TOO-MANY-FAILED"

// summaryOf reads a batch's files, stored parts and write refusals and
// sums them.
func (h *handler) summaryOf(ctx context.Context, batchID string) (summary, error) {
	files, err := h.files.ListBatchFiles(ctx, batchID)
	if err != nil {
		return summary{}, err
	}
	parts, err := h.parts.ListBatchParts(ctx, batchID, -1)
	if err != nil {
		return summary{}, err
	}
	refused, err := h.writeRefusals(ctx, batchID)
	if err != nil {
		return summary{}, err
	}
	return summarise(files, parts, refused), nil
}

// decide sums the scanned parts and ends the batch failed, or records its
// metrics and fans out one write task per part holding rows. The first
// caller claims the decision; a later one (a redelivery, or a retry after
// a crash) redoes only a fan-out that was not recorded as done.
func (h *handler) decide(ctx context.Context, batchID string) error {
	b, ok, err := h.processing(ctx, batchID)
	if err != nil || !ok {
		return err
	}
	s, err := h.summaryOf(ctx, b.ID)
	if err != nil {
		return err
	}
	// The decision is the scan's: rows refused when written (only by a
	// repeated decide after writes began) never change it.
	in, failed := s.metrics.InputRecordCount, s.metrics.FailedRecordCount-s.writeRefused
	pct := b.PartialIngestionPercent
	decision := decideWrite
	if in == 0 || failed*100 > pct*in {
		decision = decideFailed
	}
	run, _, err := h.parts.ClaimBatchDecision(ctx, b.ID, decision, len(s.toWrite))
	if err != nil {
		return err
	}
	b.Metrics, b.Errors, b.Warnings = s.metrics, s.errors, s.warnings
	b.Updated = h.now().UnixMilli()
	log := slog.With("batchId", b.ID, "datasetId", b.DatasetID)
	if run.Decided == decideFailed {
		b.Status = catalog.BatchFailed
		b.Completed = b.Updated
		// Nothing was written: AEP's "the entire batch fails".
		b.Metrics.OutputRecordCount = 0
		if in == 0 {
			b.Errors = append(b.Errors, catalog.BatchError{Code: records.CodeFileEmpty, Description: "the batch holds no records"})
		} else {
			b.Errors = append([]catalog.BatchError{{Code: CodeTooManyFailed,
				Description: fmt.Sprintf("%d of %d records failed, more than partialIngestionPercent (%d%%); no record was ingested", failed, in, pct)}}, b.Errors...)
		}
		if err := h.batches.PutBatch(ctx, b); err != nil && !finishedMeanwhile(err) {
			return err
		}
		log.WarnContext(ctx, "batch failed", "records", in, "failed", failed)
		return nil
	}
	if run.Fanned {
		return nil
	}
	if err := h.batches.PutBatch(ctx, b); err != nil {
		if finishedMeanwhile(err) {
			return nil
		}
		return err
	}
	log.InfoContext(ctx, "batch checked; writing", "records", in, "failed", failed, "parts", len(s.toWrite))
	switch len(s.toWrite) {
	case 0:
		return h.finish(ctx, b.ID)
	case 1:
		p := s.toWrite[0]
		if err := h.writePart(ctx, b.ID, p.File, p.Part); err != nil {
			return err
		}
	default:
		for _, p := range s.toWrite {
			if err := h.putTask(ctx, b.ID, task{kind: taskWrite, file: p.File, part: p.Part}); err != nil {
				return err
			}
		}
	}
	return h.parts.SetBatchFanned(ctx, b.ID)
}

// watermark tracks the rows of a part in flight: the lowest record number
// not yet done is a safe place to resume from.
type watermark struct {
	mu       sync.Mutex
	inflight map[int]bool
	next     int // the number after the last record read
}

func (w *watermark) read(n int) {
	w.mu.Lock()
	w.next = n + 1
	w.mu.Unlock()
}

func (w *watermark) start(n int) {
	w.mu.Lock()
	w.inflight[n] = true
	w.next = n + 1
	w.mu.Unlock()
}

func (w *watermark) done(n int) {
	w.mu.Lock()
	delete(w.inflight, n)
	w.mu.Unlock()
}

func (w *watermark) low() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	low := w.next
	for n := range w.inflight {
		low = min(low, n)
	}
	return low
}

// writePart writes the rows of one part that the scan accepted, from its
// watermark on, rowWorkers at once, storing the watermark every
// checkpointEvery and going on in a new invocation near the deadline; it
// then adds the part to the written set, and the caller whose add
// completes the set finishes the batch.
func (h *handler) writePart(ctx context.Context, batchID string, i, partNo int) error {
	b, ok, err := h.processing(ctx, batchID)
	if err != nil || !ok {
		return err
	}
	run, err := h.parts.GetBatchRun(ctx, b.ID)
	if err != nil {
		return err
	}
	if run.HasWritten(i, partNo) {
		if run.WriteDone() {
			return h.finish(ctx, b.ID)
		}
		return nil
	}
	p, err := h.parts.GetBatchPart(ctx, b.ID, i, partNo)
	if fault.KindOf(err) == fault.NotFound {
		slog.WarnContext(ctx, "task names no part of its batch; skipped", "batchId", b.ID, "file", i, "part", partNo)
		return nil
	}
	if err != nil {
		return err
	}
	file, files, ok, err := h.fileOf(ctx, b.ID, i)
	if err != nil || !ok {
		return err
	}
	end := p.End.Number // no record of the part has a higher number
	mark := max(p.Mark, p.Start.Number+1)
	log := slog.With("batchId", b.ID, "datasetId", b.DatasetID, "file", i, "part", partNo)
	if mark <= end {
		spec, ok, err := h.specOf(ctx, b, files)
		if err != nil || !ok {
			return err
		}
		src := &s3Source{api: h.objects, bucket: h.bucket, file: file}
		rd, err := h.open(ctx, src, formatOfBatch(b), schemaOf(spec), p.Start)
		if err != nil {
			return h.fileFailed(ctx, b, files, err)
		}
		defer rd.Close()
		refused := p.Refused
		wm := &watermark{inflight: map[int]bool{}, next: mark}
		lastMark := h.run.Now()
		recv := received(b)
		rec, err := h.newRefusalRecorder(ctx, h.run.Pipeline, b, file, i, partNo, mark)
		if err != nil {
			return err
		}
		runner := *h.run
		runner.Pipeline = rec
		tally := runner.NewTally()
		runErr := runner.Run(ctx, tally, func() (ingest.Item, error) {
			for {
				if h.run.Now().Sub(lastMark) >= checkpointEvery {
					lastMark = h.run.Now()
					// The watermark only saves work after a kill: a
					// continuation from an older one rewrites rows, which
					// is idempotent, so a transient failure to store it
					// does not stop the part.
					if err := h.parts.SetBatchPartMark(ctx, b.ID, i, partNo, wm.low()); err != nil {
						if !fault.As(err).Kind.Transient() {
							return ingest.Item{}, err
						}
						log.WarnContext(ctx, "watermark not stored; the part goes on", "err", err)
					}
				}
				r, err := rd.Next()
				if err != nil {
					return ingest.Item{}, err
				}
				if r.Number > end {
					return ingest.Item{}, io.EOF
				}
				for len(refused) > 0 && refused[0] < r.Number {
					refused = refused[1:]
				}
				if r.Number < mark || (len(refused) > 0 && refused[0] == r.Number) || r.Err != nil {
					wm.read(r.Number)
					continue
				}
				wm.start(r.Number)
				n := r.Number
				data := bytes.Clone(r.Data)
				raw := data
				if !bytes.Equal(r.Raw, r.Data) {
					raw = bytes.Clone(r.Raw)
				}
				src := rowSource(run.Src, i, n)
				rec.hold(src, n, raw)
				return ingest.Item{
					Row:  ingest.Row{Data: data, Received: recv, Src: src, Batch: b.ID},
					Spec: spec,
					At:   catalog.FailedRecord{Batch: b.ID, Dataset: b.DatasetID, File: file.Name, Row: n},
					Done: func() { wm.done(n) },
				}, nil
			}
		})
		if runErr != nil {
			low := wm.low()
			if err := h.parts.SetBatchPartMark(ctx, b.ID, i, partNo, low); err != nil {
				log.WarnContext(ctx, "watermark not stored", "err", err)
			}
			var fe *fault.Error
			// A run cut by its deadline hands on to a continuation from
			// its watermark, unless it wrote nothing (see scan).
			if errors.As(runErr, &fe) && fe.Code == "BATCH-DEADLINE" && low > mark {
				log.InfoContext(ctx, "write continues in a new invocation", "from", low)
				return h.putTask(ctx, b.ID, task{kind: taskWrite, file: i, part: partNo, from: low})
			}
			if isFileError(runErr) {
				return h.fileFailed(ctx, b, files, runErr)
			}
			log.WarnContext(ctx, "part interrupted; it will be retried", "kind", fault.KindOf(runErr).String(), "err", runErr)
			return runErr
		}
		if tally.Refused() > 0 {
			// Each is a row error of the batch (refusalRecorder).
			log.WarnContext(ctx, "rows the scan accepted were refused when written", "rows", tally.Refused())
		}
	}
	run, err = h.parts.AddWrittenPart(ctx, b.ID, i, partNo)
	if err != nil {
		return err
	}
	if !run.WriteDone() {
		return nil
	}
	return h.finish(ctx, b.ID)
}

// finish ends the batch success with the metrics of its parts; a batch
// already final is left as it is.
func (h *handler) finish(ctx context.Context, batchID string) error {
	b, ok, err := h.processing(ctx, batchID)
	if err != nil || !ok {
		return err
	}
	s, err := h.summaryOf(ctx, b.ID)
	if err != nil {
		return err
	}
	b.Metrics, b.Errors, b.Warnings = s.metrics, s.errors, s.warnings
	b.Status = catalog.BatchSuccess
	b.Updated = h.now().UnixMilli()
	b.Completed = b.Updated
	if err := h.batches.PutBatch(ctx, b); err != nil {
		if finishedMeanwhile(err) {
			return nil
		}
		return err
	}
	slog.InfoContext(ctx, "batch done", "batchId", b.ID, "datasetId", b.DatasetID, "status", b.Status,
		"records", s.metrics.InputRecordCount, "failed", s.metrics.FailedRecordCount)
	return nil
}
