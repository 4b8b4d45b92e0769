//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestEventExpiry sets AEP's row expiration (P1D) on an experience event
// dataset with AEP's PATCH body, ingests through the Batch Ingestion API
// events older than a day and recent ones, and reads the timeline through
// the Profile Access API: every row is ingested (the batch counts them
// all), the expired events are not returned, the recent ones are.
func TestEventExpiry(t *testing.T) {
	t.Parallel()
	schemaID, altID := createSchema(t, fmt.Sprintf("Expiring events %d", time.Now().UnixNano()),
		"https://ns.adobe.com/xdm/context/experienceevent",
		"https://ns.adobe.com/xdm/context/experienceevent-web",
		"https://ns.adobe.com/xdm/context/identitymap")
	enableForProfile(t, altID)
	ds := createDataset(t, "Expiring web events", schemaID)

	must(t, http.StatusOK, "PATCH", catalogP+"/dataSets/"+ds, map[string]any{
		"extensions": map[string]any{"adobe_unifiedProfile": map[string]any{"rowExpiration": map[string]any{"ttlValue": "P1D"}}},
	})
	var got map[string]map[string]any
	must(t, http.StatusOK, "GET", catalogP+"/dataSets/"+ds, nil).decode(t, &got)
	if v := dig(got[ds], "extensions", "adobe_unifiedProfile", "rowExpiration", "ttlValue"); v != "P1D" {
		t.Fatalf("dataset rowExpiration.ttlValue = %v, want P1D", v)
	}

	who := fmt.Sprintf("expiring%d@example.com", time.Now().UnixNano())
	now := time.Now()
	ages := map[string]time.Duration{
		"old-3d":  72 * time.Hour,
		"old-25h": 25 * time.Hour,
		"new-23h": 23 * time.Hour, // a day has not passed: still live
		"new-1h":  time.Hour,
		"new-1m":  time.Minute,
	}
	var lines []string
	var wantLive []string
	for id, age := range ages {
		lines = append(lines, fmt.Sprintf(`{"_id":%q,"timestamp":%q,"eventType":"web.webpagedetails.pageViews","identityMap":{"Email":[{"id":%q,"primary":true}]},"web":{"webPageDetails":{"name":%q}}}`,
			id, now.Add(-age).UTC().Format(time.RFC3339Nano), who, id))
		if strings.HasPrefix(id, "new-") {
			wantLive = append(wantLive, id)
		}
	}
	sort.Strings(wantLive)
	b := apiBatch(t, ds, map[string]any{"format": "json"}, map[string][]byte{"events.json": []byte(strings.Join(lines, "\n") + "\n")})
	if b["status"] != "success" {
		t.Fatalf("batch %v, want success", b)
	}
	if m, _ := b["metrics"].(map[string]any); m["inputRecordCount"] != float64(len(ages)) || m["outputRecordCount"] != float64(len(ages)) {
		t.Errorf("batch metrics %v, want every one of the %d rows ingested", m, len(ages))
	}

	q := url.Values{
		"schema.name":        {"_xdm.context.experienceevent"},
		"relatedSchema.name": {"_xdm.context.profile"},
		"relatedEntityId":    {who},
		"relatedEntityIdNS":  {"Email"},
		"orderby":            {"+timestamp"},
		"limit":              {"100"},
	}
	var ids []string
	eventually(t, 30*time.Second, "the recent events readable", func() error {
		r := call(t, "GET", "/data/core/ups/access/entities?"+q.Encode(), nil, "")
		if r.Status != http.StatusOK {
			return errorf("events status %d %s", r.Status, r.Body)
		}
		var page map[string]any
		r.decode(t, &page)
		ids = ids[:0]
		for _, c := range children(page) {
			id, _ := dig(c, "entityId").(string)
			ids = append(ids, id)
		}
		if len(ids) < len(wantLive) {
			return errorf("%d events, want %d", len(ids), len(wantLive))
		}
		return nil
	})
	sort.Strings(ids)
	if fmt.Sprint(ids) != fmt.Sprint(wantLive) {
		t.Errorf("events = %v, want only the ones younger than a day %v", ids, wantLive)
	}

	// A window that holds only expired events answers none of them.
	w := url.Values{}
	for k, v := range q {
		w[k] = v
	}
	w.Set("startTime", fmt.Sprint(now.Add(-96*time.Hour).UnixMilli()))
	w.Set("endTime", fmt.Sprint(now.Add(-24*time.Hour).UnixMilli()))
	r := call(t, "GET", "/data/core/ups/access/entities?"+w.Encode(), nil, "")
	var page map[string]any
	if r.Status == http.StatusOK {
		r.decode(t, &page)
	}
	if n := len(children(page)); n != 0 {
		t.Errorf("the window of expired events answered %d events (status %d), want none", n, r.Status)
	}
}
