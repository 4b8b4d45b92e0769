//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestEventsTimeline streams experience events with the AWS CLI and reads
// them back through AEP's events query: newest first, in pages that follow
// _links.next.href, and within a time window (start inclusive, end exclusive).
func TestEventsTimeline(t *testing.T) {
	schemaID, altID := createSchema(t, fmt.Sprintf("Web events %d", time.Now().UnixNano()),
		"https://ns.adobe.com/xdm/context/experienceevent",
		"https://ns.adobe.com/xdm/context/experienceevent-web",
		"https://ns.adobe.com/xdm/context/identitymap")
	enableForProfile(t, altID)
	ds := createDataset(t, "Web events", schemaID)

	who := fmt.Sprintf("visitor%d@example.com", time.Now().UnixNano())
	base := time.Now().Add(-10 * time.Hour).Truncate(time.Hour)
	var stamps []int64
	for i := 0; i < 5; i++ {
		at := base.Add(time.Duration(i) * time.Hour)
		stamps = append(stamps, at.UnixMilli())
		msg, _ := json.Marshal(map[string]any{
			"header": map[string]any{"schemaRef": map[string]any{"id": schemaID}, "datasetId": ds},
			"body": map[string]any{
				"xdmMeta": map[string]any{"schemaRef": map[string]any{"id": schemaID}},
				"xdmEntity": map[string]any{
					"_id":         fmt.Sprintf("view-%d", i),
					"timestamp":   at.UTC().Format(time.RFC3339),
					"eventType":   "web.webpagedetails.pageViews",
					"identityMap": map[string]any{"Email": []any{map[string]any{"id": who, "primary": true}}},
					"web":         map[string]any{"webPageDetails": map[string]any{"name": fmt.Sprintf("page %d", i)}},
				},
			},
		})
		putRecord(t, who, msg)
	}

	events := func(query url.Values) map[string]any {
		t.Helper()
		var page map[string]any
		must(t, http.StatusOK, "GET", "/data/core/ups/access/entities?"+query.Encode(), nil).decode(t, &page)
		return page
	}
	q := url.Values{
		"schema.name":        {"_xdm.context.experienceevent"},
		"relatedSchema.name": {"_xdm.context.profile"},
		"relatedEntityId":    {who},
		"relatedEntityIdNS":  {"Email"},
		"orderby":            {"-timestamp"},
		"limit":              {"2"},
	}
	eventually(t, 30*time.Second, "all five streamed events readable", func() error {
		all := url.Values{}
		for k, v := range q {
			all[k] = v
		}
		all.Set("limit", "10")
		r := call(t, "GET", "/data/core/ups/access/entities?"+all.Encode(), nil, "")
		if r.Status != http.StatusOK {
			return errorf("events status %d", r.Status)
		}
		var page map[string]any
		r.decode(t, &page)
		if n := len(children(page)); n != 5 {
			return errorf("%d events, want 5", n)
		}
		return nil
	})

	// Newest first, two a page, following _links.next.href.
	var got []int64
	page := events(q)
	for pages := 1; ; pages++ {
		for _, c := range children(page) {
			ts, _ := dig(c, "timestamp").(float64)
			got = append(got, int64(ts))
			if dig(c, "entity", "web", "webPageDetails", "name") == nil {
				t.Errorf("event %v lacks its attributes", c)
			}
		}
		next, _ := dig(page, "_links", "next", "href").(string)
		if next == "" {
			if pages != 3 {
				t.Errorf("%d pages, want 3 (2 + 2 + 1)", pages)
			}
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		_, rawQuery, _ := strings.Cut(next, "?")
		nq, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Fatalf("next href %q: %v", next, err)
		}
		page = events(nq)
	}
	want := []int64{stamps[4], stamps[3], stamps[2], stamps[1], stamps[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("timestamps = %v, want %v (newest first, each once)", got, want)
	}

	// A window: start inclusive, end exclusive, oldest first.
	w := url.Values{}
	for k, v := range q {
		w[k] = v
	}
	w.Del("limit")
	w.Set("orderby", "+timestamp")
	w.Set("startTime", fmt.Sprint(stamps[1]))
	w.Set("endTime", fmt.Sprint(stamps[3]))
	var window []int64
	for _, c := range children(events(w)) {
		ts, _ := dig(c, "timestamp").(float64)
		window = append(window, int64(ts))
	}
	if fmt.Sprint(window) != fmt.Sprint([]int64{stamps[1], stamps[2]}) {
		t.Errorf("window timestamps = %v, want %v", window, []int64{stamps[1], stamps[2]})
	}
}

func children(page map[string]any) []any {
	c, _ := page["children"].([]any)
	return c
}
