package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// listing is AEP's Schema Registry listing shape.
type listing struct {
	Results []any          `json:"results"`
	Page    page           `json:"_page"`
	Links   map[string]any `json:"_links"`
}

type page struct {
	OrderBy string  `json:"orderby"`
	Next    *string `json:"next"`
	Count   int     `json:"count"`
}

// summary is the xed-id+json form of a resource.
type summary struct {
	ID      string `json:"$id"`
	AltID   string `json:"meta:altId"`
	Version string `json:"version"`
	Title   string `json:"title"`
}

// entry is one resource of a listing, with what it sorts by.
type entry struct {
	sum  summary
	full any
}

// MaxPage is AEP's largest listing page.
const MaxPage = 300

// paged answers a listing request: orderby title (default) or
// meta:altId, "-" for descending; limit (1..300, default 300); start, the
// _page.next of the previous page. Ties in title break by altId, and the
// start token carries both ("<title>|<altId>"), so paging never skips or
// repeats a resource. A page also ends where its JSON would pass
// topology.MaxPageBytes, Lambda's response limit with room to spare.
func paged(r *apigw.Request, entries []entry) (int, any, error) {
	order := r.Query.Get("orderby")
	if order == "" {
		order = "title"
	}
	desc := strings.HasPrefix(order, "-")
	field := strings.TrimPrefix(order, "-")
	if field != "title" && field != "meta:altId" {
		return 0, nil, fault.E(fault.Invalid, "REQ-ORDERBY", `orderby must be title, -title, meta:altId or -meta:altId`)
	}
	limit := MaxPage
	if v := r.Query.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPage {
			return 0, nil, fault.E(fault.Invalid, "REQ-LIMIT", "limit must be a whole number from 1 to 300")
		}
		limit = n
	}
	key := func(e entry) (string, string) {
		if field == "title" {
			return e.sum.Title, e.sum.AltID
		}
		return e.sum.AltID, ""
	}
	less := func(a1, a2, b1, b2 string) bool {
		if a1 != b1 {
			return (a1 < b1) != desc
		}
		return (a2 < b2) != desc
	}
	sort.SliceStable(entries, func(i, j int) bool {
		a1, a2 := key(entries[i])
		b1, b2 := key(entries[j])
		return less(a1, a2, b1, b2)
	})
	if start := r.Query.Get("start"); start != "" {
		s1, s2 := start, ""
		if i := strings.LastIndex(start, "|_"); i >= 0 && field == "title" {
			s1, s2 = start[:i], start[i+1:]
		}
		i := sort.Search(len(entries), func(i int) bool {
			k1, k2 := key(entries[i])
			if s2 == "" {
				return k1 == s1 || less(s1, "", k1, "")
			}
			return !less(k1, k2, s1, s2)
		})
		entries = entries[i:]
	}
	// A page ends after limit entries or where its JSON would pass
	// topology.MaxPageBytes (at least one entry); next starts at the first
	// entry left out.
	out := make([]any, 0, min(limit, len(entries)))
	size := 0
	for _, e := range entries {
		if len(out) == limit {
			break
		}
		var item any = e.full
		if wantsSummary(r) {
			item = e.sum
		}
		b, err := json.Marshal(item)
		if err != nil {
			return 0, nil, fault.Wrap(err, fault.Internal, "ENCODE", "resource could not be encoded")
		}
		if size += len(b) + 1; size > topology.MaxPageBytes && len(out) > 0 {
			break
		}
		out = append(out, item)
	}
	var next *string
	links := map[string]any{}
	if len(out) < len(entries) {
		k1, k2 := key(entries[len(out)])
		tok := k1
		if k2 != "" {
			tok += "|" + k2
		}
		next = &tok
		q := url.Values{"orderby": {order}, "limit": {strconv.Itoa(limit)}, "start": {tok}}
		links["next"] = map[string]any{"href": strings.TrimPrefix(r.RouteKey, "GET ") + "?" + q.Encode()}
	}
	return http.StatusOK, listing{Results: out, Page: page{OrderBy: order, Next: next, Count: len(out)}, Links: links}, nil
}

// wantsSummary and wantsFull read the Accept header: xed-id+json asks for
// summaries, xed-full+json for resolved resources; xed+json (or nothing)
// for the resource as stored.
func wantsSummary(r *apigw.Request) bool { return strings.Contains(r.Header.Get("Accept"), "xed-id") }
func wantsFull(r *apigw.Request) bool    { return strings.Contains(r.Header.Get("Accept"), "xed-full") }
