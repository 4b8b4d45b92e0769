package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

func (h *handler) listDescriptors(ctx context.Context, r *apigw.Request) (int, any, error) {
	schemaID := ""
	for _, p := range r.Query["property"] {
		if v, ok := strings.CutPrefix(p, "xdm:sourceSchema=="); ok {
			schemaID = v
		} else {
			return 0, nil, fault.E(fault.Invalid, "XDM-FILTER", `only the filter property=xdm:sourceSchema==<schema $id> is supported`)
		}
	}
	ds, err := h.reg.descriptors.ListDescriptors(ctx, schemaID)
	if err != nil {
		return 0, nil, err
	}
	full := strings.Contains(r.Header.Get("Accept"), "xdm+json") || strings.Contains(r.Header.Get("Accept"), "xdm-v2")
	// AEP groups by @type and leaves out empty types.
	out := map[string][]any{}
	for _, d := range ds {
		if full {
			out[d.Type] = append(out[d.Type], d)
		} else {
			out[d.Type] = append(out[d.Type], d.ID)
		}
	}
	return http.StatusOK, out, nil
}

// descriptorContext reads what checking a descriptor needs: its schema
// (a missing one is 400, the descriptor's fault), resolved, the schema's
// descriptors and the custom namespaces.
func (h *handler) descriptorContext(ctx context.Context, schemaID string) (xdm.Schema, *xdm.Resolved, []xdm.Descriptor, []identity.Namespace, error) {
	if schemaID == "" {
		return xdm.Schema{}, nil, nil, nil, fault.E(fault.Invalid, "XDM-DESCRIPTOR-SCHEMA", "xdm:sourceSchema is required")
	}
	s, err := h.reg.schemas.Get(ctx, schemaID)
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind == fault.NotFound {
		return xdm.Schema{}, nil, nil, nil, fault.E(fault.Invalid, "XDM-DESCRIPTOR-SCHEMA", "xdm:sourceSchema does not name an existing schema")
	}
	if err != nil {
		return xdm.Schema{}, nil, nil, nil, err
	}
	groups, err := h.reg.fieldGroups.List(ctx)
	if err != nil {
		return xdm.Schema{}, nil, nil, nil, err
	}
	res, err := xdm.Resolve(s, groups...)
	if err != nil {
		return xdm.Schema{}, nil, nil, nil, err
	}
	existing, err := h.reg.descriptors.ListDescriptors(ctx, s.ID)
	if err != nil {
		return xdm.Schema{}, nil, nil, nil, err
	}
	custom, err := h.reg.namespaces.ListNamespaces(ctx)
	if err != nil {
		return xdm.Schema{}, nil, nil, nil, err
	}
	return s, res, existing, custom, nil
}

func (h *handler) createDescriptor(ctx context.Context, r *apigw.Request) (int, any, error) {
	var d xdm.Descriptor
	if err := r.Decode(&d); err != nil {
		return 0, nil, err
	}
	s, res, existing, custom, err := h.descriptorContext(ctx, d.SourceSchema)
	if err != nil {
		return 0, nil, err
	}
	d.SourceSchema = s.ID
	nd, err := xdm.NewDescriptor(d, s, res, existing, h.now(), custom...)
	if err != nil {
		return 0, nil, err
	}
	if err := h.reg.descriptors.CreateDescriptor(ctx, nd); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "descriptor created", "descriptorId", nd.ID, "schemaId", s.ID, "primary", nd.IsPrimary)
	return http.StatusCreated, nd, nil
}

func (h *handler) getDescriptor(ctx context.Context, r *apigw.Request) (int, any, error) {
	d, err := h.reg.descriptors.GetDescriptor(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d, nil
}

func (h *handler) putDescriptor(ctx context.Context, r *apigw.Request) (int, any, error) {
	prev, err := h.reg.descriptors.GetDescriptor(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	var d xdm.Descriptor
	if err := r.Decode(&d); err != nil {
		return 0, nil, err
	}
	s, res, existing, custom, err := h.descriptorContext(ctx, d.SourceSchema)
	if err != nil {
		return 0, nil, err
	}
	if s.ID != prev.SourceSchema {
		return 0, nil, fault.E(fault.Invalid, "XDM-DESCRIPTOR-SCHEMA", "xdm:sourceSchema of a descriptor cannot change; create a new descriptor instead")
	}
	d.SourceSchema = s.ID
	nd, err := xdm.ReplaceDescriptor(prev, d, s, res, existing, custom...)
	if err != nil {
		return 0, nil, err
	}
	after := []xdm.Descriptor{nd}
	for _, e := range existing {
		if e.ID != prev.ID {
			after = append(after, e)
		}
	}
	if err := xdm.CheckProfile(s, res, after); err != nil {
		return 0, nil, err
	}
	if err := h.reg.descriptors.PutDescriptor(ctx, prev, nd); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "descriptor replaced", "descriptorId", nd.ID, "schemaId", s.ID, "primary", nd.IsPrimary)
	return http.StatusCreated, nd, nil
}

func (h *handler) deleteDescriptor(ctx context.Context, r *apigw.Request) (int, any, error) {
	d, err := h.reg.descriptors.GetDescriptor(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	s, err := h.reg.schemas.Get(ctx, d.SourceSchema)
	if err != nil && fault.KindOf(err) != fault.NotFound {
		return 0, nil, err
	}
	if err == nil && s.ProfileEnabled() {
		_, res, existing, _, err := h.descriptorContext(ctx, s.ID)
		if err != nil {
			return 0, nil, err
		}
		var rest []xdm.Descriptor
		for _, e := range existing {
			if e.ID != d.ID {
				rest = append(rest, e)
			}
		}
		if err := xdm.CheckProfile(s, res, rest); err != nil {
			return 0, nil, fault.E(fault.Invalid, "XDM-UNION-PRIMARY", "the primary identity of a schema enabled for Profile cannot be removed")
		}
	}
	if err := h.reg.descriptors.DeleteDescriptor(ctx, d); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "descriptor deleted", "descriptorId", d.ID)
	return http.StatusNoContent, nil, nil
}
