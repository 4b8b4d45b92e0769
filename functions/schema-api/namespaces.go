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

func (h *handler) listNamespaces(ctx context.Context, r *apigw.Request) (int, any, error) {
	custom, err := h.reg.namespaces.ListNamespaces(ctx)
	if err != nil {
		return 0, nil, err
	}
	out := append(append([]identity.Namespace{}, identity.Standard...), custom...)
	return http.StatusOK, out, nil
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

func (h *handler) getNamespace(ctx context.Context, r *apigw.Request) (int, any, error) {
	if ns, ok := identity.LookupStandard(r.Param("code")); ok {
		return http.StatusOK, ns, nil
	}
	ns, err := h.reg.namespaces.GetNamespace(ctx, r.Param("code"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ns, nil
}

// putNamespace changes a namespace's settings (its name, description and
// whether it is unique).
func (h *handler) putNamespace(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, fault.E(fault.Invalid, "NOT-BUILT", "namespace settings are not built yet")
}
