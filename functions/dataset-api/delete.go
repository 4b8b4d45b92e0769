package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
)

// datasetDeleter removes datasets from the catalog and records profile
// jobs (store.Catalog).
type datasetDeleter interface {
	// DeleteDataset removes the dataset and records its id as deleted
	// at epoch ms at.
	DeleteDataset(ctx context.Context, id string, at int64) error
	jobs.Store
}

// deleteDataset deletes a dataset (DELETE /dataSets/{id}): it starts the
// profile job that removes the dataset's profile data, then removes the
// dataset from the catalog, so that its id answers 404 and ingestion into
// it is refused as into an unknown dataset. The job waits
// jobs.DatasetSettle before it deletes, the time the ingest functions may
// still take rows for the dataset. 200 with AEP's ["@/dataSets/{id}"];
// 404 DATASET-NOT-FOUND for an unknown id. A failure after the job started
// leaves the dataset in place: the request may be sent again.
func (h *handler) deleteDataset(ctx context.Context, r *apigw.Request) (int, any, error) {
	id := r.Param("id")
	if _, err := h.cat.GetDataset(ctx, id); err != nil {
		return 0, nil, err
	}
	if h.datasets == nil {
		return 0, nil, fault.E(fault.Internal, "DATASET-DELETE", "the catalog store cannot delete datasets")
	}
	now := h.now()
	j := jobs.NewDatasetDelete(id)
	j.NotBefore = now.Add(jobs.DatasetSettle).UnixMilli()
	j, err := jobs.Start(ctx, h.datasets, h.s3, h.bucket, j, now)
	if err != nil {
		return 0, nil, err
	}
	if err := h.datasets.DeleteDataset(ctx, id, now.UnixMilli()); err != nil && fault.KindOf(err) != fault.NotFound {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "dataset deleted", "datasetId", id, "jobId", j.ID)
	return http.StatusOK, []string{"@/dataSets/" + id}, nil
}
