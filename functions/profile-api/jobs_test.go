package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

var jobsNow = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// memJobStore is jobStore in memory: jobs started with jobs.Start, task
// objects kept by key, a catalog of two datasets (profile and event) and
// their batches.
type memJobStore struct {
	jobs    map[string]jobs.Job
	tasks   map[string][]byte
	lastQ   store.JobQuery
	page    store.JobPage
	batches map[string]catalog.Batch
}

func newMemJobStore() *memJobStore {
	return &memJobStore{
		jobs: map[string]jobs.Job{}, tasks: map[string][]byte{},
		batches: map[string]catalog.Batch{
			"be1": {ID: "be1", DatasetID: "ds-events"},
			"bp1": {ID: "bp1", DatasetID: "ds-profiles"},
			"bx":  {ID: "bx", DatasetID: "ds-gone"},
		},
	}
}

func (m *memJobStore) StartJob(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	return jobs.Start(ctx, m, m, "landing", j, jobsNow)
}

func (m *memJobStore) CreateJob(_ context.Context, j jobs.Job) error { m.jobs[j.ID] = j; return nil }

func (m *memJobStore) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, _ := io.ReadAll(in.Body)
	m.tasks[aws.ToString(in.Key)] = b
	return &s3.PutObjectOutput{}, nil
}

func (m *memJobStore) GetJob(_ context.Context, id string) (jobs.Job, error) {
	j, ok := m.jobs[id]
	if !ok {
		return jobs.Job{}, fault.E(fault.NotFound, store.CodeJobNotFound, "profile job does not exist")
	}
	return j, nil
}

func (m *memJobStore) ListJobs(_ context.Context, q store.JobQuery) (store.JobPage, error) {
	m.lastQ = q
	return m.page, nil
}

func (m *memJobStore) DeleteJob(_ context.Context, id string) error {
	if _, ok := m.jobs[id]; !ok {
		return fault.E(fault.NotFound, store.CodeJobNotFound, "profile job does not exist")
	}
	delete(m.jobs, id)
	return nil
}

func (m *memJobStore) GetBatch(_ context.Context, id string) (catalog.Batch, error) {
	b, ok := m.batches[id]
	if !ok {
		return b, fault.E(fault.NotFound, "BATCH-NOT-FOUND", "no batch")
	}
	return b, nil
}

func (m *memJobStore) GetDataset(_ context.Context, id string) (catalog.Dataset, error) {
	switch id {
	case "ds-events":
		return catalog.Dataset{ID: id, SchemaRef: catalog.SchemaRef{ID: "s-events"}}, nil
	case "ds-profiles":
		return catalog.Dataset{ID: id, SchemaRef: catalog.SchemaRef{ID: "s-profiles"}}, nil
	}
	return catalog.Dataset{}, fault.E(fault.NotFound, "DATASET-NOT-FOUND", "no dataset")
}

func (m *memJobStore) DatasetDeleted(_ context.Context, id string) (bool, error) {
	return id == "ds-deleted", nil
}

func (m *memJobStore) GetSchema(_ context.Context, id string) (xdm.Schema, error) {
	switch id {
	case "s-events":
		return xdm.Schema{Class: xdm.EventClass}, nil
	case "s-profiles":
		return xdm.Schema{Class: xdm.ProfileClass}, nil
	}
	return xdm.Schema{}, fault.E(fault.NotFound, "SCHEMA-NOT-FOUND", "no schema")
}

func newJobsRouter() (*handler, *memJobStore) {
	h := newTestRouter()
	m := newMemJobStore()
	h.jobs = m
	return h, m
}

// send serves one request and returns the status, headers and JSON body.
func send(t *testing.T, h *handler, route, query, body string, params map[string]string) (int, map[string]string, map[string]any) {
	t.Helper()
	resp, err := h.Handle(context.Background(), events.APIGatewayV2HTTPRequest{
		RouteKey: route, RawQueryString: query, Body: body, PathParameters: params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r1"},
	})
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	raw := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if raw, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			t.Fatal(err)
		}
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("body %q is not a JSON object: %v", raw, err)
		}
	}
	return resp.StatusCode, resp.Headers, out
}

// POST /system/jobs answers the NEW job in AEP's shape and writes the
// task object of its first step.
func TestCreateJob(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       map[string]any
	}{
		{"dataset", `{"dataSetId":"ds-profiles"}`, map[string]any{"dataSetId": "ds-profiles"}},
		{"dataset, newer spelling", `{"datasetId":"ds-events"}`, map[string]any{"dataSetId": "ds-events"}},
		{"dataset deleted from the catalog", `{"dataSetId":"ds-deleted"}`, map[string]any{"dataSetId": "ds-deleted"}},
		{"event batch", `{"batchId":"be1"}`, map[string]any{"dataSetId": "ds-events", "batchId": "be1"}},
		{"event batch of its dataset", `{"datasetId":"ds-events","batchId":"be1"}`, map[string]any{"dataSetId": "ds-events", "batchId": "be1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, m := newJobsRouter()
			status, _, body := send(t, h, routeJobCreate, "", tc.body, nil)
			if status != http.StatusOK {
				t.Fatalf("got %d %v, want 200", status, body)
			}
			id, _ := body["id"].(string)
			want := map[string]any{"id": id, "imsOrgId": xdm.ImsOrg, "jobType": "DELETE", "status": "NEW",
				"createEpoch": float64(jobsNow.Unix()), "updateEpoch": float64(jobsNow.Unix()), "step": 0.0}
			for k, v := range tc.want {
				want[k] = v
			}
			if diff := cmp.Diff(want, body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if _, ok := m.tasks[jobs.TaskKey(id, 0)]; !ok || len(m.jobs) != 1 {
				t.Errorf("tasks %v, jobs %v: want the job and its first task", m.tasks, m.jobs)
			}
		})
	}
}

func TestCreateJobErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, code, message string
	}{
		{"no body", ``, CodeJobInvalid, "Invalid delete request (Profile System Job)"},
		{"nothing named", `{}`, CodeJobInvalid, "Invalid delete request (Profile System Job): give dataSetId or batchId"},
		{"unknown field", `{"dataset":"x"}`, CodeJobInvalid, "Invalid delete request (Profile System Job)"},
		{"unknown dataset", `{"dataSetId":"nope"}`, CodeJobInvalid, "Invalid delete request (Profile System Job): dataset 'nope' does not exist"},
		{"two datasets", `{"dataSetId":"a","datasetId":"b"}`, CodeJobInvalid, "Invalid delete request (Profile System Job): dataSetId and datasetId differ"},
		{"unknown batch", `{"batchId":"b9"}`, CodeJobBatchNotFound, "Batch not found for profile dataset 'b9'"},
		{"batch of another dataset", `{"dataSetId":"ds-profiles","batchId":"be1"}`, CodeJobBatchNotFound, "Batch not found for profile dataset 'ds-profiles'"},
		{"batch of a deleted dataset", `{"batchId":"bx"}`, CodeJobBatchNotFound, "Batch not found for profile dataset 'bx'"},
		{"record batch", `{"batchId":"bp1"}`, CodeJobBatchRecord, "Batch can only be specified for EE type 'ds-profiles'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, m := newJobsRouter()
			status, _, body := send(t, h, routeJobCreate, "", tc.body, nil)
			msg, _ := body["message"].(string)
			if status != http.StatusBadRequest || body["code"] != tc.code || !strings.HasPrefix(msg, tc.message) {
				t.Errorf("got %d %v, want 400 %s %q", status, body, tc.code, tc.message)
			}
			if len(m.jobs) != 0 || len(m.tasks) != 0 {
				t.Errorf("a refused request started a job: %v", m.jobs)
			}
		})
	}
}

func TestListJobs(t *testing.T) {
	h, m := newJobsRouter()
	m.page = store.JobPage{
		Jobs: []jobs.Job{{ID: "j1", DataSetID: "ds1", JobType: "DELETE", Status: "COMPLETED", Metrics: `{"recordsProcessed":5,"timeTakenInSec":1}`, Cursor: "Email#secret", Step: 3}},
		Next: "j2",
	}
	status, _, body := send(t, h, routeJobs, "limit=1&sort=createEpoch:desc", "", nil)
	want := map[string]any{
		"_page": map[string]any{"count": 1.0, "next": "j2"},
		"children": []any{map[string]any{"id": "j1", "dataSetId": "ds1", "jobType": "DELETE", "status": "COMPLETED",
			"metrics": `{"recordsProcessed":5,"timeTakenInSec":1}`, "createEpoch": 0.0, "updateEpoch": 0.0, "step": 3.0}},
	}
	if status != http.StatusOK {
		t.Fatalf("got %d %v", status, body)
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(store.JobQuery{Limit: 1, Newest: true}, m.lastQ); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		query string
		want  store.JobQuery
	}{
		{"", store.JobQuery{Limit: 100}},
		{"start=j2&limit=10", store.JobQuery{Start: "j2", Limit: 10}},
		{"start=4&limit=10", store.JobQuery{Skip: 4, Limit: 10}},
		{"page=2&limit=10", store.JobQuery{Skip: 20, Limit: 10}},
		{"sort=createEpoch:asc", store.JobQuery{Limit: 100}},
	} {
		if status, _, body := send(t, h, routeJobs, tc.query, "", nil); status != http.StatusOK {
			t.Errorf("%s: %d %v", tc.query, status, body)
		}
		if diff := cmp.Diff(tc.want, m.lastQ); diff != "" {
			t.Errorf("%s: query (-want +got):\n%s", tc.query, diff)
		}
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "page=-1", "sort=batchId:asc"} {
		if status, _, body := send(t, h, routeJobs, q, "", nil); status != http.StatusBadRequest || body["code"] != "REQ-PARAM" {
			t.Errorf("%s: got %d %v, want 400 REQ-PARAM", q, status, body)
		}
	}
}

func TestGetAndDeleteJob(t *testing.T) {
	h, m := newJobsRouter()
	_, _, created := send(t, h, routeJobCreate, "", `{"dataSetId":"ds-profiles"}`, nil)
	id := created["id"].(string)
	params := map[string]string{"id": id}
	if status, _, body := send(t, h, routeJob, "", "", params); status != http.StatusOK || body["id"] != id || body["status"] != "NEW" {
		t.Errorf("get: %d %v", status, body)
	}
	status, headers, body := send(t, h, routeJobDelete, "", "", params)
	if status != http.StatusOK || body != nil || headers["content-type"] != "" {
		t.Errorf("delete: %d %v %v, want 200 with no body", status, headers, body)
	}
	if len(m.jobs) != 0 {
		t.Errorf("jobs left: %v", m.jobs)
	}
	for _, route := range []string{routeJob, routeJobDelete} {
		if status, _, body := send(t, h, route, "", "", params); status != http.StatusNotFound || body["code"] != store.CodeJobNotFound {
			t.Errorf("%s of a deleted job: %d %v", route, status, body)
		}
	}
}

// DELETE /access/entities validates as GET does, then starts a profile
// job: 202, its Location, the job in the body, the identity normalised
// and the policy's identityGraph kept for the job.
func TestEntitiesDelete(t *testing.T) {
	h, m := newJobsRouter()
	q := url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {" Jane@Example.com "}, "entityIdNS": {"email"}}
	status, headers, body := send(t, h, routeEntitiesDelete, strings.ReplaceAll(q.Encode(), "+", "%20"), "", nil)
	if status != http.StatusAccepted {
		t.Fatalf("got %d %v, want 202", status, body)
	}
	id, _ := body["id"].(string)
	if headers["location"] != "/data/core/ups/system/jobs/"+id || headers["content-type"] != "application/json" {
		t.Errorf("headers %v, want the job's Location", headers)
	}
	j := m.jobs[id]
	wantEntity := &jobs.Entity{EntityID: " Jane@Example.com ", EntityIDNS: "email", MergePolicyID: merge.DefaultProfilePolicyID, IdentityGraph: merge.GraphPDG}
	if diff := cmp.Diff(wantEntity, j.Entity); diff != "" {
		t.Errorf("entity (-want +got):\n%s", diff)
	}
	if j.Identity != "Email#jane@example.com" || j.Status != jobs.StatusNew {
		t.Errorf("job %+v", j)
	}
	if _, ok := m.tasks[jobs.TaskKey(id, 0)]; !ok {
		t.Error("no task written")
	}
	if body["entity"] == nil || body["identity"] != nil || body["jobType"] != "DELETE" {
		t.Errorf("body %v: want the job's view, never its identity key", body)
	}

	for _, tc := range []struct {
		name   string
		query  url.Values
		status int
		code   string
	}{
		{"no schema", url.Values{"entityId": {"a@b.c"}, "entityIdNS": {"email"}}, 400, "REQ-PARAM"},
		{"event schema", url.Values{"schema.name": {merge.EventSchema}, "entityId": {"a@b.c"}, "entityIdNS": {"email"}}, 400, "REQ-SCHEMA"},
		{"no namespace", url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {"a@b.c"}}, 400, "REQ-PARAM"},
		{"unknown policy", url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {"a@b.c"}, "entityIdNS": {"email"}, "mergePolicyId": {"nope"}}, 404, "MERGE-POLICY-NOT-FOUND"},
		{"unknown namespace", url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {"a@b.c"}, "entityIdNS": {"nope"}}, 400, "IDENTITY-UNKNOWN-NAMESPACE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, m := newJobsRouter()
			status, _, body := send(t, h, routeEntitiesDelete, tc.query.Encode(), "", nil)
			if status != tc.status || body["code"] != tc.code {
				t.Errorf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
			if len(m.jobs) != 0 {
				t.Error("a refused delete started a job")
			}
		})
	}
}
