package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// lockedSchemas are the schemas that hold data, approximated as those a
// Profile-enabled dataset references: the registry does not see row
// counts, and a Profile dataset is where rows would have gone.
func (h *handler) lockedSchemas(ctx context.Context) (map[string]bool, error) {
	dss, err := h.reg.datasets.ListDatasets(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, d := range dss {
		if catalog.ParseTags(d.Tags).ProfileEnabled {
			id := d.SchemaRef.ID
			if strings.HasPrefix(id, "_") {
				id = xdm.IDFromAltID(id)
			}
			out[id] = true
		}
	}
	return out, nil
}

// checkIdentityFields makes sure every descriptor of s still names a field.
func (h *handler) checkIdentityFields(ctx context.Context, s xdm.Schema, groups []xdm.FieldGroup) error {
	res, err := xdm.Resolve(s, groups...)
	if err != nil {
		return err
	}
	ds, err := h.reg.descriptors.ListDescriptors(ctx, s.ID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if _, ok := res.Field(d.SourceProperty); !ok {
			return fault.Errorf(fault.Invalid, "XDM-BREAKING", "breaking change: field %s is an identity (descriptor %s) and cannot be removed", d.SourceProperty, d.ID)
		}
	}
	return nil
}

func (h *handler) listSchemas(ctx context.Context, r *apigw.Request) (int, any, error) {
	ss, err := h.reg.schemas.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	es := make([]entry, 0, len(ss))
	for _, s := range ss {
		es = append(es, entry{sum: summary{ID: s.ID, AltID: s.AltID, Version: s.Version, Title: s.Title}, full: s})
	}
	return paged(r, es)
}

func (h *handler) createSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in xdm.SchemaInput
	if err := decodeInput(r, &in); err != nil {
		return 0, nil, err
	}
	groups, err := h.reg.fieldGroups.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	s, err := xdm.NewSchema(in, h.sandbox, h.now(), groups...)
	if err != nil {
		return 0, nil, err
	}
	res, err := xdm.Resolve(s, groups...)
	if err != nil {
		return 0, nil, err
	}
	if err := xdm.CheckProfile(s, res, nil); err != nil {
		return 0, nil, err
	}
	if err := h.reg.schemas.Create(ctx, s); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "schema created", "schemaId", s.ID, "class", s.Class)
	return http.StatusCreated, s, nil
}

func (h *handler) getSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	if strings.HasSuffix(r.Param("id"), unionSuffix) {
		return h.getUnion(ctx, r)
	}
	s, err := h.reg.schemas.Get(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if !wantsFull(r) {
		return http.StatusOK, s, nil
	}
	groups, err := h.reg.fieldGroups.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	res, err := xdm.Resolve(s, groups...)
	if err != nil {
		return 0, nil, err
	}
	full, err := withResolved(s, res)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, full, nil
}

func (h *handler) putSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in xdm.SchemaInput
	if err := decodeInput(r, &in); err != nil {
		return 0, nil, err
	}
	return h.updateSchema(ctx, r, func(s xdm.Schema, groups []xdm.FieldGroup) (xdm.Schema, error) {
		return s.Replace(in, h.now(), groups...)
	})
}

func (h *handler) patchSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	ops, err := decodePatch(r)
	if err != nil {
		return 0, nil, err
	}
	return h.updateSchema(ctx, r, func(s xdm.Schema, groups []xdm.FieldGroup) (xdm.Schema, error) {
		return s.Patch(ops, h.now(), groups...)
	})
}

func (h *handler) updateSchema(ctx context.Context, r *apigw.Request, change func(xdm.Schema, []xdm.FieldGroup) (xdm.Schema, error)) (int, any, error) {
	s, err := h.reg.schemas.Get(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if err := checkIfMatch(r, s.RegistryMetadata.ETag, s.Version); err != nil {
		return 0, nil, err
	}
	groups, err := h.reg.fieldGroups.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	n, err := change(s, groups)
	if err != nil {
		return 0, nil, err
	}
	if !s.ProfileEnabled() {
		locked, err := h.lockedSchemas(ctx)
		if err != nil {
			return 0, nil, err
		}
		if locked[s.ID] {
			if err := s.CheckEvolution(n, groups, groups); err != nil {
				return 0, nil, err
			}
		}
	}
	res, err := xdm.Resolve(n, groups...)
	if err != nil {
		return 0, nil, err
	}
	ds, err := h.reg.descriptors.ListDescriptors(ctx, n.ID)
	if err != nil {
		return 0, nil, err
	}
	if err := xdm.CheckProfile(n, res, ds); err != nil {
		return 0, nil, err
	}
	if err := h.checkIdentityFields(ctx, n, groups); err != nil {
		return 0, nil, err
	}
	if err := h.reg.schemas.Update(ctx, n, s.Version); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "schema updated", "schemaId", n.ID, "version", n.Version)
	return http.StatusOK, n, nil
}

func (h *handler) deleteSchema(ctx context.Context, r *apigw.Request) (int, any, error) {
	s, err := h.reg.schemas.Get(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	if s.ProfileEnabled() {
		return 0, nil, fault.E(fault.Invalid, "XDM-UNION-DELETE", "a schema enabled for Profile cannot be deleted")
	}
	dss, err := h.reg.datasets.ListDatasets(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, d := range dss {
		if d.SchemaRef.ID == s.ID || d.SchemaRef.ID == s.AltID {
			return 0, nil, fault.Errorf(fault.Conflict, "SCHEMA-IN-USE", "schema is used by dataset %s; delete the dataset first", d.ID)
		}
	}
	descs, err := h.reg.descriptors.ListDescriptors(ctx, s.ID)
	if err != nil {
		return 0, nil, err
	}
	for _, d := range descs {
		if err := h.reg.descriptors.DeleteDescriptor(ctx, d); err != nil && fault.KindOf(err) != fault.NotFound {
			return 0, nil, err
		}
	}
	if err := h.reg.schemas.Delete(ctx, s.ID); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "schema deleted", "schemaId", s.ID)
	return http.StatusNoContent, nil, nil
}

const unionSuffix = "__union"
