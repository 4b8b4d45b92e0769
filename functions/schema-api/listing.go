package main

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
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
// repeats a resource.
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
	var next *string
	links := map[string]any{}
	if len(entries) > limit {
		k1, k2 := key(entries[limit])
		tok := k1
		if k2 != "" {
			tok += "|" + k2
		}
		next = &tok
		q := url.Values{"orderby": {order}, "limit": {strconv.Itoa(limit)}, "start": {tok}}
		links["next"] = map[string]any{"href": strings.TrimPrefix(r.RouteKey, "GET ") + "?" + q.Encode()}
		entries = entries[:limit]
	}
	out := make([]any, 0, len(entries))
	for _, e := range entries {
		if wantsSummary(r) {
			out = append(out, e.sum)
		} else {
			out = append(out, e.full)
		}
	}
	return http.StatusOK, listing{Results: out, Page: page{OrderBy: order, Next: next, Count: len(out)}, Links: links}, nil
}

// wantsSummary and wantsFull read the Accept header: xed-id+json asks for
// summaries, xed-full+json for resolved resources; xed+json (or nothing)
// for the resource as stored.
func wantsSummary(r *apigw.Request) bool { return strings.Contains(r.Header.Get("Accept"), "xed-id") }
func wantsFull(r *apigw.Request) bool    { return strings.Contains(r.Header.Get("Accept"), "xed-full") }
