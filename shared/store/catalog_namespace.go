package store

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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

// UpdateNamespace replaces the custom namespace ns, which was read as prev:
// the write succeeds only while the stored namespace is still prev
// (optimistic concurrency on the stored document), else it is a Conflict
// "NAMESPACE-VERSION-CONFLICT"; a namespace that no longer exists is
// NotFound "NAMESPACE-NOT-FOUND". The code cannot change.
func (c *Catalog) UpdateNamespace(ctx context.Context, ns, prev identity.Namespace) error {
	if !strings.EqualFold(ns.Code, prev.Code) || !ns.Custom {
		return fault.E(fault.Invalid, "NAMESPACE-CODE", "a namespace update keeps its code; only custom namespaces are kept whole")
	}
	prevDoc, err := json.Marshal(prev)
	if err != nil {
		return fault.Wrap(err, fault.Internal, "STORE-ENCODE", "catalog item could not be encoded")
	}
	changed := fault.E(fault.Conflict, "NAMESPACE-VERSION-CONFLICT", "the namespace changed since it was read; read it again and retry")
	return catNamespaces.replace(ctx, c, ns, "attribute_exists(pk) AND doc = :prev",
		map[string]types.AttributeValue{":prev": &types.AttributeValueMemberS{Value: string(prevDoc)}}, changed)
}

// The tenant's settings of standard namespaces (identity.Override) are
// kept apart from the custom namespaces, one item per code:
// pk NAMESPACE#OVERRIDE, sk the lower-cased code.
var catNamespaceOverrides = resource[identity.Override]{
	pk: catPKNamespaceOverride, code: "NAMESPACE", noun: "namespace setting",
	key:    func(o identity.Override) string { return strings.ToLower(o.Code) },
	lookup: strings.ToLower,
}

// PutNamespaceOverride stores the tenant's setting of a standard namespace,
// replacing the one stored: a setting is one value, so the last write wins.
func (c *Catalog) PutNamespaceOverride(ctx context.Context, o identity.Override) error {
	if _, ok := identity.LookupStandard(o.Code); !ok {
		return fault.Errorf(fault.Invalid, "NAMESPACE-NOT-STANDARD", "%.100q is not a standard namespace", o.Code)
	}
	item, err := catNamespaceOverrides.item(o)
	if err != nil {
		return err
	}
	_, err = c.catPutIf(ctx, item, "", nil, "write namespace setting")
	return err
}

// ListNamespaceOverrides lists the tenant's settings of standard
// namespaces, by lower-cased code.
func (c *Catalog) ListNamespaceOverrides(ctx context.Context) ([]identity.Override, error) {
	return catNamespaceOverrides.list(ctx, c, nil)
}
