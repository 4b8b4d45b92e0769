package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/awsenv"
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
	CreateDescriptor(ctx context.Context, d xdm.Descriptor) error
	GetDescriptor(ctx context.Context, id string) (xdm.Descriptor, error)
	ListDescriptors(ctx context.Context, schemaID string) ([]xdm.Descriptor, error)
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
	r.Handle("GET "+registryBase+"/tenant/schemas", h.listSchemas)
	r.Handle("POST "+registryBase+"/tenant/schemas", h.createSchema)
	r.Handle("GET "+registryBase+"/tenant/schemas/{id}", h.getSchema)
	r.Handle("PATCH "+registryBase+"/tenant/schemas/{id}", h.patchSchema)
	r.Handle("GET "+registryBase+"/tenant/descriptors", h.listDescriptors)
	r.Handle("POST "+registryBase+"/tenant/descriptors", h.createDescriptor)
	r.Handle("GET "+registryBase+"/tenant/descriptors/{id}", h.getDescriptor)
	r.Handle("GET "+namespaceAPI, h.listNamespaces)
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

func newListing(results []any) listing {
	if results == nil {
		results = []any{}
	}
	return listing{Results: results, Page: page{OrderBy: "title", Count: len(results)}, Links: map[string]any{}}
}

// accept reports which representation the Accept header asks for.
func wantsSummary(r *apigw.Request) bool { return strings.Contains(r.Header.Get("Accept"), "xed-id") }
func wantsFull(r *apigw.Request) bool    { return strings.Contains(r.Header.Get("Accept"), "xed-full") }

func (h *handler) listGlobal(list func() []xdm.Resource) apigw.HandlerFunc {
	return func(ctx context.Context, r *apigw.Request) (int, any, error) {
		rs := list()
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Title < rs[j].Title })
		out := make([]any, 0, len(rs))
		for _, x := range rs {
			if wantsSummary(r) {
				out = append(out, summary{ID: x.ID, AltID: x.AltID, Version: x.Version, Title: x.Title})
			} else {
				out = append(out, x)
			}
		}
		return http.StatusOK, newListing(out), nil
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
		resolved, err := xdm.Resolve(xdm.Schema{AllOf: []xdm.Ref{{Ref: res.ID}}})
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

func (h *handler) listSchemas(ctx context.Context, r *apigw.Request) (int, any, error) {
	ss, err := h.reg.ListSchemas(ctx)
	if err != nil {
		return 0, nil, err
	}
	sort.SliceStable(ss, func(i, j int) bool { return ss[i].Title < ss[j].Title })
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		if wantsSummary(r) {
			out = append(out, summary{ID: s.ID, AltID: s.AltID, Version: s.Version, Title: s.Title})
		} else {
			out = append(out, s)
		}
	}
	return http.StatusOK, newListing(out), nil
}

func (h *handler) createSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in xdm.SchemaInput
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	s, err := xdm.NewSchema(in, h.sandbox, h.now())
	if err != nil {
		return 0, nil, err
	}
	res, err := xdm.Resolve(s)
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
	s, err := h.reg.GetSchema(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if !wantsFull(r) {
		return http.StatusOK, s, nil
	}
	res, err := xdm.Resolve(s)
	if err != nil {
		return 0, nil, err
	}
	full, err := withResolved(s, res)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, full, nil
}

func (h *handler) patchSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	var ops []xdm.PatchOp
	if err := r.Decode(&ops); err != nil {
		return 0, nil, err
	}
	if len(ops) == 0 {
		return 0, nil, fault.E(fault.Invalid, "XDM-PATCH", "the patch has no operations")
	}
	s, err := h.reg.GetSchema(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if m := strings.Trim(r.Header.Get("If-Match"), `"`); m != "" && m != s.RegistryMetadata.ETag && m != s.Version {
		return 0, nil, fault.E(fault.Conflict, "SCHEMA-VERSION-CONFLICT", "the schema changed since it was read (If-Match does not match); read it again and retry")
	}
	n, err := s.Patch(ops, h.now())
	if err != nil {
		return 0, nil, err
	}
	if n.ProfileEnabled() {
		res, err := xdm.Resolve(n)
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
		// Descriptors must still point at fields of the schema.
		for _, d := range ds {
			if _, ok := res.Field(d.SourceProperty); !ok {
				return 0, nil, fault.Errorf(fault.Invalid, "XDM-BREAKING", "field %q is an identity and cannot be removed", d.SourceProperty)
			}
		}
	}
	if err := h.reg.UpdateSchema(ctx, n, s.Version); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "schema updated", "schemaId", n.ID, "version", n.Version)
	return http.StatusOK, n, nil
}

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

func (h *handler) createDescriptor(ctx context.Context, r *apigw.Request) (int, any, error) {
	var d xdm.Descriptor
	if err := r.Decode(&d); err != nil {
		return 0, nil, err
	}
	if d.SourceSchema == "" {
		return 0, nil, fault.E(fault.Invalid, "XDM-DESCRIPTOR-SCHEMA", "xdm:sourceSchema is required")
	}
	s, err := h.reg.GetSchema(ctx, d.SourceSchema)
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind == fault.NotFound {
		return 0, nil, fault.E(fault.Invalid, "XDM-DESCRIPTOR-SCHEMA", "xdm:sourceSchema does not name an existing schema")
	}
	if err != nil {
		return 0, nil, err
	}
	d.SourceSchema = s.ID
	res, err := xdm.Resolve(s)
	if err != nil {
		return 0, nil, err
	}
	existing, err := h.reg.ListDescriptors(ctx, s.ID)
	if err != nil {
		return 0, nil, err
	}
	nd, err := xdm.NewDescriptor(d, s, res, existing, h.now())
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

func (h *handler) listNamespaces(ctx context.Context, r *apigw.Request) (int, any, error) {
	return http.StatusOK, identity.Standard, nil
}

func (h *handler) getNamespace(ctx context.Context, r *apigw.Request) (int, any, error) {
	ns, ok := identity.LookupStandard(r.Param("code"))
	if !ok {
		return 0, nil, fault.Errorf(fault.NotFound, "NAMESPACE-NOT-FOUND", "identity namespace %q does not exist", r.Param("code"))
	}
	return http.StatusOK, ns, nil
}

func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "ENCODE", "resource could not be encoded")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "ENCODE", "resource could not be encoded")
	}
	return m, nil
}
