package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// catalogStore is what the handler needs of the catalog store.
type catalogStore interface {
	GetSchema(ctx context.Context, id string) (xdm.Schema, error)
	CreateDataset(ctx context.Context, d catalog.Dataset) error
	GetDataset(ctx context.Context, id string) (catalog.Dataset, error)
	UpdateDataset(ctx context.Context, d, prev catalog.Dataset) error
	ListDatasets(ctx context.Context) ([]catalog.Dataset, error)
	GetBatch(ctx context.Context, id string) (catalog.Batch, error)
	QueryBatches(ctx context.Context, q store.BatchQuery) ([]catalog.Batch, error)
	CreateBatch(ctx context.Context, b catalog.Batch) (bool, catalog.Batch, error)
	PutBatch(ctx context.Context, b catalog.Batch) error
	PutBatchFrom(ctx context.Context, b catalog.Batch, from string) error
	PutBatchFile(ctx context.Context, batchID string, f catalog.BatchFile) error
	GetBatchFile(ctx context.Context, batchID, name string) (catalog.BatchFile, error)
	ListBatchFiles(ctx context.Context, batchID string) ([]catalog.BatchFile, error)
}

type handler struct {
	router *apigw.Router
	cat    catalogStore
	// datasets deletes datasets and records the jobs that remove their
	// profile data (delete.go); nil when cat cannot.
	datasets datasetDeleter
	// streams reads the metrics and failed records of streaming batches;
	// nil serves them as stored.
	streams streamStore
	s3      objectStore
	presign presigner
	bucket  string
	sandbox string
	now     func() time.Time
}

func newHandler(ctx context.Context, getenv awsenv.Getenv) (*handler, error) {
	env, err := awsenv.Require(getenv, topology.EnvCatalogTable, topology.EnvLandingBucket)
	if err != nil {
		return nil, err
	}
	clients, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	cat := store.NewCatalog(clients.DynamoDB, env[topology.EnvCatalogTable])
	h, err := newService(cat, getenv(topology.EnvSandboxName), time.Now)
	if err != nil {
		return nil, err
	}
	h.streams = store.NewFailedRecords(clients.DynamoDB, env[topology.EnvCatalogTable])
	h.s3, h.bucket = clients.S3, env[topology.EnvLandingBucket]
	h.presign = s3Presigner{s3.NewPresignClient(clients.S3)}
	return h, nil
}

// s3Presigner adapts s3.PresignClient to presigner.
type s3Presigner struct{ c *s3.PresignClient }

func (p s3Presigner) PresignPutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.PresignOptions)) (*presignedRequest, error) {
	return p.c.PresignPutObject(ctx, in, opts...)
}

func (p s3Presigner) PresignUploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.PresignOptions)) (*presignedRequest, error) {
	return p.c.PresignUploadPart(ctx, in, opts...)
}

func (p s3Presigner) PresignGetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.PresignOptions)) (*presignedRequest, error) {
	return p.c.PresignGetObject(ctx, in, opts...)
}

const catalogBase = "/data/foundation/catalog"

// newService builds the handler and its router from the routes topology
// declares for dataset-api; it fails when the two disagree.
func newService(cat catalogStore, sandbox string, now func() time.Time) (*handler, error) {
	h := &handler{cat: cat, sandbox: sandbox, now: now}
	h.datasets, _ = cat.(datasetDeleter)
	var err error
	if h.router, err = apigw.RouterOf("dataset-api", sandbox, h.routes()); err != nil {
		return nil, err
	}
	// File uploads take the file's bytes (at most apigw.MaxRawBodyBytes;
	// see MaxRawBody for what API Gateway lets through).
	h.router.TakeRawBodies("PUT "+filesPath, "PATCH "+filesPath)
	return h, nil
}

// routes maps each route key of dataset-api to the func that serves it.
func (h *handler) routes() map[string]apigw.HandlerFunc {
	return map[string]apigw.HandlerFunc{
		"GET " + catalogBase + "/dataSets":         h.listDatasets,
		"POST " + catalogBase + "/dataSets":        h.createDataset,
		"GET " + catalogBase + "/dataSets/{id}":    h.getDataset,
		"PATCH " + catalogBase + "/dataSets/{id}":  h.patchDataset,
		"DELETE " + catalogBase + "/dataSets/{id}": h.deleteDataset,
		"GET " + catalogBase + "/batches":          h.listBatches,
		"GET " + catalogBase + "/batches/{id}":     h.getBatch,
		"POST " + importBase:                       h.createBatch,
		"POST " + importBase + "/{batchId}":        h.batchAction,
		"PUT " + filesPath:                         h.putFile,
		"POST " + filesPath:                        h.fileAction,
		"PATCH " + filesPath:                       h.patchFile,
		"GET " + exportBase + "/{batchId}/meta":    h.exportMeta,
		"GET " + exportBase + "/{batchId}/failed":  h.exportFailed,
	}
}

// Handle is the Lambda entry point.
func (h *handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.router.Serve(ctx, ev)
}

func (h *handler) createDataset(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in catalog.DatasetInput
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	d, err := catalog.NewDataset(in, xdm.ImsOrg, h.sandbox, h.now())
	if err != nil {
		return 0, nil, err
	}
	s, err := h.cat.GetSchema(ctx, d.SchemaRef.ID)
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind == fault.NotFound {
		return 0, nil, fault.E(fault.Invalid, "CATALOG-SCHEMA-NOT-FOUND", "schemaRef.id does not name an existing schema")
	}
	if err != nil {
		return 0, nil, err
	}
	// Store the canonical $id even when the request named the altId.
	d.SchemaRef.ID = s.ID
	if catalog.ParseTags(d.Tags).Upsert && s.Class != xdm.ProfileClass {
		return 0, nil, fault.E(fault.Invalid, "CATALOG-UPSERT-CLASS", "isUpsert applies to datasets of the profile class only")
	}
	if err := catalog.CheckRowExpirationClass(d, s.Class); err != nil {
		return 0, nil, err
	}
	if err := h.cat.CreateDataset(ctx, d); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "dataset created", "datasetId", d.ID, "schemaId", s.ID)
	return http.StatusCreated, []string{"@/dataSets/" + d.ID}, nil
}

// patchDataset is AEP's PATCH /dataSets/{id}: a JSON Patch array
// (Content-Type application/json-patch+json) on /name, /description,
// /tags and /extensions, or a JSON object whose name, description, tags
// and extensions replace the dataset's (AEP's row expiration body,
// {"extensions":{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":"P30D"}}}},
// is such an object). 200 answers AEP's ["@/dataSets/{id}"]. Enabling
// Profile or Identity does not backfill earlier rows (AEP's rule); the
// dataset then shows when it was enabled (profileEnabledAt,
// identityEnabledAt). A row expiration is refused on a dataset that is
// not of the experience event class (CATALOG-TTL-CLASS), and applies to
// events ingested afterwards only.
func (h *handler) patchDataset(ctx context.Context, r *apigw.Request) (int, any, error) {
	var raw json.RawMessage
	if err := r.Decode(&raw); err != nil {
		return 0, nil, err
	}
	var ops []xdm.PatchOp
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(t, &fields); err != nil {
			return 0, nil, fault.E(fault.Invalid, "REQ-JSON", "request body is not valid JSON")
		}
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ops = append(ops, xdm.PatchOp{Op: "add", Path: "/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), Value: fields[k]})
		}
	} else if err := (&apigw.Request{Body: raw}).Decode(&ops); err != nil {
		return 0, nil, err
	}
	prev, err := h.cat.GetDataset(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	d, err := catalog.PatchDataset(prev, ops, h.now())
	if err != nil {
		return 0, nil, err
	}
	newUpsert := catalog.ParseTags(d.Tags).Upsert && !catalog.ParseTags(prev.Tags).Upsert
	newTTL := d.RowExpiration() != 0 && d.RowExpiration() != prev.RowExpiration()
	if newUpsert || newTTL {
		s, err := h.cat.GetSchema(ctx, d.SchemaRef.ID)
		if err != nil {
			return 0, nil, err
		}
		if newUpsert && s.Class != xdm.ProfileClass {
			return 0, nil, fault.E(fault.Invalid, "CATALOG-UPSERT-CLASS", "isUpsert applies to datasets of the profile class only")
		}
		if err := catalog.CheckRowExpirationClass(d, s.Class); err != nil {
			return 0, nil, err
		}
	}
	if err := h.cat.UpdateDataset(ctx, d, prev); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "dataset updated", "datasetId", d.ID, "profileEnabled", catalog.ParseTags(d.Tags).ProfileEnabled, "identityEnabled", catalog.ParseTags(d.Tags).IdentityEnabled)
	return http.StatusOK, []string{"@/dataSets/" + d.ID}, nil
}

func (h *handler) getDataset(ctx context.Context, r *apigw.Request) (int, any, error) {
	d, err := h.cat.GetDataset(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]catalog.Dataset{d.ID: d}, nil
}

// Catalog listing limits (AEP's "Filter Catalog data using query
// parameters"): 20 objects without a limit, 1 to 100 with one.
const (
	defaultListLimit = 20
	maxListLimit     = 100
)

// listDatasets answers AEP's GET /dataSets: a map keyed by id of at most
// limit datasets, oldest first, from offset start (default 0). A page also
// ends where its JSON would pass topology.MaxPageBytes, so a client pages
// with start += the number of datasets it received, until it receives none.
func (h *handler) listDatasets(ctx context.Context, r *apigw.Request) (int, any, error) {
	limit, err := queryInt(r, "limit", defaultListLimit, 1, maxListLimit)
	if err != nil {
		return 0, nil, err
	}
	start, err := queryInt(r, "start", 0, 0, math.MaxInt32)
	if err != nil {
		return 0, nil, err
	}
	ds, err := h.cat.ListDatasets(ctx)
	if err != nil {
		return 0, nil, err
	}
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].Created != ds[j].Created {
			return ds[i].Created < ds[j].Created
		}
		return ds[i].ID < ds[j].ID
	})
	ds = ds[min(start, len(ds)):]
	out := make(map[string]catalog.Dataset, min(limit, len(ds)))
	size := 0
	for _, d := range ds {
		if len(out) == limit {
			break
		}
		b, err := json.Marshal(d)
		if err != nil {
			return 0, nil, fault.Wrap(err, fault.Internal, "ENCODE", "dataset could not be encoded")
		}
		if size += len(d.ID) + len(b) + 4; size > topology.MaxPageBytes && len(out) > 0 {
			break
		}
		out[d.ID] = d
	}
	return http.StatusOK, out, nil
}

// queryInt reads an integer query parameter within [lo, hi], def when absent.
func queryInt(r *apigw.Request, name string, def, lo, hi int) (int, error) {
	v := r.Query.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fault.Errorf(fault.Invalid, "CATALOG-"+strings.ToUpper(name), "%s must be a number from %d to %d", name, lo, hi)
	}
	return n, nil
}

// batchView is AEP's Catalog batch object.
type batchView struct {
	ID             string               `json:"id"`
	ImsOrg         string               `json:"imsOrg"`
	Status         string               `json:"status"`
	Created        int64                `json:"created"`
	Updated        int64                `json:"updated"`
	Completed      int64                `json:"completed,omitempty"`
	Started        int64                `json:"started,omitempty"`
	Version        string               `json:"version"`
	RelatedObjects []relatedObject      `json:"relatedObjects"`
	InputFormat    *inputFormat         `json:"inputFormat,omitempty"`
	Tags           map[string]any       `json:"tags"`
	Metrics        catalog.BatchMetrics `json:"metrics"`
	Errors         []batchError         `json:"errors,omitempty"`
	// Warnings is a Mosaic addition: by code, what was changed or dropped
	// in rows that were ingested (docs/api.md, "Ingestion").
	Warnings []batchError `json:"warnings,omitempty"`
}

type relatedObject struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type inputFormat struct {
	Format          string `json:"format"`
	IsMultiLineJSON bool   `json:"isMultiLineJson,omitempty"`
}

type batchError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	RecordCount int    `json:"recordCount,omitempty"`
}

func batchErrors(es []catalog.BatchError) []batchError {
	var out []batchError
	for _, e := range es {
		out = append(out, batchError{Code: e.Code, Description: e.Description, RecordCount: e.Rows})
	}
	return out
}

func viewBatch(b catalog.Batch) batchView {
	v := batchView{
		ID: b.ID, ImsOrg: xdm.ImsOrg, Status: b.Status,
		Created: b.Created, Updated: b.Updated, Completed: b.Completed, Started: b.Started,
		Version:        "1.0.0",
		RelatedObjects: []relatedObject{{Type: "dataSet", ID: b.DatasetID}},
		Tags: map[string]any{
			"acp_partialIngestionPercent": b.PartialIngestionPercent,
			"acp_enableErrorDiagnostics":  b.EnableErrorDiagnostics,
		},
		Metrics: b.Metrics,
	}
	if b.InputFormat != "" {
		v.InputFormat = &inputFormat{Format: b.InputFormat, IsMultiLineJSON: b.MultiLineJSON}
	}
	v.Errors = batchErrors(b.Errors)
	v.Warnings = batchErrors(b.Warnings)
	return v
}

func (h *handler) getBatch(ctx context.Context, r *apigw.Request) (int, any, error) {
	b, err := h.cat.GetBatch(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if b, err = h.streamMetrics(ctx, b); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]batchView{b.ID: viewBatch(b)}, nil
}

// listBatches is AEP's GET /catalog/batches: a map keyed by id, newest
// first, filtered by dataSet, status and createdAfter (epoch ms, strict),
// at most limit (1–100, default 100) from offset start (default 0).
func (h *handler) listBatches(ctx context.Context, r *apigw.Request) (int, any, error) {
	limit, err := queryInt(r, "limit", store.MaxBatchPage, 1, store.MaxBatchPage)
	if err != nil {
		return 0, nil, err
	}
	start, err := queryInt(r, "start", 0, 0, math.MaxInt32)
	if err != nil {
		return 0, nil, err
	}
	var after int64
	if s := r.Query.Get("createdAfter"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			return 0, nil, fault.E(fault.Invalid, "CATALOG-CREATEDAFTER", "createdAfter is a time in epoch milliseconds")
		}
	}
	status := r.Query.Get("status")
	switch status {
	case "", catalog.BatchLoading, catalog.BatchProcessing, catalog.BatchSuccess, catalog.BatchFailed, catalog.BatchAborted:
	default:
		return 0, nil, fault.Errorf(fault.Invalid, "CATALOG-STATUS", "status %q is not loading, processing, success, failed or aborted", status)
	}
	bs, err := h.cat.QueryBatches(ctx, store.BatchQuery{DatasetID: r.Query.Get("dataSet"), Status: status, CreatedAfter: after, Limit: limit, Start: start})
	if err != nil {
		return 0, nil, err
	}
	out := make(map[string]batchView, len(bs))
	for _, b := range bs {
		// A streaming batch still processing costs one more Query.
		if b, err = h.streamMetrics(ctx, b); err != nil {
			return 0, nil, err
		}
		out[b.ID] = viewBatch(b)
	}
	return http.StatusOK, out, nil
}
