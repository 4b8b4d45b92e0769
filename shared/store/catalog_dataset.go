package store

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Datasets are kept by id.
var catDatasets = resource[catalog.Dataset]{
	pk: catPKDataset, code: "DATASET", noun: "dataset",
	key: func(d catalog.Dataset) string { return d.ID },
	exists: func(catalog.Dataset) error {
		return fault.E(fault.Conflict, "DATASET-EXISTS", "a dataset with this id exists")
	},
}

// CreateDataset stores a new dataset; an existing id is a Conflict
// ("DATASET-EXISTS").
func (c *Catalog) CreateDataset(ctx context.Context, d catalog.Dataset) error {
	return catDatasets.create(ctx, c, d)
}

// GetDataset reads a dataset (NotFound "DATASET-NOT-FOUND").
func (c *Catalog) GetDataset(ctx context.Context, id string) (catalog.Dataset, error) {
	if id == "" {
		return catalog.Dataset{}, fault.E(fault.NotFound, "DATASET-NOT-FOUND", "dataset id is empty")
	}
	return catDatasets.get(ctx, c, id)
}

// ListDatasets lists datasets, ordered by id.
func (c *Catalog) ListDatasets(ctx context.Context) ([]catalog.Dataset, error) {
	return catDatasets.list(ctx, c, nil)
}

// UpdateDataset replaces dataset d, which was read as prev: the write
// succeeds only while the stored dataset is still prev (optimistic
// concurrency, compared on the stored document), else it is a Conflict
// "DATASET-VERSION-CONFLICT"; a dataset that no longer exists is NotFound
// "DATASET-NOT-FOUND". The id cannot change.
func (c *Catalog) UpdateDataset(ctx context.Context, d, prev catalog.Dataset) error {
	if d.ID == "" || d.ID != prev.ID {
		return fault.E(fault.Invalid, "DATASET-ID", "a dataset update keeps its id")
	}
	prevDoc, err := json.Marshal(prev)
	if err != nil {
		return fault.Wrap(err, fault.Internal, "STORE-ENCODE", "catalog item could not be encoded")
	}
	changed := fault.E(fault.Conflict, "DATASET-VERSION-CONFLICT", "the dataset changed since it was read; read it again and retry")
	return catDatasets.replace(ctx, c, d, "attribute_exists(pk) AND doc = :prev",
		map[string]types.AttributeValue{":prev": &types.AttributeValueMemberS{Value: string(prevDoc)}}, changed)
}

// catPKDatasetDeleted keeps the ids of deleted datasets (sk <id>, attribute
// at: epoch ms), so that a profile job may still be asked to delete a
// deleted dataset's profile data (DatasetDeleted).
const catPKDatasetDeleted = "DATASET#DELETED"

// DeleteDataset removes a dataset from the catalog (NotFound
// "DATASET-NOT-FOUND"): its id then answers NotFound everywhere, so that
// ingestion into it is refused as into an unknown dataset. Its batches
// and its profile data stay; a profile job removes the latter. The id is
// recorded as deleted first (DatasetDeleted), at epoch ms at.
func (c *Catalog) DeleteDataset(ctx context.Context, id string, at int64) error {
	if id == "" {
		return fault.E(fault.NotFound, "DATASET-NOT-FOUND", "dataset id is empty")
	}
	if _, err := c.GetDataset(ctx, id); err != nil {
		return err
	}
	item := catKey(catPKDatasetDeleted, id)
	item["at"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(at, 10)}
	if _, err := c.catPutIf(ctx, item, "", nil, "record deleted dataset"); err != nil {
		return err
	}
	return catDatasets.remove(ctx, c, id)
}

// DatasetDeleted reports whether id names a dataset that DeleteDataset
// removed.
func (c *Catalog) DatasetDeleted(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, nil
	}
	item, err := c.catGet(ctx, catPKDatasetDeleted, id, "read deleted dataset")
	return item != nil, err
}
