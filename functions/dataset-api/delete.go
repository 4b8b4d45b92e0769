package main

import (
	"context"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// deleteDataset deletes a dataset and starts the profile job that removes
// its profile data.
func (h *handler) deleteDataset(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, fault.E(fault.Invalid, "NOT-BUILT", "dataset delete is not built yet")
}
