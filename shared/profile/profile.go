// Package profile answers "who is this person": it walks the identity graph
// from an asked identity, merges the fragments it finds under a merge policy
// and shapes the result as AEP's Profile Access API does. It also reads a
// cluster's members and its experience-event timeline.
package profile

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

// Graph reads a cluster's members and fragments (the profile store).
type Graph interface {
	Cluster(ctx context.Context, start identity.ID, stitch bool, limit int) (merge.Candidates, error)
}

// EventReader reads one identity's events in a time window.
type EventReader interface {
	Events(ctx context.Context, id identity.ID, from, to int64, limit int, descending bool) ([]merge.Event, error)
}

// DefaultClusterCap bounds a lookup (docs/rules.md#limits).
const DefaultClusterCap = 50

// CodeNotFound is the code of a lookup of an unknown identity.
const CodeNotFound = "PROFILE-NOT-FOUND"

// Service reads profiles.
type Service struct {
	Graph      Graph
	Events     EventReader
	ClusterCap int
	// Namespaces finds an identity namespace by code, standard or the
	// tenant's custom one (catalog.SpecLoader.Namespace); nil knows the
	// standard namespaces only.
	Namespaces func(ctx context.Context, code string) (identity.Namespace, bool, error)
}

// normalize turns an asked (namespace, value) into an ID among the
// standard and the tenant's custom namespaces; an unknown namespace is
// Invalid identity.CodeUnknownNamespace.
func (s *Service) normalize(ctx context.Context, namespace, value string) (identity.ID, error) {
	if s.Namespaces == nil {
		return identity.Normalize(namespace, value)
	}
	ns, ok, err := s.Namespaces(ctx, namespace)
	if err != nil {
		return identity.ID{}, err
	}
	if !ok {
		return identity.Normalize(namespace, value)
	}
	return identity.NormalizeValue(ns, value)
}

// CodeClusterTooLarge is the code of a read of a cluster with more
// identities than the cap (AEP answers 422 "Too many related identities").
const CodeClusterTooLarge = "PROFILE-CLUSTER-TOO-LARGE"

// NoDataLastModified is the lastModifiedAt of AEP's entry for an identity
// with no profile data.
const NoDataLastModified = "1970-01-01T00:00:00Z"

// PolicyRef names the merge policy a read used.
type PolicyRef struct {
	ID string `json:"id"`
}

// NamespaceRef is AEP's {"code": …}.
type NamespaceRef struct {
	Code string `json:"code"`
}

// IdentityRef is one identity of a cluster, as AEP lists them.
type IdentityRef struct {
	Namespace NamespaceRef `json:"namespace"`
	ID        string       `json:"id"`
	Primary   bool         `json:"primary,omitempty"`
}

// Entity is one entry of the access/entities answer.
type Entity struct {
	EntityID    string         `json:"entityId"`
	MergePolicy PolicyRef      `json:"mergePolicy"`
	Sources     []string       `json:"sources"`
	Identities  []IdentityRef  `json:"identities"`
	Entity      map[string]any `json:"entity"`
	// LastModifiedAt is the newest ordering time of the merged fragments,
	// RFC 3339 in UTC to the second.
	LastModifiedAt string `json:"lastModifiedAt"`
	// Provenance, when asked for, is where each returned value came from,
	// keyed by dotted path (merge.Result.Provenance); {} for an entry with
	// no data, absent when not asked for.
	Provenance map[string]Provenance `json:"provenance,omitzero"`
}

// Origin is the fragment a merged value came from, as the API shows it:
// its dataset, its batch (absent for a streamed record), the record's
// position (source: "batch:…:<file>:<row>", "s3:<key>#<upload>:<row>" or
// "kinesis:<shard>:<sequence>"), its ordering time (RFC 3339 UTC with
// milliseconds) and the identity whose fragment it is.
type Origin struct {
	DataSetID string      `json:"dataSetId"`
	BatchID   string      `json:"batchId,omitempty"`
	Source    string      `json:"source,omitempty"`
	Timestamp string      `json:"timestamp"`
	Identity  IdentityRef `json:"identity"`
}

// Provenance is where one merged value came from; for an identityMap
// entry, fragments lists every fragment holding it, the winner first.
type Provenance struct {
	Origin
	Fragments []Origin `json:"fragments,omitempty"`
}

// EntityID is the stable, opaque id of an asked identity: it plays the part
// of AEP's XID and reveals nothing of the value.
func EntityID(id identity.ID) string {
	sum := sha256.Sum256([]byte(id.Key()))
	return base64.RawURLEncoding.EncodeToString(sum[:20])
}

func (s *Service) cap() int {
	if s.ClusterCap > 0 {
		return s.ClusterCap
	}
	return DefaultClusterCap
}

// clusterTooLarge is the error of a read that met more identities than
// the cap: a merge of part of a cluster would be a wrong profile.
func (s *Service) clusterTooLarge() error {
	return fault.Errorf(fault.Unprocessable, CodeClusterTooLarge,
		"Too many related identities: the identity's cluster has more than %d identities (the cluster cap); "+
			"GET /data/core/identity/cluster/history shows its links and the graph's guardrail decisions", s.cap())
}

// LookupQuery asks for one merged profile.
type LookupQuery struct {
	// Namespace (a code, any case) and Value name the asked identity.
	Namespace, Value string
	Policy           merge.Policy
	// Fields, when not empty, keeps only those dotted paths of the entity
	// (and of its provenance); "identities" adds AEP's synthetic list of
	// the cluster's identities to the entity.
	Fields []string
	// Provenance asks for Entity.Provenance.
	Provenance bool
}

// Lookup returns the merged profile of the asked identity under its
// policy: with identityGraph pdg the fragments of every identity of its
// cluster, with none only its own (merge.Select); identities lists the
// identities read, the asked one first and flagged primary. An identity
// with no data (unknown, or no fragment the policy takes) gets AEP's
// no-data entry: entity {}, sources [""], lastModifiedAt
// NoDataLastModified. A query without Namespace names an AEP XID (AEP's
// internal id of an identity), which Mosaic does not keep: it gets the
// no-data entry keyed by Value as given, with no identities. Errors: the
// namespace's and value's Invalid errors (identity.Normalize),
// Unprocessable CodeClusterTooLarge when the cluster has more identities
// than the cap, and the store's.
func (s *Service) Lookup(ctx context.Context, q LookupQuery) (Entity, error) {
	if q.Namespace == "" {
		e := NoData(q.Value, nil, q.Policy)
		if q.Provenance {
			e.Provenance = map[string]Provenance{}
		}
		return e, nil
	}
	id, err := s.normalize(ctx, q.Namespace, q.Value)
	if err != nil {
		return Entity{}, err
	}
	c, err := s.Graph.Cluster(ctx, id, q.Policy.IdentityGraph.Type == merge.GraphPDG, s.cap())
	if err != nil {
		return Entity{}, err
	}
	if c.Truncated {
		return Entity{}, s.clusterTooLarge()
	}
	members := c.Members
	if len(members) == 0 {
		members = []identity.ID{id}
	}
	frags := merge.Select(c.Fragments, id.Key(), q.Policy)
	var res merge.Result
	if q.Provenance {
		res = merge.ProfileWithProvenance(frags, q.Policy)
	} else {
		res = merge.Profile(frags, q.Policy)
	}
	if len(res.Sources) == 0 {
		e := NoData(EntityID(id), refs(members, id), q.Policy)
		if q.Provenance {
			e.Provenance = map[string]Provenance{}
		}
		return e, nil
	}
	e := Entity{
		EntityID:       EntityID(id),
		MergePolicy:    PolicyRef{ID: q.Policy.ID},
		Sources:        res.Sources,
		Identities:     refs(members, id),
		Entity:         res.Entity,
		LastModifiedAt: time.UnixMilli(res.LastModified).UTC().Format(time.RFC3339),
	}
	if len(q.Fields) > 0 {
		e.Entity = Project(e.Entity, q.Fields)
		if _, taken := e.Entity["identities"]; !taken && slices.ContainsFunc(q.Fields, func(f string) bool { return strings.TrimSpace(f) == "identities" }) {
			list := make([]any, len(e.Identities))
			for i, r := range e.Identities {
				m := map[string]any{"id": r.ID, "namespace": map[string]any{"code": r.Namespace.Code}}
				if r.Primary {
					m["primary"] = true
				}
				list[i] = m
			}
			e.Entity["identities"] = list
		}
	}
	if q.Provenance {
		e.Provenance = provenance(res.Provenance, q.Fields)
	}
	return e, nil
}

// lookupParallelism bounds the lookups of LookupAll run at once, as a
// cluster walk bounds its partition reads.
const lookupParallelism = 8

// LookupAll runs Lookup for each query, at most lookupParallelism at a
// time, and returns the entries in the queries' order. The first error
// stops it; its message is prefixed with the query's index
// ("identities[3]: …") and keeps its kind and code.
func (s *Service) LookupAll(ctx context.Context, qs []LookupQuery) ([]Entity, error) {
	out := make([]Entity, len(qs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(lookupParallelism)
	for i, q := range qs {
		g.Go(func() error {
			e, err := s.Lookup(gctx, q)
			if err != nil {
				fe := fault.As(err)
				if fe.Kind == fault.Internal {
					return err
				}
				return &fault.Error{Kind: fe.Kind, Code: fe.Code, Message: fmt.Sprintf("identities[%d]: %s", i, fe.Message), Err: err}
			}
			out[i] = e
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// NoData is AEP's entry for an identity with no profile data: entity {},
// sources [""], lastModifiedAt NoDataLastModified.
func NoData(entityID string, identities []IdentityRef, p merge.Policy) Entity {
	if identities == nil {
		identities = []IdentityRef{}
	}
	return Entity{
		EntityID: entityID, MergePolicy: PolicyRef{ID: p.ID}, Sources: []string{""},
		Identities: identities, Entity: map[string]any{}, LastModifiedAt: NoDataLastModified,
	}
}

// provenance shapes merge provenance for the API, keeping with fields
// only the paths they select (a field, or a path under it).
func provenance(in map[string]merge.Provenance, fields []string) map[string]Provenance {
	out := make(map[string]Provenance, len(in))
	for path, p := range in {
		if len(fields) > 0 && !slices.ContainsFunc(fields, func(f string) bool {
			f = strings.TrimSpace(f)
			return f != "" && (path == f || strings.HasPrefix(path, f+"."))
		}) {
			continue
		}
		pv := Provenance{Origin: origin(p.Origin)}
		for _, o := range p.Fragments {
			pv.Fragments = append(pv.Fragments, origin(o))
		}
		out[path] = pv
	}
	return out
}

func origin(o merge.Origin) Origin {
	out := Origin{
		DataSetID: o.Dataset, Source: o.Src,
		Timestamp: time.UnixMilli(o.TS).UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	}
	// A streamed record's batch is its stream position, which source
	// already gives.
	if o.Batch != o.Src && !strings.HasPrefix(o.Batch, "kinesis:") {
		out.BatchID = o.Batch
	}
	if id, err := identity.ParseKey(o.Identity); err == nil {
		out.Identity = IdentityRef{Namespace: NamespaceRef{Code: id.Namespace}, ID: id.Value}
	}
	return out
}

// Members returns the identities of the cluster of (namespace, value), the
// asked one first.
func (s *Service) Members(ctx context.Context, namespace, value string) ([]identity.ID, error) {
	id, err := s.normalize(ctx, namespace, value)
	if err != nil {
		return nil, err
	}
	c, err := s.Graph.Cluster(ctx, id, true, s.cap())
	if err != nil {
		return nil, err
	}
	if !c.Found {
		return nil, fault.E(fault.NotFound, CodeNotFound, "identity is not in the graph")
	}
	return c.Members, nil
}

func refs(ids []identity.ID, asked identity.ID) []IdentityRef {
	out := make([]IdentityRef, len(ids))
	for i, id := range ids {
		out[i] = IdentityRef{Namespace: NamespaceRef{Code: id.Namespace}, ID: id.Value, Primary: id == asked}
	}
	return out
}

// Project keeps only the given dotted paths of an entity.
func Project(entity map[string]any, fields []string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		parts := strings.Split(f, ".")
		var src any = entity
		for _, p := range parts {
			m, ok := src.(map[string]any)
			if !ok {
				src = nil
				break
			}
			src = m[p]
		}
		if src == nil {
			continue
		}
		dst := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := dst[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				dst[p] = next
			}
			dst = next
		}
		dst[parts[len(parts)-1]] = src
	}
	return out
}
