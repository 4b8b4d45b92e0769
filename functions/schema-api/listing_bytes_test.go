package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// TestListingPagesAreBoundedInBytes lists schemas whose full form is
// 400 KB each: 12 of them would be 4.8 MB in one answer. Every page stays
// under topology.MaxPageBytes and the pages list each schema once.
func TestListingPagesAreBoundedInBytes(t *testing.T) {
	h, _ := newTestHandler()
	desc := strings.Repeat("d", 400*1024)
	for i := 0; i < 12; i++ {
		body := fmt.Sprintf(`{"title":"s%02d","type":"object","description":%q,"allOf":[{"$ref":"%s"}]}`, i, desc, xdm.ProfileClass)
		if status, b := call(t, h, event("POST "+base+"/tenant/schemas", nil, nil, body)); status != 201 {
			t.Fatalf("create: %d %v", status, b)
		}
	}
	seen := map[string]bool{}
	query := ""
	for pages := 0; ; pages++ {
		if pages > 12 {
			t.Fatal("paging does not end")
		}
		ev := event("GET "+base+"/tenant/schemas", nil, nil, "")
		ev.RawQueryString = query
		resp, err := h.Handle(t.Context(), ev)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("list: %v %d", err, resp.StatusCode)
		}
		if len(resp.Body) > topology.MaxPageBytes+4096 {
			t.Fatalf("page %d is %d bytes, over %d", pages, len(resp.Body), topology.MaxPageBytes)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatal(err)
		}
		results := body["results"].([]any)
		if len(results) == 0 {
			t.Fatalf("page %d is empty", pages)
		}
		for _, r := range results {
			title := r.(map[string]any)["title"].(string)
			if seen[title] {
				t.Fatalf("%s listed twice", title)
			}
			seen[title] = true
		}
		href, ok := dig(body, "_links", "next", "href").(string)
		if !ok {
			break
		}
		_, query, _ = strings.Cut(href, "?")
	}
	if len(seen) != 12 {
		t.Errorf("%d schemas over all pages, want 12", len(seen))
	}
}
