package main

import (
	"context"
	"net/http"
	"sort"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// registryStats is AEP's GET /stats answer (Schema Registry API, "Look up
// your TENANT_ID"): the organisation, the tenant id, how many tenant
// resources of each kind exist, the most recently created and updated
// ones, and which schemas use each class.
type registryStats struct {
	ImsOrg          string                   `json:"imsOrg"`
	TenantID        string                   `json:"tenantId"`
	Counts          statsCounts              `json:"counts"`
	RecentlyCreated []statsResource          `json:"recentlyCreatedResources"`
	RecentlyUpdated []statsResource          `json:"recentlyUpdatedResources"`
	ClassUsage      map[string][]statsSchema `json:"classUsage"`
}

// statsCounts counts the tenant container's resources by AEP's kind names;
// Mosaic has no tenant classes or data types, so those are 0.
type statsCounts struct {
	Schemas   int `json:"schemas"`
	Mixins    int `json:"mixins"`
	Datatypes int `json:"datatypes"`
	Classes   int `json:"classes"`
	Unions    int `json:"unions"`
}

type statsResource struct {
	ID           string `json:"$id"`
	AltID        string `json:"meta:altId"`
	Title        string `json:"title"`
	Description  string `json:"description,omitempty"`
	ResourceType string `json:"meta:resourceType"`
	Version      string `json:"version"`
	Created      int64  `json:"repo:createdDate"`      // epoch ms
	Modified     int64  `json:"repo:lastModifiedDate"` // epoch ms
}

type statsSchema struct {
	ID          string `json:"$id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// statsRecent is how many resources each recent list holds.
const statsRecent = 5

func (h *handler) stats(ctx context.Context, _ *apigw.Request) (int, any, error) {
	ss, err := h.reg.schemas.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	gs, err := h.reg.fieldGroups.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	out := registryStats{ImsOrg: xdm.ImsOrg, TenantID: xdm.TenantID, ClassUsage: map[string][]statsSchema{}}
	out.Counts.Schemas, out.Counts.Mixins = len(ss), len(gs)
	all := make([]statsResource, 0, len(ss)+len(gs))
	unions := map[string]bool{}
	for _, s := range ss {
		all = append(all, statsResource{ID: s.ID, AltID: s.AltID, Title: s.Title, Description: s.Description, ResourceType: xdm.ResourceSchemas,
			Version: s.Version, Created: s.RegistryMetadata.CreatedDate, Modified: s.RegistryMetadata.LastModifiedDate})
		out.ClassUsage[s.Class] = append(out.ClassUsage[s.Class], statsSchema{ID: s.ID, Title: s.Title, Description: s.Description})
		if s.ProfileEnabled() {
			unions[s.Class] = true
		}
	}
	for _, g := range gs {
		all = append(all, statsResource{ID: g.ID, AltID: g.AltID, Title: g.Title, Description: g.Description, ResourceType: xdm.ResourceFieldGroups,
			Version: g.Version, Created: g.RegistryMetadata.CreatedDate, Modified: g.RegistryMetadata.LastModifiedDate})
	}
	out.Counts.Unions = len(unions)
	out.RecentlyCreated = recent(all, func(r statsResource) int64 { return r.Created })
	out.RecentlyUpdated = recent(all, func(r statsResource) int64 { return r.Modified })
	return http.StatusOK, out, nil
}

// recent is the statsRecent newest of rs by when, ties broken by $id.
func recent(rs []statsResource, when func(statsResource) int64) []statsResource {
	s := append([]statsResource(nil), rs...)
	sort.Slice(s, func(i, j int) bool {
		if when(s[i]) != when(s[j]) {
			return when(s[i]) > when(s[j])
		}
		return s[i].ID < s[j].ID
	})
	if len(s) > statsRecent {
		s = s[:statsRecent]
	}
	if s == nil {
		s = []statsResource{}
	}
	return s
}
