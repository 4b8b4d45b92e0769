package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/profile"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

type profiles interface {
	Lookup(ctx context.Context, q profile.LookupQuery) (profile.Entity, error)
	LookupAll(ctx context.Context, qs []profile.LookupQuery) ([]profile.Entity, error)
	Members(ctx context.Context, namespace, value string) ([]identity.ID, error)
	Timeline(ctx context.Context, q profile.EventQuery) (profile.EventPage, error)
}

// MaxEntitiesPerRequest is the most identities one POST /access/entities
// asks for (docs/api.md, "Profile access"): a larger list is refused with
// 400, never answered in part.
const MaxEntitiesPerRequest = 100

// Codes of the entities routes' own refusals.
const (
	// CodeTooManyIdentities: a POST names more than MaxEntitiesPerRequest
	// identities.
	CodeTooManyIdentities = "ENTITIES-TOO-MANY-IDENTITIES"
	// CodeAnswerTooLarge: the entries asked for come to more than
	// topology.MaxPageBytes of JSON.
	CodeAnswerTooLarge = "ENTITIES-ANSWER-TOO-LARGE"
)

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

// policy resolves the merge policy of a read (policyStore.Resolve); a
// handler built without a policy store knows the built-in defaults only.
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

// boolParam reads a true/false query parameter; absent is false.
func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fault.Errorf(fault.Invalid, "REQ-PARAM", "%s must be true or false", name)
	}
	return b, nil
}

// entities is GET /access/entities: a merged profile (schema.name
// _xdm.context.profile, entityId, entityIdNS, fields, mergePolicyId,
// provenance) or a profile's events (schema.name
// _xdm.context.experienceevent; see events). The profile answer is AEP's
// map keyed by the entity id, with one entry; an identity with no data has
// AEP's no-data entry (200), as has an entityId without entityIdNS (an
// AEP XID, which Mosaic cannot resolve). Errors: 400 for a missing or bad
// parameter, 404 MERGE-POLICY-NOT-FOUND, 413 CodeAnswerTooLarge, 422
// PROFILE-CLUSTER-TOO-LARGE and MERGE-POLICY-NO-DEFAULT.
func (h *handler) entities(ctx context.Context, r *apigw.Request) (int, any, error) {
	switch r.Query.Get("schema.name") {
	case merge.ProfileSchema:
		p, err := required(r.Query, "entityId")
		if err != nil {
			return 0, nil, err
		}
		prov, err := boolParam(r.Query, "provenance")
		if err != nil {
			return 0, nil, err
		}
		pol, err := h.policy(ctx, r.Query.Get("mergePolicyId"), merge.ProfileSchema)
		if err != nil {
			return 0, nil, err
		}
		// Without entityIdNS, entityId is an AEP XID (profile.Lookup).
		e, err := h.profiles.Lookup(ctx, profile.LookupQuery{
			Namespace: r.Query.Get("entityIdNS"), Value: p["entityId"], Policy: pol, Fields: fieldsOf(r.Query), Provenance: prov,
		})
		if err != nil {
			return 0, nil, err
		}
		out, err := entityMap([]profile.Entity{e})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, out, nil
	case merge.EventSchema:
		return h.events(ctx, r)
	case "":
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "missing query parameter: schema.name")
	}
	return 0, nil, fault.E(fault.Invalid, "REQ-SCHEMA", "schema.name must be _xdm.context.profile or _xdm.context.experienceevent")
}

// entityMap is AEP's answer: the entries keyed by entity id, each encoded
// once. It is CodeAnswerTooLarge (413) when the entries come to more than
// topology.MaxPageBytes, which keeps the answer within Lambda's 6 MB
// response.
func entityMap(entries []profile.Entity) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(entries))
	size := 2
	for _, e := range entries {
		if _, dup := out[e.EntityID]; dup {
			continue
		}
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fault.Wrap(err, fault.Internal, "ENTITIES-ENCODE", "profile could not be encoded")
		}
		size += len(e.EntityID) + len(b) + 4
		if size > topology.MaxPageBytes {
			return nil, fault.Errorf(fault.TooLarge, CodeAnswerTooLarge,
				"the profiles asked for come to more than %d bytes of JSON: ask for fewer identities or fewer fields", topology.MaxPageBytes)
		}
		out[e.EntityID] = b
	}
	return out, nil
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
			// Payload is the body of the POST that reads the next page
			// (multi-profile events only).
			Payload *entitiesBody `json:"payload,omitempty"`
		} `json:"next"`
	} `json:"_links"`
}

func newEventsPage(page profile.EventPage, descending bool) eventsPage {
	var out eventsPage
	out.Page.OrderBy = "timestamp"
	if descending {
		out.Page.OrderBy = "-timestamp"
	}
	// AEP's _page.start is the page's first event; _page.next the cursor
	// that reads the next page.
	if len(page.Children) > 0 {
		out.Page.Start = page.Children[0].EntityID
	}
	out.Page.Count = len(page.Children)
	out.Page.Next = page.Next
	out.Children = page.Children
	return out
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

// descending reads orderby: +timestamp (the default) or -timestamp.
func descending(order string) (bool, error) {
	switch order {
	case "", "timestamp", "+timestamp":
		return false, nil
	case "-timestamp":
		return true, nil
	}
	return false, fault.E(fault.Invalid, "REQ-PARAM", "orderby must be +timestamp or -timestamp")
}

// events is GET /access/entities for schema.name _xdm.context.experienceevent:
// the events of the cluster of (relatedEntityId, relatedEntityIdNS), AEP's
// page shape; _links.next.href is "/entities?…" with the query and the
// next start (AEP: prefix it with /access), "" on the last page. limit
// past 1000 reads 1000. A relatedEntityId without relatedEntityIdNS is an
// AEP XID: an empty page.
func (h *handler) events(ctx context.Context, r *apigw.Request) (int, any, error) {
	p, err := required(r.Query, "relatedSchema.name", "relatedEntityId")
	if err != nil {
		return 0, nil, err
	}
	if p["relatedSchema.name"] != merge.ProfileSchema {
		return 0, nil, fault.E(fault.Invalid, "REQ-SCHEMA", "relatedSchema.name must be _xdm.context.profile")
	}
	q := profile.EventQuery{Namespace: r.Query.Get("relatedEntityIdNS"), Value: p["relatedEntityId"], Start: r.Query.Get("start"), Fields: fieldsOf(r.Query)}
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
	if q.Descending, err = descending(order); err != nil {
		return 0, nil, err
	}
	if q.Namespace == "" {
		// An XID (AEP's internal id), which Mosaic cannot resolve: no events.
		return http.StatusOK, newEventsPage(profile.EventPage{Children: []profile.EventChild{}}, q.Descending), nil
	}
	page, err := h.profiles.Timeline(ctx, q)
	if err != nil {
		return 0, nil, err
	}
	out := newEventsPage(page, q.Descending)
	if page.Next != "" {
		next := url.Values{}
		for k, v := range r.Query {
			next[k] = v
		}
		next.Set("start", page.Next)
		// Encode writes a space as "+", which this API reads as a plus
		// sign (RFC 3986); a plus sign itself it writes %2B.
		out.Links.Next.Href = "/entities?" + strings.ReplaceAll(next.Encode(), "+", "%20")
	}
	return http.StatusOK, out, nil
}

type schemaRef struct {
	Name string `json:"name"`
}

type nsRef struct {
	Code string `json:"code"`
}

// askedIdentity is one entry of a POST's identities: entityId and
// entityIdNS for profiles, relatedEntityId and relatedEntityIdNS for
// events (with start, the cursor of a next page's payload). An id without
// a namespace is an AEP XID.
type askedIdentity struct {
	EntityID          string `json:"entityId,omitempty"`
	EntityIDNS        *nsRef `json:"entityIdNS,omitempty"`
	RelatedEntityID   string `json:"relatedEntityId,omitempty"`
	RelatedEntityIDNS *nsRef `json:"relatedEntityIdNS,omitempty"`
	Start             string `json:"start,omitempty"`
}

type timeFilter struct {
	StartTime int64 `json:"startTime,omitempty"`
	EndTime   int64 `json:"endTime,omitempty"`
}

// entitiesBody is AEP's POST /access/entities body, plus provenance.
type entitiesBody struct {
	Schema        schemaRef       `json:"schema"`
	RelatedSchema *schemaRef      `json:"relatedSchema,omitempty"`
	Fields        []string        `json:"fields,omitempty"`
	Identities    []askedIdentity `json:"identities"`
	MergePolicyID string          `json:"mergePolicyId,omitempty"`
	Provenance    bool            `json:"provenance,omitempty"`
	TimeFilter    *timeFilter     `json:"timeFilter,omitempty"`
	Limit         int             `json:"limit,omitempty"`
	OrderBy       string          `json:"orderby,omitempty"`
	// WithCA asks AEP for computed attributes, which Mosaic does not
	// compute: accepted, and changes nothing.
	WithCA bool `json:"withCA,omitempty"`
}

// entitiesPost is POST /access/entities: several profiles (schema.name
// _xdm.context.profile) or the events of several profiles
// (_xdm.context.experienceevent with relatedSchema), at most
// MaxEntitiesPerRequest identities. Profiles: AEP's map with one entry per
// asked identity, keyed by its entity id; an identity with no data, or
// given as an XID (no entityIdNS), has the no-data entry. Errors: 400 for
// a bad body, an entry without an id or more than MaxEntitiesPerRequest
// identities (CodeTooManyIdentities), and as the GET.
func (h *handler) entitiesPost(ctx context.Context, r *apigw.Request) (int, any, error) {
	var body entitiesBody
	if err := r.Decode(&body); err != nil {
		return 0, nil, err
	}
	switch n := len(body.Identities); {
	case n == 0:
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "identities must list at least one identity")
	case n > MaxEntitiesPerRequest:
		return 0, nil, fault.Errorf(fault.Invalid, CodeTooManyIdentities, "identities lists %d identities; at most %d per request", n, MaxEntitiesPerRequest)
	}
	switch body.Schema.Name {
	case merge.ProfileSchema:
		return h.profilesPost(ctx, body)
	case merge.EventSchema:
		return h.eventsPost(ctx, body)
	case "":
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "schema.name is required")
	}
	return 0, nil, fault.E(fault.Invalid, "REQ-SCHEMA", "schema.name must be _xdm.context.profile or _xdm.context.experienceevent")
}

func (h *handler) profilesPost(ctx context.Context, body entitiesBody) (int, any, error) {
	for i, a := range body.Identities {
		if a.EntityID == "" {
			return 0, nil, fault.Errorf(fault.Invalid, "REQ-PARAM", "identities[%d]: entityId is required", i)
		}
	}
	pol, err := h.policy(ctx, body.MergePolicyID, merge.ProfileSchema)
	if err != nil {
		return 0, nil, err
	}
	qs := make([]profile.LookupQuery, len(body.Identities))
	for i, a := range body.Identities {
		qs[i] = profile.LookupQuery{Value: a.EntityID, Policy: pol, Fields: body.Fields, Provenance: body.Provenance}
		if a.EntityIDNS != nil {
			// Without a namespace, an XID (profile.Lookup).
			qs[i].Namespace = a.EntityIDNS.Code
		}
	}
	entries, err := h.profiles.LookupAll(ctx, qs)
	if err != nil {
		return 0, nil, err
	}
	out, err := entityMap(entries)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// eventsPost answers AEP's multi-profile events POST: a map keyed by each
// asked identity's entity id (an XID as given), each entry a page as the
// GET's, whose _links.next is {"href": "/entities", "payload": <the body
// that reads the next page of this identity>} or {"href": ""} on its last
// page. The answer's bytes are shared out: each identity's page ends where
// its share of topology.MaxPageBytes runs out, and continues by its
// payload.
func (h *handler) eventsPost(ctx context.Context, body entitiesBody) (int, any, error) {
	if body.RelatedSchema == nil || body.RelatedSchema.Name != merge.ProfileSchema {
		return 0, nil, fault.E(fault.Invalid, "REQ-SCHEMA", "relatedSchema.name must be _xdm.context.profile")
	}
	desc, err := descending(body.OrderBy)
	if err != nil {
		return 0, nil, err
	}
	if body.Limit < 0 {
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "limit must be a non-negative integer")
	}
	var from, to int64
	if body.TimeFilter != nil {
		from, to = body.TimeFilter.StartTime, body.TimeFilter.EndTime
	}
	if from < 0 || to < 0 {
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "timeFilter times must be non-negative epoch milliseconds")
	}
	share := topology.MaxPageBytes / len(body.Identities)
	out := make(map[string]eventsPage, len(body.Identities))
	for i, a := range body.Identities {
		id, ns := a.RelatedEntityID, a.RelatedEntityIDNS
		if id == "" {
			return 0, nil, fault.Errorf(fault.Invalid, "REQ-PARAM", "identities[%d]: relatedEntityId is required", i)
		}
		if ns == nil || ns.Code == "" {
			// An XID: Mosaic cannot resolve it, so it has no events.
			out[id] = newEventsPage(profile.EventPage{Children: []profile.EventChild{}}, desc)
			continue
		}
		q := profile.EventQuery{Namespace: ns.Code, Value: id, From: from, To: to, Limit: min(body.Limit, profile.MaxEventsPerPage),
			Descending: desc, Start: a.Start, Fields: body.Fields, MaxBytes: share}
		page, err := h.profiles.Timeline(ctx, q)
		if err != nil {
			fe := fault.As(err)
			if fe.Kind == fault.Internal {
				return 0, nil, err
			}
			return 0, nil, &fault.Error{Kind: fe.Kind, Code: fe.Code, Message: "identities[" + strconv.Itoa(i) + "]: " + fe.Message, Err: err}
		}
		p := newEventsPage(page, desc)
		if page.Next != "" {
			next := body
			next.Identities = []askedIdentity{{RelatedEntityID: a.RelatedEntityID, RelatedEntityIDNS: ns, Start: page.Next}}
			p.Links.Next.Href = "/entities"
			p.Links.Next.Payload = &next
		}
		out[page.RelatedEntityID] = p
	}
	return http.StatusOK, out, nil
}
