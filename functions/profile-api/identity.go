package main

import (
	"context"
	"net/http"
	"strconv"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/profile"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// graphReader answers the identity API's history and explain reads.
type graphReader interface{}

func newGraph(prof *store.Profiles, ns *catalog.SpecLoader) graphReader { return nil }

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

func (h *handler) clustersMembers(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("clusters members")
}
func (h *handler) history(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("cluster history")
}
func (h *handler) explain(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("explain")
}
