package store

import (
	"context"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// Custom identity namespaces are kept by lower-cased code, so that codes
// differing only in case are one namespace.
var catNamespaces = resource[identity.Namespace]{
	pk: catPKNamespace, code: "NAMESPACE", noun: "identity namespace",
	key:    func(ns identity.Namespace) string { return strings.ToLower(ns.Code) },
	lookup: strings.ToLower,
	exists: func(ns identity.Namespace) error {
		return fault.Errorf(fault.Conflict, "NAMESPACE-EXISTS", "identity namespace %q exists", ns.Code)
	},
}

// CreateNamespace stores a custom identity namespace; a code that exists
// in any case is a Conflict ("NAMESPACE-EXISTS").
func (c *Catalog) CreateNamespace(ctx context.Context, ns identity.Namespace) error {
	return catNamespaces.create(ctx, c, ns)
}

// GetNamespace reads a custom namespace by code, case-insensitively
// (NotFound "NAMESPACE-NOT-FOUND").
func (c *Catalog) GetNamespace(ctx context.Context, code string) (identity.Namespace, error) {
	if code == "" {
		return identity.Namespace{}, fault.E(fault.NotFound, "NAMESPACE-NOT-FOUND", "identity namespace code is empty")
	}
	return catNamespaces.get(ctx, c, code)
}

// ListNamespaces lists the custom namespaces, ordered by lower-cased code.
func (c *Catalog) ListNamespaces(ctx context.Context) ([]identity.Namespace, error) {
	return catNamespaces.list(ctx, c, nil)
}
