package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// resource is a kind of catalog document kept as one item per resource in
// a partition of its own (see Catalog): where it is kept, how it is keyed
// and how errors name it. Every resource of the catalog but batches is
// created, read, listed, replaced and deleted through it.
type resource[T any] struct {
	pk   string
	code string // error code prefix: "SCHEMA" gives SCHEMA-NOT-FOUND
	noun string // "schema", "identity namespace"
	// key is the sort key of a resource; lookup that of an id a caller
	// gives (nil: the id itself).
	key    func(T) string
	lookup func(id string) string
	// attrs are kept beside the document, for conditions and filters (nil:
	// none).
	attrs func(T) map[string]string
	// exists is the Conflict of a create whose key is taken.
	exists func(T) error
}

func (r resource[T]) notFound(id string) error {
	return fault.Errorf(fault.NotFound, r.code+"-NOT-FOUND", "%s %q does not exist", r.noun, id)
}

func (r resource[T]) sortKey(id string) string {
	if r.lookup == nil {
		return id
	}
	return r.lookup(id)
}

func (r resource[T]) item(v T) (map[string]types.AttributeValue, error) {
	var extra map[string]string
	if r.attrs != nil {
		extra = r.attrs(v)
	}
	return catItem(r.pk, r.key(v), v, extra)
}

// create stores a new resource; a taken key is r.exists.
func (r resource[T]) create(ctx context.Context, c *Catalog, v T) error {
	item, err := r.item(v)
	if err != nil {
		return err
	}
	ok, err := c.catCreate(ctx, item, "create "+r.noun)
	if err != nil {
		return err
	}
	if !ok {
		return r.exists(v)
	}
	return nil
}

// get reads a resource by id (NotFound "<CODE>-NOT-FOUND").
func (r resource[T]) get(ctx context.Context, c *Catalog, id string) (T, error) {
	var v T
	sk := r.sortKey(id)
	if sk == "" {
		return v, r.notFound(id)
	}
	item, err := c.catGet(ctx, r.pk, sk, "read "+r.noun)
	if err != nil {
		return v, err
	}
	if item == nil {
		return v, r.notFound(id)
	}
	return v, catDecode(item, &v)
}

// list reads every resource of the kind whose item keep accepts (all when
// keep is nil), in sort-key order.
func (r resource[T]) list(ctx context.Context, c *Catalog, keep func(map[string]types.AttributeValue) bool) ([]T, error) {
	items, err := c.catQuery(ctx, r.pk, false, 0, "list "+r.noun+"s")
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		if keep != nil && !keep(it) {
			continue
		}
		var v T
		if err := catDecode(it, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// replace writes v over the stored resource while cond (with values) holds
// of it. When cond does not hold, a resource that no longer exists is
// NotFound "<CODE>-NOT-FOUND", any other is changed.
func (r resource[T]) replace(ctx context.Context, c *Catalog, v T, cond string, values map[string]types.AttributeValue, changed error) error {
	item, err := r.item(v)
	if err != nil {
		return err
	}
	ok, err := c.catPutIf(ctx, item, cond, values, "update "+r.noun)
	if err != nil || ok {
		return err
	}
	if _, err := r.get(ctx, c, r.key(v)); err != nil {
		return err
	}
	return changed
}

// remove deletes a resource by id (NotFound "<CODE>-NOT-FOUND").
func (r resource[T]) remove(ctx context.Context, c *Catalog, id string) error {
	ok, err := c.catDelete(ctx, r.pk, r.sortKey(id), "delete "+r.noun)
	if err != nil {
		return err
	}
	if !ok {
		return r.notFound(id)
	}
	return nil
}
