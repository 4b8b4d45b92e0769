package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// standardNamespaces are identity.Standard with the tenant's settings.
func (h *handler) standardNamespaces(ctx context.Context) ([]identity.Namespace, error) {
	overrides, err := h.reg.namespaces.ListNamespaceOverrides(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]identity.Namespace, len(identity.Standard))
	for i, ns := range identity.Standard {
		for _, o := range overrides {
			ns = o.Apply(ns)
		}
		out[i] = ns
	}
	return out, nil
}

func (h *handler) listNamespaces(ctx context.Context, r *apigw.Request) (int, any, error) {
	std, err := h.standardNamespaces(ctx)
	if err != nil {
		return 0, nil, err
	}
	custom, err := h.reg.namespaces.ListNamespaces(ctx)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, append(std, custom...), nil
}

func (h *handler) createNamespace(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in identity.NamespaceInput
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	ns, err := identity.NewCustom(in, h.now())
	if err != nil {
		return 0, nil, err
	}
	custom, err := h.reg.namespaces.ListNamespaces(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, c := range custom {
		if strings.EqualFold(c.Code, ns.Code) {
			return 0, nil, fault.Errorf(fault.Conflict, "NAMESPACE-EXISTS", "identity namespace %q exists", c.Code)
		}
		if c.ID == ns.ID {
			return 0, nil, fault.E(fault.Conflict, "NAMESPACE-EXISTS", "an identity namespace with this id exists; choose another code")
		}
	}
	if err := h.reg.namespaces.CreateNamespace(ctx, ns); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "namespace created", "namespace", ns.Code, "idType", ns.IDType)
	return http.StatusCreated, ns, nil
}

// namespace reads a namespace by code in any case: a standard one with the
// tenant's setting, or a custom one (NotFound "NAMESPACE-NOT-FOUND").
func (h *handler) namespace(ctx context.Context, code string) (identity.Namespace, error) {
	if _, ok := identity.LookupStandard(code); ok {
		std, err := h.standardNamespaces(ctx)
		if err != nil {
			return identity.Namespace{}, err
		}
		ns, _ := identity.Lookup(code, std)
		return ns, nil
	}
	return h.reg.namespaces.GetNamespace(ctx, code)
}

func (h *handler) getNamespace(ctx context.Context, r *apigw.Request) (int, any, error) {
	ns, err := h.namespace(ctx, r.Param("code"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ns, nil
}

// namespaceSettings is the body of PUT .../identities/{code}. name,
// description and unique may change (of a standard namespace, unique
// only); code, idType and id, when sent, must be the namespace's; custom,
// status, createTime and updateTime, which a GET answers, are accepted and
// ignored, so that a namespace read can be sent back changed.
type namespaceSettings struct {
	ID          *int    `json:"id"`
	Code        *string `json:"code"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	IDType      *string `json:"idType"`
	Unique      *bool   `json:"unique"`
	Custom      *bool   `json:"custom"`
	Status      *string `json:"status"`
	CreateTime  *int64  `json:"createTime"`
	UpdateTime  *int64  `json:"updateTime"`
}

// putNamespace changes a namespace's settings: of a custom namespace its
// name, description and whether it is unique; of a standard namespace
// whether it is unique only (kept as an identity.Override). Members left
// out keep their value. Errors, all Invalid: NAMESPACE-IMMUTABLE (code,
// idType or id differ from the namespace's), NAMESPACE-STANDARD (a name or
// description of a standard namespace), NAMESPACE-NAME (an empty name);
// NotFound NAMESPACE-NOT-FOUND; Conflict NAMESPACE-VERSION-CONFLICT (a
// concurrent change of a custom namespace: send it again).
func (h *handler) putNamespace(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in namespaceSettings
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	ns, err := h.namespace(ctx, r.Param("code"))
	if err != nil {
		return 0, nil, err
	}
	switch {
	case in.Code != nil && !strings.EqualFold(strings.TrimSpace(*in.Code), ns.Code):
		return 0, nil, fault.Errorf(fault.Invalid, "NAMESPACE-IMMUTABLE", "the code of namespace %s cannot change", ns.Code)
	case in.IDType != nil && !strings.EqualFold(strings.TrimSpace(*in.IDType), ns.IDType):
		return 0, nil, fault.Errorf(fault.Invalid, "NAMESPACE-IMMUTABLE", "the idType of namespace %s cannot change (it is %s)", ns.Code, ns.IDType)
	case in.ID != nil && *in.ID != ns.ID:
		return 0, nil, fault.Errorf(fault.Invalid, "NAMESPACE-IMMUTABLE", "the id of namespace %s cannot change (it is %d)", ns.Code, ns.ID)
	}
	now := h.now().UnixMilli()
	if !ns.Custom {
		if (in.Name != nil && *in.Name != ns.Name) || (in.Description != nil && *in.Description != ns.Description) {
			return 0, nil, fault.Errorf(fault.Invalid, "NAMESPACE-STANDARD", "%s is a standard namespace: only unique may change", ns.Code)
		}
		if in.Unique == nil {
			return http.StatusOK, ns, nil
		}
		o := identity.Override{Code: ns.Code, Unique: *in.Unique, UpdateTime: now}
		if err := h.reg.namespaces.PutNamespaceOverride(ctx, o); err != nil {
			return 0, nil, err
		}
		slog.InfoContext(ctx, "namespace setting changed", "namespace", ns.Code, "unique", o.Unique)
		return http.StatusOK, o.Apply(ns), nil
	}
	changed := ns
	if in.Name != nil {
		if changed.Name = strings.TrimSpace(*in.Name); changed.Name == "" {
			return 0, nil, fault.E(fault.Invalid, "NAMESPACE-NAME", "name cannot be empty")
		}
	}
	if in.Description != nil {
		changed.Description = *in.Description
	}
	if in.Unique != nil {
		changed.Unique = *in.Unique
	}
	if err := identity.CheckNamespaceText(changed.Name, changed.Description); err != nil {
		return 0, nil, err
	}
	if changed == ns {
		return http.StatusOK, ns, nil
	}
	changed.UpdateTime = now
	if err := h.reg.namespaces.UpdateNamespace(ctx, changed, ns); err != nil {
		return 0, nil, err
	}
	slog.InfoContext(ctx, "namespace changed", "namespace", ns.Code, "unique", changed.Unique)
	return http.StatusOK, changed, nil
}
