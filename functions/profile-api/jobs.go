package main

import (
	"context"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// jobStore keeps and starts profile jobs.
type jobStore interface{}

func newJobs(c *awsenv.Clients, cat *store.Catalog, bucket string) jobStore { return nil }

func (h *handler) listJobs(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("profile jobs")
}
func (h *handler) createJob(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("profile jobs")
}
func (h *handler) getJob(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("profile jobs")
}
func (h *handler) deleteJob(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("profile jobs")
}

// entitiesDelete deletes a profile (DELETE /access/entities) by starting a profile job.
func (h *handler) entitiesDelete(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("profile delete")
}
