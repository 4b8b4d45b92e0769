package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// AEP's Batch Ingestion API ("Batch ingestion API guide"): a batch is
// opened for one dataset, its files are uploaded whole (PUT) or in chunks
// (INITIALIZE, PATCH with Content-Range, COMPLETE), and the batch is
// COMPLETEd, which starts processing, or ABORTed. Mosaic adds pre-signed
// S3 uploads for files larger than one API request can carry.
//
// Landing bucket layout (docs/architecture.md):
//
//	staging/<batchId>/<datasetId>/<filePath>                      a file
//	staging/<batchId>/<datasetId>/<filePath>.chunks/<a>-<b>       a chunk of bytes a…b (20 digits each)
//	ingest/_batches/<batchId>/manifest.json                       written at COMPLETE; starts processing
//	diagnostics/<batchId>/row_errors/<name>                       failed rows, JSON Lines

const (
	importBase = "/data/foundation/import/batches"
	exportBase = "/data/foundation/export/batches"
	filesPath  = importBase + "/{batchId}/datasets/{datasetId}/files/{filePath+}"
)

// Upload limits.
const (
	// MaxRawBody is the largest raw body a PUT or PATCH takes: Lambda's
	// synchronous request payload is 6 MB (AWS Lambda quotas, "Invocation
	// payload") and API Gateway sends a binary body base64-encoded (4/3 of
	// its size) inside a JSON event, so about 4.5 MiB of raw bytes pass
	// (4,717,000 bytes measured on the local cloud; the event's headers
	// take the rest; clients should send chunks of at most 4 MiB); larger
	// requests are answered 413 by API Gateway before the function runs.
	// API Gateway HTTP API's own limit is 10 MB. The router's bound,
	// apigw.MaxRawBodyBytes, only guards the function's memory.
	MaxRawBody = apigw.MaxRawBodyBytes
	// presignTTL is how long a pre-signed URL is valid.
	presignTTL = time.Hour
	// maxMultipartParts is S3's limit on the parts of one multipart upload
	// (Amazon S3 multipart upload limits: part numbers 1 to 10,000).
	maxMultipartParts = 10000
	// maxInlineBytes is the largest diagnostics body answered inline; a
	// larger file is a 307 to a pre-signed GET. 4 MB base64-encoded
	// (5.34 MB) fits Lambda's 6 MB response.
	maxInlineBytes = 4_000_000
	// chunkSuffix ends the prefix of a chunked file's chunk objects.
	chunkSuffix = ".chunks"
)

// objectStore is what the batch routes need of S3.
type objectStore interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, opts ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

type presignedRequest = v4.PresignedHTTPRequest

// presigner signs S3 requests for clients to send themselves
// (s3.PresignClient).
type presigner interface {
	PresignPutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.PresignOptions)) (*presignedRequest, error)
	PresignUploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.PresignOptions)) (*presignedRequest, error)
	PresignGetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.PresignOptions)) (*presignedRequest, error)
}

// batchInput is AEP's body of POST /import/batches.
type batchInput struct {
	DatasetID   string `json:"datasetId"`
	InputFormat *struct {
		Format          string `json:"format"`
		IsMultiLineJSON bool   `json:"isMultiLineJson"`
	} `json:"inputFormat"`
	PartialIngestionPercent *int `json:"partialIngestionPercent"`
	EnableErrorDiagnostics  bool `json:"enableErrorDiagnostics"`
}

// defaultPartialIngestionPercent is the share of failed rows a batch may
// have and still succeed when the request names none.
const defaultPartialIngestionPercent = 5

// newBatchID is 26 upper-case hex characters from a CSPRNG: never 24 hex
// characters, so never a dataset id.
func newBatchID() string {
	b := make([]byte, 13)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// createBatch is AEP's POST /data/foundation/import/batches. Body
// {"datasetId", "inputFormat": {"format": "json"|"csv"|"parquet",
// "isMultiLineJson"}, "partialIngestionPercent" (0–100, default 5),
// "enableErrorDiagnostics"}. 201 answers the batch object (status
// "loading"); an unknown dataset is 400 BATCH-DATASET-NOT-FOUND, as AEP
// answers a bad datasetId with 400.
func (h *handler) createBatch(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in batchInput
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.DatasetID == "" {
		return 0, nil, fault.E(fault.Invalid, "BATCH-DATASET", "datasetId is required")
	}
	if in.InputFormat == nil || in.InputFormat.Format == "" {
		return 0, nil, fault.E(fault.Invalid, "BATCH-FORMAT", "inputFormat.format is required: json, csv or parquet")
	}
	format := strings.ToLower(in.InputFormat.Format)
	switch format {
	case catalog.FormatJSON, catalog.FormatCSV, catalog.FormatParquet:
	default:
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-FORMAT", "inputFormat.format %q is not json, csv or parquet", in.InputFormat.Format)
	}
	if in.InputFormat.IsMultiLineJSON && format != catalog.FormatJSON {
		return 0, nil, fault.E(fault.Invalid, "BATCH-FORMAT", "isMultiLineJson applies to the json format only")
	}
	pct := defaultPartialIngestionPercent
	if in.PartialIngestionPercent != nil {
		pct = *in.PartialIngestionPercent
		if pct < 0 || pct > 100 {
			return 0, nil, fault.E(fault.Invalid, "BATCH-PARTIAL-PERCENT", "partialIngestionPercent must be from 0 to 100")
		}
	}
	if _, err := h.cat.GetDataset(ctx, in.DatasetID); err != nil {
		if isKind(err, fault.NotFound) {
			return 0, nil, fault.Errorf(fault.Invalid, "BATCH-DATASET-NOT-FOUND", "datasetId %q does not name an existing dataset", in.DatasetID)
		}
		return 0, nil, err
	}
	now := h.now().UnixMilli()
	b := catalog.Batch{
		ID: newBatchID(), DatasetID: in.DatasetID, Status: catalog.BatchLoading,
		Created: now, Updated: now, InputFormat: format,
		MultiLineJSON: in.InputFormat.IsMultiLineJSON, EnableErrorDiagnostics: in.EnableErrorDiagnostics,
		Origin: catalog.BatchOriginAPI, PartialIngestionPercent: pct,
	}
	created, _, err := h.cat.CreateBatch(ctx, b)
	if err != nil {
		return 0, nil, err
	}
	if !created {
		return 0, nil, fault.E(fault.Internal, "BATCH-ID", "a new batch id is already taken")
	}
	slog.InfoContext(ctx, "batch created", "batchId", b.ID, "datasetId", b.DatasetID, "format", format)
	return http.StatusCreated, viewBatch(b), nil
}

func isKind(err error, k fault.Kind) bool {
	var fe *fault.Error
	return errors.As(err, &fe) && fe.Kind == k
}

// validFilePath checks a file path of the upload routes: 1 to
// store.MaxBatchFileNameBytes bytes of UTF-8 with no control character
// (U+0000–U+001F, U+007F), '/'-separated segments none of which is empty
// (so no trailing '/'), "." or "..", nor ends in ".chunks" (the chunk
// objects' prefix). 400 BATCH-FILE-PATH.
func validFilePath(p string) error {
	if p == "" || len(p) > store.MaxBatchFileNameBytes {
		return fault.Errorf(fault.Invalid, "BATCH-FILE-PATH", "a file path is 1 to %d bytes", store.MaxBatchFileNameBytes)
	}
	if err := validName(p); err != nil {
		return fault.Wrap(err, fault.Invalid, "BATCH-FILE-PATH", "file path "+err.Error())
	}
	if strings.HasSuffix(p, "/") {
		return fault.Errorf(fault.Invalid, "BATCH-FILE-PATH", "file path %q ends in '/'; it names a file, not a folder", p)
	}
	for _, s := range strings.Split(p, "/") {
		if s == "" || s == "." || s == ".." || strings.HasSuffix(s, chunkSuffix) {
			return fault.Errorf(fault.Invalid, "BATCH-FILE-PATH", "file path %q has an empty, '.', '..' or '*%s' segment", p, chunkSuffix)
		}
	}
	return nil
}

// validName refuses a name that is not UTF-8 or holds a control character
// (U+0000–U+001F, U+007F): S3 keys are UTF-8 (Amazon S3 "Naming objects")
// and such a name could not be given back as it was sent.
func validName(p string) error {
	if !utf8.ValidString(p) {
		return errors.New("is not valid UTF-8")
	}
	if i := strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		return fmt.Errorf("holds the control character U+%04X at byte %d", p[i], i)
	}
	return nil
}

// filePathParam reads {filePath+} from the raw request path, so that
// bytes that are not UTF-8 and a trailing '/' are seen (apigw.GreedyParam),
// and checks it (validFilePath).
func filePathParam(r *apigw.Request) (string, error) {
	name, err := r.GreedyParam("filePath")
	switch {
	case errors.Is(err, apigw.ErrPathUTF8):
		return "", fault.E(fault.Invalid, "BATCH-FILE-PATH", "file path is not valid UTF-8 once percent-decoded")
	case errors.Is(err, apigw.ErrPathEscape):
		return "", fault.E(fault.Invalid, "BATCH-FILE-PATH", "file path holds a malformed percent-escape")
	case err != nil:
		return "", fault.Wrap(err, fault.Invalid, "BATCH-FILE-PATH", "the request path does not name a file")
	}
	return name, validFilePath(name)
}

func stagingKey(batchID, datasetID, name string) string {
	return "staging/" + batchID + "/" + datasetID + "/" + name
}

// ManifestKey is the object whose creation starts processing of an API
// batch; its body is {"batchId", "datasetId"}.
func ManifestKey(batchID string) string {
	return topology.IngestPrefix + "_batches/" + batchID + "/manifest.json"
}

func diagnosticsPrefix(batchID string) string { return "diagnostics/" + batchID + "/row_errors/" }

// openBatch reads the batch of an upload route and checks that it is
// loading and that the path's dataset is the batch's, and that the file
// path is valid. Unknown batch: 404 BATCH-NOT-FOUND; not loading: 400
// BATCH-NOT-LOADING; another dataset: 400 BATCH-DATASET-MISMATCH.
func (h *handler) openBatch(ctx context.Context, r *apigw.Request) (catalog.Batch, string, error) {
	b, err := h.cat.GetBatch(ctx, r.Param("batchId"))
	if err != nil {
		return b, "", err
	}
	if b.Status != catalog.BatchLoading {
		return b, "", fault.Errorf(fault.Invalid, "BATCH-NOT-LOADING", "batch %s %s; files are uploaded while it is loading", b.ID, statusPhrase(b.Status))
	}
	if ds := r.Param("datasetId"); ds != b.DatasetID {
		return b, "", fault.Errorf(fault.Invalid, "BATCH-DATASET-MISMATCH", "batch %s is for dataset %s, not %s", b.ID, b.DatasetID, ds)
	}
	name, err := filePathParam(r)
	if err != nil {
		return b, "", err
	}
	return b, name, nil
}

// statusPhrase says where a batch that is not loading stands, for
// messages: "is processing", "has already finished (success)", "was
// aborted".
func statusPhrase(status string) string {
	switch status {
	case catalog.BatchProcessing:
		return "is processing"
	case catalog.BatchAborted:
		return "was aborted"
	case catalog.BatchSuccess, catalog.BatchFailed:
		return "has already finished (" + status + ")"
	}
	return "is " + status
}

// action is the one action query parameter of a POST route, matched
// exactly: AEP names its actions in upper case (COMPLETE, ABORT,
// INITIALIZE; Batch Ingestion API) and Mosaic adds PRESIGN. A missing,
// repeated or other action is 400 BATCH-ACTION.
func action(r *apigw.Request, allowed ...string) (string, error) {
	list := strings.Join(allowed, ", ")
	vs := r.Query["action"]
	if len(vs) > 1 {
		return "", fault.Errorf(fault.Invalid, "BATCH-ACTION", "action is given %d times; give one of %s once", len(vs), list)
	}
	if len(vs) == 1 {
		for _, a := range allowed {
			if vs[0] == a {
				return a, nil
			}
		}
	}
	return "", fault.Errorf(fault.Invalid, "BATCH-ACTION", "action must be one of %s, in upper case", list)
}

// putFile is AEP's PUT …/files/{filePath+}: the raw body is the whole
// file (at most about 4.5 MiB, see MaxRawBody). 200, no body.
func (h *handler) putFile(ctx context.Context, r *apigw.Request) (int, any, error) {
	b, name, err := h.openBatch(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	body := r.Body
	if len(body) == 0 {
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-FILE-EMPTY", "file %q is empty; empty files are refused", name)
	}
	key := stagingKey(b.ID, b.DatasetID, name)
	out, err := h.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key), Body: strings.NewReader(string(body)), ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		return 0, nil, s3Fault(err, "store the file")
	}
	f := catalog.BatchFile{
		Name:     name,
		Objects:  []catalog.FileObject{{Key: key, VersionID: aws.ToString(out.VersionId), Size: int64(len(body))}},
		Size:     int64(len(body)),
		Complete: true,
		Created:  h.now().UnixMilli(),
	}
	if err := h.cat.PutBatchFile(ctx, b.ID, f); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

// fileAction is POST …/files/{filePath+}?action=INITIALIZE|COMPLETE|PRESIGN.
func (h *handler) fileAction(ctx context.Context, r *apigw.Request) (int, any, error) {
	if _, err := action(r, "INITIALIZE", "COMPLETE", "PRESIGN"); err != nil {
		return 0, nil, err
	}
	b, name, err := h.openBatch(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	act, err := action(r, "INITIALIZE", "COMPLETE", "PRESIGN")
	if err != nil {
		return 0, nil, err
	}
	switch act {
	case "INITIALIZE":
		return h.initializeFile(ctx, b, name)
	case "COMPLETE":
		return h.completeFile(ctx, r, b, name)
	case "PRESIGN":
		return h.presignFile(ctx, r, b, name)
	}
	panic("unreachable: action returned " + act)
}

// initializeFile opens a chunked upload (AEP's "Large file upload"): 201.
// The chunks of an earlier upload of the same path are deleted first, so
// that a file started again is made of the new chunks only.
func (h *handler) initializeFile(ctx context.Context, b catalog.Batch, name string) (int, any, error) {
	old, err := h.listKeys(ctx, stagingKey(b.ID, b.DatasetID, name)+chunkSuffix+"/")
	if err != nil {
		return 0, nil, err
	}
	if err := h.deleteKeys(ctx, old); err != nil {
		return 0, nil, err
	}
	f := catalog.BatchFile{Name: name, Objects: []catalog.FileObject{}, Created: h.now().UnixMilli()}
	if err := h.cat.PutBatchFile(ctx, b.ID, f); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, nil, nil
}

// contentRange parses "bytes a-b/*" or "bytes a-b/total" (RFC 9110
// §14.4): first and last byte, inclusive.
func contentRange(v string) (first, last int64, err error) {
	bad := fault.Errorf(fault.Invalid, "BATCH-CONTENT-RANGE", "Content-Range %q is not \"bytes first-last/total\" or \"bytes first-last/*\"", v)
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, 0, bad
	}
	rng, total, ok := strings.Cut(strings.TrimSpace(rest), "/")
	if !ok {
		return 0, 0, bad
	}
	a, z, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, bad
	}
	if first, err = strconv.ParseInt(a, 10, 64); err != nil || first < 0 {
		return 0, 0, bad
	}
	if last, err = strconv.ParseInt(z, 10, 64); err != nil || last < first {
		return 0, 0, bad
	}
	if total != "*" {
		n, err := strconv.ParseInt(total, 10, 64)
		if err != nil || last >= n {
			return 0, 0, bad
		}
	}
	return first, last, nil
}

// chunkKey names the chunk of bytes first…last of a file: zero-padded so
// that key order is offset order.
func chunkKey(fileKey string, first, last int64) string {
	return fmt.Sprintf("%s%s/%020d-%020d", fileKey, chunkSuffix, first, last)
}

// patchFile is AEP's PATCH …/files/{filePath+} with Content-Range: one
// chunk of a file opened by INITIALIZE, stored as an object of its own.
// 200, no body. The body must hold exactly last-first+1 bytes.
//
// Chunks are kept as ordered objects rather than as the parts of an S3
// multipart upload because every part but the last must be at least
// 5 MiB (Amazon S3 multipart upload limits) while one API request carries
// at most about 4.5 MiB of raw bytes (MaxRawBody); the file is read back
// as the concatenation of its chunk objects.
func (h *handler) patchFile(ctx context.Context, r *apigw.Request) (int, any, error) {
	b, name, err := h.openBatch(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	f, err := h.cat.GetBatchFile(ctx, b.ID, name)
	if isKind(err, fault.NotFound) {
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-FILE-NOT-INITIALIZED", "file %q was not opened with action=INITIALIZE", name)
	}
	if err != nil {
		return 0, nil, err
	}
	if f.Complete || f.UploadID != "" || len(f.Objects) > 0 {
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-FILE-NOT-CHUNKED", "file %q is not an open chunked upload", name)
	}
	first, last, err := contentRange(r.Header.Get("Content-Range"))
	if err != nil {
		return 0, nil, err
	}
	body := r.Body
	if int64(len(body)) != last-first+1 {
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-CONTENT-RANGE", "Content-Range names %s, the body holds %d", count(last-first+1, "byte"), len(body))
	}
	key := chunkKey(stagingKey(b.ID, b.DatasetID, name), first, last)
	if _, err := h.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key), Body: strings.NewReader(string(body)), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
		return 0, nil, s3Fault(err, "store the chunk")
	}
	return http.StatusOK, nil, nil
}

// listKeys lists the objects under prefix, all pages.
func (h *handler) listKeys(ctx context.Context, prefix string) ([]s3types.Object, error) {
	var out []s3types.Object
	p := s3.NewListObjectsV2Paginator(h.s3, &s3.ListObjectsV2Input{Bucket: aws.String(h.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s3Fault(err, "list objects")
		}
		out = append(out, page.Contents...)
	}
	return out, nil
}

// chunkObjects orders the chunk objects of a file and checks that they
// cover bytes 0…end once each: the first gap or overlap is 400
// BATCH-CHUNK-GAP or BATCH-CHUNK-OVERLAP naming its bytes.
func chunkObjects(prefix string, objs []s3types.Object) ([]catalog.FileObject, int64, error) {
	type chunk struct {
		first, last int64
		key         string
	}
	var cs []chunk
	for _, o := range objs {
		k := aws.ToString(o.Key)
		a, z, ok := strings.Cut(strings.TrimPrefix(k, prefix), "-")
		first, err1 := strconv.ParseInt(a, 10, 64)
		last, err2 := strconv.ParseInt(z, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		cs = append(cs, chunk{first, last, k})
	}
	if len(cs) == 0 {
		return nil, 0, fault.E(fault.Invalid, "BATCH-FILE-NO-CHUNKS", "no chunk was uploaded")
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].first != cs[j].first {
			return cs[i].first < cs[j].first
		}
		return cs[i].last < cs[j].last
	})
	var out []catalog.FileObject
	var next int64
	for _, c := range cs {
		switch {
		case c.first > next:
			return nil, 0, fault.Errorf(fault.Invalid, "BATCH-CHUNK-GAP", "bytes %d-%d were never uploaded", next, c.first-1)
		case c.first < next:
			return nil, 0, fault.Errorf(fault.Invalid, "BATCH-CHUNK-OVERLAP", "the chunk of bytes %d-%d overlaps bytes uploaded before (up to %d)", c.first, c.last, next-1)
		}
		out = append(out, catalog.FileObject{Key: c.key, Offset: c.first, Size: c.last - c.first + 1})
		next = c.last + 1
	}
	return out, next, nil
}

// completedPart is one part of a pre-signed multipart upload, as the
// client reports it.
type completedPart struct {
	PartNumber int32  `json:"partNumber"`
	ETag       string `json:"etag"`
}

// completeFile is POST …/files/{filePath+}?action=COMPLETE: for a chunked
// upload (AEP) it checks the chunks and records the file (201); for a
// pre-signed multipart upload (Mosaic) the body
// {"parts":[{"partNumber","etag"}]} completes the S3 upload (201).
func (h *handler) completeFile(ctx context.Context, r *apigw.Request, b catalog.Batch, name string) (int, any, error) {
	f, err := h.cat.GetBatchFile(ctx, b.ID, name)
	if isKind(err, fault.NotFound) {
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-FILE-NOT-INITIALIZED", "file %q was not opened with action=INITIALIZE or PRESIGN", name)
	}
	if err != nil {
		return 0, nil, err
	}
	if f.Complete {
		return http.StatusCreated, nil, nil
	}
	key := stagingKey(b.ID, b.DatasetID, name)
	if f.UploadID != "" {
		var in struct {
			Parts []completedPart `json:"parts"`
		}
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
		if len(in.Parts) == 0 {
			return 0, nil, fault.E(fault.Invalid, "BATCH-PARTS", "parts lists the uploaded parts: [{\"partNumber\", \"etag\"}]")
		}
		parts := make([]s3types.CompletedPart, 0, len(in.Parts))
		for _, p := range in.Parts {
			parts = append(parts, s3types.CompletedPart{PartNumber: aws.Int32(p.PartNumber), ETag: aws.String(p.ETag)})
		}
		out, err := h.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(h.bucket), Key: aws.String(key), UploadId: aws.String(f.UploadID),
			MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
		})
		if err != nil {
			return 0, nil, s3Invalid(err, "BATCH-PARTS", "the parts do not complete the upload")
		}
		head, err := h.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
		if err != nil {
			return 0, nil, s3Fault(err, "read the completed file")
		}
		size := aws.ToInt64(head.ContentLength)
		f.Objects = []catalog.FileObject{{Key: key, VersionID: aws.ToString(out.VersionId), Size: size}}
		f.Size, f.Complete, f.UploadID = size, true, ""
	} else {
		if len(f.Objects) > 0 {
			return 0, nil, fault.Errorf(fault.Invalid, "BATCH-FILE-NOT-CHUNKED", "file %q was pre-signed for one PUT; COMPLETE the batch once it is uploaded", name)
		}
		prefix := key + chunkSuffix + "/"
		objs, err := h.listKeys(ctx, prefix)
		if err != nil {
			return 0, nil, err
		}
		f.Objects, f.Size, err = chunkObjects(prefix, objs)
		if err != nil {
			return 0, nil, err
		}
		f.Complete = true
	}
	if err := h.cat.PutBatchFile(ctx, b.ID, f); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, nil, nil
}

// presignedPart is one pre-signed UploadPart URL.
type presignedPart struct {
	PartNumber int    `json:"partNumber"`
	URL        string `json:"url"`
}

// presignFile is Mosaic's POST …/files/{filePath+}?action=PRESIGN, for
// files larger than one API request carries. Without a body: 200
// {"url", "method": "PUT", "expires"} to upload one object of up to 5 GB
// (S3's single PUT limit); the file counts once the batch is COMPLETEd
// and the object exists. With {"parts": N} (1…10,000): an S3 multipart
// upload, 200 {"uploadId", "parts": [{"partNumber", "url"}], "expires"}
// (expires in epoch ms, an hour ahead); every part but the last is at
// least 5 MiB, and the file is finished by action=COMPLETE with the
// parts' ETags. The URLs of one answer stay within topology.MaxPageBytes:
// when they do not all fit, "nextPart" names the first part left out, and
// the same call with {"parts": N, "firstPart": nextPart} signs the rest
// of the same upload.
func (h *handler) presignFile(ctx context.Context, r *apigw.Request, b catalog.Batch, name string) (int, any, error) {
	var in struct {
		Parts     *int `json:"parts"`
		FirstPart int  `json:"firstPart"`
	}
	if len(r.Body) > 0 {
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	if in.Parts == nil && in.FirstPart != 0 {
		return 0, nil, fault.E(fault.Invalid, "BATCH-PARTS", "firstPart goes with parts")
	}
	key := stagingKey(b.ID, b.DatasetID, name)
	expires := h.now().Add(presignTTL).UnixMilli()
	opt := func(o *s3.PresignOptions) { o.Expires = presignTTL }
	if in.Parts == nil {
		req, err := h.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)}, opt)
		if err != nil {
			return 0, nil, s3Fault(err, "sign the upload")
		}
		f := catalog.BatchFile{Name: name, Objects: []catalog.FileObject{{Key: key}}, Created: h.now().UnixMilli()}
		if err := h.cat.PutBatchFile(ctx, b.ID, f); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"url": req.URL, "method": http.MethodPut, "expires": expires}, nil
	}
	parts := *in.Parts
	if parts < 1 || parts > maxMultipartParts {
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-PARTS", "parts must be from 1 to %d (leave it out for one PUT), not %d", maxMultipartParts, parts)
	}
	first := max(in.FirstPart, 1)
	if first > parts {
		return 0, nil, fault.E(fault.Invalid, "BATCH-PARTS", "firstPart is past parts")
	}
	f, err := h.cat.GetBatchFile(ctx, b.ID, name)
	if err != nil && !isKind(err, fault.NotFound) {
		return 0, nil, err
	}
	if first == 1 || f.UploadID == "" {
		if f.UploadID != "" {
			h.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(h.bucket), Key: aws.String(key), UploadId: aws.String(f.UploadID)})
		}
		out, err := h.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
		if err != nil {
			return 0, nil, s3Fault(err, "open the multipart upload")
		}
		f = catalog.BatchFile{Name: name, Objects: []catalog.FileObject{}, UploadID: aws.ToString(out.UploadId), Created: h.now().UnixMilli()}
		if err := h.cat.PutBatchFile(ctx, b.ID, f); err != nil {
			return 0, nil, err
		}
		first = 1
	}
	resp := map[string]any{"uploadId": f.UploadID, "expires": expires}
	signed := []presignedPart{}
	size := 0
	for n := first; n <= parts; n++ {
		req, err := h.presign.PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(h.bucket), Key: aws.String(key), UploadId: aws.String(f.UploadID), PartNumber: aws.Int32(int32(n))}, opt)
		if err != nil {
			return 0, nil, s3Fault(err, "sign the upload")
		}
		if size += len(req.URL) + 32; size > topology.MaxPageBytes && len(signed) > 0 {
			resp["nextPart"] = n
			break
		}
		signed = append(signed, presignedPart{PartNumber: n, URL: req.URL})
	}
	resp["parts"] = signed
	return http.StatusOK, resp, nil
}

// batchAction is AEP's POST /import/batches/{batchId}?action=COMPLETE|ABORT,
// for batches opened by POST /import/batches; a streaming batch or a
// dropped file's batch is 400 BATCH-NOT-API.
func (h *handler) batchAction(ctx context.Context, r *apigw.Request) (int, any, error) {
	act, err := action(r, "COMPLETE", "ABORT")
	if err != nil {
		return 0, nil, err
	}
	b, err := h.cat.GetBatch(ctx, r.Param("batchId"))
	if err != nil {
		return 0, nil, err
	}
	// Only a batch opened by POST /import/batches is completed or aborted:
	// a COMPLETE of a dropped file's batch or of a streaming batch would
	// write a manifest without files and fail the batch it names.
	switch b.Origin {
	case catalog.BatchOriginStream:
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-NOT-API", "batch %s is a streaming batch: it closes with its time window and cannot be completed or aborted", b.ID)
	case catalog.BatchOriginDropIn:
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-NOT-API", "batch %s is the batch of a file dropped into the landing bucket: it starts by itself and cannot be completed or aborted", b.ID)
	}
	if act == "ABORT" {
		return h.abortBatch(ctx, b)
	}
	return h.completeBatch(ctx, b)
}

// completeBatch is action=COMPLETE: while loading, every file must be
// complete (a pre-signed single PUT is checked with HeadObject) and there
// must be one at least, else 400 (BATCH-NO-FILES, BATCH-FILE-INCOMPLETE,
// BATCH-FILE-MISSING); the batch becomes processing with Started set and
// the manifest is written, which starts processing. A repeated COMPLETE
// while processing writes the manifest again and changes nothing else;
// after success or failed it changes nothing; after aborted it is 400
// BATCH-ABORTED. 200, no body.
func (h *handler) completeBatch(ctx context.Context, b catalog.Batch) (int, any, error) {
	return h.complete(ctx, b, false)
}

// completeOnce reads the batch again and completes it; retried says this
// is the answer to a lost race, which is not retried again.
func (h *handler) completeOnce(ctx context.Context, id string, retried bool) (int, any, error) {
	b, err := h.cat.GetBatch(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	return h.complete(ctx, b, retried)
}

func (h *handler) complete(ctx context.Context, b catalog.Batch, retried bool) (int, any, error) {
	switch b.Status {
	case catalog.BatchSuccess, catalog.BatchFailed:
		return http.StatusOK, nil, nil
	case catalog.BatchAborted:
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-ABORTED", "batch %s was aborted", b.ID)
	case catalog.BatchProcessing:
		return http.StatusOK, nil, h.writeManifest(ctx, b)
	}
	files, err := h.cat.ListBatchFiles(ctx, b.ID)
	if err != nil {
		return 0, nil, err
	}
	if len(files) == 0 {
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-NO-FILES", "batch %s has no files", b.ID)
	}
	var size int64
	for _, f := range files {
		if !f.Complete {
			single := f.UploadID == "" && len(f.Objects) == 1 && f.Objects[0].Key == stagingKey(b.ID, b.DatasetID, f.Name)
			if !single {
				return 0, nil, fault.Errorf(fault.Invalid, "BATCH-FILE-INCOMPLETE", "file %q is not complete: finish it with action=COMPLETE", f.Name)
			}
			head, err := h.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(f.Objects[0].Key)})
			if isNotFound(err) {
				return 0, nil, fault.Errorf(fault.Invalid, "BATCH-FILE-MISSING", "file %q was pre-signed but never uploaded", f.Name)
			}
			if err != nil {
				return 0, nil, s3Fault(err, "check the file")
			}
			f.Objects[0].Size, f.Objects[0].VersionID = aws.ToInt64(head.ContentLength), aws.ToString(head.VersionId)
			f.Size, f.Complete = f.Objects[0].Size, true
			if err := h.cat.PutBatchFile(ctx, b.ID, f); err != nil {
				return 0, nil, err
			}
		}
		size += f.Size
	}
	now := h.now().UnixMilli()
	b.Status, b.Started, b.Updated = catalog.BatchProcessing, now, now
	b.Metrics.InputFileCount, b.Metrics.InputByteSize = len(files), size
	if err := h.cat.PutBatchFrom(ctx, b, catalog.BatchLoading); err != nil {
		if statusChanged(err) && !retried {
			// An ABORT or another COMPLETE moved the batch first: answer
			// as for its new status.
			return h.completeOnce(ctx, b.ID, true)
		}
		return 0, nil, err
	}
	if err := h.writeManifest(ctx, b); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "batch completed", "batchId", b.ID, "files", len(files), "bytes", size)
	return http.StatusOK, nil, nil
}

// statusChanged reports whether a PutBatchFrom lost to another change of
// the batch's status.
func statusChanged(err error) bool {
	return errors.Is(err, &fault.Error{Kind: fault.Conflict, Code: store.CodeBatchStatusChanged})
}

func (h *handler) writeManifest(ctx context.Context, b catalog.Batch) error {
	body := fmt.Sprintf(`{"batchId":%q,"datasetId":%q}`, b.ID, b.DatasetID)
	_, err := h.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(h.bucket), Key: aws.String(ManifestKey(b.ID)),
		Body: strings.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return s3Fault(err, "write the batch manifest")
	}
	return nil
}

// abortBatch is action=ABORT: while loading the batch becomes aborted
// and its staged objects and open multipart uploads are deleted; a
// repeated ABORT is 200; after COMPLETE it is 400 BATCH-NOT-LOADING.
func (h *handler) abortBatch(ctx context.Context, b catalog.Batch) (int, any, error) {
	switch b.Status {
	case catalog.BatchAborted:
		return http.StatusOK, nil, nil
	case catalog.BatchLoading:
	default:
		return 0, nil, fault.Errorf(fault.Invalid, "BATCH-NOT-LOADING", "batch %s %s; only a loading batch can be aborted", b.ID, statusPhrase(b.Status))
	}
	now := h.now().UnixMilli()
	b.Status, b.Updated, b.Completed = catalog.BatchAborted, now, now
	if err := h.cat.PutBatchFrom(ctx, b, catalog.BatchLoading); err != nil {
		if statusChanged(err) {
			// A COMPLETE won: the batch is no longer loading.
			return 0, nil, fault.Errorf(fault.Invalid, "BATCH-NOT-LOADING", "batch %s was completed meanwhile; only a loading batch can be aborted", b.ID)
		}
		return 0, nil, err
	}
	files, err := h.cat.ListBatchFiles(ctx, b.ID)
	if err != nil {
		return 0, nil, err
	}
	for _, f := range files {
		if f.UploadID != "" {
			_, err := h.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(h.bucket), Key: aws.String(stagingKey(b.ID, b.DatasetID, f.Name)), UploadId: aws.String(f.UploadID)})
			if err != nil && !isNotFound(err) {
				return 0, nil, s3Fault(err, "abort an upload")
			}
		}
	}
	objs, err := h.listKeys(ctx, "staging/"+b.ID+"/")
	if err != nil {
		return 0, nil, err
	}
	if err := h.deleteKeys(ctx, objs); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "batch aborted", "batchId", b.ID, "objects", len(objs))
	return http.StatusOK, nil, nil
}

// deleteKeys deletes objs, 1,000 a call (S3's DeleteObjects limit).
func (h *handler) deleteKeys(ctx context.Context, objs []s3types.Object) error {
	for start := 0; start < len(objs); start += 1000 {
		var ids []s3types.ObjectIdentifier
		for _, o := range objs[start:min(start+1000, len(objs))] {
			ids = append(ids, s3types.ObjectIdentifier{Key: o.Key})
		}
		out, err := h.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(h.bucket), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return s3Fault(err, "delete staged objects")
		}
		if len(out.Errors) > 0 {
			return fault.Errorf(fault.Unavailable, "S3-UNAVAILABLE", "delete staged objects: %d not deleted (%s)", len(out.Errors), aws.ToString(out.Errors[0].Code))
		}
	}
	return nil
}

// isNotFound reports an S3 404 (NoSuchKey, NotFound, NoSuchUpload).
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nk *s3types.NoSuchKey
	var nf *s3types.NotFound
	var nu *s3types.NoSuchUpload
	return errors.As(err, &nk) || errors.As(err, &nf) || errors.As(err, &nu)
}

func s3Fault(err error, what string) error {
	return fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", what+": storage unavailable")
}

// s3Invalid is a refusal by S3 of what the client sent (a bad part list).
func s3Invalid(err error, code, msg string) error {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload", "MalformedXML":
			return fault.Wrap(err, fault.Invalid, code, msg+": "+ae.ErrorCode())
		}
	}
	return s3Fault(err, "complete the upload")
}

// count is "1 byte" or "n bytes", for messages.
func count(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}
