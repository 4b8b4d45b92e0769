package main

import (
	"context"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// policyStore keeps the merge policies.
type policyStore interface {
	// Resolve returns the policy a read of schemaName (merge.ProfileSchema
	// or merge.EventSchema) uses: the one named id, or when id is "" the
	// class's default. Errors: NotFound MERGE-POLICY-NOT-FOUND (no such
	// id), Invalid MERGE-POLICY-SCHEMA (the policy is for another class),
	// Unprocessable MERGE-POLICY-NO-DEFAULT (the class has no default).
	Resolve(ctx context.Context, id, schemaName string) (merge.Policy, error)
}

func newPolicies(cat *store.Catalog) policyStore { return builtinPolicies{} }

type policyList struct {
	Page struct {
		TotalCount int `json:"totalCount"`
		PageSize   int `json:"pageSize"`
	} `json:"_page"`
	Children []merge.Policy `json:"children"`
	Links    struct {
		Next struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
}

func (h *handler) listPolicies(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("merge policies")
}
func (h *handler) getPolicy(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("merge policies")
}
func (h *handler) createPolicy(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("merge policies")
}
func (h *handler) bulkGetPolicies(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("merge policies")
}
func (h *handler) putPolicy(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("merge policies")
}
func (h *handler) patchPolicy(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("merge policies")
}
func (h *handler) deletePolicy(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("merge policies")
}

// builtinPolicies knows each class's built-in default only.
type builtinPolicies struct{}

func (builtinPolicies) Resolve(_ context.Context, id, schemaName string) (merge.Policy, error) {
	p, ok := merge.Default(schemaName)
	if !ok {
		return merge.Policy{}, fault.E(fault.Unprocessable, "MERGE-POLICY-NO-DEFAULT", "the class has no default merge policy")
	}
	if id != "" && id != p.ID {
		return merge.Policy{}, fault.E(fault.NotFound, "MERGE-POLICY-NOT-FOUND", "no such merge policy")
	}
	return p, nil
}
