//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestProfileAccessAEPExamples sends AEP's documented Profile Access
// requests ("Entities endpoint": access profile data by identity, and by
// list of identities), signed with SigV4, against two datasets: a CRM
// dataset loaded by a batch and a loyalty dataset fed by the stream. It
// reads the merged profile by either identity of the cluster, with
// fields, with provenance, and AEP's no-data entry for an identity
// nobody sent and for an XID.
func TestProfileAccessAEPExamples(t *testing.T) {
	t.Parallel()
	n := time.Now().UnixNano()
	schemaID := createProfileSchema(t, fmt.Sprintf("Access people %d", n))
	crm := createDataset(t, "Access CRM", schemaID)
	loyalty := createDataset(t, "Access loyalty", schemaID)

	jane := fmt.Sprintf("janedoe%d@example.com", n)
	ecid := fmt.Sprintf("%038d", n)
	nobodyECID := fmt.Sprintf("%038d", n+1)

	// The CRM batch: Jane, linked to her ECID.
	batchID, b := apiBatchID(t, crm, map[string]any{"format": "json"}, map[string][]byte{"crm.json": jsonLines([]map[string]any{{
		"_id":           "crm-1",
		"personalEmail": map[string]any{"address": jane},
		"person":        map[string]any{"name": map[string]any{"firstName": "Jane", "lastName": "Doe"}},
		"homeAddress":   map[string]any{"city": "Lyon"},
		"identityMap":   map[string]any{"ECID": []any{map[string]any{"id": ecid}}},
	}})})
	wantBatchOK(t, "CRM batch", b, 1)
	eventually(t, 60*time.Second, "the CRM fragment", func() error {
		if status, p := lookup(t, "Email", jane); !found(status, p) {
			return errorf("no profile data yet (lookup status %d)", status)
		}
		return nil
	})
	// The loyalty record, streamed later: its city is newer.
	streamProfile(t, schemaID, loyalty, jane, map[string]any{
		"_id":           "loyalty-1",
		"personalEmail": map[string]any{"address": jane},
		"person":        map[string]any{"name": map[string]any{"middleName": "F"}},
		"homeAddress":   map[string]any{"city": "Lisbon"},
	})
	eventually(t, 60*time.Second, "both datasets merged", func() error {
		status, p := lookup(t, "Email", jane)
		if !found(status, p) || len(p["sources"].([]any)) != 2 {
			return errorf("lookup %d, sources %v", status, p["sources"])
		}
		return nil
	})

	// AEP's GET example: fields=identities,person.name,workEmail.
	q := "schema.name=_xdm.context.profile&entityId=" + url.QueryEscape(jane) + "&entityIdNS=email&fields=identities,person.name,workEmail"
	var answer map[string]map[string]any
	must(t, http.StatusOK, "GET", "/data/core/ups/access/entities?"+q, nil).decode(t, &answer)
	if len(answer) != 1 {
		t.Fatalf("answer has %d entries, want 1", len(answer))
	}
	var entityID string
	for k, e := range answer {
		entityID = k
		if e["entityId"] != k {
			t.Errorf("entityId %v, want the key %s", e["entityId"], k)
		}
		want := map[string]any{
			"identities": []any{
				map[string]any{"id": jane, "namespace": map[string]any{"code": "Email"}, "primary": true},
				map[string]any{"id": ecid, "namespace": map[string]any{"code": "ECID"}},
			},
			"person": map[string]any{"name": map[string]any{"firstName": "Jane", "middleName": "F", "lastName": "Doe"}},
		}
		if diff := cmp.Diff(want, e["entity"]); diff != "" {
			t.Errorf("entity (-want +got):\n%s", diff)
		}
		if got := fmt.Sprint(e["sources"]); !strings.Contains(got, crm) || !strings.Contains(got, loyalty) {
			t.Errorf("sources %v, want %s and %s", got, crm, loyalty)
		}
		if e["mergePolicy"] == nil || e["lastModifiedAt"] == "1970-01-01T00:00:00Z" {
			t.Errorf("entry %v lacks its merge policy or last modification", e)
		}
		if _, ok := e["provenance"]; ok {
			t.Errorf("provenance answered unasked")
		}
	}

	// Provenance: each leaf names its dataset, batch or stream position, time.
	q = url.Values{"schema.name": {"_xdm.context.profile"}, "entityId": {ecid}, "entityIdNS": {"ECID"},
		"fields": {"person.name,homeAddress"}, "provenance": {"true"}}.Encode()
	var byECID map[string]map[string]any
	must(t, http.StatusOK, "GET", "/data/core/ups/access/entities?"+q, nil).decode(t, &byECID)
	if len(byECID) != 1 || byECID[entityID] != nil {
		t.Errorf("answer by the ECID has %d entries, want 1 under another entity id than Jane's e-mail", len(byECID))
	}
	for _, e := range byECID {
		if got := dig(e, "entity", "homeAddress", "city"); got != "Lisbon" {
			t.Errorf("by the ECID: city %v, want the newer Lisbon", got)
		}
		prov, _ := e["provenance"].(map[string]any)
		keys := make([]string, 0, len(prov))
		for k := range prov {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if got := strings.Join(keys, ","); got != "homeAddress.city,person.name.firstName,person.name.lastName,person.name.middleName" {
			t.Errorf("provenance keys %s, want the four returned leaves", got)
		}
		first, _ := prov["person.name.firstName"].(map[string]any)
		if first["dataSetId"] != crm || first["batchId"] != batchID || !strings.HasPrefix(fmt.Sprint(first["source"]), "batch:") ||
			dig(first, "identity", "id") != jane {
			t.Errorf("firstName provenance %v, want dataset %s, batch %s, Jane's fragment", first, crm, batchID)
		}
		city, _ := prov["homeAddress.city"].(map[string]any)
		if city["dataSetId"] != loyalty || city["batchId"] != nil || !strings.HasPrefix(fmt.Sprint(city["source"]), "kinesis:") {
			t.Errorf("city provenance %v, want dataset %s at a stream position, no batch", city, loyalty)
		}
		if ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(city["timestamp"])); err != nil || time.Since(ts) > time.Hour {
			t.Errorf("city provenance timestamp %v: %v", city["timestamp"], err)
		}
	}

	// An identity nobody sent: 200 and AEP's no-data entry.
	if status, p := lookup(t, "ECID", nobodyECID); !isNoData(status, p) {
		t.Errorf("unknown identity: %d %v, want the no-data entry", status, p)
	}

	// AEP's POST example ("access profile data by list of identities").
	body := `{
  "schema": {"name": "_xdm.context.profile"},
  "fields": ["identities", "person.name", "workEmail"],
  "identities": [
    {"entityId": "` + ecid + `", "entityIdNS": {"code": "ECID"}},
    {"entityId": "` + nobodyECID + `", "entityIdNS": {"code": "ECID"}},
    {"entityId": "` + jane + `", "entityIdNS": {"code": "email"}},
    {"entityId": "GkouAW-2u-7iWt5vQ9u2wm40JOZY"}
  ],
  "timeFilter": {"startTime": 1539838505, "endTime": 1539838510},
  "limit": 10,
  "orderby": "-timestamp",
  "withCA": true
}`
	var many map[string]map[string]any
	must(t, http.StatusOK, "POST", "/data/core/ups/access/entities", body).decode(t, &many)
	if len(many) != 4 {
		t.Errorf("POST answer has %d entries, want one per asked identity (4)", len(many))
	}
	var withData, noData int
	for k, e := range many {
		switch {
		case isNoData(http.StatusOK, e):
			noData++
		case dig(e, "entity", "person", "name", "middleName") == "F":
			withData++
		default:
			t.Errorf("entry %s: %v", k, e)
		}
	}
	if withData != 2 || noData != 2 || many[entityID] == nil || many["GkouAW-2u-7iWt5vQ9u2wm40JOZY"] == nil {
		t.Errorf("POST answer %v: want Jane by ECID and by Email, the unknown ECID and the XID as no-data entries", many)
	}

	// More than 100 identities is refused.
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = fmt.Sprintf(`{"entityId":"p%d@example.com","entityIdNS":{"code":"Email"}}`, i)
	}
	if r := call(t, "POST", "/data/core/ups/access/entities", `{"schema":{"name":"_xdm.context.profile"},"identities":[`+strings.Join(ids, ",")+`]}`, ""); r.Status != http.StatusBadRequest {
		t.Errorf("101 identities: %d %s, want 400", r.Status, r.Body)
	}
}
