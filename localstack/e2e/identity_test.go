//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"testing"
	"time"
)

// identityQuery is the query naming an identity for the identity API,
// with its namespace under nsName and its value under idName.
func identityQuery(q url.Values, nsName, ns, idName, id string) url.Values {
	if q == nil {
		q = url.Values{}
	}
	q.Set(nsName, ns)
	q.Set(idName, id)
	return q
}

func memberValues(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, m := range list {
		id, _ := dig(m, "id").(string)
		out = append(out, id)
	}
	return out
}

// TestIdentitySharedDevice: two people sign in on one device. File 1 has
// CRM id C1 with the device's ECID E, file 2 CRM id C2 with the same E.
// CRMID is unique, so the second link is refused and recorded: E's
// cluster holds C1 only, explain(C1, C2) says they are apart because of
// that refusal, explain(C1, E) gives the link with the dataset and batch
// that made it, and a bulk members read answers all three, C1 and E
// sharing their cluster.
func TestIdentitySharedDevice(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	schemaID, altID := createSchema(t, fmt.Sprintf("Shared device %d", stamp),
		"https://ns.adobe.com/xdm/context/profile",
		"https://ns.adobe.com/xdm/context/profile-person-details",
		"https://ns.adobe.com/xdm/context/identitymap")
	enableForProfile(t, altID)
	ds := createDataset(t, "Shared device", schemaID)
	c1, c2 := fmt.Sprintf("C1-%d", stamp), fmt.Sprintf("C2-%d", stamp)
	ecid := fmt.Sprintf("%038d", stamp)
	row := func(crm, name string) map[string]any {
		return map[string]any{
			"_id": crm,
			"identityMap": map[string]any{
				"CRMID": []any{map[string]any{"id": crm, "primary": true}},
				"ECID":  []any{map[string]any{"id": ecid}},
			},
			"person": map[string]any{"name": map[string]any{"firstName": name}},
		}
	}
	batch1, b := apiBatchID(t, ds, map[string]any{"format": "json"}, map[string][]byte{"one.json": jsonLines([]map[string]any{row(c1, "One")})})
	wantBatchOK(t, "file 1", b, 1)
	_, b = apiBatchID(t, ds, map[string]any{"format": "json"}, map[string][]byte{"two.json": jsonLines([]map[string]any{row(c2, "Two")})})
	wantBatchOK(t, "file 2", b, 1)

	var members map[string]any
	must(t, http.StatusOK, "GET", "/data/core/identity/cluster/members?"+identityQuery(nil, "namespace", "ECID", "id", ecid).Encode(), nil).decode(t, &members)
	got := memberValues(members["members"])
	if want := []string{ecid, c1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cluster of the device = %v, want the device and C1 only", got)
	}

	var apart map[string]any
	q := identityQuery(identityQuery(nil, "namespace", "CRMID", "id", c1), "toNamespace", "CRMID", "toId", c2)
	must(t, http.StatusOK, "GET", "/data/core/identity/cluster/explain?"+q.Encode(), nil).decode(t, &apart)
	decisions, _ := apart["decisions"].([]any)
	if apart["sameCluster"] != false || len(decisions) == 0 {
		t.Fatalf("explain(C1, C2) = %v, want apart, with the decision that kept them so", apart)
	}
	refused := false
	pair := []string{c2, ecid}
	sort.Strings(pair)
	for _, d := range decisions {
		ends := []string{fmt.Sprint(dig(d, "identity", "id")), fmt.Sprint(dig(d, "other", "id"))}
		sort.Strings(ends)
		if dig(d, "kind") == "LINK-REFUSED" && fmt.Sprint(ends) == fmt.Sprint(pair) && dig(d, "dataSetId") == ds {
			refused = true
		}
	}
	if !refused {
		t.Errorf("decisions %v, want LINK-REFUSED between C2 and the device, from dataset %s", decisions, ds)
	}
	if got := memberValues(apart["toMembers"]); fmt.Sprint(got) != fmt.Sprint([]string{c2}) {
		t.Errorf("C2's side = %v, want C2 alone", got)
	}

	var one map[string]any
	q = identityQuery(identityQuery(nil, "namespace", "CRMID", "id", c1), "toNsId", "4", "toId", ecid)
	must(t, http.StatusOK, "GET", "/data/core/identity/cluster/explain?"+q.Encode(), nil).decode(t, &one)
	chain, _ := one["chain"].([]any)
	if one["sameCluster"] != true || len(chain) != 1 {
		t.Fatalf("explain(C1, E) = %v, want one link", one)
	}
	l := chain[0]
	if dig(l, "from", "id") != c1 || dig(l, "to", "id") != ecid || dig(l, "dataSetId") != ds || dig(l, "source") != batch1 {
		t.Errorf("link %v, want C1 → the device made by dataset %s, batch %s", l, ds, batch1)
	}
	if first, _ := dig(l, "firstSeen").(float64); first <= 0 {
		t.Errorf("link %v has no first sight", l)
	}

	var history map[string]any
	must(t, http.StatusOK, "GET", "/data/core/identity/cluster/history?"+identityQuery(nil, "namespace", "ECID", "id", ecid).Encode(), nil).decode(t, &history)
	kinds := map[string]bool{}
	for _, e := range history["history"].([]any) {
		kinds[fmt.Sprint(dig(e, "kind"))] = true
	}
	if !kinds["LINK"] || !kinds["LINK-REFUSED"] || history["truncated"] != false {
		t.Errorf("history of the device = %v, want its link and the refusal", history)
	}

	var bulk map[string]any
	must(t, http.StatusOK, "POST", "/data/core/identity/clusters/members", map[string]any{
		"compositeXids": []any{
			map[string]any{"ns": "CRMID", "id": c1},
			map[string]any{"nsid": 4, "id": ecid},
			map[string]any{"ns": "CRMID", "id": c2},
		},
		"graph-type": "Private Graph",
	}).decode(t, &bulk)
	clusters, _ := bulk["clusters"].([]any)
	if bulk["version"] != "1.0.0" || len(clusters) != 3 {
		t.Fatalf("bulk members = %v, want three clusters", bulk)
	}
	want := [][]string{{c1, c1, ecid}, {ecid, ecid, c1}, {c2, c2}}
	for i, c := range clusters {
		got := append([]string{fmt.Sprint(dig(c, "compositeXid", "id"))}, memberValues(dig(c, "members"))...)
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("cluster %d (asked, members…) = %v, want %v", i, got, want[i])
		}
	}
	if n, _ := bulk["unprocessedNids"].([]any); len(n) != 0 {
		t.Errorf("unprocessedNids = %v, want none", n)
	}
}
