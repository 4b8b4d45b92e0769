package store

import (
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// Catalog stores the schema registry, datasets and batches in the catalog
// table. Each resource is one item holding its JSON document ("doc"); the
// listings the API needs are partitions of their own:
//
//	schema             pk SCHEMA                 sk <meta:altId>      ($id ↔ altId is derived, no pointer item)
//	field group        pk FIELDGROUP             sk <meta:altId>
//	namespace          pk NAMESPACE              sk <lower-cased code> (custom identity namespaces)
//	namespace setting  pk NAMESPACE#OVERRIDE     sk <lower-cased code> (of a standard namespace)
//	descriptor         pk DESCRIPTOR             sk <@id>             attribute schema = source schema $id
//	primary guard      pk DESCRIPTOR#PRIMARY     sk <schema altId>    one per schema: at most one primary identity
//	dataset            pk DATASET                sk <id>
//	batch              pk BATCH                  sk <id>
//	batch index        pk BATCH#BY-TIME          sk <created ms, 13 digits>#<id>
//	batch by dataset   pk BATCH#DATASET#<id>     sk <created ms, 13 digits>#<id>
//	merge policies     pk MERGEPOLICY            sk <schema name>     the class's policies, version "ver"
//	deleted dataset    pk DATASET#DELETED        sk <id>              (so that its profile data can still be deleted)
//	profile job        pk JOB                    sk <job id>          (UUID v7: sorts by creation time)
//
// Creates are conditional (no duplicates); schema and field group updates
// are conditional on the version read, dataset updates on the document
// read, merge policy changes on the class item's version (optimistic
// concurrency).
//
// One file per resource: catalog_schema.go (schemas and field groups, the
// Versioned resources), catalog_descriptor.go, catalog_namespace.go,
// catalog_dataset.go, catalog_batch.go, catalog_merge_policies.go and
// catalog_jobs.go, over catalog_resource.go (the one create/get/list/update/delete
// path of a resource kept as one item) and catalog_table.go (item reads and writes). failed_records.go keeps
// refused rows in the same table.
type Catalog struct {
	db    DynamoDB
	table string

	// Schemas are the tenant's XDM schemas. Deleting one also deletes its
	// primary-identity guard; its descriptors are the caller's to delete.
	Schemas *Versioned[xdm.Schema]
	// FieldGroups are the tenant's field groups. The caller checks that no
	// schema uses one before deleting it.
	FieldGroups *Versioned[xdm.FieldGroup]
}

// NewCatalog returns the catalog store on table.
func NewCatalog(db DynamoDB, table string) *Catalog {
	c := &Catalog{db: db, table: table}
	c.Schemas = &Versioned[xdm.Schema]{c: c, r: catSchemas, deleted: c.deletePrimaryGuard}
	c.FieldGroups = &Versioned[xdm.FieldGroup]{c: c, r: catFieldGroups}
	return c
}

// The partitions of the catalog table (see Catalog).
const (
	catPKSchema            = "SCHEMA"
	catPKFieldGroup        = "FIELDGROUP"
	catPKNamespace         = "NAMESPACE"
	catPKNamespaceOverride = "NAMESPACE#OVERRIDE"
	catPKDescriptor        = "DESCRIPTOR"
	catPKPrimary           = "DESCRIPTOR#PRIMARY"
	catPKDataset           = "DATASET"
	catPKBatch             = "BATCH"
	catPKBatchByTime       = "BATCH#BY-TIME"
	catPKBatchDataset      = "BATCH#DATASET#"
)

var (
	_ catalog.SpecSource       = (*Catalog)(nil)
	_ catalog.FieldGroupSource = (*Catalog)(nil)
	_ catalog.NamespaceSource  = (*Catalog)(nil)
	_ catalog.OverrideSource   = (*Catalog)(nil)
)
