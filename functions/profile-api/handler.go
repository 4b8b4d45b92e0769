package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/profile"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

type profiles interface {
	Lookup(ctx context.Context, namespace, value string, p merge.Policy, fields []string) (map[string]profile.Entity, error)
	Members(ctx context.Context, namespace, value string) ([]identity.ID, error)
	Timeline(ctx context.Context, q profile.EventQuery) (profile.EventPage, error)
}

// namespaces finds the tenant's identity namespaces, standard and custom;
// catalog.SpecLoader implements it with a cache that reads a just-created
// namespace on its first use.
type namespaces interface {
	Namespace(ctx context.Context, code string) (identity.Namespace, bool, error)
	Namespaces(ctx context.Context) ([]identity.Namespace, error)
}

type handler struct {
	router   *apigw.Router
	profiles profiles
	ns       namespaces
	// policies are the merge policies; for now the defaults of each class.
	policies []merge.Policy
}

func newHandler(ctx context.Context, getenv awsenv.Getenv) (*handler, error) {
	env, err := awsenv.Require(getenv, topology.EnvProfileTable, topology.EnvCatalogTable)
	if err != nil {
		return nil, err
	}
	c, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	prof := store.NewProfiles(c.DynamoDB, env[topology.EnvProfileTable])
	ns := catalog.NewSpecLoader(store.NewCatalog(c.DynamoDB, env[topology.EnvCatalogTable]))
	return newService(&profile.Service{Graph: prof, Events: prof, Namespaces: ns.Namespace}, ns, getenv(topology.EnvSandboxName))
}

const (
	routeEntities = "GET /data/core/ups/access/entities"
	routePolicies = "GET /data/core/ups/config/mergePolicies"
	routePolicy   = "GET /data/core/ups/config/mergePolicies/{id}"
	routeMembers  = "GET /data/core/identity/cluster/members"
)

// newService builds the handler and its router from the routes topology
// declares for profile-api; it fails when the two disagree.
func newService(p profiles, ns namespaces, sandbox string) (*handler, error) {
	h := &handler{profiles: p, ns: ns, policies: merge.Defaults()}
	var err error
	if h.router, err = apigw.RouterOf("profile-api", sandbox, h.routes()); err != nil {
		return nil, err
	}
	return h, nil
}

// routes maps each route key of profile-api to the func that serves it.
func (h *handler) routes() map[string]apigw.HandlerFunc {
	return map[string]apigw.HandlerFunc{
		routeEntities: h.entities,
		routePolicies: h.listPolicies,
		routePolicy:   h.getPolicy,
		routeMembers:  h.members,
	}
}

// Handle is the Lambda entry point.
func (h *handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.router.Serve(ctx, ev)
}

func required(q url.Values, names ...string) (map[string]string, error) {
	out := map[string]string{}
	var missing []string
	for _, n := range names {
		v := q.Get(n)
		if v == "" {
			missing = append(missing, n)
		}
		out[n] = v
	}
	if len(missing) > 0 {
		return nil, fault.Errorf(fault.Invalid, "REQ-PARAM", "missing query parameters: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func (h *handler) policy(id, schemaName string) (merge.Policy, error) {
	if id == "" {
		if p, ok := merge.Default(schemaName); ok {
			return p, nil
		}
		return merge.Policy{}, fault.E(fault.Invalid, "MERGE-POLICY-NO-DEFAULT", "the class has no default merge policy")
	}
	for _, p := range h.policies {
		if p.ID == id {
			if p.Schema.Name != schemaName {
				return merge.Policy{}, fault.E(fault.Invalid, "MERGE-POLICY-SCHEMA", "the merge policy is for another class")
			}
			return p, nil
		}
	}
	return merge.Policy{}, fault.E(fault.NotFound, "MERGE-POLICY-NOT-FOUND", "no such merge policy")
}

func fieldsOf(q url.Values) []string {
	f := q.Get("fields")
	if f == "" {
		return nil
	}
	return strings.Split(f, ",")
}

func (h *handler) entities(ctx context.Context, r *apigw.Request) (int, any, error) {
	switch r.Query.Get("schema.name") {
	case merge.ProfileSchema:
		p, err := required(r.Query, "entityId", "entityIdNS")
		if err != nil {
			return 0, nil, err
		}
		pol, err := h.policy(r.Query.Get("mergePolicyId"), merge.ProfileSchema)
		if err != nil {
			return 0, nil, err
		}
		res, err := h.profiles.Lookup(ctx, p["entityIdNS"], p["entityId"], pol, fieldsOf(r.Query))
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, res, nil
	case merge.EventSchema:
		return h.events(ctx, r)
	case "":
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "missing query parameter: schema.name")
	}
	return 0, nil, fault.E(fault.Invalid, "REQ-SCHEMA", "schema.name must be _xdm.context.profile or _xdm.context.experienceevent")
}

type eventsPage struct {
	Page struct {
		OrderBy string `json:"orderby"`
		Start   string `json:"start"`
		Count   int    `json:"count"`
		Next    string `json:"next"`
	} `json:"_page"`
	Children []profile.EventChild `json:"children"`
	Links    struct {
		Next struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
}

func intParam(q url.Values, name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fault.Errorf(fault.Invalid, "REQ-PARAM", "%s must be a non-negative integer", name)
	}
	return n, nil
}

func (h *handler) events(ctx context.Context, r *apigw.Request) (int, any, error) {
	p, err := required(r.Query, "relatedSchema.name", "relatedEntityId", "relatedEntityIdNS")
	if err != nil {
		return 0, nil, err
	}
	if p["relatedSchema.name"] != merge.ProfileSchema {
		return 0, nil, fault.E(fault.Invalid, "REQ-SCHEMA", "relatedSchema.name must be _xdm.context.profile")
	}
	q := profile.EventQuery{Namespace: p["relatedEntityIdNS"], Value: p["relatedEntityId"], Start: r.Query.Get("start"), Fields: fieldsOf(r.Query)}
	if q.From, err = intParam(r.Query, "startTime"); err != nil {
		return 0, nil, err
	}
	if q.To, err = intParam(r.Query, "endTime"); err != nil {
		return 0, nil, err
	}
	limit, err := intParam(r.Query, "limit")
	if err != nil {
		return 0, nil, err
	}
	q.Limit = int(min(limit, profile.MaxEventsPerPage))
	order := r.Query.Get("orderby")
	if order == "" {
		order = r.Query.Get("orderBy")
	}
	switch order {
	case "", "timestamp", "+timestamp":
	case "-timestamp":
		q.Descending = true
	default:
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "orderby must be +timestamp or -timestamp")
	}
	page, err := h.profiles.Timeline(ctx, q)
	if err != nil {
		return 0, nil, err
	}
	var out eventsPage
	out.Page.OrderBy = "timestamp"
	if q.Descending {
		out.Page.OrderBy = "-timestamp"
	}
	out.Page.Start = q.Start
	out.Page.Count = len(page.Children)
	out.Page.Next = page.Next
	out.Children = page.Children
	if page.Next != "" {
		next := url.Values{}
		for k, v := range r.Query {
			next[k] = v
		}
		next.Set("start", page.Next)
		out.Links.Next.Href = "/entities?" + next.Encode()
	}
	return http.StatusOK, out, nil
}

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

func (h *handler) listPolicies(_ context.Context, r *apigw.Request) (int, any, error) {
	var out policyList
	out.Children = []merge.Policy{}
	schema, def := r.Query.Get("schema.name"), r.Query.Get("default")
	for _, p := range h.policies {
		if schema != "" && p.Schema.Name != schema {
			continue
		}
		if def != "" && strconv.FormatBool(p.Default) != def {
			continue
		}
		out.Children = append(out.Children, p)
	}
	out.Page.TotalCount = len(out.Children)
	out.Page.PageSize = len(out.Children)
	return http.StatusOK, out, nil
}

func (h *handler) getPolicy(_ context.Context, r *apigw.Request) (int, any, error) {
	id := r.Param("id")
	for _, p := range h.policies {
		if p.ID == id {
			return http.StatusOK, p, nil
		}
	}
	return 0, nil, fault.E(fault.NotFound, "MERGE-POLICY-NOT-FOUND", "no such merge policy")
}

type member struct {
	NSID      int    `json:"nsid"`
	Namespace string `json:"namespace"`
	ID        string `json:"id"`
}

type clusterMembers struct {
	XID          string   `json:"xid"`
	CompositeXID member   `json:"compositeXid"`
	Members      []member `json:"members"`
}

func memberOf(id identity.ID, custom []identity.Namespace) member {
	m := member{Namespace: id.Namespace, ID: id.Value}
	if ns, ok := identity.Lookup(id.Namespace, custom); ok {
		m.NSID = ns.ID
	}
	return m
}

// members answers AEP's cluster members read; the namespace, standard or
// custom, is given by code (namespace or ns) or by its numeric id (nsId).
func (h *handler) members(ctx context.Context, r *apigw.Request) (int, any, error) {
	ns := r.Query.Get("namespace")
	if ns == "" {
		ns = r.Query.Get("ns")
	}
	if ns == "" && r.Query.Get("nsId") != "" {
		custom, err := h.custom(ctx)
		if err != nil {
			return 0, nil, err
		}
		if n, err := strconv.Atoi(r.Query.Get("nsId")); err == nil {
			if found, ok := identity.LookupID(n, custom); ok {
				ns = found.Code
			}
		}
		if ns == "" {
			return 0, nil, fault.E(fault.Invalid, identity.CodeUnknownNamespace, "nsId is not a known namespace id")
		}
	}
	if ns == "" || r.Query.Get("id") == "" {
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "namespace (or ns, nsId) and id are required")
	}
	ids, err := h.profiles.Members(ctx, ns, r.Query.Get("id"))
	if err != nil {
		return 0, nil, err
	}
	// Read after the lookup, which reads a just-created namespace.
	custom, err := h.custom(ctx)
	if err != nil {
		return 0, nil, err
	}
	out := clusterMembers{XID: profile.EntityID(ids[0]), CompositeXID: memberOf(ids[0], custom), Members: make([]member, len(ids))}
	for i, id := range ids {
		out.Members[i] = memberOf(id, custom)
	}
	return http.StatusOK, out, nil
}

// custom lists the tenant's custom namespaces (none without a source).
func (h *handler) custom(ctx context.Context) ([]identity.Namespace, error) {
	if h.ns == nil {
		return nil, nil
	}
	return h.ns.Namespaces(ctx)
}
