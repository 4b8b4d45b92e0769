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

// finishedBatchCount waits until n batches of ds have ended and returns
// them (success or failed).
func finishedBatchCount(t *testing.T, ds string, n int, within time.Duration) []map[string]any {
	t.Helper()
	var done []map[string]any
	eventually(t, within, fmt.Sprintf("%d finished batches", n), func() error {
		var batches map[string]map[string]any
		r := call(t, "GET", catalogP+"/batches?dataSet="+ds, nil, "")
		if r.Status != http.StatusOK {
			return errorf("batches status %d", r.Status)
		}
		r.decode(t, &batches)
		done = done[:0]
		for _, b := range batches {
			if b["status"] == "success" || b["status"] == "failed" {
				done = append(done, b)
			}
		}
		if len(done) < n {
			return errorf("%d of %d batches finished", len(done), n)
		}
		return nil
	})
	return done
}

// firstNameOf reads the merged first name of a CRMID profile ("" when it
// has none).
func firstNameOf(t *testing.T, crm string) string {
	t.Helper()
	_, e := lookupAnswer(t, "CRMID", crm)
	name, _ := dig(e, "person", "name", "firstName").(string)
	return name
}

// TestDeletedProfileStaysDeletedOnReplay is R7: a profile made of a
// dropped profile file, a streamed record and a dropped event file is
// deleted with DELETE /access/entities; then the same files are dropped
// again (new objects, whose rows carry their own
// extSourceSystemAudit.lastUpdatedDate and event timestamps from before
// the delete) and the same streamed record is put again. The profile, its
// events and its links stay deleted; a record made after the delete
// brings the person back, with that record only.
func TestDeletedProfileStaysDeletedOnReplay(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	profiles, schemaID := orderedDataset(t, "R7 profiles")
	events, _ := eventDataset(t, "R7 events")
	crm, mail := fmt.Sprintf("R7-%d", stamp), fmt.Sprintf("r7-%d@example.com", stamp)
	before := time.Now().Add(-time.Hour)

	row := member(crm, "Ada", before)
	row["identityMap"].(map[string]any)["Email"] = []any{map[string]any{"id": mail}}
	profileFile, _ := json.Marshal(row)
	eventFile := eventRows(fmt.Sprintf("R7E%d", stamp), 5, func(int) string { return mail })
	streamed := member(crm, "Ada", before.Add(time.Minute))
	streamed["person"] = map[string]any{"name": map[string]any{"firstName": "Ada", "lastName": "Lovelace"}}
	record := streamMessage(schemaID, profiles, nil, streamed)

	dropFile(t, profiles, "people.json", string(profileFile)+"\n")
	dropFile(t, events, "views.json", eventFile)
	putRecordSeq(t, crm, record)
	finishedBatchCount(t, profiles, 1, 2*time.Minute)
	finishedBatchCount(t, events, 1, 2*time.Minute)
	eventually(t, settle, "the profile whole", func() error {
		_, e := lookupAnswer(t, "Email", mail)
		if dig(e, "person", "name", "lastName") != "Lovelace" {
			return errorf("profile %v", e)
		}
		if _, n := eventsOf(t, mail); n != 5 {
			return errorf("%d events", n)
		}
		return nil
	})

	q := url.Values{"schema.name": {"_xdm.context.profile"}, "entityId": {crm}, "entityIdNS": {"CRMID"}}
	r := call(t, "DELETE", "/data/core/ups/access/entities?"+q.Encode(), nil, "")
	if r.Status != http.StatusAccepted {
		t.Fatalf("DELETE entities = %d %s, want 202", r.Status, r.Body)
	}
	var job map[string]any
	r.decode(t, &job)
	waitJob(t, job["id"].(string))
	wantProfileGone(t, "CRMID", crm)
	wantProfileGone(t, "Email", mail)

	// The same data again: new objects under the same names, and the same
	// record put again, then a sentinel under the same partition key, so
	// that the replayed record has been processed once the sentinel reads.
	dropFile(t, profiles, "people.json", string(profileFile)+"\n")
	dropFile(t, events, "views.json", eventFile)
	putRecordSeq(t, crm, record)
	sentinel := fmt.Sprintf("R7S-%d", stamp)
	putRecordSeq(t, crm, streamMessage(schemaID, profiles, nil, member(sentinel, "Sentinel", time.Now())))
	for _, b := range append(finishedBatchCount(t, profiles, 2, 2*time.Minute), finishedBatchCount(t, events, 2, 2*time.Minute)...) {
		if b["status"] != "success" {
			t.Fatalf("replayed batch %v, want success (its rows are refused by nothing but the delete)", b)
		}
	}
	eventually(t, settle, "the sentinel readable", func() error {
		if n := firstNameOf(t, sentinel); n != "Sentinel" {
			return errorf("sentinel first name %q", n)
		}
		return nil
	})
	if status, e := lookupAnswer(t, "CRMID", crm); len(e) > 0 {
		t.Errorf("after the replay the CRMID profile is back: %d %v", status, e)
	}
	if status, e := lookupAnswer(t, "Email", mail); len(e) > 0 {
		t.Errorf("after the replay the Email profile is back: %d %v", status, e)
	}
	if status, n := eventsOf(t, mail); status == http.StatusOK && n != 0 {
		t.Errorf("after the replay %d events are back", n)
	}
	members := url.Values{"namespace": {"CRMID"}, "id": {crm}}
	if r := call(t, "GET", "/data/core/identity/cluster/members?"+members.Encode(), nil, ""); r.Status == http.StatusOK && strings.Contains(string(r.Body), mail) {
		t.Errorf("after the replay the link to the e-mail is back: %s", r.Body)
	}

	// Data made after the delete is new: it brings the person back, with
	// nothing of the deleted data.
	putRecordSeq(t, crm, streamMessage(schemaID, profiles, nil, member(crm, "Grace", time.Now())))
	eventually(t, settle, "a record newer than the delete readable", func() error {
		if n := firstNameOf(t, crm); n != "Grace" {
			return errorf("first name %q", n)
		}
		return nil
	})
	if _, e := lookupAnswer(t, "CRMID", crm); dig(e, "person", "name", "lastName") != nil {
		t.Errorf("the new profile holds deleted data: %v", e)
	}
}
