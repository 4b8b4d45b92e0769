package main

import (
	"context"
	"net/http"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

func (h *handler) listGlobal(list func() []xdm.Resource) apigw.HandlerFunc {
	return func(ctx context.Context, r *apigw.Request) (int, any, error) {
		rs := list()
		es := make([]entry, 0, len(rs))
		for _, x := range rs {
			es = append(es, entry{sum: summary{ID: x.ID, AltID: x.AltID, Version: x.Version, Title: x.Title}, full: x})
		}
		return paged(r, es)
	}
}

func (h *handler) getGlobal(lookup func(string) (xdm.Resource, bool), code, what string) apigw.HandlerFunc {
	return func(ctx context.Context, r *apigw.Request) (int, any, error) {
		res, ok := lookup(r.Param("id"))
		if !ok {
			return 0, nil, fault.Errorf(fault.NotFound, code, "%s %q does not exist", what, r.Param("id"))
		}
		if !wantsFull(r) {
			return http.StatusOK, res, nil
		}
		resolved, err := xdm.ResolveFieldGroup(res)
		if err != nil {
			return 0, nil, err
		}
		full, err := withResolved(res, resolved)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, full, nil
	}
}

// withResolved adds the merged properties of a resource (xed-full).
func withResolved(v any, res *xdm.Resolved) (any, error) {
	doc, err := toMap(v)
	if err != nil {
		return nil, err
	}
	doc["properties"] = res.JSON["properties"]
	if req, ok := res.JSON["required"]; ok {
		doc["required"] = req
	}
	return doc, nil
}
