package main

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/eventsample"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// memCatalog is an in-memory catalog with the store's semantics.
type memCatalog struct {
	schemas  map[string]xdm.Schema
	datasets map[string]catalog.Dataset
	batches  []catalog.Batch
	files    map[string]map[string]catalog.BatchFile
	// beforePutFrom runs once at the next PutBatchFrom (a racing request).
	beforePutFrom func()
}

func (m *memCatalog) GetSchema(ctx context.Context, id string) (xdm.Schema, error) {
	for _, s := range m.schemas {
		if s.ID == id || s.AltID == id {
			return s, nil
		}
	}
	return xdm.Schema{}, fault.E(fault.NotFound, "SCHEMA-NOT-FOUND", "no schema")
}

func (m *memCatalog) CreateDataset(ctx context.Context, d catalog.Dataset) error {
	m.datasets[d.ID] = d
	return nil
}

func (m *memCatalog) GetDataset(ctx context.Context, id string) (catalog.Dataset, error) {
	d, ok := m.datasets[id]
	if !ok {
		return catalog.Dataset{}, fault.E(fault.NotFound, "DATASET-NOT-FOUND", "no dataset")
	}
	return d, nil
}

func (m *memCatalog) ListDatasets(ctx context.Context) ([]catalog.Dataset, error) {
	var out []catalog.Dataset
	for _, d := range m.datasets {
		out = append(out, d)
	}
	return out, nil
}

func (m *memCatalog) GetBatch(ctx context.Context, id string) (catalog.Batch, error) {
	for _, b := range m.batches {
		if b.ID == id {
			return b, nil
		}
	}
	return catalog.Batch{}, fault.E(fault.NotFound, "BATCH-NOT-FOUND", "no batch")
}

func (m *memCatalog) QueryBatches(ctx context.Context, q store.BatchQuery) ([]catalog.Batch, error) {
	var out []catalog.Batch
	skipped := 0
	for _, b := range m.batches {
		if (q.DatasetID != "" && b.DatasetID != q.DatasetID) || (q.Status != "" && b.Status != q.Status) || b.Created <= q.CreatedAfter {
			continue
		}
		if skipped < q.Start {
			skipped++
			continue
		}
		if len(out) < q.Limit {
			out = append(out, b)
		}
	}
	return out, nil
}

func (m *memCatalog) CreateBatch(ctx context.Context, b catalog.Batch) (bool, catalog.Batch, error) {
	if old, err := m.GetBatch(ctx, b.ID); err == nil {
		return false, old, nil
	}
	m.batches = append([]catalog.Batch{b}, m.batches...)
	return true, catalog.Batch{}, nil
}

func (m *memCatalog) PutBatch(ctx context.Context, b catalog.Batch) error {
	for i, old := range m.batches {
		if old.ID == b.ID {
			switch old.Status {
			case catalog.BatchSuccess, catalog.BatchFailed, catalog.BatchAborted:
				return fault.E(fault.Conflict, store.CodeBatchFinal, "final")
			}
			m.batches[i] = b
			return nil
		}
	}
	m.batches = append(m.batches, b)
	return nil
}

// PutBatchFrom writes b while the stored batch is from; beforePutFrom,
// when set, runs first, as a concurrent request would.
func (m *memCatalog) PutBatchFrom(ctx context.Context, b catalog.Batch, from string) error {
	if f := m.beforePutFrom; f != nil {
		m.beforePutFrom = nil
		f()
	}
	for i, old := range m.batches {
		if old.ID == b.ID {
			if old.Status != from {
				return fault.E(fault.Conflict, store.CodeBatchStatusChanged, "changed")
			}
			m.batches[i] = b
			return nil
		}
	}
	return fault.E(fault.NotFound, "BATCH-NOT-FOUND", "no batch")
}

func (m *memCatalog) PutBatchFile(ctx context.Context, batchID string, f catalog.BatchFile) error {
	if m.files == nil {
		m.files = map[string]map[string]catalog.BatchFile{}
	}
	if m.files[batchID] == nil {
		m.files[batchID] = map[string]catalog.BatchFile{}
	}
	m.files[batchID][f.Name] = f
	return nil
}

func (m *memCatalog) GetBatchFile(ctx context.Context, batchID, name string) (catalog.BatchFile, error) {
	f, ok := m.files[batchID][name]
	if !ok {
		return f, fault.E(fault.NotFound, store.CodeBatchFileNotFound, "no file")
	}
	return f, nil
}

func (m *memCatalog) ListBatchFiles(ctx context.Context, batchID string) ([]catalog.BatchFile, error) {
	var out []catalog.BatchFile
	for _, f := range m.files[batchID] {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestHandler(t *testing.T) (*handler, *memCatalog) {
	t.Helper()
	mk := func(id string, class string) xdm.Schema {
		s, err := xdm.NewSchema(xdm.SchemaInput{Title: id, Type: "object", AllOf: []xdm.Ref{{Ref: class}}}, "", testNow)
		if err != nil {
			t.Fatal(err)
		}
		s.ID = "https://ns.adobe.com/mosaic/schemas/" + id
		s.AltID = xdm.AltID(s.ID)
		return s
	}
	m := &memCatalog{
		schemas: map[string]xdm.Schema{
			"profile": mk("0238be93d3e7a06aec5e0655955901ec", xdm.ProfileClass),
			"event":   mk("e1", xdm.EventClass),
		},
		datasets: map[string]catalog.Dataset{},
		batches: []catalog.Batch{
			{ID: "b2", DatasetID: "ds1", Status: catalog.BatchSuccess, Created: 2000, Updated: 3000, Completed: 3000, InputFormat: "json", PartialIngestionPercent: 5,
				Metrics:  catalog.BatchMetrics{InputFileCount: 1, InputRecordCount: 10, OutputRecordCount: 9, FailedRecordCount: 1},
				Errors:   []catalog.BatchError{{Code: "XDM-TYPE", Description: "type mismatch", Rows: 1}},
				Warnings: []catalog.BatchError{{Code: "ORDERING-TIME-CLAMPED", Description: "clamped", Rows: 2}}},
			{ID: "b1", DatasetID: "ds2", Status: catalog.BatchLoading, Created: 1000, Updated: 1000},
		},
	}
	h, err := newService(m, "prod", func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	return h, m
}

func call(t *testing.T, h *handler, ev events.APIGatewayV2HTTPRequest) (int, any) {
	t.Helper()
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	var body any
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
	}
	return resp.StatusCode, body
}

func event(route string, params map[string]string, query, body string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{RouteKey: route, PathParameters: params, RawQueryString: query, Body: body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "req-1"}}
}

func TestCreateDatasetEvent(t *testing.T) {
	var ev events.APIGatewayV2HTTPRequest
	eventsample.Decode(t, "dataset-api-create-dataset.json", &ev)
	h, m := newTestHandler(t)
	status, body := call(t, h, ev)
	if status != 201 {
		t.Fatalf("got status %d (%v), want 201", status, body)
	}
	refs, _ := body.([]any)
	if len(refs) != 1 {
		t.Fatalf("got %v, want one reference", body)
	}
	id := strings.TrimPrefix(refs[0].(string), "@/dataSets/")
	d, err := m.GetDataset(context.Background(), id)
	if err != nil {
		t.Fatalf("dataset not stored: %v", err)
	}
	if got := catalog.ParseTags(d.Tags); !got.ProfileEnabled || !got.IdentityEnabled || d.Name != "CRM customers" || d.Created != testNow.UnixMilli() {
		t.Errorf("got %+v", d)
	}

	t.Run("get returns a map keyed by id", func(t *testing.T) {
		status, body := call(t, h, event("GET "+catalogBase+"/dataSets/{id}", map[string]string{"id": id}, "", ""))
		m, _ := body.(map[string]any)
		ds, _ := m[id].(map[string]any)
		if status != 200 || ds["name"] != "CRM customers" || ds["schemaRef"] == nil || ds["created"] != float64(testNow.UnixMilli()) {
			t.Errorf("got %d %v", status, body)
		}
	})
	t.Run("list", func(t *testing.T) {
		status, body := call(t, h, event("GET "+catalogBase+"/dataSets", nil, "", ""))
		m, _ := body.(map[string]any)
		if status != 200 || len(m) != 1 || m[id] == nil {
			t.Errorf("got %d %v", status, body)
		}
	})
}

func TestCreateDatasetErrors(t *testing.T) {
	h, _ := newTestHandler(t)
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown schema", `{"name":"x","schemaRef":{"id":"https://ns.adobe.com/mosaic/schemas/nope"}}`, 400, "CATALOG-SCHEMA-NOT-FOUND"},
		{"no schemaRef", `{"name":"x"}`, 400, "CATALOG-SCHEMAREF"},
		{"unknown field", `{"name":"x","schemaRef":{"id":"https://ns.adobe.com/mosaic/schemas/e1"},"bogus":1}`, 400, "REQ-JSON"},
		{"upsert on events", `{"name":"x","schemaRef":{"id":"https://ns.adobe.com/mosaic/schemas/e1"},"tags":{"unifiedProfile":["enabled:true","isUpsert:true"]}}`, 400, "CATALOG-UPSERT-CLASS"},
		{"bad tag", `{"name":"x","schemaRef":{"id":"https://ns.adobe.com/mosaic/schemas/e1"},"tags":{"unifiedIdentity":["on"]}}`, 400, "CATALOG-TAG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, h, event("POST "+catalogBase+"/dataSets", nil, "", tc.body))
			m, _ := body.(map[string]any)
			if status != tc.status || m["code"] != tc.code {
				t.Errorf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	t.Run("schema by altId is stored by $id", func(t *testing.T) {
		status, body := call(t, h, event("POST "+catalogBase+"/dataSets", nil, "", `{"name":"web","schemaRef":{"id":"_mosaic.schemas.e1"}}`))
		if status != 201 {
			t.Fatalf("got %d %v", status, body)
		}
		id := strings.TrimPrefix(body.([]any)[0].(string), "@/dataSets/")
		_, got := call(t, h, event("GET "+catalogBase+"/dataSets/{id}", map[string]string{"id": id}, "", ""))
		ref := got.(map[string]any)[id].(map[string]any)["schemaRef"].(map[string]any)
		if ref["id"] != "https://ns.adobe.com/mosaic/schemas/e1" || ref["contentType"] != catalog.DefaultSchemaContentType {
			t.Errorf("got schemaRef %v", ref)
		}
	})
}

func TestBatches(t *testing.T) {
	h, _ := newTestHandler(t)
	b2 := map[string]any{
		"id": "b2", "imsOrg": xdm.ImsOrg, "status": "success", "created": float64(2000), "updated": float64(3000), "completed": float64(3000),
		"version": "1.0.0", "relatedObjects": []any{map[string]any{"type": "dataSet", "id": "ds1"}},
		"inputFormat": map[string]any{"format": "json"}, "tags": map[string]any{"acp_partialIngestionPercent": float64(5), "acp_enableErrorDiagnostics": false},
		"metrics":  map[string]any{"inputByteSize": float64(0), "inputFileCount": float64(1), "inputRecordCount": float64(10), "outputRecordCount": float64(9), "failedRecordCount": float64(1)},
		"errors":   []any{map[string]any{"code": "XDM-TYPE", "description": "type mismatch", "recordCount": float64(1)}},
		"warnings": []any{map[string]any{"code": "ORDERING-TIME-CLAMPED", "description": "clamped", "recordCount": float64(2)}},
	}
	for _, tc := range []struct {
		name   string
		route  string
		params map[string]string
		query  string
		status int
		check  func(t *testing.T, body any)
	}{
		{"get", "GET " + catalogBase + "/batches/{id}", map[string]string{"id": "b2"}, "", 200, func(t *testing.T, body any) {
			if d := cmp.Diff(map[string]any{"b2": b2}, body); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		}},
		{"unknown", "GET " + catalogBase + "/batches/{id}", map[string]string{"id": "nope"}, "", 404, nil},
		{"list all", "GET " + catalogBase + "/batches", nil, "", 200, wantKeys("b1", "b2")},
		{"list by dataset", "GET " + catalogBase + "/batches", nil, "dataSet=ds1", 200, wantKeys("b2")},
		{"bad limit", "GET " + catalogBase + "/batches", nil, "limit=0", 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, h, event(tc.route, tc.params, tc.query, ""))
			if status != tc.status {
				t.Fatalf("got status %d (%v), want %d", status, body, tc.status)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

func wantKeys(ids ...string) func(t *testing.T, body any) {
	return func(t *testing.T, body any) {
		t.Helper()
		m, _ := body.(map[string]any)
		var got []string
		for k := range m {
			got = append(got, k)
		}
		sort.Strings(got)
		if d := cmp.Diff(ids, got); d != "" {
			t.Errorf("ids (-want +got):\n%s", d)
		}
	}
}
