package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// Catalog stores the schema registry, datasets and batches in the catalog
// table. Each resource is one item holding its JSON document ("doc"); the
// listings the API needs are partitions of their own:
//
//	schema             pk SCHEMA                 sk <meta:altId>      ($id ↔ altId is derived, no pointer item)
//	field group        pk FIELDGROUP             sk <meta:altId>
//	namespace          pk NAMESPACE              sk <lower-cased code> (custom identity namespaces)
//	descriptor         pk DESCRIPTOR             sk <@id>             attribute schema = source schema $id
//	primary guard      pk DESCRIPTOR#PRIMARY     sk <schema altId>    one per schema: at most one primary identity
//	dataset            pk DATASET                sk <id>
//	batch              pk BATCH                  sk <id>
//	batch index        pk BATCH#BY-TIME          sk <created ms, 13 digits>#<id>
//	batch by dataset   pk BATCH#DATASET#<id>     sk <created ms, 13 digits>#<id>
//
// Creates are conditional (no duplicates); schema updates are conditional on
// the version read (optimistic concurrency).
type Catalog struct {
	db    DynamoDB
	table string
}

// NewCatalog returns the catalog store on table.
func NewCatalog(db DynamoDB, table string) *Catalog { return &Catalog{db: db, table: table} }

const (
	catPKSchema       = "SCHEMA"
	catPKFieldGroup   = "FIELDGROUP"
	catPKNamespace    = "NAMESPACE"
	catPKDescriptor   = "DESCRIPTOR"
	catPKPrimary      = "DESCRIPTOR#PRIMARY"
	catPKDataset      = "DATASET"
	catPKBatch        = "BATCH"
	catPKBatchByTime  = "BATCH#BY-TIME"
	catPKBatchDataset = "BATCH#DATASET#"
)

var _ catalog.SpecSource = (*Catalog)(nil)

func catKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		topology.PartitionKey: &types.AttributeValueMemberS{Value: pk},
		topology.SortKey:      &types.AttributeValueMemberS{Value: sk},
	}
}

func catItem(pk, sk string, doc any, extra map[string]string) (map[string]types.AttributeValue, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "STORE-ENCODE", "catalog item could not be encoded")
	}
	item := catKey(pk, sk)
	item["doc"] = &types.AttributeValueMemberS{Value: string(b)}
	for k, v := range extra {
		item[k] = &types.AttributeValueMemberS{Value: v}
	}
	if err := checkItem(item, "write "+strings.ToLower(pk)); err != nil {
		return nil, err
	}
	return item, nil
}

func catDecode(item map[string]types.AttributeValue, v any) error {
	s, ok := item["doc"].(*types.AttributeValueMemberS)
	if !ok {
		return fault.E(fault.Internal, "STORE-DECODE", "catalog item has no document")
	}
	if err := json.Unmarshal([]byte(s.Value), v); err != nil {
		return fault.Wrap(err, fault.Internal, "STORE-DECODE", "catalog item could not be decoded")
	}
	return nil
}

func catAttr(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

const catNotExists = "attribute_not_exists(pk)"

// catCreate writes item unless its key exists; it reports false when it does.
func (c *Catalog) catCreate(ctx context.Context, item map[string]types.AttributeValue, what string) (bool, error) {
	_, err := c.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(c.table),
		Item:                item,
		ConditionExpression: aws.String(catNotExists),
	})
	if IsConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, translate(err, what)
	}
	return true, nil
}

func (c *Catalog) catGet(ctx context.Context, pk, sk, what string) (map[string]types.AttributeValue, error) {
	out, err := c.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(c.table),
		Key:            catKey(pk, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, translate(err, what)
	}
	return out.Item, nil
}

// catQuery reads a partition in sort-key order (descending when newest),
// stopping after limit items when limit > 0.
func (c *Catalog) catQuery(ctx context.Context, pk string, newest bool, limit int, what string) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for {
		in := &dynamodb.QueryInput{
			TableName:                 aws.String(c.table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
			ScanIndexForward:          aws.Bool(!newest),
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
		}
		if limit > 0 {
			in.Limit = aws.Int32(int32(limit - len(items)))
		}
		out, err := c.db.Query(ctx, in)
		if err != nil {
			return nil, translate(err, what)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 || (limit > 0 && len(items) >= limit) {
			return items, nil
		}
		start = out.LastEvaluatedKey
	}
}

// schemaAltID accepts a schema's altId or $id.
func schemaAltID(id string) string {
	if strings.HasPrefix(id, "_") {
		return id
	}
	return xdm.AltID(id)
}

// catResource describes a versioned registry resource (schema, field
// group): where it is kept, how errors name it, and its id and version.
type catResource[T any] struct {
	pk      string
	code    string // error code prefix: SCHEMA, FIELDGROUP
	noun    string // "schema", "field group"
	altID   func(T) string
	version func(T) string
}

var (
	catSchemas = catResource[xdm.Schema]{pk: catPKSchema, code: "SCHEMA", noun: "schema",
		altID: func(s xdm.Schema) string { return s.AltID }, version: func(s xdm.Schema) string { return s.Version }}
	catFieldGroups = catResource[xdm.FieldGroup]{pk: catPKFieldGroup, code: "FIELDGROUP", noun: "field group",
		altID: func(g xdm.FieldGroup) string { return g.AltID }, version: func(g xdm.FieldGroup) string { return g.Version }}
)

func (r catResource[T]) notFound(id string) error {
	return fault.Errorf(fault.NotFound, r.code+"-NOT-FOUND", "%s %q does not exist", r.noun, id)
}

// create stores a new resource; an existing $id is a Conflict ("<CODE>-EXISTS").
func (r catResource[T]) create(ctx context.Context, c *Catalog, v T) error {
	item, err := catItem(r.pk, r.altID(v), v, map[string]string{"ver": r.version(v)})
	if err != nil {
		return err
	}
	ok, err := c.catCreate(ctx, item, "create "+r.noun)
	if err != nil {
		return err
	}
	if !ok {
		return fault.E(fault.Conflict, r.code+"-EXISTS", "a "+r.noun+" with this $id exists")
	}
	return nil
}

// get reads a resource by altId or $id (NotFound "<CODE>-NOT-FOUND").
func (r catResource[T]) get(ctx context.Context, c *Catalog, id string) (T, error) {
	var v T
	alt := schemaAltID(id)
	if alt == "" {
		return v, r.notFound(id)
	}
	item, err := c.catGet(ctx, r.pk, alt, "read "+r.noun)
	if err != nil {
		return v, err
	}
	if item == nil {
		return v, r.notFound(id)
	}
	return v, catDecode(item, &v)
}

// list reads every resource of the kind, ordered by altId.
func (r catResource[T]) list(ctx context.Context, c *Catalog) ([]T, error) {
	items, err := c.catQuery(ctx, r.pk, false, 0, "list "+r.noun+"s")
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		var v T
		if err := catDecode(it, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// update replaces a resource still at prevVersion: a concurrent change is
// a Conflict ("<CODE>-VERSION-CONFLICT"), a missing resource NotFound.
func (r catResource[T]) update(ctx context.Context, c *Catalog, v T, prevVersion string) error {
	item, err := catItem(r.pk, r.altID(v), v, map[string]string{"ver": r.version(v)})
	if err != nil {
		return err
	}
	_, err = c.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(c.table),
		Item:                      item,
		ConditionExpression:       aws.String("ver = :prev"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":prev": &types.AttributeValueMemberS{Value: prevVersion}},
	})
	if IsConditionFailed(err) {
		if _, gerr := r.get(ctx, c, r.altID(v)); gerr != nil {
			return gerr
		}
		return fault.E(fault.Conflict, r.code+"-VERSION-CONFLICT", "the "+r.noun+" changed since it was read (version "+prevVersion+"); read it again and retry")
	}
	return translate(err, "update "+r.noun)
}

// remove deletes a resource (NotFound "<CODE>-NOT-FOUND").
func (r catResource[T]) remove(ctx context.Context, c *Catalog, id string) error {
	ok, err := c.catDelete(ctx, r.pk, schemaAltID(id), "delete "+r.noun)
	if err != nil {
		return err
	}
	if !ok {
		return r.notFound(id)
	}
	return nil
}

// CreateSchema stores a new schema; an existing $id is a conflict.
func (c *Catalog) CreateSchema(ctx context.Context, s xdm.Schema) error {
	return catSchemas.create(ctx, c, s)
}

// GetSchema reads a schema by altId or $id (NotFound "SCHEMA-NOT-FOUND").
func (c *Catalog) GetSchema(ctx context.Context, id string) (xdm.Schema, error) {
	return catSchemas.get(ctx, c, id)
}

// ListSchemas lists the tenant's schemas, ordered by altId.
func (c *Catalog) ListSchemas(ctx context.Context) ([]xdm.Schema, error) {
	return catSchemas.list(ctx, c)
}

// UpdateSchema replaces a schema, provided it is still at prevVersion: a
// concurrent change is a Conflict ("SCHEMA-VERSION-CONFLICT"), a missing
// schema NotFound.
func (c *Catalog) UpdateSchema(ctx context.Context, s xdm.Schema, prevVersion string) error {
	return catSchemas.update(ctx, c, s, prevVersion)
}

// DeleteSchema deletes a schema (NotFound "SCHEMA-NOT-FOUND") and its
// primary-identity guard. Its descriptors are the caller's to delete.
func (c *Catalog) DeleteSchema(ctx context.Context, id string) error {
	if err := catSchemas.remove(ctx, c, id); err != nil {
		return err
	}
	_, err := c.catDelete(ctx, catPKPrimary, schemaAltID(id), "delete schema")
	return err
}

// CreateFieldGroup stores a new tenant field group.
func (c *Catalog) CreateFieldGroup(ctx context.Context, g xdm.FieldGroup) error {
	return catFieldGroups.create(ctx, c, g)
}

// GetFieldGroup reads a tenant field group by altId or $id (NotFound
// "FIELDGROUP-NOT-FOUND").
func (c *Catalog) GetFieldGroup(ctx context.Context, id string) (xdm.FieldGroup, error) {
	return catFieldGroups.get(ctx, c, id)
}

// ListFieldGroups lists the tenant's field groups, ordered by altId.
func (c *Catalog) ListFieldGroups(ctx context.Context) ([]xdm.FieldGroup, error) {
	return catFieldGroups.list(ctx, c)
}

// UpdateFieldGroup replaces a field group still at prevVersion (Conflict
// "FIELDGROUP-VERSION-CONFLICT" otherwise).
func (c *Catalog) UpdateFieldGroup(ctx context.Context, g xdm.FieldGroup, prevVersion string) error {
	return catFieldGroups.update(ctx, c, g, prevVersion)
}

// DeleteFieldGroup deletes a tenant field group (NotFound
// "FIELDGROUP-NOT-FOUND"). The caller checks no schema uses it.
func (c *Catalog) DeleteFieldGroup(ctx context.Context, id string) error {
	return catFieldGroups.remove(ctx, c, id)
}

// CreateDescriptor stores a new descriptor. A second primary identity for
// one schema is a Conflict ("XDM-PRIMARY-EXISTS"), even under a race.
func (c *Catalog) CreateDescriptor(ctx context.Context, d xdm.Descriptor) error {
	if d.IsPrimary {
		guard := catKey(catPKPrimary, schemaAltID(d.SourceSchema))
		guard["descriptor"] = &types.AttributeValueMemberS{Value: d.ID}
		ok, err := c.catCreate(ctx, guard, "create descriptor")
		if err != nil {
			return err
		}
		if !ok {
			return fault.E(fault.Conflict, "XDM-PRIMARY-EXISTS", "the schema already has a primary identity")
		}
	}
	item, err := catItem(catPKDescriptor, d.ID, d, map[string]string{"schema": d.SourceSchema})
	if err != nil {
		return err
	}
	ok, err := c.catCreate(ctx, item, "create descriptor")
	if err != nil {
		return err
	}
	if !ok {
		return fault.E(fault.Conflict, "DESCRIPTOR-EXISTS", "a descriptor with this @id exists")
	}
	return nil
}

// GetDescriptor reads a descriptor by @id (NotFound "DESCRIPTOR-NOT-FOUND").
func (c *Catalog) GetDescriptor(ctx context.Context, id string) (xdm.Descriptor, error) {
	item, err := c.catGet(ctx, catPKDescriptor, id, "read descriptor")
	if err != nil {
		return xdm.Descriptor{}, err
	}
	if item == nil {
		return xdm.Descriptor{}, fault.Errorf(fault.NotFound, "DESCRIPTOR-NOT-FOUND", "descriptor %q does not exist", id)
	}
	var d xdm.Descriptor
	return d, catDecode(item, &d)
}

// ListDescriptors lists the descriptors of one schema ($id or altId), or of
// all schemas when schemaID is empty, ordered by @id.
func (c *Catalog) ListDescriptors(ctx context.Context, schemaID string) ([]xdm.Descriptor, error) {
	if strings.HasPrefix(schemaID, "_") {
		schemaID = xdm.IDFromAltID(schemaID)
	}
	items, err := c.catQuery(ctx, catPKDescriptor, false, 0, "list descriptors")
	if err != nil {
		return nil, err
	}
	var out []xdm.Descriptor
	for _, it := range items {
		if schemaID != "" && catAttr(it, "schema") != schemaID {
			continue
		}
		var d xdm.Descriptor
		if err := catDecode(it, &d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// CreateDataset stores a new dataset; an existing id is a conflict.
func (c *Catalog) CreateDataset(ctx context.Context, d catalog.Dataset) error {
	item, err := catItem(catPKDataset, d.ID, d, nil)
	if err != nil {
		return err
	}
	ok, err := c.catCreate(ctx, item, "create dataset")
	if err != nil {
		return err
	}
	if !ok {
		return fault.E(fault.Conflict, "DATASET-EXISTS", "a dataset with this id exists")
	}
	return nil
}

// GetDataset reads a dataset (NotFound "DATASET-NOT-FOUND").
func (c *Catalog) GetDataset(ctx context.Context, id string) (catalog.Dataset, error) {
	if id == "" {
		return catalog.Dataset{}, fault.E(fault.NotFound, "DATASET-NOT-FOUND", "dataset id is empty")
	}
	item, err := c.catGet(ctx, catPKDataset, id, "read dataset")
	if err != nil {
		return catalog.Dataset{}, err
	}
	if item == nil {
		return catalog.Dataset{}, fault.Errorf(fault.NotFound, "DATASET-NOT-FOUND", "dataset %q does not exist", id)
	}
	var d catalog.Dataset
	return d, catDecode(item, &d)
}

// ListDatasets lists datasets, ordered by id.
func (c *Catalog) ListDatasets(ctx context.Context) ([]catalog.Dataset, error) {
	items, err := c.catQuery(ctx, catPKDataset, false, 0, "list datasets")
	if err != nil {
		return nil, err
	}
	out := make([]catalog.Dataset, 0, len(items))
	for _, it := range items {
		var d catalog.Dataset
		if err := catDecode(it, &d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func catBatchSort(b catalog.Batch) string { return fmt.Sprintf("%013d#%s", b.Created, b.ID) }

// catBatchItem is the item of b, its error summary bounded (boundErrors)
// and its status also kept as an attribute for PutBatch's condition.
func catBatchItem(b catalog.Batch) (catalog.Batch, map[string]types.AttributeValue, error) {
	if b.ID == "" {
		return b, nil, fault.E(fault.Invalid, "BATCH-ID", "batch id is empty")
	}
	b.Errors = boundErrors(b.Errors)
	item, err := catItem(catPKBatch, b.ID, b, map[string]string{"dataset": b.DatasetID, "status": b.Status})
	if err != nil {
		return b, nil, err
	}
	return b, item, nil
}

// boundErrors keeps at most MaxBatchErrors entries, each code and
// description cut to MaxBatchErrorBytes; the rows of the entries left out
// are counted in one more entry, CodeBatchErrorsOmitted, so that the rows
// still add up to the failed records.
func boundErrors(errs []catalog.BatchError) []catalog.BatchError {
	if len(errs) == 0 {
		return errs
	}
	out := make([]catalog.BatchError, 0, min(len(errs), MaxBatchErrors+1))
	omitted, kinds := 0, 0
	for i, e := range errs {
		if i >= MaxBatchErrors {
			omitted += e.Rows
			kinds++
			continue
		}
		e.Code = truncateUTF8(e.Code, MaxBatchErrorBytes)
		e.Description = truncateUTF8(e.Description, MaxBatchErrorBytes)
		out = append(out, e)
	}
	if kinds > 0 {
		out = append(out, catalog.BatchError{
			Code:        CodeBatchErrorsOmitted,
			Description: fmt.Sprintf("%d more kinds of error are not listed; the failed records name them", kinds),
			Rows:        omitted,
		})
	}
	return out
}

// CreateBatch stores b unless a batch with its ID exists; then it returns
// created=false and the stored batch. Either way the listing entries are
// (re)written, so a retried create repairs them.
func (c *Catalog) CreateBatch(ctx context.Context, b catalog.Batch) (bool, catalog.Batch, error) {
	b, item, err := catBatchItem(b)
	if err != nil {
		return false, catalog.Batch{}, err
	}
	created, err := c.catCreate(ctx, item, "create batch")
	if err != nil {
		return false, catalog.Batch{}, err
	}
	stored := b
	if !created {
		if stored, err = c.GetBatch(ctx, b.ID); err != nil {
			return false, catalog.Batch{}, err
		}
	}
	if err := c.catIndexBatch(ctx, stored); err != nil {
		return false, catalog.Batch{}, err
	}
	if created {
		return true, catalog.Batch{}, nil
	}
	return false, stored, nil
}

// CodeBatchFinal is the Conflict of a write to a batch that has reached a
// final state.
const CodeBatchFinal = "BATCH-FINAL"

// PutBatch writes b over the stored batch with its ID unless that batch
// has reached a final state (success, failed, aborted): a batch's status
// never goes back, whatever a duplicate or late delivery writes. Such a
// write is refused with Conflict CodeBatchFinal, which means "already
// finished". The check is one conditional write.
func (c *Catalog) PutBatch(ctx context.Context, b catalog.Batch) error {
	b, item, err := catBatchItem(b)
	if err != nil {
		return err
	}
	_, err = c.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(c.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#s) OR NOT (#s IN (:success, :failed, :aborted))"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":success": &types.AttributeValueMemberS{Value: catalog.BatchSuccess},
			":failed":  &types.AttributeValueMemberS{Value: catalog.BatchFailed},
			":aborted": &types.AttributeValueMemberS{Value: catalog.BatchAborted},
		},
	})
	if IsConditionFailed(err) {
		return fault.Wrap(err, fault.Conflict, CodeBatchFinal, "the batch has already finished")
	}
	if err != nil {
		return translate(err, "write batch")
	}
	return c.catIndexBatch(ctx, b)
}

func (c *Catalog) catIndexBatch(ctx context.Context, b catalog.Batch) error {
	sk := catBatchSort(b)
	byTime := catKey(catPKBatchByTime, sk)
	byTime["batch"] = &types.AttributeValueMemberS{Value: b.ID}
	byDS := catKey(catPKBatchDataset+b.DatasetID, sk)
	byDS["batch"] = &types.AttributeValueMemberS{Value: b.ID}
	req := map[string][]types.WriteRequest{c.table: {
		{PutRequest: &types.PutRequest{Item: byTime}},
		{PutRequest: &types.PutRequest{Item: byDS}},
	}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt == 5 {
			return fault.E(fault.Throttled, "STORE-THROTTLED", "index batch: throttled")
		}
		out, err := c.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
		if err != nil {
			return translate(err, "index batch")
		}
		req = out.UnprocessedItems
	}
	return nil
}

// GetBatch reads a batch (NotFound "BATCH-NOT-FOUND").
func (c *Catalog) GetBatch(ctx context.Context, id string) (catalog.Batch, error) {
	if id == "" {
		return catalog.Batch{}, fault.E(fault.NotFound, "BATCH-NOT-FOUND", "batch id is empty")
	}
	item, err := c.catGet(ctx, catPKBatch, id, "read batch")
	if err != nil {
		return catalog.Batch{}, err
	}
	if item == nil {
		return catalog.Batch{}, fault.Errorf(fault.NotFound, "BATCH-NOT-FOUND", "batch %q does not exist", id)
	}
	var b catalog.Batch
	return b, catDecode(item, &b)
}

// ListBatches lists batches newest first, of one dataset or of all when
// datasetID is empty, at most limit (100 when limit <= 0).
func (c *Catalog) ListBatches(ctx context.Context, datasetID string, limit int) ([]catalog.Batch, error) {
	if limit <= 0 {
		limit = 100
	}
	pk := catPKBatchByTime
	if datasetID != "" {
		pk = catPKBatchDataset + datasetID
	}
	// Index entries may repeat a batch whose creation time was rewritten;
	// read a little more than asked and keep the first of each.
	items, err := c.catQuery(ctx, pk, true, limit*2, "list batches")
	if err != nil {
		return nil, err
	}
	var ids []string
	seen := map[string]bool{}
	for _, it := range items {
		id := catAttr(it, "batch")
		if id != "" && !seen[id] && len(ids) < limit {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	docs, err := c.catBatchGet(ctx, catPKBatch, ids, "list batches")
	if err != nil {
		return nil, err
	}
	out := make([]catalog.Batch, 0, len(ids))
	for _, id := range ids {
		it, ok := docs[id]
		if !ok {
			continue
		}
		var b catalog.Batch
		if err := catDecode(it, &b); err != nil {
			return nil, err
		}
		if datasetID != "" && b.DatasetID != datasetID {
			continue
		}
		out = append(out, b)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return out, nil
}

// catBatchGet reads items of one partition by sort key, 100 per call.
func (c *Catalog) catBatchGet(ctx context.Context, pk string, sks []string, what string) (map[string]map[string]types.AttributeValue, error) {
	got := map[string]map[string]types.AttributeValue{}
	for start := 0; start < len(sks); start += 100 {
		end := min(start+100, len(sks))
		keys := make([]map[string]types.AttributeValue, 0, end-start)
		for _, sk := range sks[start:end] {
			keys = append(keys, catKey(pk, sk))
		}
		req := map[string]types.KeysAndAttributes{c.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt == 5 {
				return nil, fault.E(fault.Throttled, "STORE-THROTTLED", what+": throttled")
			}
			out, err := c.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, translate(err, what)
			}
			for _, it := range out.Responses[c.table] {
				got[catAttr(it, topology.SortKey)] = it
			}
			req = out.UnprocessedKeys
		}
	}
	return got, nil
}

// catDelete deletes an item; it reports false when there was none.
func (c *Catalog) catDelete(ctx context.Context, pk, sk, what string) (bool, error) {
	_, err := c.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(c.table),
		Key:                 catKey(pk, sk),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	if IsConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, translate(err, what)
	}
	return true, nil
}

// PutDescriptor replaces prev by d (same @id), moving the schema's primary
// guard when the primary flag changes; a second primary is a Conflict
// ("XDM-PRIMARY-EXISTS").
func (c *Catalog) PutDescriptor(ctx context.Context, prev, d xdm.Descriptor) error {
	prevGuard, guard := schemaAltID(prev.SourceSchema), schemaAltID(d.SourceSchema)
	if d.IsPrimary && (!prev.IsPrimary || prevGuard != guard) {
		g := catKey(catPKPrimary, guard)
		g["descriptor"] = &types.AttributeValueMemberS{Value: d.ID}
		ok, err := c.catCreate(ctx, g, "update descriptor")
		if err != nil {
			return err
		}
		if !ok {
			return fault.E(fault.Conflict, "XDM-PRIMARY-EXISTS", "the schema already has a primary identity")
		}
	}
	item, err := catItem(catPKDescriptor, d.ID, d, map[string]string{"schema": d.SourceSchema})
	if err != nil {
		return err
	}
	if _, err := c.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(c.table), Item: item}); err != nil {
		return translate(err, "update descriptor")
	}
	if prev.IsPrimary && (!d.IsPrimary || prevGuard != guard) {
		if _, err := c.catDelete(ctx, catPKPrimary, prevGuard, "update descriptor"); err != nil {
			return err
		}
	}
	return nil
}

// DeleteDescriptor deletes a descriptor (NotFound "DESCRIPTOR-NOT-FOUND")
// and, for a primary identity, its schema's guard.
func (c *Catalog) DeleteDescriptor(ctx context.Context, d xdm.Descriptor) error {
	ok, err := c.catDelete(ctx, catPKDescriptor, d.ID, "delete descriptor")
	if err != nil {
		return err
	}
	if !ok {
		return fault.Errorf(fault.NotFound, "DESCRIPTOR-NOT-FOUND", "descriptor %q does not exist", d.ID)
	}
	if d.IsPrimary {
		if _, err := c.catDelete(ctx, catPKPrimary, schemaAltID(d.SourceSchema), "delete descriptor"); err != nil {
			return err
		}
	}
	return nil
}

// CreateNamespace stores a custom identity namespace; a code that exists
// in any case is a Conflict ("NAMESPACE-EXISTS").
func (c *Catalog) CreateNamespace(ctx context.Context, ns identity.Namespace) error {
	item, err := catItem(catPKNamespace, strings.ToLower(ns.Code), ns, nil)
	if err != nil {
		return err
	}
	ok, err := c.catCreate(ctx, item, "create namespace")
	if err != nil {
		return err
	}
	if !ok {
		return fault.Errorf(fault.Conflict, "NAMESPACE-EXISTS", "identity namespace %q exists", ns.Code)
	}
	return nil
}

// GetNamespace reads a custom namespace by code, case-insensitively
// (NotFound "NAMESPACE-NOT-FOUND").
func (c *Catalog) GetNamespace(ctx context.Context, code string) (identity.Namespace, error) {
	if code == "" {
		return identity.Namespace{}, fault.E(fault.NotFound, "NAMESPACE-NOT-FOUND", "identity namespace code is empty")
	}
	item, err := c.catGet(ctx, catPKNamespace, strings.ToLower(code), "read namespace")
	if err != nil {
		return identity.Namespace{}, err
	}
	if item == nil {
		return identity.Namespace{}, fault.Errorf(fault.NotFound, "NAMESPACE-NOT-FOUND", "identity namespace %q does not exist", code)
	}
	var ns identity.Namespace
	return ns, catDecode(item, &ns)
}

// ListNamespaces lists the custom namespaces, ordered by lower-cased code.
func (c *Catalog) ListNamespaces(ctx context.Context) ([]identity.Namespace, error) {
	items, err := c.catQuery(ctx, catPKNamespace, false, 0, "list namespaces")
	if err != nil {
		return nil, err
	}
	out := make([]identity.Namespace, 0, len(items))
	for _, it := range items {
		var ns identity.Namespace
		if err := catDecode(it, &ns); err != nil {
			return nil, err
		}
		out = append(out, ns)
	}
	return out, nil
}
