package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// registry is what the handler needs of the catalog store.
type registry interface {
	CreateSchema(ctx context.Context, s xdm.Schema) error
	GetSchema(ctx context.Context, id string) (xdm.Schema, error)
	ListSchemas(ctx context.Context) ([]xdm.Schema, error)
	UpdateSchema(ctx context.Context, s xdm.Schema, prevVersion string) error
	DeleteSchema(ctx context.Context, id string) error
	CreateFieldGroup(ctx context.Context, g xdm.FieldGroup) error
	GetFieldGroup(ctx context.Context, id string) (xdm.FieldGroup, error)
	ListFieldGroups(ctx context.Context) ([]xdm.FieldGroup, error)
	UpdateFieldGroup(ctx context.Context, g xdm.FieldGroup, prevVersion string) error
	DeleteFieldGroup(ctx context.Context, id string) error
	CreateDescriptor(ctx context.Context, d xdm.Descriptor) error
	GetDescriptor(ctx context.Context, id string) (xdm.Descriptor, error)
	ListDescriptors(ctx context.Context, schemaID string) ([]xdm.Descriptor, error)
	PutDescriptor(ctx context.Context, prev, d xdm.Descriptor) error
	DeleteDescriptor(ctx context.Context, d xdm.Descriptor) error
	CreateNamespace(ctx context.Context, ns identity.Namespace) error
	GetNamespace(ctx context.Context, code string) (identity.Namespace, error)
	ListNamespaces(ctx context.Context) ([]identity.Namespace, error)
	ListDatasets(ctx context.Context) ([]catalog.Dataset, error)
}

type handler struct {
	router  *apigw.Router
	reg     registry
	sandbox string
	now     func() time.Time
}

func newHandler(ctx context.Context, getenv awsenv.Getenv) (*handler, error) {
	env, err := awsenv.Require(getenv, topology.EnvCatalogTable)
	if err != nil {
		return nil, err
	}
	clients, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	cat := store.NewCatalog(clients.DynamoDB, env[topology.EnvCatalogTable])
	return newService(cat, getenv(topology.EnvSandboxName), time.Now), nil
}

const (
	registryBase = "/data/foundation/schemaregistry"
	namespaceAPI = "/data/core/idnamespace/identities"
)

func newService(reg registry, sandbox string, now func() time.Time) *handler {
	h := &handler{router: apigw.NewRouter(sandbox), reg: reg, sandbox: sandbox, now: now}
	r := h.router
	r.Handle("GET "+registryBase+"/global/classes", h.listGlobal(xdm.Classes))
	r.Handle("GET "+registryBase+"/global/classes/{id}", h.getGlobal(xdm.LookupClass, "CLASS-NOT-FOUND", "class"))
	r.Handle("GET "+registryBase+"/global/fieldgroups", h.listGlobal(xdm.FieldGroups))
	r.Handle("GET "+registryBase+"/global/fieldgroups/{id}", h.getGlobal(xdm.LookupFieldGroup, "FIELDGROUP-NOT-FOUND", "field group"))
	r.Handle("GET "+registryBase+"/tenant/fieldgroups", h.listFieldGroups)
	r.Handle("POST "+registryBase+"/tenant/fieldgroups", h.createFieldGroup)
	r.Handle("GET "+registryBase+"/tenant/fieldgroups/{id}", h.getFieldGroup)
	r.Handle("PUT "+registryBase+"/tenant/fieldgroups/{id}", h.putFieldGroup)
	r.Handle("PATCH "+registryBase+"/tenant/fieldgroups/{id}", h.patchFieldGroup)
	r.Handle("DELETE "+registryBase+"/tenant/fieldgroups/{id}", h.deleteFieldGroup)
	r.Handle("GET "+registryBase+"/tenant/schemas", h.listSchemas)
	r.Handle("POST "+registryBase+"/tenant/schemas", h.createSchema)
	r.Handle("GET "+registryBase+"/tenant/schemas/{id}", h.getSchema)
	r.Handle("PUT "+registryBase+"/tenant/schemas/{id}", h.putSchema)
	r.Handle("PATCH "+registryBase+"/tenant/schemas/{id}", h.patchSchema)
	r.Handle("DELETE "+registryBase+"/tenant/schemas/{id}", h.deleteSchema)
	r.Handle("GET "+registryBase+"/tenant/descriptors", h.listDescriptors)
	r.Handle("POST "+registryBase+"/tenant/descriptors", h.createDescriptor)
	r.Handle("GET "+registryBase+"/tenant/descriptors/{id}", h.getDescriptor)
	r.Handle("PUT "+registryBase+"/tenant/descriptors/{id}", h.putDescriptor)
	r.Handle("DELETE "+registryBase+"/tenant/descriptors/{id}", h.deleteDescriptor)
	r.Handle("GET "+registryBase+"/tenant/unions", h.listUnions)
	r.Handle("GET "+registryBase+"/tenant/unions/{id}", h.getUnion)
	r.Handle("GET "+namespaceAPI, h.listNamespaces)
	r.Handle("POST "+namespaceAPI, h.createNamespace)
	r.Handle("GET "+namespaceAPI+"/{code}", h.getNamespace)
	return h
}

// Handle is the Lambda entry point.
func (h *handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.router.Serve(ctx, ev)
}

// listing is AEP's Schema Registry listing shape.
type listing struct {
	Results []any          `json:"results"`
	Page    page           `json:"_page"`
	Links   map[string]any `json:"_links"`
}

type page struct {
	OrderBy string  `json:"orderby"`
	Next    *string `json:"next"`
	Count   int     `json:"count"`
}

// summary is the xed-id+json form of a resource.
type summary struct {
	ID      string `json:"$id"`
	AltID   string `json:"meta:altId"`
	Version string `json:"version"`
	Title   string `json:"title"`
}

// entry is one resource of a listing, with what it sorts by.
type entry struct {
	sum  summary
	full any
}

// MaxPage is AEP's largest listing page.
const MaxPage = 300

// paged answers a listing request: orderby title (default) or
// meta:altId, "-" for descending; limit (1..300, default 300); start, the
// _page.next of the previous page. Ties in title break by altId, and the
// start token carries both ("<title>|<altId>"), so paging never skips or
// repeats a resource.
func paged(r *apigw.Request, entries []entry) (int, any, error) {
	order := r.Query.Get("orderby")
	if order == "" {
		order = "title"
	}
	desc := strings.HasPrefix(order, "-")
	field := strings.TrimPrefix(order, "-")
	if field != "title" && field != "meta:altId" {
		return 0, nil, fault.E(fault.Invalid, "REQ-ORDERBY", `orderby must be title, -title, meta:altId or -meta:altId`)
	}
	limit := MaxPage
	if v := r.Query.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPage {
			return 0, nil, fault.E(fault.Invalid, "REQ-LIMIT", "limit must be a whole number from 1 to 300")
		}
		limit = n
	}
	key := func(e entry) (string, string) {
		if field == "title" {
			return e.sum.Title, e.sum.AltID
		}
		return e.sum.AltID, ""
	}
	less := func(a1, a2, b1, b2 string) bool {
		if a1 != b1 {
			return (a1 < b1) != desc
		}
		return (a2 < b2) != desc
	}
	sort.SliceStable(entries, func(i, j int) bool {
		a1, a2 := key(entries[i])
		b1, b2 := key(entries[j])
		return less(a1, a2, b1, b2)
	})
	if start := r.Query.Get("start"); start != "" {
		s1, s2 := start, ""
		if i := strings.LastIndex(start, "|_"); i >= 0 && field == "title" {
			s1, s2 = start[:i], start[i+1:]
		}
		i := sort.Search(len(entries), func(i int) bool {
			k1, k2 := key(entries[i])
			if s2 == "" {
				return k1 == s1 || less(s1, "", k1, "")
			}
			return !less(k1, k2, s1, s2)
		})
		entries = entries[i:]
	}
	var next *string
	links := map[string]any{}
	if len(entries) > limit {
		k1, k2 := key(entries[limit])
		tok := k1
		if k2 != "" {
			tok += "|" + k2
		}
		next = &tok
		q := url.Values{"orderby": {order}, "limit": {strconv.Itoa(limit)}, "start": {tok}}
		links["next"] = map[string]any{"href": strings.TrimPrefix(r.RouteKey, "GET ") + "?" + q.Encode()}
		entries = entries[:limit]
	}
	out := make([]any, 0, len(entries))
	for _, e := range entries {
		if wantsSummary(r) {
			out = append(out, e.sum)
		} else {
			out = append(out, e.full)
		}
	}
	return http.StatusOK, listing{Results: out, Page: page{OrderBy: order, Next: next, Count: len(out)}, Links: links}, nil
}

// wantsSummary and wantsFull read the Accept header: xed-id+json asks for
// summaries, xed-full+json for resolved resources; xed+json (or nothing)
// for the resource as stored.
func wantsSummary(r *apigw.Request) bool { return strings.Contains(r.Header.Get("Accept"), "xed-id") }
func wantsFull(r *apigw.Request) bool    { return strings.Contains(r.Header.Get("Accept"), "xed-full") }

func (h *handler) listGlobal(list func() []xdm.Resource) apigw.HandlerFunc {
	return func(ctx context.Context, r *apigw.Request) (int, any, error) {
		rs := list()
		es := make([]entry, 0, len(rs))
		for _, x := range rs {
			es = append(es, entry{sum: summary{ID: x.ID, AltID: x.AltID, Version: x.Version, Title: x.Title}, full: x})
		}
		return paged(r, es)
	}
}

func (h *handler) getGlobal(lookup func(string) (xdm.Resource, bool), code, what string) apigw.HandlerFunc {
	return func(ctx context.Context, r *apigw.Request) (int, any, error) {
		res, ok := lookup(r.Param("id"))
		if !ok {
			return 0, nil, fault.Errorf(fault.NotFound, code, "%s %q does not exist", what, r.Param("id"))
		}
		if !wantsFull(r) {
			return http.StatusOK, res, nil
		}
		resolved, err := xdm.ResolveFieldGroup(res)
		if err != nil {
			return 0, nil, err
		}
		full, err := withResolved(res, resolved)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, full, nil
	}
}

// withResolved adds the merged properties of a resource (xed-full).
func withResolved(v any, res *xdm.Resolved) (any, error) {
	doc, err := toMap(v)
	if err != nil {
		return nil, err
	}
	doc["properties"] = res.JSON["properties"]
	if req, ok := res.JSON["required"]; ok {
		doc["required"] = req
	}
	return doc, nil
}

// readOnly are the members a client may send back from a GET but cannot
// set; PUT and POST bodies drop them before decoding strictly.
var readOnly = []string{"$id", "meta:altId", "meta:resourceType", "version", "meta:containerId", "meta:tenantNamespace",
	"imsOrg", "meta:sandboxId", "meta:sandboxType", "meta:registryMetadata", "meta:abstract", "meta:extensible"}

func decodeInput(r *apigw.Request, v any) error {
	var m map[string]json.RawMessage
	if err := r.Decode(&m); err != nil {
		return err
	}
	for _, k := range readOnly {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fault.Wrap(err, fault.Invalid, "REQ-JSON", "request body is not valid JSON")
	}
	return (&apigw.Request{Body: b}).Decode(v)
}

func decodePatch(r *apigw.Request) ([]xdm.PatchOp, error) {
	var ops []xdm.PatchOp
	if err := r.Decode(&ops); err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, fault.E(fault.Invalid, "XDM-PATCH", "the patch has no operations")
	}
	return ops, nil
}

func checkIfMatch(r *apigw.Request, etag, version string) error {
	if m := strings.Trim(r.Header.Get("If-Match"), `"`); m != "" && m != etag && m != version {
		return fault.E(fault.Conflict, "VERSION-CONFLICT", "the resource changed since it was read (If-Match does not match); read it again and retry")
	}
	return nil
}

// ---- tenant field groups

func (h *handler) listFieldGroups(ctx context.Context, r *apigw.Request) (int, any, error) {
	gs, err := h.reg.ListFieldGroups(ctx)
	if err != nil {
		return 0, nil, err
	}
	es := make([]entry, 0, len(gs))
	for _, g := range gs {
		es = append(es, entry{sum: summary{ID: g.ID, AltID: g.AltID, Version: g.Version, Title: g.Title}, full: g})
	}
	return paged(r, es)
}

func (h *handler) createFieldGroup(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in xdm.FieldGroupInput
	if err := decodeInput(r, &in); err != nil {
		return 0, nil, err
	}
	g, err := xdm.NewFieldGroup(in, h.sandbox, h.now())
	if err != nil {
		return 0, nil, err
	}
	groups, err := h.reg.ListFieldGroups(ctx)
	if err != nil {
		return 0, nil, err
	}
	if err := checkGroupTypes(g, groups); err != nil {
		return 0, nil, err
	}
	if err := h.reg.CreateFieldGroup(ctx, g); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "field group created", "fieldGroupId", g.ID)
	return http.StatusCreated, g, nil
}

// checkGroupTypes enforces one type per field path across the tenant's
// field groups (schemas only compose groups and built-ins, so this covers
// them too).
func checkGroupTypes(g xdm.FieldGroup, groups []xdm.FieldGroup) error {
	mine, err := xdm.ResolveFieldGroup(g.Resource())
	if err != nil {
		return err
	}
	var others []map[string]string
	for _, o := range groups {
		if o.ID == g.ID {
			continue
		}
		res, err := xdm.ResolveFieldGroup(o.Resource())
		if err != nil {
			continue // a stored group that no longer resolves names no types
		}
		others = append(others, xdm.FieldTypes(res))
	}
	return xdm.CheckTypeConflicts(xdm.FieldTypes(mine), others...)
}

func (h *handler) getFieldGroup(ctx context.Context, r *apigw.Request) (int, any, error) {
	g, err := h.reg.GetFieldGroup(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if !wantsFull(r) {
		return http.StatusOK, g, nil
	}
	res, err := xdm.ResolveFieldGroup(g.Resource())
	if err != nil {
		return 0, nil, err
	}
	full, err := withResolved(g, res)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, full, nil
}

func (h *handler) putFieldGroup(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in xdm.FieldGroupInput
	if err := decodeInput(r, &in); err != nil {
		return 0, nil, err
	}
	return h.updateFieldGroup(ctx, r, func(g xdm.FieldGroup) (xdm.FieldGroup, error) { return g.Replace(in, h.now()) })
}

func (h *handler) patchFieldGroup(ctx context.Context, r *apigw.Request) (int, any, error) {
	ops, err := decodePatch(r)
	if err != nil {
		return 0, nil, err
	}
	return h.updateFieldGroup(ctx, r, func(g xdm.FieldGroup) (xdm.FieldGroup, error) { return g.Patch(ops, h.now()) })
}

// updateFieldGroup applies change and checks it against every schema
// using the group: it must still compose, its identity fields must
// remain, and locked schemas (enabled for Profile or holding data) accept
// only additive changes.
func (h *handler) updateFieldGroup(ctx context.Context, r *apigw.Request, change func(xdm.FieldGroup) (xdm.FieldGroup, error)) (int, any, error) {
	g, err := h.reg.GetFieldGroup(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if err := checkIfMatch(r, g.RegistryMetadata.ETag, g.Version); err != nil {
		return 0, nil, err
	}
	n, err := change(g)
	if err != nil {
		return 0, nil, err
	}
	groups, err := h.reg.ListFieldGroups(ctx)
	if err != nil {
		return 0, nil, err
	}
	if err := checkGroupTypes(n, groups); err != nil {
		return 0, nil, err
	}
	after := make([]xdm.FieldGroup, 0, len(groups))
	for _, o := range groups {
		if o.ID != g.ID {
			after = append(after, o)
		}
	}
	after = append(after, n)
	schemas, err := h.reg.ListSchemas(ctx)
	if err != nil {
		return 0, nil, err
	}
	locked, err := h.lockedSchemas(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, s := range schemas {
		if !slices.Contains(s.FieldGroups(), g.ID) {
			continue
		}
		if _, err := xdm.NewSchema(xdm.SchemaInput{Title: s.Title, Type: "object", AllOf: s.AllOf}, h.sandbox, h.now(), after...); err != nil {
			return 0, nil, err
		}
		if s.ProfileEnabled() || locked[s.ID] {
			if err := s.CheckEvolution(s, groups, after); err != nil {
				return 0, nil, err
			}
		}
		if err := h.checkIdentityFields(ctx, s, after); err != nil {
			return 0, nil, err
		}
	}
	if err := h.reg.UpdateFieldGroup(ctx, n, g.Version); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "field group updated", "fieldGroupId", n.ID, "version", n.Version)
	return http.StatusOK, n, nil
}

func (h *handler) deleteFieldGroup(ctx context.Context, r *apigw.Request) (int, any, error) {
	g, err := h.reg.GetFieldGroup(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	schemas, err := h.reg.ListSchemas(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, s := range schemas {
		if slices.Contains(s.FieldGroups(), g.ID) {
			return 0, nil, fault.Errorf(fault.Conflict, "FIELDGROUP-IN-USE", "field group is used by schema %s; remove it from the schema first", s.ID)
		}
	}
	if err := h.reg.DeleteFieldGroup(ctx, g.ID); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "field group deleted", "fieldGroupId", g.ID)
	return http.StatusNoContent, nil, nil
}

// ---- tenant schemas

// lockedSchemas are the schemas that hold data, approximated as those a
// Profile-enabled dataset references: the registry does not see row
// counts, and a Profile dataset is where rows would have gone.
func (h *handler) lockedSchemas(ctx context.Context) (map[string]bool, error) {
	dss, err := h.reg.ListDatasets(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, d := range dss {
		if catalog.ParseTags(d.Tags).ProfileEnabled {
			id := d.SchemaRef.ID
			if strings.HasPrefix(id, "_") {
				id = xdm.IDFromAltID(id)
			}
			out[id] = true
		}
	}
	return out, nil
}

// checkIdentityFields makes sure every descriptor of s still names a field.
func (h *handler) checkIdentityFields(ctx context.Context, s xdm.Schema, groups []xdm.FieldGroup) error {
	res, err := xdm.Resolve(s, groups...)
	if err != nil {
		return err
	}
	ds, err := h.reg.ListDescriptors(ctx, s.ID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if _, ok := res.Field(d.SourceProperty); !ok {
			return fault.Errorf(fault.Invalid, "XDM-BREAKING", "breaking change: field %s is an identity (descriptor %s) and cannot be removed", d.SourceProperty, d.ID)
		}
	}
	return nil
}

func (h *handler) listSchemas(ctx context.Context, r *apigw.Request) (int, any, error) {
	ss, err := h.reg.ListSchemas(ctx)
	if err != nil {
		return 0, nil, err
	}
	es := make([]entry, 0, len(ss))
	for _, s := range ss {
		es = append(es, entry{sum: summary{ID: s.ID, AltID: s.AltID, Version: s.Version, Title: s.Title}, full: s})
	}
	return paged(r, es)
}

func (h *handler) createSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in xdm.SchemaInput
	if err := decodeInput(r, &in); err != nil {
		return 0, nil, err
	}
	groups, err := h.reg.ListFieldGroups(ctx)
	if err != nil {
		return 0, nil, err
	}
	s, err := xdm.NewSchema(in, h.sandbox, h.now(), groups...)
	if err != nil {
		return 0, nil, err
	}
	res, err := xdm.Resolve(s, groups...)
	if err != nil {
		return 0, nil, err
	}
	if err := xdm.CheckProfile(s, res, nil); err != nil {
		return 0, nil, err
	}
	if err := h.reg.CreateSchema(ctx, s); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "schema created", "schemaId", s.ID, "class", s.Class)
	return http.StatusCreated, s, nil
}

func (h *handler) getSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	if strings.HasSuffix(r.Param("id"), unionSuffix) {
		return h.getUnion(ctx, r)
	}
	s, err := h.reg.GetSchema(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if !wantsFull(r) {
		return http.StatusOK, s, nil
	}
	groups, err := h.reg.ListFieldGroups(ctx)
	if err != nil {
		return 0, nil, err
	}
	res, err := xdm.Resolve(s, groups...)
	if err != nil {
		return 0, nil, err
	}
	full, err := withResolved(s, res)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, full, nil
}

func (h *handler) putSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in xdm.SchemaInput
	if err := decodeInput(r, &in); err != nil {
		return 0, nil, err
	}
	return h.updateSchema(ctx, r, func(s xdm.Schema, groups []xdm.FieldGroup) (xdm.Schema, error) {
		return s.Replace(in, h.now(), groups...)
	})
}

func (h *handler) patchSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	ops, err := decodePatch(r)
	if err != nil {
		return 0, nil, err
	}
	return h.updateSchema(ctx, r, func(s xdm.Schema, groups []xdm.FieldGroup) (xdm.Schema, error) {
		return s.Patch(ops, h.now(), groups...)
	})
}

func (h *handler) updateSchema(ctx context.Context, r *apigw.Request, change func(xdm.Schema, []xdm.FieldGroup) (xdm.Schema, error)) (int, any, error) {
	s, err := h.reg.GetSchema(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if err := checkIfMatch(r, s.RegistryMetadata.ETag, s.Version); err != nil {
		return 0, nil, err
	}
	groups, err := h.reg.ListFieldGroups(ctx)
	if err != nil {
		return 0, nil, err
	}
	n, err := change(s, groups)
	if err != nil {
		return 0, nil, err
	}
	if !s.ProfileEnabled() {
		locked, err := h.lockedSchemas(ctx)
		if err != nil {
			return 0, nil, err
		}
		if locked[s.ID] {
			if err := s.CheckEvolution(n, groups, groups); err != nil {
				return 0, nil, err
			}
		}
	}
	res, err := xdm.Resolve(n, groups...)
	if err != nil {
		return 0, nil, err
	}
	ds, err := h.reg.ListDescriptors(ctx, n.ID)
	if err != nil {
		return 0, nil, err
	}
	if err := xdm.CheckProfile(n, res, ds); err != nil {
		return 0, nil, err
	}
	if err := h.checkIdentityFields(ctx, n, groups); err != nil {
		return 0, nil, err
	}
	if err := h.reg.UpdateSchema(ctx, n, s.Version); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "schema updated", "schemaId", n.ID, "version", n.Version)
	return http.StatusOK, n, nil
}

func (h *handler) deleteSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	s, err := h.reg.GetSchema(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if s.ProfileEnabled() {
		return 0, nil, fault.E(fault.Invalid, "XDM-UNION-DELETE", "a schema enabled for Profile cannot be deleted")
	}
	dss, err := h.reg.ListDatasets(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, d := range dss {
		if d.SchemaRef.ID == s.ID || d.SchemaRef.ID == s.AltID {
			return 0, nil, fault.Errorf(fault.Conflict, "SCHEMA-IN-USE", "schema is used by dataset %s; delete the dataset first", d.ID)
		}
	}
	descs, err := h.reg.ListDescriptors(ctx, s.ID)
	if err != nil {
		return 0, nil, err
	}
	for _, d := range descs {
		if err := h.reg.DeleteDescriptor(ctx, d); err != nil && fault.KindOf(err) != fault.NotFound {
			return 0, nil, err
		}
	}
	if err := h.reg.DeleteSchema(ctx, s.ID); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "schema deleted", "schemaId", s.ID)
	return http.StatusNoContent, nil, nil
}

// ---- unions

const unionSuffix = "__union"

// union is AEP's union view of a class: every Profile-enabled schema of
// the class, merged.
type union struct {
	ID           string    `json:"$id"`
	AltID        string    `json:"meta:altId"`
	ResourceType string    `json:"meta:resourceType"`
	Version      string    `json:"version"`
	Title        string    `json:"title"`
	Type         string    `json:"type"`
	Class        string    `json:"meta:class"`
	ContainerID  string    `json:"meta:containerId"`
	ImsOrg       string    `json:"imsOrg"`
	AllOf        []xdm.Ref `json:"allOf"`
	Extends      []string  `json:"meta:extends"`
}

func (h *handler) unions(ctx context.Context) ([]union, map[string][]xdm.Schema, error) {
	ss, err := h.reg.ListSchemas(ctx)
	if err != nil {
		return nil, nil, err
	}
	byClass := map[string][]xdm.Schema{}
	for _, s := range ss {
		if s.ProfileEnabled() {
			byClass[s.Class] = append(byClass[s.Class], s)
		}
	}
	var out []union
	for class, members := range byClass {
		title := class
		if c, ok := xdm.LookupClass(class); ok {
			title = c.Title
		}
		u := union{ID: class + unionSuffix, AltID: xdm.AltID(class + unionSuffix), ResourceType: xdm.ResourceUnions,
			Version: "1." + strconv.Itoa(len(members)), Title: "Union Schema for " + title, Type: "object", Class: class,
			ContainerID: xdm.ContainerTenant, ImsOrg: xdm.ImsOrg}
		for _, m := range members {
			u.AllOf = append(u.AllOf, xdm.Ref{Ref: m.ID})
			u.Extends = append(u.Extends, m.ID)
		}
		out = append(out, u)
	}
	return out, byClass, nil
}

func (h *handler) listUnions(ctx context.Context, r *apigw.Request) (int, any, error) {
	us, _, err := h.unions(ctx)
	if err != nil {
		return 0, nil, err
	}
	es := make([]entry, 0, len(us))
	for _, u := range us {
		es = append(es, entry{sum: summary{ID: u.ID, AltID: u.AltID, Version: u.Version, Title: u.Title}, full: u})
	}
	return paged(r, es)
}

func (h *handler) getUnion(ctx context.Context, r *apigw.Request) (int, any, error) {
	id := r.Param("id")
	us, byClass, err := h.unions(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, u := range us {
		if u.ID != id && u.AltID != id {
			continue
		}
		if !wantsFull(r) {
			return http.StatusOK, u, nil
		}
		groups, err := h.reg.ListFieldGroups(ctx)
		if err != nil {
			return 0, nil, err
		}
		merged := xdm.Schema{Class: u.Class}
		for _, m := range byClass[u.Class] {
			for _, ref := range m.AllOf {
				if !slices.Contains(merged.AllOf, ref) {
					merged.AllOf = append(merged.AllOf, ref)
				}
			}
		}
		res, err := xdm.Resolve(merged, groups...)
		if err != nil {
			return 0, nil, err
		}
		full, err := withResolved(u, res)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, full, nil
	}
	return 0, nil, fault.Errorf(fault.NotFound, "UNION-NOT-FOUND", "union %q does not exist: no schema of that class is enabled for Profile", id)
}

// ---- descriptors

func (h *handler) listDescriptors(ctx context.Context, r *apigw.Request) (int, any, error) {
	schemaID := ""
	for _, p := range r.Query["property"] {
		if v, ok := strings.CutPrefix(p, "xdm:sourceSchema=="); ok {
			schemaID = v
		} else {
			return 0, nil, fault.E(fault.Invalid, "XDM-FILTER", `only the filter property=xdm:sourceSchema==<schema $id> is supported`)
		}
	}
	ds, err := h.reg.ListDescriptors(ctx, schemaID)
	if err != nil {
		return 0, nil, err
	}
	full := strings.Contains(r.Header.Get("Accept"), "xdm+json") || strings.Contains(r.Header.Get("Accept"), "xdm-v2")
	// AEP groups by @type and leaves out empty types.
	out := map[string][]any{}
	for _, d := range ds {
		if full {
			out[d.Type] = append(out[d.Type], d)
		} else {
			out[d.Type] = append(out[d.Type], d.ID)
		}
	}
	return http.StatusOK, out, nil
}

// descriptorContext reads what checking a descriptor needs: its schema
// (a missing one is 400, the descriptor's fault), resolved, the schema's
// descriptors and the custom namespaces.
func (h *handler) descriptorContext(ctx context.Context, schemaID string) (xdm.Schema, *xdm.Resolved, []xdm.Descriptor, []identity.Namespace, error) {
	if schemaID == "" {
		return xdm.Schema{}, nil, nil, nil, fault.E(fault.Invalid, "XDM-DESCRIPTOR-SCHEMA", "xdm:sourceSchema is required")
	}
	s, err := h.reg.GetSchema(ctx, schemaID)
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind == fault.NotFound {
		return xdm.Schema{}, nil, nil, nil, fault.E(fault.Invalid, "XDM-DESCRIPTOR-SCHEMA", "xdm:sourceSchema does not name an existing schema")
	}
	if err != nil {
		return xdm.Schema{}, nil, nil, nil, err
	}
	groups, err := h.reg.ListFieldGroups(ctx)
	if err != nil {
		return xdm.Schema{}, nil, nil, nil, err
	}
	res, err := xdm.Resolve(s, groups...)
	if err != nil {
		return xdm.Schema{}, nil, nil, nil, err
	}
	existing, err := h.reg.ListDescriptors(ctx, s.ID)
	if err != nil {
		return xdm.Schema{}, nil, nil, nil, err
	}
	custom, err := h.reg.ListNamespaces(ctx)
	if err != nil {
		return xdm.Schema{}, nil, nil, nil, err
	}
	return s, res, existing, custom, nil
}

func (h *handler) createDescriptor(ctx context.Context, r *apigw.Request) (int, any, error) {
	var d xdm.Descriptor
	if err := r.Decode(&d); err != nil {
		return 0, nil, err
	}
	s, res, existing, custom, err := h.descriptorContext(ctx, d.SourceSchema)
	if err != nil {
		return 0, nil, err
	}
	d.SourceSchema = s.ID
	nd, err := xdm.NewDescriptor(d, s, res, existing, h.now(), custom...)
	if err != nil {
		return 0, nil, err
	}
	if err := h.reg.CreateDescriptor(ctx, nd); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "descriptor created", "descriptorId", nd.ID, "schemaId", s.ID, "primary", nd.IsPrimary)
	return http.StatusCreated, nd, nil
}

func (h *handler) getDescriptor(ctx context.Context, r *apigw.Request) (int, any, error) {
	d, err := h.reg.GetDescriptor(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d, nil
}

func (h *handler) putDescriptor(ctx context.Context, r *apigw.Request) (int, any, error) {
	prev, err := h.reg.GetDescriptor(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	var d xdm.Descriptor
	if err := r.Decode(&d); err != nil {
		return 0, nil, err
	}
	s, res, existing, custom, err := h.descriptorContext(ctx, d.SourceSchema)
	if err != nil {
		return 0, nil, err
	}
	if s.ID != prev.SourceSchema {
		return 0, nil, fault.E(fault.Invalid, "XDM-DESCRIPTOR-SCHEMA", "xdm:sourceSchema of a descriptor cannot change; create a new descriptor instead")
	}
	d.SourceSchema = s.ID
	nd, err := xdm.ReplaceDescriptor(prev, d, s, res, existing, custom...)
	if err != nil {
		return 0, nil, err
	}
	after := []xdm.Descriptor{nd}
	for _, e := range existing {
		if e.ID != prev.ID {
			after = append(after, e)
		}
	}
	if err := xdm.CheckProfile(s, res, after); err != nil {
		return 0, nil, err
	}
	if err := h.reg.PutDescriptor(ctx, prev, nd); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "descriptor replaced", "descriptorId", nd.ID, "schemaId", s.ID, "primary", nd.IsPrimary)
	return http.StatusCreated, nd, nil
}

func (h *handler) deleteDescriptor(ctx context.Context, r *apigw.Request) (int, any, error) {
	d, err := h.reg.GetDescriptor(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	s, err := h.reg.GetSchema(ctx, d.SourceSchema)
	if err != nil && fault.KindOf(err) != fault.NotFound {
		return 0, nil, err
	}
	if err == nil && s.ProfileEnabled() {
		_, res, existing, _, err := h.descriptorContext(ctx, s.ID)
		if err != nil {
			return 0, nil, err
		}
		var rest []xdm.Descriptor
		for _, e := range existing {
			if e.ID != d.ID {
				rest = append(rest, e)
			}
		}
		if err := xdm.CheckProfile(s, res, rest); err != nil {
			return 0, nil, fault.E(fault.Invalid, "XDM-UNION-PRIMARY", "the primary identity of a schema enabled for Profile cannot be removed")
		}
	}
	if err := h.reg.DeleteDescriptor(ctx, d); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "descriptor deleted", "descriptorId", d.ID)
	return http.StatusNoContent, nil, nil
}

// ---- identity namespaces

func (h *handler) listNamespaces(ctx context.Context, r *apigw.Request) (int, any, error) {
	custom, err := h.reg.ListNamespaces(ctx)
	if err != nil {
		return 0, nil, err
	}
	out := append(append([]identity.Namespace{}, identity.Standard...), custom...)
	return http.StatusOK, out, nil
}

func (h *handler) createNamespace(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in identity.NamespaceInput
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	ns, err := identity.NewCustom(in, h.now())
	if err != nil {
		return 0, nil, err
	}
	custom, err := h.reg.ListNamespaces(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, c := range custom {
		if strings.EqualFold(c.Code, ns.Code) {
			return 0, nil, fault.Errorf(fault.Conflict, "NAMESPACE-EXISTS", "identity namespace %q exists", c.Code)
		}
		if c.ID == ns.ID {
			return 0, nil, fault.E(fault.Conflict, "NAMESPACE-EXISTS", "an identity namespace with this id exists; choose another code")
		}
	}
	if err := h.reg.CreateNamespace(ctx, ns); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "namespace created", "namespace", ns.Code, "idType", ns.IDType)
	return http.StatusCreated, ns, nil
}

func (h *handler) getNamespace(ctx context.Context, r *apigw.Request) (int, any, error) {
	if ns, ok := identity.LookupStandard(r.Param("code")); ok {
		return http.StatusOK, ns, nil
	}
	ns, err := h.reg.GetNamespace(ctx, r.Param("code"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ns, nil
}

func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "ENCODE", "resource could not be encoded")
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "ENCODE", "resource could not be encoded")
	}
	return m, nil
}
