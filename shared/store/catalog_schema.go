package store

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// Versioned is the store of a versioned registry resource (Catalog.Schemas,
// Catalog.FieldGroups), kept by meta:altId and read by altId or $id. Its
// errors are coded by kind: SCHEMA-… or FIELDGROUP-….
type Versioned[T any] struct {
	c *Catalog
	r resource[T]
	// deleted removes what hangs on a deleted resource, by altId (nil:
	// nothing does).
	deleted func(ctx context.Context, altID string) error
}

// Create stores a new resource; an existing $id is a Conflict
// ("<CODE>-EXISTS").
func (v *Versioned[T]) Create(ctx context.Context, x T) error { return v.r.create(ctx, v.c, x) }

// Get reads a resource by altId or $id (NotFound "<CODE>-NOT-FOUND").
func (v *Versioned[T]) Get(ctx context.Context, id string) (T, error) { return v.r.get(ctx, v.c, id) }

// List lists the tenant's resources of the kind, ordered by altId.
func (v *Versioned[T]) List(ctx context.Context) ([]T, error) { return v.r.list(ctx, v.c, nil) }

// Update replaces a resource, provided it is still at prevVersion: a
// concurrent change is a Conflict ("<CODE>-VERSION-CONFLICT"), a missing
// resource NotFound ("<CODE>-NOT-FOUND").
func (v *Versioned[T]) Update(ctx context.Context, x T, prevVersion string) error {
	changed := fault.E(fault.Conflict, v.r.code+"-VERSION-CONFLICT",
		"the "+v.r.noun+" changed since it was read (version "+prevVersion+"); read it again and retry")
	return v.r.replace(ctx, v.c, x, "ver = :prev",
		map[string]types.AttributeValue{":prev": &types.AttributeValueMemberS{Value: prevVersion}}, changed)
}

// Delete deletes a resource by altId or $id (NotFound "<CODE>-NOT-FOUND").
func (v *Versioned[T]) Delete(ctx context.Context, id string) error {
	if err := v.r.remove(ctx, v.c, id); err != nil {
		return err
	}
	if v.deleted == nil {
		return nil
	}
	return v.deleted(ctx, schemaAltID(id))
}

// versioned is the resource of a registry kind whose items keep their
// version in "ver", for Update's condition.
func versioned[T any](pk, code, noun string, altID, version func(T) string) resource[T] {
	return resource[T]{
		pk: pk, code: code, noun: noun,
		key:    altID,
		lookup: schemaAltID,
		attrs:  func(x T) map[string]string { return map[string]string{"ver": version(x)} },
		exists: func(T) error { return fault.E(fault.Conflict, code+"-EXISTS", "a "+noun+" with this $id exists") },
	}
}

var (
	catSchemas = versioned(catPKSchema, "SCHEMA", "schema",
		func(s xdm.Schema) string { return s.AltID }, func(s xdm.Schema) string { return s.Version })
	catFieldGroups = versioned(catPKFieldGroup, "FIELDGROUP", "field group",
		func(g xdm.FieldGroup) string { return g.AltID }, func(g xdm.FieldGroup) string { return g.Version })
)

// schemaAltID accepts a schema's or field group's altId or $id.
func schemaAltID(id string) string {
	if strings.HasPrefix(id, "_") {
		return id
	}
	return xdm.AltID(id)
}

// GetSchema is Schemas.Get, for catalog.SpecSource.
func (c *Catalog) GetSchema(ctx context.Context, id string) (xdm.Schema, error) {
	return c.Schemas.Get(ctx, id)
}

// GetFieldGroup is FieldGroups.Get, for catalog.FieldGroupSource.
func (c *Catalog) GetFieldGroup(ctx context.Context, id string) (xdm.FieldGroup, error) {
	return c.FieldGroups.Get(ctx, id)
}
