package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
)

// deletingCatalog is memCatalog that also deletes datasets and records
// jobs; deleteErr, when set, fails DeleteDataset.
type deletingCatalog struct {
	*memCatalog
	jobs      map[string]jobs.Job
	deleteErr error
}

func (d *deletingCatalog) DeleteDataset(_ context.Context, id string, _ int64) error {
	if d.deleteErr != nil {
		return d.deleteErr
	}
	if _, ok := d.datasets[id]; !ok {
		return fault.E(fault.NotFound, "DATASET-NOT-FOUND", "no dataset")
	}
	delete(d.datasets, id)
	return nil
}

func (d *deletingCatalog) CreateJob(_ context.Context, j jobs.Job) error {
	d.jobs[j.ID] = j
	return nil
}

func (d *deletingCatalog) DeleteJob(_ context.Context, id string) error {
	delete(d.jobs, id)
	return nil
}

func newDeleteHandler(t *testing.T) (*handler, *deletingCatalog, *memS3) {
	t.Helper()
	_, m := newTestHandler(t)
	m.datasets["ds1"] = catalog.Dataset{ID: "ds1", Name: "CRM"}
	d := &deletingCatalog{memCatalog: m, jobs: map[string]jobs.Job{}}
	h, err := newService(d, "prod", func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	s3 := newMemS3()
	h.s3, h.bucket = s3, "landing"
	return h, d, s3
}

const routeDatasetDelete = "DELETE " + catalogBase + "/dataSets/{id}"

// DELETE /dataSets/{id} answers AEP's reference, removes the dataset (its
// id is then unknown to every route) and starts the job that deletes its
// profile data once ingestion has stopped taking it.
func TestDeleteDataset(t *testing.T) {
	h, d, s3 := newDeleteHandler(t)
	status, body := call(t, h, event(routeDatasetDelete, map[string]string{"id": "ds1"}, "", ""))
	if status != http.StatusOK {
		t.Fatalf("got %d %v, want 200", status, body)
	}
	if diff := cmp.Diff([]any{"@/dataSets/ds1"}, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if len(d.jobs) != 1 {
		t.Fatalf("jobs %v, want one", d.jobs)
	}
	for id, j := range d.jobs {
		if j.DataSetID != "ds1" || j.BatchID != "" || j.Status != jobs.StatusNew || j.NotBefore != testNow.Add(jobs.DatasetSettle).UnixMilli() {
			t.Errorf("job %+v, want a NEW delete of ds1 waiting %v", j, jobs.DatasetSettle)
		}
		if _, ok := s3.objects[jobs.TaskKey(id, 0)]; !ok {
			t.Errorf("no task object for job %s", id)
		}
	}
	status, body = call(t, h, event("GET "+catalogBase+"/dataSets/{id}", map[string]string{"id": "ds1"}, "", ""))
	if status != http.StatusNotFound {
		t.Errorf("GET after delete: %d %v, want 404", status, body)
	}
	status, body = call(t, h, event("POST "+importBase, nil, "", `{"datasetId":"ds1","inputFormat":{"format":"json"}}`))
	if m, _ := body.(map[string]any); status != http.StatusBadRequest || m["code"] != "BATCH-DATASET-NOT-FOUND" {
		t.Errorf("batch into the deleted dataset: %d %v, want refused as unknown", status, body)
	}
	status, body = call(t, h, event(routeDatasetDelete, map[string]string{"id": "ds1"}, "", ""))
	if m, _ := body.(map[string]any); status != http.StatusNotFound || m["code"] != "DATASET-NOT-FOUND" || len(d.jobs) != 1 {
		t.Errorf("second delete: %d %v with %d jobs, want 404 and no new job", status, body, len(d.jobs))
	}
}

func TestDeleteDatasetFailures(t *testing.T) {
	t.Run("task not written: no job, dataset kept", func(t *testing.T) {
		h, d, s3 := newDeleteHandler(t)
		s3.fail = errors.New("connection refused")
		status, body := call(t, h, event(routeDatasetDelete, map[string]string{"id": "ds1"}, "", ""))
		if status != http.StatusServiceUnavailable || len(d.jobs) != 0 || d.datasets["ds1"].ID == "" {
			t.Errorf("got %d %v, jobs %v, dataset kept %v", status, body, d.jobs, d.datasets["ds1"].ID != "")
		}
	})
	t.Run("catalog unavailable: dataset kept, may be sent again", func(t *testing.T) {
		h, d, _ := newDeleteHandler(t)
		d.deleteErr = fault.E(fault.Unavailable, "STORE-UNAVAILABLE", "unavailable")
		status, _ := call(t, h, event(routeDatasetDelete, map[string]string{"id": "ds1"}, "", ""))
		if status != http.StatusServiceUnavailable || d.datasets["ds1"].ID == "" {
			t.Errorf("got %d, dataset kept %v", status, d.datasets["ds1"].ID != "")
		}
	})
}
