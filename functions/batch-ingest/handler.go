package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/ingest/ingestenv"
	"github.com/mosaic-cdp/mosaic/shared/records"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// defaultPartialPercent is AEP's default partialIngestionPercent.
const defaultPartialPercent = 5

// rowWorkers is how many rows of a part are checked or written at once.
// Rows may be written in any order: fragment writes are ordered by their
// ordering time, events and links are idempotent.
const rowWorkers = 16

// reportMargin is the time kept before the invocation deadline to store
// what a run did and issue its continuation task.
const reportMargin = 10 * time.Second

// checkpointEvery is how often a write run stores its watermark.
const checkpointEvery = 3 * time.Second

// DefaultPartRows is the MOSAIC_BATCH_PART_ROWS default.
const DefaultPartRows = 10_000

// ParsePartRows reads the MOSAIC_BATCH_PART_ROWS setting: an integer from 1
// to store.MaxPartRows; empty means DefaultPartRows.
func ParsePartRows(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultPartRows, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > store.MaxPartRows {
		return 0, fault.Errorf(fault.Invalid, "CONFIG-BATCH-PART-ROWS", "part rows %q is not an integer from 1 to %d", s, store.MaxPartRows)
	}
	return n, nil
}

type objectGetter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// objectAPI reads batch files and writes task and diagnostics objects
// (the latter through an upload manager: one PutObject, or a multipart
// upload for a large one); it deletes the diagnostics of a row refused
// when written that a later attempt wrote.
type objectAPI interface {
	transfermanager.S3APIClient
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

type batchStore interface {
	CreateBatch(ctx context.Context, b catalog.Batch) (bool, catalog.Batch, error)
	PutBatch(ctx context.Context, b catalog.Batch) error
	GetBatch(ctx context.Context, id string) (catalog.Batch, error)
}

// fileStore holds the files of batches (store.Catalog).
type fileStore interface {
	PutBatchFile(ctx context.Context, batchID string, f catalog.BatchFile) error
	ListBatchFiles(ctx context.Context, batchID string) ([]catalog.BatchFile, error)
}

// partStore holds the engine's parts and progress (store.Catalog).
type partStore interface {
	PutBatchPart(ctx context.Context, batchID string, p store.BatchPart) (bool, error)
	GetBatchPart(ctx context.Context, batchID string, file, part int) (store.BatchPart, error)
	ListBatchParts(ctx context.Context, batchID string, file int) ([]store.BatchPart, error)
	SetBatchPartMark(ctx context.Context, batchID string, file, part, mark int) error
	StartBatchRun(ctx context.Context, batchID string, files int, src string) error
	GetBatchRun(ctx context.Context, batchID string) (store.BatchRun, error)
	AddScannedFile(ctx context.Context, batchID string, file int) (store.BatchRun, error)
	ClaimBatchDecision(ctx context.Context, batchID, decision string, parts int) (store.BatchRun, bool, error)
	SetBatchFanned(ctx context.Context, batchID string) error
	AddWrittenPart(ctx context.Context, batchID string, file, part int) (store.BatchRun, error)
}

// refusalStore holds the rows the scan accepted and their write refused
// (store.Catalog).
type refusalStore interface {
	PutBatchWriteRefusal(ctx context.Context, batchID string, r store.WriteRefusal) error
	DeleteBatchWriteRefusal(ctx context.Context, batchID string, file, part, row int) error
	EachBatchWriteRefusal(ctx context.Context, batchID string, file, part int, each func(store.WriteRefusal) error) error
}

// rowChecker checks a row without writing it (ingest.Pipeline).
type rowChecker interface {
	Check(ctx context.Context, spec *catalog.IngestSpec, row ingest.Row) (ingest.Outcome, error)
}

// openFunc opens a file's records (records.Open).
type openFunc func(ctx context.Context, src records.Source, f records.Format, s records.Schema, at records.Position) (records.Reader, error)

type handler struct {
	objects  objectAPI
	bucket   string // the landing bucket: tasks and diagnostics
	batches  batchStore
	files    fileStore
	parts    partStore
	refusals refusalStore
	specs    ingest.SpecSource
	check    rowChecker
	run      *ingest.Runner
	open     openFunc
	partRows int
	now      func() time.Time
}

func newHandler(ctx context.Context, getenv awsenv.Getenv) (*handler, error) {
	env, err := ingestenv.Load(ctx, getenv, rowWorkers, reportMargin)
	if err != nil {
		return nil, err
	}
	req, err := awsenv.Require(getenv, topology.EnvLandingBucket)
	if err != nil {
		return nil, err
	}
	rows, err := ParsePartRows(getenv(topology.EnvBatchPartRows))
	if err != nil {
		return nil, err
	}
	p, ok := env.Runner.Pipeline.(*ingest.Pipeline)
	if !ok {
		return nil, errors.New("the ingest runner's pipeline cannot check rows")
	}
	return &handler{
		objects: env.Clients.S3, bucket: req[topology.EnvLandingBucket],
		batches: env.Catalog, files: env.Catalog, parts: env.Catalog, refusals: env.Catalog,
		specs: env.Specs, check: p, run: batchRunner(env.Runner), open: records.Open,
		partRows: rows, now: time.Now,
	}, nil
}

// batchRunner is r for batch files: their refused rows are the row
// diagnostics in S3 (DiagnosticsKey), never failed-record items in the
// catalog table, so the runner only counts refusals.
func batchRunner(r *ingest.Runner) *ingest.Runner {
	run := *r
	run.Failed = nil
	return &run
}

// Handle processes every created object of the event: a dropped file, a
// batch manifest or a task (see taskOf). A transient failure returns an
// error so that Lambda retries the event; every step is idempotent.
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

// dropInSource is the source prefix of a dropped file's rows (Row.Src is
// "<prefix>:<row, 10 digits>"): the key, then the upload's padded
// sequencer, so that between two uploads of one key received in the same
// millisecond the later upload wins.
func dropInSource(rec events.S3EventRecord, key string) string {
	up := paddedSequencer(rec.S3.Object.Sequencer)
	if rec.S3.Object.Sequencer == "" {
		up = strings.Trim(rec.S3.Object.ETag, `"`)
	}
	return fmt.Sprintf("s3:%s#%s", key, up)
}

// apiSource is the source prefix of an API batch's rows (Row.Src is
// "<prefix>:<file index, 5 digits>:<row, 10 digits>").
func apiSource(b catalog.Batch) string {
	return fmt.Sprintf("batch:%013d:%s", b.Started, b.ID)
}

// rowSource is a row's Src from its batch's source prefix.
func rowSource(prefix string, file, row int) string {
	if strings.HasPrefix(prefix, "s3:") {
		return fmt.Sprintf("%s:%010d", prefix, row)
	}
	return fmt.Sprintf("%s:%05d:%010d", prefix, file, row)
}

// datasetOf parses ingest/<datasetId>/<name>.
func datasetOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, topology.IngestPrefix)
	if !ok {
		return "", false
	}
	ds, name, ok := strings.Cut(rest, "/")
	if !ok || ds == "" || ds == batchesDir || name == "" || strings.HasSuffix(name, "/") {
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
	if t, ok := taskOf(key); ok {
		return h.task(ctx, t)
	}
	datasetID, ok := datasetOf(key)
	if !ok {
		slog.WarnContext(ctx, "skipped object outside ingest/<datasetId>/ that is no batch task")
		return nil
	}
	return h.dropIn(ctx, rec, bucket, key, datasetID)
}

// dropIn opens the implicit batch of a dropped file, records its one
// file and scans it.
func (h *handler) dropIn(ctx context.Context, rec events.S3EventRecord, bucket, key, datasetID string) error {
	created := rec.EventTime
	if created.IsZero() {
		created = h.now()
	}
	format, _ := formatOf(key)
	b := catalog.Batch{
		ID:                      BatchID(bucket, key, uploadOf(rec)),
		DatasetID:               datasetID,
		Status:                  catalog.BatchLoading,
		Created:                 created.UnixMilli(),
		Updated:                 h.now().UnixMilli(),
		Started:                 created.UnixMilli(),
		InputFormat:             format,
		Origin:                  catalog.BatchOriginDropIn,
		PartialIngestionPercent: defaultPartialPercent,
		Source:                  "s3://" + bucket + "/" + key,
		ETag:                    strings.Trim(rec.S3.Object.ETag, `"`),
	}
	isNew, existing, err := h.batches.CreateBatch(ctx, b)
	if err != nil {
		return err
	}
	if !isNew {
		if final(existing.Status) {
			slog.InfoContext(ctx, "redelivery of a finished batch skipped", "batchId", existing.ID, "status", existing.Status)
			return nil
		}
		b = existing
	}
	log := slog.With("batchId", b.ID, "datasetId", datasetID)
	size, err := h.sizeOf(ctx, rec, key)
	if err != nil {
		if isFileError(err) {
			return h.fail(ctx, b, 0, 1, CodeFileNotFound, "the file was deleted before it could be read")
		}
		return err
	}
	file := catalog.BatchFile{
		Name:     key,
		Objects:  []catalog.FileObject{{Key: key, VersionID: rec.S3.Object.VersionID, Size: size}},
		Size:     size,
		Complete: true,
		Created:  b.Created,
	}
	spec, err := h.specs.Spec(ctx, datasetID)
	if err != nil {
		if ingest.Transient(err) {
			return err
		}
		code, msg := ingest.Describe(err)
		return h.fail(ctx, b, file.Size, 1, code, msg)
	}
	if !spec.ProfileEnabled && !spec.IdentityEnabled {
		return h.fail(ctx, b, file.Size, 1, ingest.CodeNotEnabled, "the dataset is not enabled for Profile or Identity; nothing to ingest")
	}
	if err := h.files.PutBatchFile(ctx, b.ID, file); err != nil {
		return err
	}
	if b.Status == catalog.BatchLoading {
		if b.InputFormat == catalog.FormatJSON {
			multi, err := h.isJSONArray(ctx, file)
			if err != nil {
				return err
			}
			b.MultiLineJSON = multi
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
	}
	if err := h.parts.StartBatchRun(ctx, b.ID, 1, dropInSource(rec, key)); err != nil {
		return err
	}
	return h.scan(ctx, b.ID, 0)
}

// sizeOf is the size of the upload an event announces: the event's, or,
// when an event made by hand carries none, the stored object's (HEAD, at
// the event's version).
func (h *handler) sizeOf(ctx context.Context, rec events.S3EventRecord, key string) (int64, error) {
	if rec.S3.Object.Size > 0 {
		return rec.S3.Object.Size, nil
	}
	in := &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)}
	if v := rec.S3.Object.VersionID; v != "" && v != "null" {
		in.VersionId = aws.String(v)
	}
	out, err := h.objects.HeadObject(ctx, in)
	if err != nil {
		var nf *s3types.NotFound
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nf) || errors.As(err, &nsk) {
			return 0, fault.Wrap(err, fault.Invalid, CodeFileNotFound, "the file was deleted before it could be read")
		}
		return 0, fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "read the file's size")
	}
	return aws.ToInt64(out.ContentLength), nil
}

// manifest starts an API batch that COMPLETE moved to processing: a scan
// task for every file but the first, which is scanned at once.
func (h *handler) manifest(ctx context.Context, batchID string) error {
	b, ok, err := h.processing(ctx, batchID)
	if err != nil || !ok {
		return err
	}
	files, err := h.files.ListBatchFiles(ctx, b.ID)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return h.fail(ctx, b, 0, 0, records.CodeFileEmpty, "the batch has no files")
	}
	if err := h.parts.StartBatchRun(ctx, b.ID, len(files), apiSource(b)); err != nil {
		return err
	}
	for i := 1; i < len(files); i++ {
		if err := h.putTask(ctx, b.ID, task{kind: taskScan, file: i}); err != nil {
			return err
		}
	}
	return h.scan(ctx, b.ID, 0)
}

// processing reads a batch and reports whether a task may work on it: it
// must be processing (a final or aborted batch is left alone, as is one
// still loading). An unknown batch is logged and skipped.
func (h *handler) processing(ctx context.Context, batchID string) (catalog.Batch, bool, error) {
	b, err := h.batches.GetBatch(ctx, batchID)
	if fault.KindOf(err) == fault.NotFound {
		slog.WarnContext(ctx, "task of an unknown batch skipped", "batchId", batchID)
		return b, false, nil
	}
	if err != nil {
		return b, false, err
	}
	if b.Status != catalog.BatchProcessing {
		slog.InfoContext(ctx, "task skipped: the batch is not processing", "batchId", batchID, "status", b.Status)
		return b, false, nil
	}
	return b, true, nil
}

func final(status string) bool {
	switch status {
	case catalog.BatchSuccess, catalog.BatchFailed, catalog.BatchAborted:
		return true
	}
	return false
}

// fail ends b failed with one error, its metrics as far as they are known
// (outputRecordCount 0: nothing was written).
func (h *handler) fail(ctx context.Context, b catalog.Batch, bytes int64, files int, code, msg string) error {
	b.Status = catalog.BatchFailed
	b.Updated = h.now().UnixMilli()
	b.Completed = b.Updated
	if b.Metrics.InputFileCount == 0 {
		b.Metrics = catalog.BatchMetrics{InputFileCount: files, InputByteSize: bytes}
	}
	// A failed batch wrote nothing.
	b.Metrics.OutputRecordCount = 0
	b.Errors = []catalog.BatchError{{Code: code, Description: msg}}
	if err := h.batches.PutBatch(ctx, b); err != nil {
		if finishedMeanwhile(err) {
			return nil
		}
		return err
	}
	slog.WarnContext(ctx, "batch failed", "batchId", b.ID, "datasetId", b.DatasetID, "code", code)
	return nil
}

// finishedMeanwhile reports whether a batch write was refused because
// the batch reached a final state meanwhile (another delivery of the same
// event finished it): nothing is left to do.
func finishedMeanwhile(err error) bool {
	return errors.Is(err, &fault.Error{Kind: fault.Conflict, Code: store.CodeBatchFinal})
}
