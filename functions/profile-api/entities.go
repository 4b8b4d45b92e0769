package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/profile"
)

type profiles interface {
	Lookup(ctx context.Context, namespace, value string, p merge.Policy, fields []string) (map[string]profile.Entity, error)
	Members(ctx context.Context, namespace, value string) ([]identity.ID, error)
	Timeline(ctx context.Context, q profile.EventQuery) (profile.EventPage, error)
}

func required(q url.Values, names ...string) (map[string]string, error) {
	out := map[string]string{}
	var missing []string
	for _, n := range names {
		v := q.Get(n)
		if v == "" {
			missing = append(missing, n)
		}
		out[n] = v
	}
	if len(missing) > 0 {
		return nil, fault.Errorf(fault.Invalid, "REQ-PARAM", "missing query parameters: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func (h *handler) policy(ctx context.Context, id, schemaName string) (merge.Policy, error) {
	return h.policies.Resolve(ctx, id, schemaName)
}

func fieldsOf(q url.Values) []string {
	f := q.Get("fields")
	if f == "" {
		return nil
	}
	return strings.Split(f, ",")
}

func (h *handler) entities(ctx context.Context, r *apigw.Request) (int, any, error) {
	switch r.Query.Get("schema.name") {
	case merge.ProfileSchema:
		p, err := required(r.Query, "entityId", "entityIdNS")
		if err != nil {
			return 0, nil, err
		}
		pol, err := h.policy(ctx, r.Query.Get("mergePolicyId"), merge.ProfileSchema)
		if err != nil {
			return 0, nil, err
		}
		res, err := h.profiles.Lookup(ctx, p["entityIdNS"], p["entityId"], pol, fieldsOf(r.Query))
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, res, nil
	case merge.EventSchema:
		return h.events(ctx, r)
	case "":
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "missing query parameter: schema.name")
	}
	return 0, nil, fault.E(fault.Invalid, "REQ-SCHEMA", "schema.name must be _xdm.context.profile or _xdm.context.experienceevent")
}

type eventsPage struct {
	Page struct {
		OrderBy string `json:"orderby"`
		Start   string `json:"start"`
		Count   int    `json:"count"`
		Next    string `json:"next"`
	} `json:"_page"`
	Children []profile.EventChild `json:"children"`
	Links    struct {
		Next struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
}

func intParam(q url.Values, name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fault.Errorf(fault.Invalid, "REQ-PARAM", "%s must be a non-negative integer", name)
	}
	return n, nil
}

func (h *handler) events(ctx context.Context, r *apigw.Request) (int, any, error) {
	p, err := required(r.Query, "relatedSchema.name", "relatedEntityId", "relatedEntityIdNS")
	if err != nil {
		return 0, nil, err
	}
	if p["relatedSchema.name"] != merge.ProfileSchema {
		return 0, nil, fault.E(fault.Invalid, "REQ-SCHEMA", "relatedSchema.name must be _xdm.context.profile")
	}
	q := profile.EventQuery{Namespace: p["relatedEntityIdNS"], Value: p["relatedEntityId"], Start: r.Query.Get("start"), Fields: fieldsOf(r.Query)}
	if q.From, err = intParam(r.Query, "startTime"); err != nil {
		return 0, nil, err
	}
	if q.To, err = intParam(r.Query, "endTime"); err != nil {
		return 0, nil, err
	}
	limit, err := intParam(r.Query, "limit")
	if err != nil {
		return 0, nil, err
	}
	q.Limit = int(min(limit, profile.MaxEventsPerPage))
	order := r.Query.Get("orderby")
	if order == "" {
		order = r.Query.Get("orderBy")
	}
	switch order {
	case "", "timestamp", "+timestamp":
	case "-timestamp":
		q.Descending = true
	default:
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "orderby must be +timestamp or -timestamp")
	}
	page, err := h.profiles.Timeline(ctx, q)
	if err != nil {
		return 0, nil, err
	}
	var out eventsPage
	out.Page.OrderBy = "timestamp"
	if q.Descending {
		out.Page.OrderBy = "-timestamp"
	}
	out.Page.Start = q.Start
	out.Page.Count = len(page.Children)
	out.Page.Next = page.Next
	out.Children = page.Children
	if page.Next != "" {
		next := url.Values{}
		for k, v := range r.Query {
			next[k] = v
		}
		next.Set("start", page.Next)
		out.Links.Next.Href = "/entities?" + next.Encode()
	}
	return http.StatusOK, out, nil
}

func (h *handler) entitiesPost(ctx context.Context, r *apigw.Request) (int, any, error) {
	return 0, nil, notBuilt("POST entities")
}
