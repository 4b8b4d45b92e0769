// Package profile answers "who is this person": it walks the identity graph
// from an asked identity, merges the fragments it finds under a merge policy
// and shapes the result as AEP's Profile Access API does. It also reads a
// cluster's members and its experience-event timeline.
package profile

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

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
	EntityID       string         `json:"entityId"`
	MergePolicy    PolicyRef      `json:"mergePolicy"`
	Sources        []string       `json:"sources"`
	Identities     []IdentityRef  `json:"identities"`
	Entity         map[string]any `json:"entity"`
	LastModifiedAt string         `json:"lastModifiedAt"`
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

// Lookup returns the merged profile of the identity (namespace, value)
// under policy, keyed by its entity id. fields, when not empty, keeps only
// those dotted paths of the entity. An identity Mosaic has never seen is
// NotFound.
func (s *Service) Lookup(ctx context.Context, namespace, value string, policy merge.Policy, fields []string) (map[string]Entity, error) {
	id, err := s.normalize(ctx, namespace, value)
	if err != nil {
		return nil, err
	}
	c, err := s.Graph.Cluster(ctx, id, policy.IdentityGraph.Type == merge.GraphPDG, s.cap())
	if err != nil {
		return nil, err
	}
	if !c.Found {
		return nil, fault.E(fault.NotFound, CodeNotFound, "no profile for this identity")
	}
	res := merge.Profile(c.Fragments, policy)
	entity := res.Entity
	if len(fields) > 0 {
		entity = Project(entity, fields)
	}
	sources := res.Sources
	if sources == nil {
		sources = []string{}
	}
	e := Entity{
		EntityID:       EntityID(id),
		MergePolicy:    PolicyRef{ID: policy.ID},
		Sources:        sources,
		Identities:     refs(c.Members, id),
		Entity:         entity,
		LastModifiedAt: time.UnixMilli(res.LastModified).UTC().Format(time.RFC3339),
	}
	return map[string]Entity{e.EntityID: e}, nil
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
