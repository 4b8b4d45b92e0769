package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/profile"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

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
	// policies are the merge policies (policies.go): policies resolves
	// them for reads, policyAdmin lists and changes them; newPolicies
	// gives both.
	policies    policyStore
	policyAdmin policyAdmin
	// graph answers the identity API (identity.go).
	graph graphReader
	// jobs are the profile jobs (jobs.go).
	jobs jobStore
}

func newHandler(ctx context.Context, getenv awsenv.Getenv) (*handler, error) {
	env, err := awsenv.Require(getenv, topology.EnvProfileTable, topology.EnvCatalogTable, topology.EnvLandingBucket)
	if err != nil {
		return nil, err
	}
	c, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	clusterCap, err := store.ParseClusterCap(getenv(topology.EnvClusterCap))
	if err != nil {
		return nil, err
	}
	prof := store.NewProfiles(c.DynamoDB, env[topology.EnvProfileTable])
	prof.SetGraphRules(store.GraphRules{Cap: clusterCap})
	cat := store.NewCatalog(c.DynamoDB, env[topology.EnvCatalogTable])
	ns := catalog.NewSpecLoader(cat)
	h, err := newService(&profile.Service{Graph: prof, Events: prof, Namespaces: ns.Namespace, ClusterCap: clusterCap}, ns, getenv(topology.EnvSandboxName))
	if err != nil {
		return nil, err
	}
	pc := newPolicies(cat)
	h.policies, h.policyAdmin = pc, pc
	h.graph = newGraph(prof, ns, clusterCap)
	h.jobs = newJobs(c, cat, env[topology.EnvLandingBucket])
	return h, nil
}

// Routes of profile-api, as topology declares them.
const (
	routeEntities       = "GET /data/core/ups/access/entities"
	routeEntitiesPost   = "POST /data/core/ups/access/entities"
	routeEntitiesDelete = "DELETE /data/core/ups/access/entities"
	routePolicies       = "GET /data/core/ups/config/mergePolicies"
	routePolicyCreate   = "POST /data/core/ups/config/mergePolicies"
	routePolicyBulkGet  = "POST /data/core/ups/config/mergePolicies/bulk-get"
	routePolicy         = "GET /data/core/ups/config/mergePolicies/{id}"
	routePolicyPut      = "PUT /data/core/ups/config/mergePolicies/{id}"
	routePolicyPatch    = "PATCH /data/core/ups/config/mergePolicies/{id}"
	routePolicyDelete   = "DELETE /data/core/ups/config/mergePolicies/{id}"
	routeJobs           = "GET /data/core/ups/system/jobs"
	routeJobCreate      = "POST /data/core/ups/system/jobs"
	routeJob            = "GET /data/core/ups/system/jobs/{id}"
	routeJobDelete      = "DELETE /data/core/ups/system/jobs/{id}"
	routeMembers        = "GET /data/core/identity/cluster/members"
	routeClustersPost   = "POST /data/core/identity/clusters/members"
	routeHistory        = "GET /data/core/identity/cluster/history"
	routeExplain        = "GET /data/core/identity/cluster/explain"
)

// newService builds the handler and its router from the routes topology
// declares for profile-api; it fails when the two disagree.
func newService(p profiles, ns namespaces, sandbox string) (*handler, error) {
	// Policies are kept in the process until newHandler gives the table.
	pc := newPolicies(newMemoryPolicies())
	h := &handler{profiles: p, ns: ns, policies: pc, policyAdmin: pc}
	var err error
	if h.router, err = apigw.RouterOf("profile-api", sandbox, h.routes()); err != nil {
		return nil, err
	}
	return h, nil
}

// routes maps each route key of profile-api to the func that serves it.
func (h *handler) routes() map[string]apigw.HandlerFunc {
	return map[string]apigw.HandlerFunc{
		routeEntities:       h.entities,
		routeEntitiesPost:   h.entitiesPost,
		routeEntitiesDelete: h.entitiesDelete,
		routePolicies:       h.listPolicies,
		routePolicyCreate:   h.createPolicy,
		routePolicyBulkGet:  h.bulkGetPolicies,
		routePolicy:         h.getPolicy,
		routePolicyPut:      h.putPolicy,
		routePolicyPatch:    h.patchPolicy,
		routePolicyDelete:   h.deletePolicy,
		routeJobs:           h.listJobs,
		routeJobCreate:      h.createJob,
		routeJob:            h.getJob,
		routeJobDelete:      h.deleteJob,
		routeMembers:        h.members,
		routeClustersPost:   h.clustersMembers,
		routeHistory:        h.history,
		routeExplain:        h.explain,
	}
}

// Handle is the Lambda entry point.
func (h *handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.router.Serve(ctx, ev)
}
