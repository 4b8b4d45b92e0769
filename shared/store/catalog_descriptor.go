package store

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// Descriptors are kept by @id, with their source schema's $id in the
// "schema" attribute for ListDescriptors. A schema's primary identity
// descriptor also holds the schema's guard item (pk DESCRIPTOR#PRIMARY,
// sk the schema's altId), created conditionally, so that a schema has at
// most one primary identity even when two writers race.
var catDescriptors = resource[xdm.Descriptor]{
	pk: catPKDescriptor, code: "DESCRIPTOR", noun: "descriptor",
	key:   func(d xdm.Descriptor) string { return d.ID },
	attrs: func(d xdm.Descriptor) map[string]string { return map[string]string{"schema": d.SourceSchema} },
	exists: func(xdm.Descriptor) error {
		return fault.E(fault.Conflict, "DESCRIPTOR-EXISTS", "a descriptor with this @id exists")
	},
}

// CreateDescriptor stores a new descriptor (Conflict "DESCRIPTOR-EXISTS"
// for a known @id). A second primary identity for one schema is a
// Conflict ("XDM-PRIMARY-EXISTS"), even under a race.
func (c *Catalog) CreateDescriptor(ctx context.Context, d xdm.Descriptor) error {
	if d.IsPrimary {
		if err := c.createPrimaryGuard(ctx, d, "create descriptor"); err != nil {
			return err
		}
	}
	return catDescriptors.create(ctx, c, d)
}

// GetDescriptor reads a descriptor by @id (NotFound "DESCRIPTOR-NOT-FOUND").
func (c *Catalog) GetDescriptor(ctx context.Context, id string) (xdm.Descriptor, error) {
	return catDescriptors.get(ctx, c, id)
}

// ListDescriptors lists the descriptors of one schema ($id or altId), or of
// all schemas when schemaID is empty, ordered by @id; nil when there are
// none.
func (c *Catalog) ListDescriptors(ctx context.Context, schemaID string) ([]xdm.Descriptor, error) {
	if strings.HasPrefix(schemaID, "_") {
		schemaID = xdm.IDFromAltID(schemaID)
	}
	var keep func(map[string]types.AttributeValue) bool
	if schemaID != "" {
		keep = func(it map[string]types.AttributeValue) bool { return catAttr(it, "schema") == schemaID }
	}
	ds, err := catDescriptors.list(ctx, c, keep)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	return ds, nil
}

// PutDescriptor replaces prev by d (same @id), moving the schema's primary
// guard when the primary flag changes; a second primary is a Conflict
// ("XDM-PRIMARY-EXISTS").
func (c *Catalog) PutDescriptor(ctx context.Context, prev, d xdm.Descriptor) error {
	prevGuard, guard := schemaAltID(prev.SourceSchema), schemaAltID(d.SourceSchema)
	if d.IsPrimary && (!prev.IsPrimary || prevGuard != guard) {
		if err := c.createPrimaryGuard(ctx, d, "update descriptor"); err != nil {
			return err
		}
	}
	item, err := catDescriptors.item(d)
	if err != nil {
		return err
	}
	if _, err := c.catPutIf(ctx, item, "", nil, "update descriptor"); err != nil {
		return err
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
	if err := catDescriptors.remove(ctx, c, d.ID); err != nil {
		return err
	}
	if d.IsPrimary {
		if _, err := c.catDelete(ctx, catPKPrimary, schemaAltID(d.SourceSchema), "delete descriptor"); err != nil {
			return err
		}
	}
	return nil
}

// createPrimaryGuard claims d's schema's primary identity for d
// (Conflict "XDM-PRIMARY-EXISTS" when another descriptor holds it).
func (c *Catalog) createPrimaryGuard(ctx context.Context, d xdm.Descriptor, what string) error {
	g := catKey(catPKPrimary, schemaAltID(d.SourceSchema))
	g["descriptor"] = &types.AttributeValueMemberS{Value: d.ID}
	ok, err := c.catCreate(ctx, g, what)
	if err != nil {
		return err
	}
	if !ok {
		return fault.E(fault.Conflict, "XDM-PRIMARY-EXISTS", "the schema already has a primary identity")
	}
	return nil
}

// deletePrimaryGuard removes the primary-identity guard of a deleted
// schema, if it has one.
func (c *Catalog) deletePrimaryGuard(ctx context.Context, schemaAlt string) error {
	_, err := c.catDelete(ctx, catPKPrimary, schemaAlt, "delete schema")
	return err
}
