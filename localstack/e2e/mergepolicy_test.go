//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const mergePolicies = "/data/core/ups/config/mergePolicies"

// policyLookup reads a profile under a merge policy ("" for the class's
// default) and returns the status, the error code or the policy id the
// answer names.
func policyLookup(t *testing.T, email, policy string) (status int, codeOrPolicy string) {
	t.Helper()
	q := url.Values{"schema.name": {"_xdm.context.profile"}, "entityId": {email}, "entityIdNS": {"Email"}}
	if policy != "" {
		q.Set("mergePolicyId", policy)
	}
	r := call(t, "GET", "/data/core/ups/access/entities?"+q.Encode(), nil, "")
	if r.Status != http.StatusOK {
		var e struct{ Code string }
		r.decode(t, &e)
		return r.Status, e.Code
	}
	var answer map[string]map[string]any
	r.decode(t, &answer)
	for _, v := range answer {
		id, _ := dig(v, "mergePolicy", "id").(string)
		return r.Status, id
	}
	return r.Status, ""
}

// policyList lists merge policies with the query q.
func policyList(t *testing.T, q string) (ids []string, total int, next string) {
	t.Helper()
	var page struct {
		Page     struct{ TotalCount, PageSize int } `json:"_page"`
		Children []struct {
			ID string
		}
		Links struct {
			Next struct{ Href string }
		} `json:"_links"`
	}
	must(t, http.StatusOK, "GET", mergePolicies+"?"+q, nil).decode(t, &page)
	for _, c := range page.Children {
		ids = append(ids, c.ID)
	}
	if page.Page.PageSize != len(ids) {
		t.Errorf("?%s: pageSize %d with %d children", q, page.Page.PageSize, len(ids))
	}
	return ids, page.Page.TotalCount, page.Links.Next.Href
}

type policyAnswer struct {
	ID      string
	Default bool
	Version int
}

// TestMergePoliciesAsAEP makes AEP's merge policy calls over SigV4: create
// with dataSetPrecedence, list with filters and pages, bulk-get, PATCH the
// default with AEP's operation object, fill the class until the sixth
// policy is refused, and delete the default, after which a read that names
// no policy answers 422. The class's default is restored at the end, for
// the tests that run after.
func TestMergePoliciesAsAEP(t *testing.T) {
	n := time.Now().UnixNano()
	schemaID := createProfileSchema(t, fmt.Sprintf("Merge policies %d", n))
	crm := createDataset(t, "CRM", schemaID)
	web := createDataset(t, "Web", schemaID)
	email := fmt.Sprintf("policies%d@example.com", n)
	streamProfile(t, schemaID, crm, email, map[string]any{"_id": "crm", "personalEmail": map[string]any{"address": email}})

	defaults, _, _ := policyList(t, "schema.name=_xdm.context.profile&default=true")
	if len(defaults) != 1 {
		t.Fatalf("the profile class has defaults %v, want one", defaults)
	}
	oldDefault := defaults[0]
	eventually(t, 60*time.Second, "the profile under the class's default", func() error {
		if status, id := policyLookup(t, email, ""); status != http.StatusOK || id != oldDefault {
			return errorf("lookup: %d %s", status, id)
		}
		return nil
	})

	var created []string
	t.Cleanup(func() {
		must(t, http.StatusOK, "PATCH", mergePolicies+"/"+oldDefault, `{"op":"add","path":"/default","value":"true"}`)
		for _, id := range created {
			if r := call(t, "DELETE", mergePolicies+"/"+id, nil, ""); r.Status != http.StatusOK && r.Status != http.StatusNotFound {
				t.Errorf("clean-up DELETE %s: %d %s", id, r.Status, r.Body)
			}
		}
		eventually(t, 30*time.Second, "reads under the restored default", func() error {
			if status, id := policyLookup(t, email, ""); status != http.StatusOK || id != oldDefault {
				return errorf("lookup: %d %s", status, id)
			}
			return nil
		})
	})

	// AEP's "Create a merge policy" example, with this test's datasets.
	var mine policyAnswer
	must(t, http.StatusCreated, "POST", mergePolicies, fmt.Sprintf(`{
		"name": "Loyalty members ordered by ID",
		"identityGraph": {"type": "none"},
		"attributeMerge": {"type": "dataSetPrecedence", "order": [%q, %q]},
		"schema": {"name": "_xdm.context.profile"},
		"default": true
	}`, crm, web)).decode(t, &mine)
	created = append(created, mine.ID)
	if mine.ID == "" || !mine.Default || mine.Version != 1 {
		t.Fatalf("created %+v, want the new default at version 1", mine)
	}
	var old policyAnswer
	must(t, http.StatusOK, "GET", mergePolicies+"/"+oldDefault, nil).decode(t, &old)
	if old.Default {
		t.Errorf("the previous default %s is still the default", oldDefault)
	}
	if status, id := policyLookup(t, email, mine.ID); status != http.StatusOK || id != mine.ID {
		t.Errorf("lookup under the new policy at once: %d %s, want 200 naming %s", status, id, mine.ID)
	}
	eventually(t, 30*time.Second, "reads under the new default", func() error {
		if status, id := policyLookup(t, email, ""); status != http.StatusOK || id != mine.ID {
			return errorf("lookup: %d %s", status, id)
		}
		return nil
	})

	// AEP's listing filters and its paging.
	ids, _, _ := policyList(t, "schema.name=_xdm.context.profile&attributeMerge.type=dataSetPrecedence&identityGraph.type=none")
	if !strings.Contains(strings.Join(ids, ","), mine.ID) {
		t.Errorf("filtered listing %v, want %s in it", ids, mine.ID)
	}
	if ids, _, _ := policyList(t, "schema.name=_xdm.context.profile&default=true"); len(ids) != 1 || ids[0] != mine.ID {
		t.Errorf("profile defaults %v, want [%s]", ids, mine.ID)
	}
	var paged []string
	_, total, next := policyList(t, "limit=1&orderBy=-name")
	for q := "limit=1&orderBy=-name"; q != ""; {
		ids, _, href := policyList(t, q)
		paged = append(paged, ids...)
		q = ""
		if href != "" {
			if !strings.HasPrefix(href, "@/mergePolicies?") {
				t.Fatalf("next href %q", href)
			}
			q = strings.TrimPrefix(href, "@/mergePolicies?")
		}
		if len(paged) > total {
			t.Fatalf("paging goes on past totalCount %d: %v", total, paged)
		}
	}
	if len(paged) != total || (total > 1 && next == "") {
		t.Errorf("pages of one gave %d policies, want totalCount %d", len(paged), total)
	}

	var bulk struct{ Results map[string]policyAnswer }
	must(t, http.StatusMultiStatus, "POST", mergePolicies+"/bulk-get", fmt.Sprintf(`{"ids":[{"id":%q},{"id":%q}]}`, mine.ID, oldDefault)).decode(t, &bulk)
	if len(bulk.Results) != 2 || bulk.Results[mine.ID].ID != mine.ID {
		t.Errorf("bulk-get %+v, want both policies", bulk.Results)
	}

	// AEP's PATCH example gives the class its old default back.
	must(t, http.StatusOK, "PATCH", mergePolicies+"/"+oldDefault, `{"op":"add","path":"/default","value":"true"}`).decode(t, &old)
	must(t, http.StatusOK, "GET", mergePolicies+"/"+mine.ID, nil).decode(t, &mine)
	if !old.Default || mine.Default || mine.Version != 2 {
		t.Errorf("after the PATCH: old %+v, mine %+v; want the old default back and mine at version 2", old, mine)
	}

	// The class takes five policies; the sixth is refused.
	all, _, _ := policyList(t, "schema.name=_xdm.context.profile&limit=100")
	for i := len(all); i < 5; i++ {
		var p policyAnswer
		must(t, http.StatusCreated, "POST", mergePolicies, fmt.Sprintf(`{"name":"filler %d","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"pdg"},"attributeMerge":{"type":"timestampOrdered"}}`, i)).decode(t, &p)
		created = append(created, p.ID)
	}
	r := call(t, "POST", mergePolicies, `{"name":"sixth","schema":{"name":"_xdm.context.profile"},"identityGraph":{"type":"pdg"},"attributeMerge":{"type":"timestampOrdered"}}`, "")
	if r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "MERGE-POLICY-LIMIT") {
		t.Errorf("sixth policy: %d %s, want 409 MERGE-POLICY-LIMIT", r.Status, r.Body)
	}

	// Deleting the default leaves the class without one: reads that name no
	// policy answer 422, reads that name one still work.
	must(t, http.StatusOK, "PATCH", mergePolicies+"/"+mine.ID, `[{"op":"replace","path":"/default","value":true}]`)
	if r := must(t, http.StatusOK, "DELETE", mergePolicies+"/"+mine.ID, nil); len(r.Body) != 0 {
		t.Errorf("DELETE answered %s, want no body", r.Body)
	}
	must(t, http.StatusNotFound, "GET", mergePolicies+"/"+mine.ID, nil)
	eventually(t, 30*time.Second, "reads without a default", func() error {
		if status, code := policyLookup(t, email, ""); status != http.StatusUnprocessableEntity || code != "MERGE-POLICY-NO-DEFAULT" {
			return errorf("lookup: %d %s", status, code)
		}
		return nil
	})
	if status, id := policyLookup(t, email, oldDefault); status != http.StatusOK || id != oldDefault {
		t.Errorf("lookup naming a policy without a default: %d %s", status, id)
	}
	if status, code := policyLookup(t, email, mine.ID); status != http.StatusNotFound || code != "MERGE-POLICY-NOT-FOUND" {
		t.Errorf("lookup naming the deleted policy: %d %s, want 404", status, code)
	}
}
