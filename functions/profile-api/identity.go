package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/profile"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// graphReader answers the identity API (profile.GraphService).
type graphReader interface {
	Members(ctx context.Context, x profile.CompositeXID, stitch bool) (profile.ClusterMembers, error)
	MembersMany(ctx context.Context, req profile.ClustersRequest) (profile.ClustersAnswer, error)
	History(ctx context.Context, q profile.HistoryQuery) (profile.HistoryPage, error)
	Explain(ctx context.Context, a, b profile.CompositeXID) (profile.Explanation, error)
}

// storeReads are the graph reads of the profile store (store.Profiles).
type storeReads interface {
	Cluster(ctx context.Context, start identity.ID, stitch bool, limit int) (merge.Candidates, error)
	Partition(ctx context.Context, id identity.ID) (store.Partition, error)
	GraphEvents(ctx context.Context, id identity.ID, limit int) ([]store.GraphEvent, error)
}

// storeGraph is the profile store as the identity API reads it.
type storeGraph struct{ storeReads }

// Node reads id's partition (its links; its fragments are not needed).
func (s storeGraph) Node(ctx context.Context, id identity.ID) (profile.GraphNode, error) {
	p, err := s.Partition(ctx, id)
	if err != nil {
		return profile.GraphNode{}, err
	}
	n := profile.GraphNode{Found: p.Found, Neighbours: p.Neighbours}
	if len(p.Links) > 0 {
		n.Links = make(map[string]profile.LinkRecord, len(p.Links))
		for k, l := range p.Links {
			n.Links[k] = profile.LinkRecord{First: l.First, Last: l.Last, Dataset: l.Dataset, Source: l.Source, LastDataset: l.LastDataset, LastSource: l.LastSource}
		}
	}
	return n, nil
}

// Decisions reads the guardrail decisions recorded on id.
func (s storeGraph) Decisions(ctx context.Context, id identity.ID, limit int) ([]profile.Decision, error) {
	evs, err := s.GraphEvents(ctx, id, limit)
	if err != nil {
		return nil, err
	}
	out := make([]profile.Decision, len(evs))
	for i, e := range evs {
		out[i] = profile.Decision{Kind: e.Kind, At: e.At, Identity: e.Identity, Other: e.Other, Namespace: e.Namespace, Reason: e.Reason, Dataset: e.Dataset, Source: e.Source}
	}
	return out, nil
}

// newGraph is the identity API over the profile store and the tenant's
// namespaces (catalog.SpecLoader).
func newGraph(st storeReads, ns profile.NamespaceFinder, clusterCap int) *profile.GraphService {
	return &profile.GraphService{Store: storeGraph{st}, Namespaces: ns, ClusterCap: clusterCap}
}

// identityParam reads an identity from the query: its value in idName, its
// namespace by code in the first of codeNames that is set, else by numeric
// id in nsIDName. Errors: Invalid REQ-PARAM naming what is missing or
// malformed.
func identityParam(q url.Values, idName, nsIDName string, codeNames ...string) (profile.CompositeXID, error) {
	x := profile.CompositeXID{ID: q.Get(idName)}
	for _, n := range codeNames {
		if x.NS = q.Get(n); x.NS != "" {
			break
		}
	}
	if x.NS == "" && q.Get(nsIDName) != "" {
		n, err := strconv.Atoi(q.Get(nsIDName))
		if err != nil {
			return x, fault.Errorf(fault.Invalid, "REQ-PARAM", "%s must be a namespace's numeric id", nsIDName)
		}
		x.NSID = &n
	}
	if x.ID == "" || (x.NS == "" && x.NSID == nil) {
		return x, fault.Errorf(fault.Invalid, "REQ-PARAM", "%s (or %s) and %s are required", codeNames[0], nsIDName, idName)
	}
	return x, nil
}

// members answers AEP's cluster members read: the identity by namespace
// code (namespace or ns) or numeric id (nsId) and id; graph-type "Private
// Graph" (default) answers its cluster, "None" the identity alone.
func (h *handler) members(ctx context.Context, r *apigw.Request) (int, any, error) {
	x, err := identityParam(r.Query, "id", "nsId", "namespace", "ns")
	if err != nil {
		return 0, nil, err
	}
	stitch, err := profile.ParseGraphType(r.Query.Get("graph-type"))
	if err != nil {
		return 0, nil, err
	}
	out, err := h.graph.Members(ctx, x, stitch)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// clustersMembers answers AEP's bulk cluster members read (body
// profile.ClustersRequest, at most 1,000 identities).
func (h *handler) clustersMembers(ctx context.Context, r *apigw.Request) (int, any, error) {
	var req profile.ClustersRequest
	if err := r.Decode(&req); err != nil {
		return 0, nil, err
	}
	out, err := h.graph.MembersMany(ctx, req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

type historyAnswer struct {
	profile.HistoryPage
	Links struct {
		Next struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
}

// history answers a cluster's history: namespace (or ns, nsId) and id,
// limit and start.
func (h *handler) history(ctx context.Context, r *apigw.Request) (int, any, error) {
	x, err := identityParam(r.Query, "id", "nsId", "namespace", "ns")
	if err != nil {
		return 0, nil, err
	}
	limit, err := intParam(r.Query, "limit")
	if err != nil {
		return 0, nil, err
	}
	if r.Query.Has("limit") && (limit < 1 || limit > profile.MaxHistoryLimit) {
		return 0, nil, fault.Errorf(fault.Invalid, "REQ-PARAM", "limit must be 1 to %d", profile.MaxHistoryLimit)
	}
	page, err := h.graph.History(ctx, profile.HistoryQuery{Identity: x, Limit: int(min(limit, profile.MaxHistoryLimit)), Start: r.Query.Get("start")})
	if err != nil {
		return 0, nil, err
	}
	out := historyAnswer{HistoryPage: page}
	if page.Page.Next != "" {
		next := url.Values{}
		for k, v := range r.Query {
			next[k] = v
		}
		next.Set("start", page.Page.Next)
		out.Links.Next.Href = "/cluster/history?" + next.Encode()
	}
	return http.StatusOK, out, nil
}

// explain answers whether two identities are one person and why: the
// first by namespace (or ns, nsId) and id, the second by toNamespace (or
// toNs, toNsId) and toId.
func (h *handler) explain(ctx context.Context, r *apigw.Request) (int, any, error) {
	a, err := identityParam(r.Query, "id", "nsId", "namespace", "ns")
	if err != nil {
		return 0, nil, err
	}
	b, err := identityParam(r.Query, "toId", "toNsId", "toNamespace", "toNs")
	if err != nil {
		return 0, nil, err
	}
	out, err := h.graph.Explain(ctx, a, b)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}
