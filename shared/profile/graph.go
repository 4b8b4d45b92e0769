package profile

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Codes of the identity API (docs/identity-and-merge.md, "Identity API").
const (
	// CodeIdentityNotFound: the graph knows nothing of the identity (no
	// link, no fragment, no recorded decision).
	CodeIdentityNotFound = "IDENTITY-NOT-FOUND"
	// CodeIdentityClusterTooLarge: the identity's cluster has more identities than
	// the cluster cap, so its members are not listed (AEP answers such
	// lookups 422 "Too many related identities").
	CodeIdentityClusterTooLarge = "IDENTITY-CLUSTER-TOO-LARGE"
	// CodeTooManyInputs: a bulk members request names more than
	// MaxClusterInputs identities.
	CodeTooManyInputs = "IDENTITY-TOO-MANY-INPUTS"
)

// MaxClusterInputs is the most identities (compositeXids and xids
// together) one POST /data/core/identity/clusters/members names (AEP's
// limit; past it the request is 400).
const MaxClusterInputs = 1000

// Graph types of the identity API's graph-type parameter (AEP's values).
const (
	// GraphPrivate answers an identity's whole cluster (the default).
	GraphPrivate = "Private Graph"
	// GraphNone answers the identity alone.
	GraphNone = "None"
)

// GraphStore reads the identity graph (the profile store: its identity
// partitions and the guardrail decisions recorded on them).
type GraphStore interface {
	// Cluster walks start's cluster breadth-first, at most limit
	// identities (Truncated past them).
	Graph
	// Node reads one identity's links, with their first and last sight
	// and sources.
	Node(ctx context.Context, id identity.ID) (GraphNode, error)
	// Decisions reads the guardrail decisions recorded on id, newest
	// first, at most limit.
	Decisions(ctx context.Context, id identity.ID, limit int) ([]Decision, error)
}

// GraphNode is what the graph holds of one identity.
type GraphNode struct {
	// Found is true when the identity has a link or a profile fragment.
	Found bool
	// Neighbours are the identities it links to, in key order.
	Neighbours []identity.ID
	// Links holds each link's record by the neighbour's key.
	Links map[string]LinkRecord
}

// LinkRecord says when a link was first and last seen (epoch ms, the
// ordering times of the records that made it) and by what: Dataset and
// Source (batch id, or stream position) of the first record, LastDataset
// and LastSource of the latest.
type LinkRecord struct {
	First, Last             int64
	Dataset, Source         string
	LastDataset, LastSource string
}

// Kinds of Decision, the guardrails' (docs/rules.md#identities).
const (
	DecisionLinkRefused     = "LINK-REFUSED"
	DecisionLinkRemoved     = "LINK-REMOVED"
	DecisionIdentityEvicted = "IDENTITY-EVICTED"
)

// Decision is one recorded decision of the graph's guardrails: Kind, when
// (At, epoch ms), the identity it is recorded on and the other end of the
// refused or removed link (zero for an eviction), the unique namespace at
// stake, why, and the dataset and source of the record that asked for the
// link.
type Decision struct {
	Kind              string
	At                int64
	Identity, Other   identity.ID
	Namespace, Reason string
	Dataset, Source   string
}

// NamespaceFinder finds the tenant's identity namespaces, standard and
// custom; catalog.SpecLoader implements it, reading a just-created
// namespace on its first use.
type NamespaceFinder interface {
	Namespace(ctx context.Context, code string) (identity.Namespace, bool, error)
	Namespaces(ctx context.Context) ([]identity.Namespace, error)
}

// GraphService answers the identity API: a cluster's members (one
// identity, or up to MaxClusterInputs at once), its history (links and
// guardrail decisions) and why two identities are, or are not, one person.
type GraphService struct {
	Store GraphStore
	// Namespaces finds namespace codes and ids; nil knows the standard
	// namespaces only.
	Namespaces NamespaceFinder
	// ClusterCap is the most identities of a cluster whose members are
	// listed, and the bound of every walk; 0 means DefaultClusterCap. It
	// should be the cap the ingest functions' guardrails keep.
	ClusterCap int
	// Now is the clock deadlines are checked against; nil is time.Now.
	Now func() time.Time
	// Margin is the time a bulk read leaves before its context's deadline
	// to answer; 0 means one second.
	Margin time.Duration
}

func (g *GraphService) cap() int {
	if g.ClusterCap > 0 {
		return g.ClusterCap
	}
	return DefaultClusterCap
}

func (g *GraphService) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// CompositeXID names an identity as AEP's identity API does: a namespace
// by numeric id ({"nsid": 6, "id": "…"}) or by code ({"ns": "Email",
// "id": "…"}).
type CompositeXID struct {
	NSID *int   `json:"nsid,omitempty"`
	NS   string `json:"ns,omitempty"`
	ID   string `json:"id"`
}

// ClusterMember is one identity of an answer: its namespace's numeric id
// and code, and its normalised value.
type ClusterMember struct {
	NSID      int    `json:"nsid"`
	Namespace string `json:"namespace"`
	ID        string `json:"id"`
}

// ClusterMembers is the members of one asked identity's cluster, AEP's
// shape: xid is the asked identity's opaque id (EntityID), compositeXid the
// asked identity, members the cluster, the asked identity first.
type ClusterMembers struct {
	XID          string          `json:"xid"`
	CompositeXID ClusterMember   `json:"compositeXid"`
	Members      []ClusterMember `json:"members"`
}

// ParseGraphType reads a graph-type value: "" or "Private Graph" (the
// cluster) and "None" (the identity alone), in any case. It reports
// whether the answer is the cluster; another value is Invalid REQ-PARAM.
func ParseGraphType(v string) (stitch bool, err error) {
	switch {
	case v == "", strings.EqualFold(v, GraphPrivate):
		return true, nil
	case strings.EqualFold(v, GraphNone):
		return false, nil
	}
	return false, fault.E(fault.Invalid, "REQ-PARAM", `graph-type must be "Private Graph" or "None"`)
}

// Resolve turns an asked identity into a normalised ID: the namespace by
// code (any case) or numeric id among the standard and the tenant's custom
// namespaces. Errors: Invalid REQ-PARAM (no id, no namespace, or both ns
// and nsid), identity.CodeUnknownNamespace, and the value's refusals
// (identity.NormalizeValue).
func (g *GraphService) Resolve(ctx context.Context, x CompositeXID) (identity.ID, error) {
	switch {
	case x.ID == "":
		return identity.ID{}, fault.E(fault.Invalid, "REQ-PARAM", "an identity needs an id")
	case x.NS != "" && x.NSID != nil:
		return identity.ID{}, fault.E(fault.Invalid, "REQ-PARAM", "an identity names its namespace by code (ns) or by id (nsid), not both")
	case x.NS == "" && x.NSID == nil:
		return identity.ID{}, fault.E(fault.Invalid, "REQ-PARAM", "an identity needs its namespace: ns (code) or nsid (numeric id)")
	}
	if x.NSID != nil {
		custom, err := g.custom(ctx)
		if err != nil {
			return identity.ID{}, err
		}
		ns, ok := identity.LookupID(*x.NSID, custom)
		if !ok {
			return identity.ID{}, fault.Errorf(fault.Invalid, identity.CodeUnknownNamespace, "nsid %d is not a known namespace id", *x.NSID)
		}
		return identity.NormalizeValue(ns, x.ID)
	}
	if g.Namespaces == nil {
		return identity.Normalize(x.NS, x.ID)
	}
	ns, ok, err := g.Namespaces.Namespace(ctx, strings.TrimSpace(x.NS))
	if err != nil {
		return identity.ID{}, err
	}
	if !ok {
		return identity.Normalize(x.NS, x.ID) // says why the code is unknown
	}
	return identity.NormalizeValue(ns, x.ID)
}

// custom lists the tenant's custom namespaces (none without a finder).
func (g *GraphService) custom(ctx context.Context) ([]identity.Namespace, error) {
	if g.Namespaces == nil {
		return nil, nil
	}
	return g.Namespaces.Namespaces(ctx)
}

// memberOf is id as an answer shows it; nsid is 0 for a namespace that is
// no longer known.
func memberOf(id identity.ID, custom []identity.Namespace) ClusterMember {
	m := ClusterMember{Namespace: id.Namespace, ID: id.Value}
	if ns, ok := identity.Lookup(id.Namespace, custom); ok {
		m.NSID = ns.ID
	}
	return m
}

func membersOf(ids []identity.ID, custom []identity.Namespace) []ClusterMember {
	out := make([]ClusterMember, len(ids))
	for i, id := range ids {
		out[i] = memberOf(id, custom)
	}
	return out
}

func tooLarge(cap int) error {
	return fault.Errorf(fault.Unprocessable, CodeIdentityClusterTooLarge,
		"Too many related identities: this identity's cluster has more than %d identities (the cluster cap); "+
			"GET /data/core/identity/cluster/history lists the links of its first %d", cap, cap)
}

func notFound() error {
	return fault.E(fault.NotFound, CodeIdentityNotFound, "identity is not in the graph")
}

// Members answers GET /data/core/identity/cluster/members: the cluster of
// x (with stitch false, x alone), the asked identity first and the others
// breadth-first, as a profile lookup gathers them. Errors: Resolve's;
// NotFound CodeIdentityNotFound when the graph has neither a link nor a
// fragment of x; Unprocessable CodeIdentityClusterTooLarge when the cluster has
// more than ClusterCap identities (its members are never listed in part).
func (g *GraphService) Members(ctx context.Context, x CompositeXID, stitch bool) (ClusterMembers, error) {
	id, err := g.Resolve(ctx, x)
	if err != nil {
		return ClusterMembers{}, err
	}
	c, err := g.Store.Cluster(ctx, id, stitch, g.cap())
	if err != nil {
		return ClusterMembers{}, err
	}
	switch {
	case !c.Found:
		return ClusterMembers{}, notFound()
	case c.Truncated:
		return ClusterMembers{}, tooLarge(g.cap())
	}
	// Read after the walk: a namespace created a moment ago is then known.
	custom, err := g.custom(ctx)
	if err != nil {
		return ClusterMembers{}, err
	}
	return ClusterMembers{XID: EntityID(id), CompositeXID: memberOf(id, custom), Members: membersOf(c.Members, custom)}, nil
}

// ClustersRequest is the body of POST /data/core/identity/clusters/members
// (AEP's shape): identities by compositeXid and by xid, and the graph type.
type ClustersRequest struct {
	CompositeXIDs []CompositeXID `json:"compositeXids"`
	XIDs          []string       `json:"xids"`
	GraphType     string         `json:"graph-type"`
}

// ClustersAnswer is the answer of POST /data/core/identity/clusters/members
// (AEP's shape): one cluster entry per asked identity that was answered, in
// the order asked, and the asked identities that were not.
type ClustersAnswer struct {
	Version         string           `json:"version"`
	UnprocessedXIDs []string         `json:"unprocessedXids"`
	UnprocessedNIDs []CompositeXID   `json:"unprocessedNids"`
	Clusters        []ClusterMembers `json:"clusters"`
}

// MembersMany answers POST /data/core/identity/clusters/members: the
// cluster of each asked identity (or, with graph-type None, the identity
// alone), one entry per compositeXid in the order asked, several entries
// sharing a cluster when their identities do.
//
// Bounds: the clusters are read by one breadth-first walk from every asked
// identity at once, at most 8 partitions in flight, and no partition is
// read twice, so a cluster is walked once however many asked identities it
// holds. The walk stops Margin before the context's deadline; the asked
// identities whose cluster it had not finished are listed in
// unprocessedNids, as are those whose entries would take the answer past
// topology.MaxPageBytes (ask for them again). Also unprocessed: an identity
// of an unknown namespace or a refused value, one the graph does not know,
// and one whose cluster has more than ClusterCap identities (GET
// .../cluster/members says which, with its code). Every xid is
// unprocessed: a Mosaic xid (EntityID) is a one-way hash.
//
// Errors: Invalid CodeTooManyInputs past MaxClusterInputs identities,
// Invalid REQ-PARAM for no identity, an entry without id or namespace, or
// a bad graph-type; the store's errors.
func (g *GraphService) MembersMany(ctx context.Context, req ClustersRequest) (ClustersAnswer, error) {
	n := len(req.CompositeXIDs) + len(req.XIDs)
	switch {
	case n > MaxClusterInputs:
		return ClustersAnswer{}, fault.Errorf(fault.Invalid, CodeTooManyInputs, "%d identities asked, at most %d per request", n, MaxClusterInputs)
	case n == 0:
		return ClustersAnswer{}, fault.E(fault.Invalid, "REQ-PARAM", "compositeXids (or xids) must name at least one identity")
	}
	stitch, err := ParseGraphType(req.GraphType)
	if err != nil {
		return ClustersAnswer{}, err
	}
	for i, x := range req.CompositeXIDs {
		if x.ID == "" || (x.NS == "") == (x.NSID == nil) {
			return ClustersAnswer{}, fault.Errorf(fault.Invalid, "REQ-PARAM", "compositeXids[%d] needs an id and one of ns (code) or nsid (numeric id)", i)
		}
	}
	out := ClustersAnswer{Version: "1.0.0", UnprocessedXIDs: append([]string{}, req.XIDs...), UnprocessedNIDs: []CompositeXID{}, Clusters: []ClusterMembers{}}

	ids := make([]identity.ID, len(req.CompositeXIDs))
	ok := make([]bool, len(req.CompositeXIDs))
	var starts []identity.ID
	for i, x := range req.CompositeXIDs {
		id, err := g.Resolve(ctx, x)
		if err != nil {
			if fault.KindOf(err) == fault.Invalid {
				continue // unknown namespace or refused value: unprocessed
			}
			return ClustersAnswer{}, err
		}
		ids[i], ok[i] = id, true
		starts = append(starts, id)
	}
	w := newGraphWalk(g.Store, g.cap(), stitch)
	if dl, has := ctx.Deadline(); has {
		margin := g.Margin
		if margin <= 0 {
			margin = time.Second
		}
		w.stop, w.now = dl.Add(-margin), g.now
	}
	if err := w.run(ctx, starts); err != nil {
		return ClustersAnswer{}, err
	}
	custom, err := g.custom(ctx)
	if err != nil {
		return ClustersAnswer{}, err
	}
	size := 0
	for i, x := range req.CompositeXIDs {
		if !ok[i] || !w.answered(ids[i]) {
			out.UnprocessedNIDs = append(out.UnprocessedNIDs, x)
			continue
		}
		members := []identity.ID{ids[i]}
		if stitch {
			members = w.members(ids[i])
		}
		c := ClusterMembers{XID: EntityID(ids[i]), CompositeXID: memberOf(ids[i], custom), Members: membersOf(members, custom)}
		b, err := json.Marshal(c)
		if err != nil {
			return ClustersAnswer{}, fault.Wrap(err, fault.Internal, "IDENTITY-ENCODE", "cluster could not be encoded")
		}
		if size+len(b)+1 > topology.MaxPageBytes {
			out.UnprocessedNIDs = append(out.UnprocessedNIDs, x)
			continue
		}
		size += len(b) + 1
		out.Clusters = append(out.Clusters, c)
	}
	return out, nil
}

// cursorOf is a page cursor of an entry ordered by at (epoch ms, newest
// first) then by key: it names no identity value.
func cursorOf(at int64, key string) string { return strconv.FormatInt(at, 10) + ":" + key }

func parseCursor(s string) (at int64, key string, err error) {
	a, k, ok := strings.Cut(s, ":")
	n, perr := strconv.ParseInt(a, 10, 64)
	if !ok || perr != nil || k == "" {
		return 0, "", fault.E(fault.Invalid, "IDENTITY-CURSOR", "start is not a cursor this API returned")
	}
	return n, k, nil
}
