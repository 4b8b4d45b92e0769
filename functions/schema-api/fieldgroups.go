package main

import (
	"context"
	"log/slog"
	"net/http"
	"slices"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

func (h *handler) listFieldGroups(ctx context.Context, r *apigw.Request) (int, any, error) {
	gs, err := h.reg.fieldGroups.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	es := make([]entry, 0, len(gs))
	for _, g := range gs {
		es = append(es, entry{sum: summary{ID: g.ID, AltID: g.AltID, Version: g.Version, Title: g.Title}, full: g})
	}
	return paged(r, es)
}

func (h *handler) createFieldGroup(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in xdm.FieldGroupInput
	if err := decodeInput(r, &in); err != nil {
		return 0, nil, err
	}
	g, err := xdm.NewFieldGroup(in, h.sandbox, h.now())
	if err != nil {
		return 0, nil, err
	}
	groups, err := h.reg.fieldGroups.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	if err := checkGroupTypes(g, groups); err != nil {
		return 0, nil, err
	}
	if err := h.reg.fieldGroups.Create(ctx, g); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "field group created", "fieldGroupId", g.ID)
	return http.StatusCreated, g, nil
}

// checkGroupTypes enforces one type per field path across the tenant's
// field groups (schemas only compose groups and built-ins, so this covers
// them too).
func checkGroupTypes(g xdm.FieldGroup, groups []xdm.FieldGroup) error {
	mine, err := xdm.ResolveFieldGroup(g.Resource())
	if err != nil {
		return err
	}
	var others []map[string]string
	for _, o := range groups {
		if o.ID == g.ID {
			continue
		}
		res, err := xdm.ResolveFieldGroup(o.Resource())
		if err != nil {
			continue // a stored group that no longer resolves names no types
		}
		others = append(others, xdm.FieldTypes(res))
	}
	return xdm.CheckTypeConflicts(xdm.FieldTypes(mine), others...)
}

func (h *handler) getFieldGroup(ctx context.Context, r *apigw.Request) (int, any, error) {
	g, err := h.reg.fieldGroups.Get(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if !wantsFull(r) {
		return http.StatusOK, g, nil
	}
	res, err := xdm.ResolveFieldGroup(g.Resource())
	if err != nil {
		return 0, nil, err
	}
	full, err := withResolved(g, res)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, full, nil
}

func (h *handler) putFieldGroup(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in xdm.FieldGroupInput
	if err := decodeInput(r, &in); err != nil {
		return 0, nil, err
	}
	return h.updateFieldGroup(ctx, r, func(g xdm.FieldGroup) (xdm.FieldGroup, error) { return g.Replace(in, h.now()) })
}

func (h *handler) patchFieldGroup(ctx context.Context, r *apigw.Request) (int, any, error) {
	ops, err := decodePatch(r)
	if err != nil {
		return 0, nil, err
	}
	return h.updateFieldGroup(ctx, r, func(g xdm.FieldGroup) (xdm.FieldGroup, error) { return g.Patch(ops, h.now()) })
}

// updateFieldGroup applies change and checks it against every schema
// using the group: it must still compose, its identity fields must
// remain, and locked schemas (enabled for Profile or holding data) accept
// only additive changes.
func (h *handler) updateFieldGroup(ctx context.Context, r *apigw.Request, change func(xdm.FieldGroup) (xdm.FieldGroup, error)) (int, any, error) {
	g, err := h.reg.fieldGroups.Get(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if err := checkIfMatch(r, g.RegistryMetadata.ETag, g.Version); err != nil {
		return 0, nil, err
	}
	n, err := change(g)
	if err != nil {
		return 0, nil, err
	}
	groups, err := h.reg.fieldGroups.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	if err := checkGroupTypes(n, groups); err != nil {
		return 0, nil, err
	}
	after := make([]xdm.FieldGroup, 0, len(groups))
	for _, o := range groups {
		if o.ID != g.ID {
			after = append(after, o)
		}
	}
	after = append(after, n)
	schemas, err := h.reg.schemas.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	locked, err := h.lockedSchemas(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, s := range schemas {
		if !slices.Contains(s.FieldGroups(), g.ID) {
			continue
		}
		if _, err := xdm.NewSchema(xdm.SchemaInput{Title: s.Title, Type: "object", AllOf: s.AllOf}, h.sandbox, h.now(), after...); err != nil {
			return 0, nil, err
		}
		if s.ProfileEnabled() || locked[s.ID] {
			if err := s.CheckEvolution(s, groups, after); err != nil {
				return 0, nil, err
			}
		}
		if err := h.checkIdentityFields(ctx, s, after); err != nil {
			return 0, nil, err
		}
	}
	if err := h.reg.fieldGroups.Update(ctx, n, g.Version); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "field group updated", "fieldGroupId", n.ID, "version", n.Version)
	return http.StatusOK, n, nil
}

func (h *handler) deleteFieldGroup(ctx context.Context, r *apigw.Request) (int, any, error) {
	g, err := h.reg.fieldGroups.Get(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	schemas, err := h.reg.schemas.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, s := range schemas {
		if slices.Contains(s.FieldGroups(), g.ID) {
			return 0, nil, fault.Errorf(fault.Conflict, "FIELDGROUP-IN-USE", "field group is used by schema %s; remove it from the schema first", s.ID)
		}
	}
	if err := h.reg.fieldGroups.Delete(ctx, g.ID); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "field group deleted", "fieldGroupId", g.ID)
	return http.StatusNoContent, nil, nil
}
