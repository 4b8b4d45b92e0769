package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/merge"
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

// policyAdmin lists and changes the merge policies for the
// .../config/mergePolicies routes; the errors are those of policyCatalog.
type policyAdmin interface {
	List(ctx context.Context) ([]merge.Policy, error)
	Create(ctx context.Context, p merge.Policy) (merge.Policy, error)
	Update(ctx context.Context, id string, change func(merge.Policy) (merge.Policy, error)) (merge.Policy, error)
	Delete(ctx context.Context, id string) error
}

// policyCatalog is where the policies are kept: store.Catalog (one item per
// class, changed under optimistic concurrency), or memoryPolicies.
type policyCatalog interface {
	MergePolicies(ctx context.Context) ([]merge.Policy, error)
	CreateMergePolicy(ctx context.Context, p merge.Policy, now time.Time) (merge.Policy, error)
	UpdateMergePolicy(ctx context.Context, id string, change func(merge.Policy) (merge.Policy, error), now time.Time) (merge.Policy, error)
	DeleteMergePolicy(ctx context.Context, id string) error
}

// policyFreshness is how long a process answers Resolve from the policies
// it read: a change made through another process is seen within it.
const policyFreshness = time.Second

// policyCache is the process's copy of the merge policies. Resolve reads
// the catalog again when the copy is older than policyFreshness, and at
// once when asked for an id the copy does not have, so that a policy just
// created (through any process) is usable by the next read. Changes made
// through it drop the copy. It is policyStore and policyAdmin.
type policyCache struct {
	cat policyCatalog
	now func() time.Time

	mu     sync.Mutex
	list   []merge.Policy
	readAt time.Time
	loaded bool
}

// newPolicies returns the merge policies kept in cat (store.Catalog).
func newPolicies(cat policyCatalog) *policyCache {
	return &policyCache{cat: cat, now: time.Now}
}

// read reads the policies from the catalog and keeps them.
func (c *policyCache) read(ctx context.Context) ([]merge.Policy, error) {
	list, err := c.cat.MergePolicies(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.list, c.readAt, c.loaded = list, c.now(), true
	c.mu.Unlock()
	return list, nil
}

// cached returns the process's copy, read again when it is older than
// policyFreshness (the last copy is kept when that read fails transiently);
// fresh says that it was read by this call.
func (c *policyCache) cached(ctx context.Context) (list []merge.Policy, fresh bool, err error) {
	c.mu.Lock()
	list, loaded, age := c.list, c.loaded, c.now().Sub(c.readAt)
	c.mu.Unlock()
	if loaded && age < policyFreshness {
		return list, false, nil
	}
	read, err := c.read(ctx)
	if err != nil {
		if loaded && fault.KindOf(err).Transient() {
			slog.WarnContext(ctx, "merge policies not read again; using the last read", "err", err)
			return list, false, nil
		}
		return nil, false, err
	}
	return read, true, nil
}

// Resolve implements policyStore.
func (c *policyCache) Resolve(ctx context.Context, id, schemaName string) (merge.Policy, error) {
	list, fresh, err := c.cached(ctx)
	if err != nil {
		return merge.Policy{}, err
	}
	p, ok := findPolicy(list, id, schemaName)
	if !ok && id != "" && !fresh {
		if list, err = c.read(ctx); err != nil {
			return merge.Policy{}, err
		}
		p, ok = findPolicy(list, id, schemaName)
	}
	switch {
	case !ok && id == "":
		return merge.Policy{}, fault.Errorf(fault.Unprocessable, "MERGE-POLICY-NO-DEFAULT", "%s has no default merge policy: name one with mergePolicyId, or make one the default", schemaName)
	case !ok:
		return merge.Policy{}, merge.PolicyNotFound(id)
	case p.Schema.Name != schemaName:
		return merge.Policy{}, fault.Errorf(fault.Invalid, "MERGE-POLICY-SCHEMA", "merge policy %.100q is a policy of %s, not of %s", id, p.Schema.Name, schemaName)
	}
	return p, nil
}

// findPolicy finds the policy id, or when id is "" the default of schema.
func findPolicy(list []merge.Policy, id, schema string) (merge.Policy, bool) {
	for _, p := range list {
		if (id != "" && p.ID == id) || (id == "" && p.Default && p.Schema.Name == schema) {
			return p, true
		}
	}
	return merge.Policy{}, false
}

// forget drops the copy, after a change made through this process.
func (c *policyCache) forget() {
	c.mu.Lock()
	c.loaded = false
	c.mu.Unlock()
}

// List reads every policy from the catalog (and keeps the copy).
func (c *policyCache) List(ctx context.Context) ([]merge.Policy, error) { return c.read(ctx) }

// Create stores p under a new id (a random UUID).
func (c *policyCache) Create(ctx context.Context, p merge.Policy) (merge.Policy, error) {
	defer c.forget()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return merge.Policy{}, fault.Wrap(err, fault.Internal, "RANDOM", "no random bytes")
	}
	b[6] = b[6]&0x0f | 0x40 // version 4, RFC 9562
	b[8] = b[8]&0x3f | 0x80
	p.ID = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	return c.cat.CreateMergePolicy(ctx, p, c.now())
}

// Update changes the policy id by change.
func (c *policyCache) Update(ctx context.Context, id string, change func(merge.Policy) (merge.Policy, error)) (merge.Policy, error) {
	defer c.forget()
	return c.cat.UpdateMergePolicy(ctx, id, change, c.now())
}

// Delete deletes the policy id.
func (c *policyCache) Delete(ctx context.Context, id string) error {
	defer c.forget()
	return c.cat.DeleteMergePolicy(ctx, id)
}

// policyList is the answer of GET .../config/mergePolicies, AEP's shape.
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

// defaultPolicyLimit is AEP's page size of the merge policy listing.
const defaultPolicyLimit = 20

// listPolicies is AEP's GET /config/mergePolicies: the policies that match
// every filter given (default, isActiveOnEdge: true or false; schema.name,
// identityGraph.type, attributeMerge.type: equal; version: equal), ordered
// by name (orderBy name or +name; -name for descending; ties by id), at most
// limit (20) from the cursor start, which _links.next.href carries ("" on
// the last page).
func (h *handler) listPolicies(ctx context.Context, r *apigw.Request) (int, any, error) {
	q := r.Query
	keep, err := policyFilter(q)
	if err != nil {
		return 0, nil, err
	}
	limit := defaultPolicyLimit
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "limit must be a positive integer")
		}
	}
	desc := false
	switch strings.TrimSpace(q.Get("orderBy")) { // a "+" sent unescaped arrives as a space
	case "", "name", "+name":
	case "-name":
		desc = true
	default:
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "orderBy must be name, +name or -name")
	}
	all, err := h.policyAdmin.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	var match []merge.Policy
	for _, p := range all {
		if keep(p) {
			match = append(match, p)
		}
	}
	slices.SortFunc(match, func(a, b merge.Policy) int {
		c := cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
		if desc {
			return -c
		}
		return c
	})
	from := 0
	if start := q.Get("start"); start != "" && start != "0" {
		name, id, ok := decodePolicyCursor(start)
		if !ok {
			return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "start is not a cursor of this listing: follow _links.next.href")
		}
		from = len(match)
		for i, p := range match {
			c := cmp.Or(cmp.Compare(p.Name, name), cmp.Compare(p.ID, id))
			if (!desc && c >= 0) || (desc && c <= 0) {
				from = i
				break
			}
		}
	}
	end := min(from+limit, len(match))
	out := policyList{Children: match[from:end]}
	if out.Children == nil {
		out.Children = []merge.Policy{}
	}
	out.Page.TotalCount, out.Page.PageSize = len(match), len(out.Children)
	if end < len(match) {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("start", encodePolicyCursor(match[end]))
		next.Set("limit", strconv.Itoa(limit))
		out.Links.Next.Href = "@/mergePolicies?" + next.Encode()
	}
	return http.StatusOK, out, nil
}

// policyFilter is the filter of the listing's query parameters.
func policyFilter(q url.Values) (func(merge.Policy) bool, error) {
	var tests []func(merge.Policy) bool
	for _, b := range []struct {
		name string
		of   func(merge.Policy) bool
	}{
		{"default", func(p merge.Policy) bool { return p.Default }},
		{"isActiveOnEdge", func(p merge.Policy) bool { return p.IsActiveOnEdge }},
	} {
		v := q.Get(b.name)
		if v == "" {
			continue
		}
		if v != "true" && v != "false" {
			return nil, fault.Errorf(fault.Invalid, "REQ-PARAM", "%s must be true or false", b.name)
		}
		want := v == "true"
		tests = append(tests, func(p merge.Policy) bool { return b.of(p) == want })
	}
	for _, s := range []struct {
		name string
		of   func(merge.Policy) string
	}{
		{"schema.name", func(p merge.Policy) string { return p.Schema.Name }},
		{"identityGraph.type", func(p merge.Policy) string { return p.IdentityGraph.Type }},
		{"attributeMerge.type", func(p merge.Policy) string { return p.AttributeMerge.Type }},
	} {
		if v := q.Get(s.name); v != "" {
			tests = append(tests, func(p merge.Policy) bool { return s.of(p) == v })
		}
	}
	if v := q.Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fault.E(fault.Invalid, "REQ-PARAM", "version must be a positive integer")
		}
		tests = append(tests, func(p merge.Policy) bool { return p.Version == n })
	}
	return func(p merge.Policy) bool {
		for _, t := range tests {
			if !t(p) {
				return false
			}
		}
		return true
	}, nil
}

// A listing cursor names the first policy of the next page by its sort key
// (name, id), so that a page boundary holds when policies come and go.
func encodePolicyCursor(p merge.Policy) string {
	b, _ := json.Marshal([2]string{p.Name, p.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePolicyCursor(s string) (name, id string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", "", false
	}
	var key [2]string
	if json.Unmarshal(b, &key) != nil {
		return "", "", false
	}
	return key[0], key[1], true
}

// storedPolicy finds the policy id in a fresh read (NotFound
// MERGE-POLICY-NOT-FOUND).
func (h *handler) storedPolicy(ctx context.Context, id string) (merge.Policy, error) {
	all, err := h.policyAdmin.List(ctx)
	if err != nil {
		return merge.Policy{}, err
	}
	for _, p := range all {
		if p.ID == id {
			return p, nil
		}
	}
	return merge.Policy{}, merge.PolicyNotFound(id)
}

func (h *handler) getPolicy(ctx context.Context, r *apigw.Request) (int, any, error) {
	p, err := h.storedPolicy(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, p, nil
}

// createPolicy is AEP's POST /config/mergePolicies: 201 with the policy,
// version 1.
func (h *handler) createPolicy(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in merge.PolicyInput
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	p, err := h.policyAdmin.Create(ctx, in.Policy())
	if err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "merge policy created", "mergePolicyId", p.ID, "schemaName", p.Schema.Name, "default", p.Default)
	return http.StatusCreated, p, nil
}

// maxBulkGet bounds the ids of one bulk-get.
const maxBulkGet = 100

// bulkGetPolicies is AEP's POST /config/mergePolicies/bulk-get: body
// {"ids":[{"id":"…"}]}, answer 207 {"results":{"<id>":{…policy}}}. An
// unknown id is left out of results and listed in errors with its 404.
func (h *handler) bulkGetPolicies(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in struct {
		IDs []struct {
			ID string `json:"id"`
		} `json:"ids"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if len(in.IDs) == 0 || len(in.IDs) > maxBulkGet {
		return 0, nil, fault.Errorf(fault.Invalid, "REQ-BODY", `ids must list 1 to %d objects {"id": "<merge policy id>"}`, maxBulkGet)
	}
	all, err := h.policyAdmin.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	type itemError struct {
		Status  int    `json:"status"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	var out struct {
		Results map[string]merge.Policy `json:"results"`
		Errors  map[string]itemError    `json:"errors,omitempty"`
	}
	out.Results = map[string]merge.Policy{}
	for _, want := range in.IDs {
		i := slices.IndexFunc(all, func(p merge.Policy) bool { return p.ID == want.ID })
		if i >= 0 {
			out.Results[want.ID] = all[i]
			continue
		}
		if out.Errors == nil {
			out.Errors = map[string]itemError{}
		}
		code, msg := fault.Public(merge.PolicyNotFound(want.ID))
		out.Errors[want.ID] = itemError{Status: http.StatusNotFound, Code: code, Message: msg}
	}
	return http.StatusMultiStatus, out, nil
}

// putPolicy is AEP's PUT /config/mergePolicies/{id}: the body replaces the
// policy whole (members it leaves out take their zero value); the version
// goes up by one.
func (h *handler) putPolicy(ctx context.Context, r *apigw.Request) (int, any, error) {
	id := r.Param("id")
	var in merge.PolicyInput
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.ID != "" && in.ID != id {
		return 0, nil, fault.E(fault.Invalid, "MERGE-POLICY-ID", "the body's id is not the id of the path")
	}
	p, err := h.policyAdmin.Update(ctx, id, func(merge.Policy) (merge.Policy, error) { return in.Policy(), nil })
	if err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "merge policy replaced", "mergePolicyId", p.ID, "version", p.Version, "default", p.Default)
	return http.StatusOK, p, nil
}

// patchPolicy is AEP's PATCH /config/mergePolicies/{id}: one operation
// object or an RFC 6902 array (merge.ParsePolicyPatch), applied to the
// policy as stored; the version goes up by one.
func (h *handler) patchPolicy(ctx context.Context, r *apigw.Request) (int, any, error) {
	ops, err := merge.ParsePolicyPatch(r.Body)
	if err != nil {
		return 0, nil, err
	}
	p, err := h.policyAdmin.Update(ctx, r.Param("id"), func(p merge.Policy) (merge.Policy, error) {
		return merge.PatchPolicy(p, ops)
	})
	if err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "merge policy patched", "mergePolicyId", p.ID, "version", p.Version, "default", p.Default)
	return http.StatusOK, p, nil
}

// deletePolicy is AEP's DELETE /config/mergePolicies/{id}: 200 with no
// body. A policy active on edge is not deleted (409).
func (h *handler) deletePolicy(ctx context.Context, r *apigw.Request) (int, any, error) {
	if err := h.policyAdmin.Delete(ctx, r.Param("id")); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "merge policy deleted", "mergePolicyId", r.Param("id"))
	return http.StatusOK, nil, nil
}
