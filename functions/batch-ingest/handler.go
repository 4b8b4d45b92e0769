package main

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/ingest/ingestenv"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// defaultPartialPercent is AEP's default partialIngestionPercent.
const defaultPartialPercent = 5

// rowWorkers is how many rows of a file are written at once. Rows may be
// written in any order: fragment writes are ordered by their ordering time,
// events and links are idempotent.
const rowWorkers = 16

// reportMargin is the time kept before the invocation deadline to record
// the batch's state.
const reportMargin = 10 * time.Second

type objectGetter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

type batchStore interface {
	CreateBatch(ctx context.Context, b catalog.Batch) (bool, catalog.Batch, error)
	PutBatch(ctx context.Context, b catalog.Batch) error
}

type handler struct {
	objects objectGetter
	batches batchStore
	specs   ingest.SpecSource
	run     *ingest.Runner
	now     func() time.Time
}

func newHandler(ctx context.Context, getenv awsenv.Getenv) (*handler, error) {
	env, err := ingestenv.Load(ctx, getenv, rowWorkers, reportMargin)
	if err != nil {
		return nil, err
	}
	return &handler{objects: env.Clients.S3, batches: env.Catalog, specs: env.Specs, run: env.Runner, now: time.Now}, nil
}

// Handle processes every created object of the event. A transient failure
// returns an error so that Lambda retries the event; the retry is
// idempotent.
func (h *handler) Handle(ctx context.Context, ev events.S3Event) error {
	for _, rec := range ev.Records {
		if err := h.object(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// BatchID is the deterministic id of the implicit batch of one upload:
// bucket, key and the upload's identity (see uploadOf). Every PUT, copy or
// completed multipart upload is new data with its own batch, even when its
// content is unchanged; only a redelivered S3 event (same version or
// sequencer) finds the batch it opened first.
func BatchID(bucket, key, upload string) string {
	sum := sha256.Sum256([]byte(bucket + "\x00" + key + "\x00" + upload))
	return hex.EncodeToString(sum[:12])
}

// sequencerWidth is the width to which sequencers are left-padded with '0'
// so that they compare as strings: AWS documents that sequencers of one key
// order its events once the shorter is padded with zeros ("Event message
// structure", Amazon S3 User Guide). 32 hex digits is above any length S3
// or the local cloud emits.
const sequencerWidth = 32

// uploadOf identifies the upload an S3 event record announces: the object's
// versionId on a versioned bucket, else its sequencer, which S3 gives each
// event of a key, increasing, and keeps on a redelivery of the same event.
// A record with neither (hand-made events) falls back to the ETag, which
// makes an identical re-put a redelivery.
func uploadOf(rec events.S3EventRecord) string {
	o := rec.S3.Object
	switch {
	case o.VersionID != "" && o.VersionID != "null":
		return "v:" + o.VersionID
	case o.Sequencer != "":
		return "s:" + paddedSequencer(o.Sequencer)
	default:
		return "e:" + strings.Trim(o.ETag, `"`)
	}
}

// paddedSequencer left-pads a sequencer to sequencerWidth, upper-cased, so
// that a later upload of a key sorts after an earlier one.
func paddedSequencer(seq string) string {
	seq = strings.ToUpper(seq)
	if len(seq) >= sequencerWidth {
		return seq
	}
	return strings.Repeat("0", sequencerWidth-len(seq)) + seq
}

// rowSource is the tie-breaker of a row's fragments (Row.Src): the key,
// then the upload's padded sequencer, then the row number, so that between
// two uploads of one key received in the same millisecond the later upload
// wins.
func rowSource(rec events.S3EventRecord, key string, line int) string {
	up := paddedSequencer(rec.S3.Object.Sequencer)
	if rec.S3.Object.Sequencer == "" {
		up = strings.Trim(rec.S3.Object.ETag, `"`)
	}
	return fmt.Sprintf("s3:%s#%s:%010d", key, up, line)
}

// objectInput reads the upload the event announces: on a versioned bucket
// its own version, which a later upload of the key does not replace.
func objectInput(rec events.S3EventRecord, bucket, key string) *s3.GetObjectInput {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if v := rec.S3.Object.VersionID; v != "" && v != "null" {
		in.VersionId = aws.String(v)
	}
	return in
}

// datasetOf parses ingest/<datasetId>/<name>.
func datasetOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, topology.IngestPrefix)
	if !ok {
		return "", false
	}
	ds, name, ok := strings.Cut(rest, "/")
	if !ok || ds == "" || name == "" || strings.HasSuffix(name, "/") {
		return "", false
	}
	return ds, true
}

func (h *handler) object(ctx context.Context, rec events.S3EventRecord) error {
	if !strings.HasPrefix(strings.TrimPrefix(rec.EventName, "s3:"), "ObjectCreated:") {
		return nil
	}
	bucket := rec.S3.Bucket.Name
	key, err := url.QueryUnescape(rec.S3.Object.Key)
	if err != nil {
		slog.WarnContext(ctx, "skipped object: key is not URL-encoded", "bucket", bucket)
		return nil
	}
	datasetID, ok := datasetOf(key)
	if !ok {
		slog.WarnContext(ctx, "skipped object outside ingest/<datasetId>/", "bucket", bucket)
		return nil
	}
	etag := strings.Trim(rec.S3.Object.ETag, `"`)
	created := rec.EventTime
	if created.IsZero() {
		created = h.now()
	}
	b := catalog.Batch{
		ID:                      BatchID(bucket, key, uploadOf(rec)),
		DatasetID:               datasetID,
		Status:                  catalog.BatchLoading,
		Created:                 created.UnixMilli(),
		Updated:                 h.now().UnixMilli(),
		InputFormat:             "json",
		PartialIngestionPercent: defaultPartialPercent,
		Source:                  "s3://" + bucket + "/" + key,
		ETag:                    etag,
	}
	isNew, existing, err := h.batches.CreateBatch(ctx, b)
	if err != nil {
		return err
	}
	if !isNew {
		switch existing.Status {
		case catalog.BatchSuccess, catalog.BatchFailed, catalog.BatchAborted:
			slog.InfoContext(ctx, "redelivery of a finished batch skipped", "batchId", existing.ID, "status", existing.Status)
			return nil
		}
		// An unfinished batch is reprocessed from the start, with the
		// ordering time it was given first.
		b = existing
		if b.PartialIngestionPercent == 0 {
			b.PartialIngestionPercent = defaultPartialPercent
		}
	}
	log := slog.With("batchId", b.ID, "datasetId", datasetID)

	spec, err := h.specs.Spec(ctx, datasetID)
	if err != nil {
		if ingest.Transient(err) {
			return err
		}
		code, msg := ingest.Describe(err)
		return h.fail(ctx, log, b, code, msg)
	}
	if !spec.ProfileEnabled && !spec.IdentityEnabled {
		return h.fail(ctx, log, b, ingest.CodeNotEnabled, "the dataset is not enabled for Profile or Identity; nothing to ingest")
	}
	b.Status = catalog.BatchProcessing
	b.Updated = h.now().UnixMilli()
	if err := h.batches.PutBatch(ctx, b); err != nil {
		if finishedMeanwhile(err) {
			log.InfoContext(ctx, "batch finished by another delivery; skipped")
			return nil
		}
		return err
	}

	out, err := h.objects.GetObject(ctx, objectInput(rec, bucket, key))
	if err != nil {
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return h.fail(ctx, log, b, "FILE-NOT-FOUND", "the file was deleted before it could be read")
		}
		return fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "read the file")
	}
	defer out.Body.Close()
	var body io.Reader = out.Body
	if strings.HasSuffix(key, ".gz") {
		zr, err := gzip.NewReader(out.Body)
		if err != nil {
			return h.fail(ctx, log, b, "FILE-GZIP", "the file is not valid gzip")
		}
		defer zr.Close()
		body = zr
	}

	res, err := h.rows(ctx, spec, b, key, func(line int) string { return rowSource(rec, key, line) }, body)
	if err != nil {
		log.WarnContext(ctx, "batch interrupted; it will be retried", "kind", fault.KindOf(err).String(), "err", err)
		return err
	}
	input, failed := res.Rows(), res.Refused()
	b.Metrics = catalog.BatchMetrics{
		InputFileCount:    1,
		InputRecordCount:  input,
		OutputRecordCount: input - failed,
		FailedRecordCount: failed,
	}
	b.Errors = res.Errors()
	b.Warnings = res.Warnings()
	switch {
	case input == 0:
		b.Status = catalog.BatchFailed
		b.Errors = append(b.Errors, catalog.BatchError{Code: "FILE-EMPTY", Description: "the file holds no records"})
	case failed*100 > b.PartialIngestionPercent*input:
		b.Status = catalog.BatchFailed
	default:
		b.Status = catalog.BatchSuccess
	}
	b.Updated = h.now().UnixMilli()
	b.Completed = b.Updated
	if err := h.batches.PutBatch(ctx, b); err != nil {
		if finishedMeanwhile(err) {
			log.InfoContext(ctx, "batch finished by another delivery; its result is kept")
			return nil
		}
		return err
	}
	log.InfoContext(ctx, "batch done", "status", b.Status, "records", input, "failed", failed)
	return nil
}

func (h *handler) fail(ctx context.Context, log *slog.Logger, b catalog.Batch, code, msg string) error {
	b.Status = catalog.BatchFailed
	b.Updated = h.now().UnixMilli()
	b.Completed = b.Updated
	b.Metrics = catalog.BatchMetrics{InputFileCount: 1}
	b.Errors = []catalog.BatchError{{Code: code, Description: msg}}
	if err := h.batches.PutBatch(ctx, b); err != nil {
		if finishedMeanwhile(err) {
			return nil
		}
		return err
	}
	log.WarnContext(ctx, "batch failed", "code", code)
	return nil
}

// finishedMeanwhile reports whether a batch write was refused because
// the batch reached a final state meanwhile (another delivery of the same
// event finished it): nothing is left to do.
func finishedMeanwhile(err error) bool {
	return errors.Is(err, &fault.Error{Kind: fault.Conflict, Code: store.CodeBatchFinal})
}

// rows runs the pipeline on every line of the file, rowWorkers at once,
// and records refused rows. It returns an error only for failures that a
// retry may cure.
func (h *handler) rows(ctx context.Context, spec *catalog.IngestSpec, b catalog.Batch, key string, src func(line int) string, body io.Reader) (*ingest.Tally, error) {
	res := h.run.NewTally()
	received := time.UnixMilli(b.Created)
	lr := ingest.NewLineReader(body, ingest.MaxLineBytes)
	err := h.run.Run(ctx, res, func() (ingest.Item, error) {
		line, err := lr.Next()
		if err == io.EOF {
			return ingest.Item{}, err
		}
		if err != nil {
			return ingest.Item{}, fault.Wrap(err, fault.Unavailable, "S3-READ", "read the file")
		}
		return ingest.Item{
			Row: ingest.Row{
				Data:     append([]byte(nil), line.Data...),
				Received: received,
				Src:      src(line.Number),
				Batch:    b.ID,
			},
			Spec: spec,
			At:   catalog.FailedRecord{Batch: b.ID, Dataset: b.DatasetID, File: key, Row: line.Number},
			Err:  line.Err,
		}, nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
