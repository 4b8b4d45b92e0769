package main

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// union is AEP's union view of a class: every Profile-enabled schema of
// the class, merged.
type union struct {
	ID           string    `json:"$id"`
	AltID        string    `json:"meta:altId"`
	ResourceType string    `json:"meta:resourceType"`
	Version      string    `json:"version"`
	Title        string    `json:"title"`
	Type         string    `json:"type"`
	Class        string    `json:"meta:class"`
	ContainerID  string    `json:"meta:containerId"`
	ImsOrg       string    `json:"imsOrg"`
	AllOf        []xdm.Ref `json:"allOf"`
	Extends      []string  `json:"meta:extends"`
}

func (h *handler) unions(ctx context.Context) ([]union, map[string][]xdm.Schema, error) {
	ss, err := h.reg.schemas.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	byClass := map[string][]xdm.Schema{}
	for _, s := range ss {
		if s.ProfileEnabled() {
			byClass[s.Class] = append(byClass[s.Class], s)
		}
	}
	var out []union
	for class, members := range byClass {
		title := class
		if c, ok := xdm.LookupClass(class); ok {
			title = c.Title
		}
		u := union{ID: class + unionSuffix, AltID: xdm.AltID(class + unionSuffix), ResourceType: xdm.ResourceUnions,
			Version: "1." + strconv.Itoa(len(members)), Title: "Union Schema for " + title, Type: "object", Class: class,
			ContainerID: xdm.ContainerTenant, ImsOrg: xdm.ImsOrg}
		for _, m := range members {
			u.AllOf = append(u.AllOf, xdm.Ref{Ref: m.ID})
			u.Extends = append(u.Extends, m.ID)
		}
		out = append(out, u)
	}
	return out, byClass, nil
}

func (h *handler) listUnions(ctx context.Context, r *apigw.Request) (int, any, error) {
	us, _, err := h.unions(ctx)
	if err != nil {
		return 0, nil, err
	}
	es := make([]entry, 0, len(us))
	for _, u := range us {
		es = append(es, entry{sum: summary{ID: u.ID, AltID: u.AltID, Version: u.Version, Title: u.Title}, full: u})
	}
	return paged(r, es)
}

func (h *handler) getUnion(ctx context.Context, r *apigw.Request) (int, any, error) {
	id := r.Param("id")
	us, byClass, err := h.unions(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, u := range us {
		if u.ID != id && u.AltID != id {
			continue
		}
		if !wantsFull(r) {
			return http.StatusOK, u, nil
		}
		groups, err := h.reg.fieldGroups.List(ctx)
		if err != nil {
			return 0, nil, err
		}
		merged := xdm.Schema{Class: u.Class}
		for _, m := range byClass[u.Class] {
			for _, ref := range m.AllOf {
				if !slices.Contains(merged.AllOf, ref) {
					merged.AllOf = append(merged.AllOf, ref)
				}
			}
		}
		res, err := xdm.Resolve(merged, groups...)
		if err != nil {
			return 0, nil, err
		}
		full, err := withResolved(u, res)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, full, nil
	}
	return 0, nil, fault.Errorf(fault.NotFound, "UNION-NOT-FOUND", "union %q does not exist: no schema of that class is enabled for Profile", id)
}
