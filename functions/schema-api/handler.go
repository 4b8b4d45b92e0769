package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// The handlers' ports, one per catalog resource; store.Catalog provides
// them all. The union and stats views have none of their own: they read
// the schemas and field groups through List.

// versioned is a versioned registry resource, tenant schemas or field
// groups (store.Versioned): read by altId or $id, updated only from the
// version read, with NotFound, Conflict "<CODE>-EXISTS" and
// "<CODE>-VERSION-CONFLICT" errors.
type versioned[T any] interface {
	Create(ctx context.Context, v T) error
	Get(ctx context.Context, id string) (T, error)
	List(ctx context.Context) ([]T, error)
	Update(ctx context.Context, v T, prevVersion string) error
	Delete(ctx context.Context, id string) error
}

// descriptorStore keeps descriptors; a schema has at most one primary
// identity descriptor (Conflict "XDM-PRIMARY-EXISTS").
type descriptorStore interface {
	CreateDescriptor(ctx context.Context, d xdm.Descriptor) error
	GetDescriptor(ctx context.Context, id string) (xdm.Descriptor, error)
	ListDescriptors(ctx context.Context, schemaID string) ([]xdm.Descriptor, error)
	PutDescriptor(ctx context.Context, prev, d xdm.Descriptor) error
	DeleteDescriptor(ctx context.Context, d xdm.Descriptor) error
}

// namespaceStore keeps the custom identity namespaces, by code in any case,
// and the tenant's settings of standard ones (identity.Override). A custom
// namespace is updated only from the version read (Conflict
// "NAMESPACE-VERSION-CONFLICT").
type namespaceStore interface {
	CreateNamespace(ctx context.Context, ns identity.Namespace) error
	GetNamespace(ctx context.Context, code string) (identity.Namespace, error)
	ListNamespaces(ctx context.Context) ([]identity.Namespace, error)
	UpdateNamespace(ctx context.Context, ns, prev identity.Namespace) error
	PutNamespaceOverride(ctx context.Context, o identity.Override) error
	ListNamespaceOverrides(ctx context.Context) ([]identity.Override, error)
}

// datasetLister lists the datasets, which lock the schemas they use.
type datasetLister interface {
	ListDatasets(ctx context.Context) ([]catalog.Dataset, error)
}

// registry is the catalog as the handler needs it, one port per resource.
type registry struct {
	schemas     versioned[xdm.Schema]
	fieldGroups versioned[xdm.FieldGroup]
	descriptors descriptorStore
	namespaces  namespaceStore
	datasets    datasetLister
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
	if err := xdm.SetTenant(getenv(topology.EnvTenantID)); err != nil {
		return nil, fmt.Errorf("%s: %w", topology.EnvTenantID, err)
	}
	clients, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	cat := store.NewCatalog(clients.DynamoDB, env[topology.EnvCatalogTable])
	reg := registry{schemas: cat.Schemas, fieldGroups: cat.FieldGroups, descriptors: cat, namespaces: cat, datasets: cat}
	return newService(reg, getenv(topology.EnvSandboxName), time.Now)
}

const (
	registryBase = "/data/foundation/schemaregistry"
	namespaceAPI = "/data/core/idnamespace/identities"
)

// newService builds the handler and its router from the routes topology
// declares for schema-api; it fails when the two disagree.
func newService(reg registry, sandbox string, now func() time.Time) (*handler, error) {
	h := &handler{reg: reg, sandbox: sandbox, now: now}
	var err error
	if h.router, err = apigw.RouterOf("schema-api", sandbox, h.routes()); err != nil {
		return nil, err
	}
	return h, nil
}

// routes maps each route key of schema-api to the func that serves it.
func (h *handler) routes() map[string]apigw.HandlerFunc {
	return map[string]apigw.HandlerFunc{
		"GET " + registryBase + "/global/classes":             h.listGlobal(xdm.Classes),
		"GET " + registryBase + "/global/classes/{id}":        h.getGlobal(xdm.LookupClass, "CLASS-NOT-FOUND", "class"),
		"GET " + registryBase + "/global/fieldgroups":         h.listGlobal(xdm.FieldGroups),
		"GET " + registryBase + "/global/fieldgroups/{id}":    h.getGlobal(xdm.LookupFieldGroup, "FIELDGROUP-NOT-FOUND", "field group"),
		"GET " + registryBase + "/tenant/fieldgroups":         h.listFieldGroups,
		"POST " + registryBase + "/tenant/fieldgroups":        h.createFieldGroup,
		"GET " + registryBase + "/tenant/fieldgroups/{id}":    h.getFieldGroup,
		"PUT " + registryBase + "/tenant/fieldgroups/{id}":    h.putFieldGroup,
		"PATCH " + registryBase + "/tenant/fieldgroups/{id}":  h.patchFieldGroup,
		"DELETE " + registryBase + "/tenant/fieldgroups/{id}": h.deleteFieldGroup,
		"GET " + registryBase + "/tenant/schemas":             h.listSchemas,
		"POST " + registryBase + "/tenant/schemas":            h.createSchema,
		"GET " + registryBase + "/tenant/schemas/{id}":        h.getSchema,
		"PUT " + registryBase + "/tenant/schemas/{id}":        h.putSchema,
		"PATCH " + registryBase + "/tenant/schemas/{id}":      h.patchSchema,
		"DELETE " + registryBase + "/tenant/schemas/{id}":     h.deleteSchema,
		"GET " + registryBase + "/tenant/descriptors":         h.listDescriptors,
		"POST " + registryBase + "/tenant/descriptors":        h.createDescriptor,
		"GET " + registryBase + "/tenant/descriptors/{id}":    h.getDescriptor,
		"PUT " + registryBase + "/tenant/descriptors/{id}":    h.putDescriptor,
		"DELETE " + registryBase + "/tenant/descriptors/{id}": h.deleteDescriptor,
		"GET " + registryBase + "/tenant/unions":              h.listUnions,
		"GET " + registryBase + "/tenant/unions/{id}":         h.getUnion,
		"GET " + registryBase + "/stats":                      h.stats,
		"GET " + namespaceAPI:                                 h.listNamespaces,
		"POST " + namespaceAPI:                                h.createNamespace,
		"GET " + namespaceAPI + "/{code}":                     h.getNamespace,
		"PUT " + namespaceAPI + "/{code}":                     h.putNamespace,
	}
}

// Handle is the Lambda entry point.
func (h *handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.router.Serve(ctx, ev)
}

func decodeInput(r *apigw.Request, v any) error {
	var m map[string]json.RawMessage
	if err := r.Decode(&m); err != nil {
		return err
	}
	for _, k := range xdm.ReadOnly {
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
