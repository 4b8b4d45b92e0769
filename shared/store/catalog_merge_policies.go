package store

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Merge policies are kept as one item per class: pk MERGEPOLICY, sk the
// class's schema name (merge.ProfileSchema, merge.EventSchema), the list
// of the class's policies in "doc" ({"policies":[…]}, at most
// merge.MaxPoliciesPerClass) and the item's version in "ver" (a number).
// Every change reads the item, changes the list with the rules of
// shared/merge (merge.AddPolicy, ReplacePolicy, RemovePolicy) and writes it
// back on the condition that ver is still the one read; a writer that lost
// the race reads again and retries. The rules that hold across a class —
// one default, at most five policies, one active on edge — thus hold under
// concurrent writers without transactions, and a read of the partition
// (one Query) sees every policy.
//
// A class without an item holds its built-in default (merge.Defaults); the
// first change writes that default into the item with the change, and from
// then on the item is the truth: a default deleted stays deleted.

const catPKMergePolicies = "MERGEPOLICY"

// policyAttempts bounds the read-change-write rounds of one change: each
// round that fails lost to a writer that succeeded, so more concurrent
// writers than this on one class is the only way to run out.
const policyAttempts = 16

// policyClass is a class's item as read: its policies and its version
// (0 when there is no item yet).
type policyClass struct {
	schema   string
	policies []merge.Policy
	ver      int
}

type policyDoc struct {
	Policies []merge.Policy `json:"policies"`
}

func decodePolicyClass(item map[string]types.AttributeValue) (policyClass, error) {
	var doc policyDoc
	if err := catDecode(item, &doc); err != nil {
		return policyClass{}, err
	}
	pc := policyClass{schema: catAttr(item, topology.SortKey), policies: doc.Policies}
	if n, ok := item["ver"].(*types.AttributeValueMemberN); ok {
		v, err := strconv.Atoi(n.Value)
		if err != nil {
			return policyClass{}, fault.Wrap(err, fault.Internal, "STORE-DECODE", "merge policy item has a bad version")
		}
		pc.ver = v
	}
	return pc, nil
}

// builtinClass is a class that has no item yet: its built-in default.
func builtinClass(schema string) policyClass {
	pc := policyClass{schema: schema}
	if p, ok := merge.Default(schema); ok {
		pc.policies = []merge.Policy{p}
	}
	return pc
}

// policyClasses reads every class (one Query): the stored ones, and the
// built-in default of each class of merge.Classes that has no item.
func (c *Catalog) policyClasses(ctx context.Context) ([]policyClass, error) {
	items, err := c.catQuery(ctx, catPKMergePolicies, false, 0, "read merge policies")
	if err != nil {
		return nil, err
	}
	stored := map[string]policyClass{}
	for _, it := range items {
		pc, err := decodePolicyClass(it)
		if err != nil {
			return nil, err
		}
		stored[pc.schema] = pc
	}
	out := make([]policyClass, 0, len(merge.Classes))
	for _, s := range merge.Classes {
		pc, ok := stored[s]
		if !ok {
			pc = builtinClass(s)
		}
		out = append(out, pc)
	}
	return out, nil
}

// readPolicyClass reads one class, consistently.
func (c *Catalog) readPolicyClass(ctx context.Context, schema string) (policyClass, error) {
	item, err := c.catGet(ctx, catPKMergePolicies, schema, "read merge policies")
	if err != nil {
		return policyClass{}, err
	}
	if item == nil {
		return builtinClass(schema), nil
	}
	return decodePolicyClass(item)
}

// MergePolicies lists every merge policy, those of merge.ProfileSchema
// first, each class in the order its policies were created.
func (c *Catalog) MergePolicies(ctx context.Context) ([]merge.Policy, error) {
	classes, err := c.policyClasses(ctx)
	if err != nil {
		return nil, err
	}
	var out []merge.Policy
	for _, pc := range classes {
		out = append(out, pc.policies...)
	}
	return out, nil
}

// CreateMergePolicy stores a new policy p (p.ID set by the caller, unique)
// in its class as merge.AddPolicy makes it, and returns it as stored.
// Errors: merge.AddPolicy's (Invalid; Conflict MERGE-POLICY-LIMIT,
// MERGE-POLICY-EDGE, MERGE-POLICY-EXISTS), Conflict MERGE-POLICY-CONCURRENT
// when other writers of the class kept winning, and the store's.
func (c *Catalog) CreateMergePolicy(ctx context.Context, p merge.Policy, now time.Time) (merge.Policy, error) {
	// The policy alone is checked before anything is read.
	if _, err := merge.AddPolicy(nil, p, now); err != nil {
		return merge.Policy{}, err
	}
	var added merge.Policy
	err := c.changePolicyClass(ctx, p.Schema.Name, func(list []merge.Policy) ([]merge.Policy, error) {
		out, err := merge.AddPolicy(list, p, now)
		if err == nil {
			added = out[len(out)-1]
		}
		return out, err
	})
	return added, err
}

// UpdateMergePolicy replaces the policy id by change(the policy as stored)
// under merge.UpdatePolicy's rules, and returns it as stored. change may
// run more than once (once per attempt, on the policy as then stored), so
// that a PATCH applies to the latest version. Errors: NotFound
// MERGE-POLICY-NOT-FOUND, change's, merge.ReplacePolicy's, Conflict
// MERGE-POLICY-CONCURRENT, and the store's.
func (c *Catalog) UpdateMergePolicy(ctx context.Context, id string, change func(merge.Policy) (merge.Policy, error), now time.Time) (merge.Policy, error) {
	schema, err := c.policySchema(ctx, id)
	if err != nil {
		return merge.Policy{}, err
	}
	var updated merge.Policy
	err = c.changePolicyClass(ctx, schema, func(list []merge.Policy) (out []merge.Policy, err error) {
		out, updated, err = merge.UpdatePolicy(list, id, change, now)
		return out, err
	})
	return updated, err
}

// DeleteMergePolicy deletes the policy id under merge.RemovePolicy's rules
// (NotFound MERGE-POLICY-NOT-FOUND; Conflict MERGE-POLICY-EDGE-ACTIVE).
// Deleting a class's default leaves the class without one.
func (c *Catalog) DeleteMergePolicy(ctx context.Context, id string) error {
	schema, err := c.policySchema(ctx, id)
	if err != nil {
		return err
	}
	return c.changePolicyClass(ctx, schema, func(list []merge.Policy) ([]merge.Policy, error) {
		return merge.RemovePolicy(list, id)
	})
}

// policySchema finds the class of the policy id. A policy never changes
// class (merge.ReplacePolicy), so the class found stays right.
func (c *Catalog) policySchema(ctx context.Context, id string) (string, error) {
	classes, err := c.policyClasses(ctx)
	if err != nil {
		return "", err
	}
	for _, pc := range classes {
		for _, p := range pc.policies {
			if p.ID == id {
				return pc.schema, nil
			}
		}
	}
	return "", merge.PolicyNotFound(id)
}

// changePolicyClass runs change on the class's policies as stored and
// writes the result on the condition that the class's item is still the
// version read, reading again and retrying up to policyAttempts times when
// another writer wrote first. merge.CheckClass is checked before every
// write, whatever change returned.
func (c *Catalog) changePolicyClass(ctx context.Context, schema string, change func([]merge.Policy) ([]merge.Policy, error)) error {
	for range policyAttempts {
		if err := ctx.Err(); err != nil {
			return fault.Wrap(err, fault.Unavailable, "STORE-CANCELLED", "merge policy change stopped")
		}
		pc, err := c.readPolicyClass(ctx, schema)
		if err != nil {
			return err
		}
		list, err := change(slices.Clone(pc.policies))
		if err != nil {
			return err
		}
		if err := merge.CheckClass(schema, list); err != nil {
			return err
		}
		if list == nil {
			list = []merge.Policy{}
		}
		item, err := catItem(catPKMergePolicies, schema, policyDoc{Policies: list}, nil)
		if err != nil {
			return err
		}
		item["ver"] = &types.AttributeValueMemberN{Value: strconv.Itoa(pc.ver + 1)}
		cond, values := catNotExists, map[string]types.AttributeValue(nil)
		if pc.ver > 0 {
			cond = "ver = :ver"
			values = map[string]types.AttributeValue{":ver": &types.AttributeValueMemberN{Value: strconv.Itoa(pc.ver)}}
		}
		ok, err := c.catPutIf(ctx, item, cond, values, "write merge policies")
		if err != nil || ok {
			return err
		}
	}
	return fault.Errorf(fault.Conflict, "MERGE-POLICY-CONCURRENT", "the merge policies of %s changed %d times while this change was made: send it again", schema, policyAttempts)
}
