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

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// The profile jobs of docs/identity-and-merge.md ("Profile jobs"): AEP's
// delete requests (a dataset, a batch of a time-series dataset), a
// dataset deleted from the catalog, and profile deletes, each carried out
// by profile-jobs in steps and reported through /system/jobs.

const jobsAPI = "/data/core/ups/system/jobs"

// jobWait bounds how long a job may take: a deleted dataset's job waits
// 17 s before it starts.
const jobWait = 3 * time.Minute

// startJob posts a delete request and returns the NEW job.
func startJob(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	var j map[string]any
	must(t, http.StatusOK, "POST", jobsAPI, body).decode(t, &j)
	if id, _ := j["id"].(string); id == "" || j["status"] != "NEW" || j["jobType"] != "DELETE" {
		t.Fatalf("created job %v, want a NEW DELETE job with an id", j)
	}
	return j
}

// waitJob polls a job until it is COMPLETED, failing on ERROR, and
// returns it with its metrics decoded from AEP's JSON string.
func waitJob(t *testing.T, id string) (job map[string]any, recordsProcessed int) {
	t.Helper()
	eventually(t, jobWait, "job "+id+" COMPLETED", func() error {
		r := call(t, "GET", jobsAPI+"/"+id, nil, "")
		if r.Status != http.StatusOK {
			return errorf("job status %d %s", r.Status, r.Body)
		}
		r.decode(t, &job)
		switch job["status"] {
		case "COMPLETED":
			return nil
		case "ERROR":
			t.Fatalf("job %s ended in ERROR: %v", id, job["error"])
		}
		return errorf("job is %v", job["status"])
	})
	var m struct {
		RecordsProcessed int `json:"recordsProcessed"`
		TimeTakenInSec   *int
	}
	s, _ := job["metrics"].(string)
	if err := json.Unmarshal([]byte(s), &m); err != nil || m.TimeTakenInSec == nil {
		t.Fatalf("metrics %q are not AEP's JSON string {recordsProcessed, timeTakenInSec}: %v", s, err)
	}
	return job, m.RecordsProcessed
}

// liveItems counts the items of the profile table that hold data (an
// attribute rec: tombstones hold none) and match filter.
func liveItems(t *testing.T, filter string, values map[string]string) int {
	t.Helper()
	table := tableName(t, topology.ProfileTable, topology.OutputProfileTable)
	vals := map[string]any{}
	for k, v := range values {
		vals[k] = map[string]string{"S": v}
	}
	raw, _ := json.Marshal(vals)
	// "batch" is one of DynamoDB's reserved words.
	args := []string{"dynamodb", "scan", "--table-name", table, "--select", "COUNT", "--consistent-read",
		"--filter-expression", "attribute_exists(rec) AND " + filter, "--expression-attribute-values", string(raw)}
	if strings.Contains(filter, "#batch") {
		args = append(args, "--expression-attribute-names", `{"#batch":"batch"}`)
	}
	var out struct{ Count int }
	if err := json.Unmarshal([]byte(awsCLI(t, args...)), &out); err != nil {
		t.Fatal(err)
	}
	return out.Count
}

// liveFragments counts the fragments of a dataset that hold data.
func liveFragments(t *testing.T, ds string) int {
	t.Helper()
	return liveItems(t, "sk = :sk", map[string]string{":sk": "F#" + ds})
}

// liveEvents counts the events of a dataset (of one batch when batch is
// not empty) that hold data.
func liveEvents(t *testing.T, ds, batch string) int {
	t.Helper()
	if batch != "" {
		return liveItems(t, "begins_with(sk, :e) AND ds = :ds AND #batch = :b", map[string]string{":e": "E#", ":ds": ds, ":b": batch})
	}
	return liveItems(t, "begins_with(sk, :e) AND ds = :ds", map[string]string{":e": "E#", ":ds": ds})
}

// eventDataset creates a Profile-enabled ExperienceEvent dataset whose
// events take their identity from identityMap.
func eventDataset(t *testing.T, what string) (dataset, schemaID string) {
	t.Helper()
	schemaID, altID := createSchema(t, fmt.Sprintf("%s %d", what, time.Now().UnixNano()),
		"https://ns.adobe.com/xdm/context/experienceevent",
		"https://ns.adobe.com/xdm/context/experienceevent-web",
		"https://ns.adobe.com/xdm/context/identitymap")
	enableForProfile(t, altID)
	return createDataset(t, what, schemaID), schemaID
}

// eventRows are n page views of the e-mail identities who(i), one a
// second from n seconds and an hour ago, as JSON Lines.
func eventRows(prefix string, n int, who func(i int) string) string {
	var b strings.Builder
	base := time.Now().Add(-time.Hour - time.Duration(n)*time.Second).Truncate(time.Second)
	for i := range n {
		fmt.Fprintf(&b, `{"_id":"%s-%d","timestamp":%q,"eventType":"web.webpagedetails.pageViews","identityMap":{"Email":[{"id":%q,"primary":true}]}}`+"\n",
			prefix, i, base.Add(time.Duration(i)*time.Second).UTC().Format(time.RFC3339), who(i))
	}
	return b.String()
}

// dropFile drops body as ingest/<ds>/<name> with the AWS CLI.
func dropFile(t *testing.T, ds, name, body string) {
	t.Helper()
	awsCLI(t, "s3", "cp", writeFile(t, name, body), fmt.Sprintf("s3://%s/ingest/%s/%s", tgt.Bucket, ds, name))
}

// lookupAnswer is the status and entity of a profile read of (ns, id).
func lookupAnswer(t *testing.T, ns, id string) (int, map[string]any) {
	t.Helper()
	status, p := lookup(t, ns, id)
	e, _ := p["entity"].(map[string]any)
	return status, e
}

// wantProfileGone waits until (ns, id) reads as an identity Mosaic holds
// no data for: the status of an identity nobody sent, and no attributes.
func wantProfileGone(t *testing.T, ns, id string) {
	t.Helper()
	want, _ := lookupAnswer(t, ns, fmt.Sprintf("nobody-%d", time.Now().UnixNano()))
	if want != http.StatusOK && want != http.StatusNotFound {
		t.Fatalf("lookup of an identity nobody sent = %d, want 200 or 404", want)
	}
	eventually(t, settle, ns+" profile gone", func() error {
		status, e := lookupAnswer(t, ns, id)
		if status != want || len(e) > 0 {
			return errorf("lookup = %d %v, want %d with no attributes", status, e, want)
		}
		return nil
	})
}

// eventsOf is the status and the number of events of an e-mail identity
// read through the Profile Access API.
func eventsOf(t *testing.T, email string) (int, int) {
	t.Helper()
	q := url.Values{"schema.name": {"_xdm.context.experienceevent"}, "relatedSchema.name": {"_xdm.context.profile"},
		"relatedEntityId": {email}, "relatedEntityIdNS": {"Email"}, "limit": {"1000"}}
	r := call(t, "GET", "/data/core/ups/access/entities?"+q.Encode(), nil, "")
	if r.Status != http.StatusOK {
		return r.Status, 0
	}
	var page map[string]any
	r.decode(t, &page)
	return r.Status, len(children(page))
}

// batchWithRecords returns the id of the successful batch of batches
// that read n records.
func batchWithRecords(t *testing.T, batches map[string]map[string]any, n int) string {
	t.Helper()
	for id, b := range batches {
		if b["status"] == "success" && dig(b, "metrics", "inputRecordCount") == float64(n) {
			return id
		}
	}
	t.Fatalf("no successful batch of %d records among %v", n, batches)
	return ""
}

// TestProfileJobsDeleteDatasetsAndBatches deletes a batch of an event
// dataset (its events only), refuses a record dataset's batch as AEP,
// deletes a profile dataset and an event dataset whole, and lists, reads
// and removes the job records.
func TestProfileJobsDeleteDatasetsAndBatches(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	profiles, _ := poisonDataset(t, "Jobs profiles")
	prefix := fmt.Sprintf("JB%d", stamp)
	var rows strings.Builder
	for i := range 20 {
		rows.WriteString(goodRow(prefix, i) + "\n")
	}
	if b := dropBytes(t, profiles, "members.json", []byte(rows.String())); b["status"] != "success" {
		t.Fatalf("profile batch %v", b)
	}
	if n := liveFragments(t, profiles); n != 20 {
		t.Fatalf("%d fragments, want 20", n)
	}

	events, _ := eventDataset(t, "Jobs events")
	who := func(i int) string { return fmt.Sprintf("jobs%d-%d@example.com", stamp, i%4) }
	dropFile(t, events, "a.json", eventRows(prefix+"a", 10, who))
	dropFile(t, events, "b.json", eventRows(prefix+"b", 12, who))
	batches := waitBatches(t, events, 2, 2*time.Minute)
	batchA, batchB := batchWithRecords(t, batches, 10), batchWithRecords(t, batches, 12)
	if a, b := liveEvents(t, events, batchA), liveEvents(t, events, batchB); a != 10 || b != 12 {
		t.Fatalf("%d and %d events, want 10 and 12", a, b)
	}

	t.Run("a batch of an event dataset", func(t *testing.T) {
		j := startJob(t, map[string]any{"batchId": batchA})
		if j["batchId"] != batchA || j["dataSetId"] != events {
			t.Errorf("job %v, want batch %s of %s", j, batchA, events)
		}
		_, n := waitJob(t, j["id"].(string))
		if n != 10 {
			t.Errorf("recordsProcessed %d, want the batch's 10 events", n)
		}
		if a, b := liveEvents(t, events, batchA), liveEvents(t, events, batchB); a != 0 || b != 12 {
			t.Errorf("%d events of the batch and %d of the other left, want 0 and 12", a, b)
		}
	})

	t.Run("a batch of a record dataset is refused", func(t *testing.T) {
		recordBatch := finishedBatch(t, profiles, time.Minute)["id"].(string)
		r := call(t, "POST", jobsAPI, map[string]any{"batchId": recordBatch}, "")
		var e map[string]any
		r.decode(t, &e)
		if r.Status != http.StatusBadRequest || e["message"] != "Batch can only be specified for EE type '"+profiles+"'" {
			t.Errorf("got %d %v, want AEP's 400", r.Status, e)
		}
		for _, body := range []map[string]any{{}, {"dataSetId": fmt.Sprintf("%024x", stamp)}} {
			r := call(t, "POST", jobsAPI, body, "")
			r.decode(t, &e)
			if msg, _ := e["message"].(string); r.Status != http.StatusBadRequest || !strings.HasPrefix(msg, "Invalid delete request (Profile System Job)") {
				t.Errorf("%v: got %d %v, want AEP's 400", body, r.Status, e)
			}
		}
	})

	var profileJob string
	t.Run("a profile dataset", func(t *testing.T) {
		j := startJob(t, map[string]any{"dataSetId": profiles})
		profileJob = j["id"].(string)
		_, n := waitJob(t, profileJob)
		if n != 20 {
			t.Errorf("recordsProcessed %d, want the 20 fragments", n)
		}
		if n := liveFragments(t, profiles); n != 0 {
			t.Errorf("%d fragments left", n)
		}
		wantProfileGone(t, "CRMID", prefix+"-7")
	})

	t.Run("an event dataset", func(t *testing.T) {
		j := startJob(t, map[string]any{"dataSetId": events})
		_, n := waitJob(t, j["id"].(string))
		if n != 12 {
			t.Errorf("recordsProcessed %d, want the 12 events left", n)
		}
		if n := liveEvents(t, events, ""); n != 0 {
			t.Errorf("%d events left", n)
		}
		if status, n := eventsOf(t, who(1)); status == http.StatusOK && n != 0 {
			t.Errorf("%d events still read", n)
		}
	})

	t.Run("list, get and delete job records", func(t *testing.T) {
		var list struct {
			Page struct {
				Count int    `json:"count"`
				Next  string `json:"next"`
			} `json:"_page"`
			Children []map[string]any `json:"children"`
		}
		must(t, http.StatusOK, "GET", jobsAPI+"?sort=createEpoch:desc&limit=3", nil).decode(t, &list)
		if list.Page.Count != len(list.Children) || len(list.Children) == 0 || len(list.Children) > 3 {
			t.Fatalf("list %+v", list)
		}
		for i := 1; i < len(list.Children); i++ {
			if list.Children[i-1]["createEpoch"].(float64) < list.Children[i]["createEpoch"].(float64) {
				t.Errorf("jobs not newest first: %v", list.Children)
			}
		}
		if profileJob == "" {
			t.Skip("no job of the profile dataset")
		}
		must(t, http.StatusOK, "DELETE", jobsAPI+"/"+profileJob, nil)
		if r := call(t, "GET", jobsAPI+"/"+profileJob, nil, ""); r.Status != http.StatusNotFound {
			t.Errorf("GET of a removed job = %d %s, want 404", r.Status, r.Body)
		}
	})
}

// TestDeleteDatasetRoute deletes a dataset through the catalog: it is
// gone (404), files dropped for it fail as for an unknown dataset, and the
// job it started removes its profile data.
func TestDeleteDatasetRoute(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	ds, _ := poisonDataset(t, "Deleted dataset")
	prefix := fmt.Sprintf("DD%d", stamp)
	var rows strings.Builder
	for i := range 10 {
		rows.WriteString(goodRow(prefix, i) + "\n")
	}
	if b := dropBytes(t, ds, "members.json", []byte(rows.String())); b["status"] != "success" {
		t.Fatalf("batch %v", b)
	}

	var refs []string
	must(t, http.StatusOK, "DELETE", catalogP+"/dataSets/"+ds, nil).decode(t, &refs)
	if len(refs) != 1 || refs[0] != "@/dataSets/"+ds {
		t.Errorf("answer %v, want [\"@/dataSets/%s\"]", refs, ds)
	}
	if r := call(t, "GET", catalogP+"/dataSets/"+ds, nil, ""); r.Status != http.StatusNotFound {
		t.Errorf("GET of the deleted dataset = %d, want 404", r.Status)
	}
	if r := call(t, "DELETE", catalogP+"/dataSets/"+ds, nil, ""); r.Status != http.StatusNotFound {
		t.Errorf("second DELETE = %d, want 404", r.Status)
	}

	var list struct {
		Children []map[string]any `json:"children"`
	}
	must(t, http.StatusOK, "GET", jobsAPI+"?sort=createEpoch:desc&limit=100", nil).decode(t, &list)
	var id string
	for _, j := range list.Children {
		if j["dataSetId"] == ds {
			id, _ = j["id"].(string)
		}
	}
	if id == "" {
		t.Fatalf("no job for the deleted dataset among %v", list.Children)
	}
	_, n := waitJob(t, id)
	if n != 10 {
		t.Errorf("recordsProcessed %d, want 10", n)
	}
	if n := liveFragments(t, ds); n != 0 {
		t.Errorf("%d fragments left", n)
	}
	wantProfileGone(t, "CRMID", prefix+"-3")

	// Ingestion into the deleted dataset is refused as into an unknown one.
	r := call(t, "POST", "/data/foundation/import/batches", map[string]any{"datasetId": ds, "inputFormat": map[string]any{"format": "json"}}, "")
	if r.Status != http.StatusBadRequest {
		t.Errorf("batch into the deleted dataset = %d %s, want 400", r.Status, r.Body)
	}
	dropFile(t, ds, "late.json", goodRow(prefix+"late", 0)+"\n")
	batches := waitBatches(t, ds, 2, 2*time.Minute)
	late := batches[batchOfStatus(t, batches, "failed")]
	if errs, _ := late["errors"].([]any); len(errs) != 1 || dig(errs[0], "code") != "DATASET-NOT-FOUND" {
		t.Errorf("late file's batch %v, want failed DATASET-NOT-FOUND", late)
	}
	if n := liveFragments(t, ds); n != 0 {
		t.Errorf("%d fragments written into the deleted dataset", n)
	}

	// A deleted dataset's job may be asked for again; nothing is left.
	again := startJob(t, map[string]any{"dataSetId": ds})
	if _, n := waitJob(t, again["id"].(string)); n != 0 {
		t.Errorf("the second job removed %d items, want 0", n)
	}
}

// batchOfStatus returns the id of the one batch of batches with status.
func batchOfStatus(t *testing.T, batches map[string]map[string]any, status string) string {
	t.Helper()
	for id, b := range batches {
		if b["status"] == status {
			return id
		}
	}
	t.Fatalf("no %s batch among %v", status, batches)
	return ""
}

// TestProfileDelete deletes a profile with DELETE /access/entities: under
// the default policy (pdg) the whole cluster goes, its fragments and its
// events, and another person stays.
func TestProfileDelete(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	profiles, _ := poisonDataset(t, "Profile delete")
	events, _ := eventDataset(t, "Profile delete events")
	crm, mail := fmt.Sprintf("PD%d", stamp), fmt.Sprintf("pd%d@example.com", stamp)
	other := fmt.Sprintf("PDO%d", stamp)
	rows := fmt.Sprintf(`{"_id":"a","identityMap":{"CRMID":[{"id":%q,"primary":true}],"Email":[{"id":%q}]},"person":{"name":{"firstName":"Del"}}}`+"\n"+
		`{"_id":"b","identityMap":{"CRMID":[{"id":%q,"primary":true}]},"person":{"name":{"firstName":"Stay"}}}`+"\n", crm, mail, other)
	if b := dropBytes(t, profiles, "people.json", []byte(rows)); b["status"] != "success" {
		t.Fatalf("profile batch %v", b)
	}
	dropFile(t, events, "views.json", eventRows(crm, 5, func(int) string { return mail }))
	if b := finishedBatch(t, events, 2*time.Minute); b["status"] != "success" {
		t.Fatalf("event batch %v", b)
	}
	eventually(t, settle, "the profile and its events readable", func() error {
		if status, e := lookupAnswer(t, "Email", mail); status != http.StatusOK || dig(e, "person", "name", "firstName") != "Del" {
			return errorf("profile %d %v", status, e)
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
	var j map[string]any
	r.decode(t, &j)
	id, _ := j["id"].(string)
	if loc := r.Header.Get("Location"); id == "" || loc != jobsAPI+"/"+id {
		t.Fatalf("job %v at %q, want its id and Location", j, loc)
	}
	_, n := waitJob(t, id)
	if n < 6 {
		t.Errorf("recordsProcessed %d, want at least the fragment and the 5 events", n)
	}
	wantProfileGone(t, "CRMID", crm)
	wantProfileGone(t, "Email", mail)
	if status, n := eventsOf(t, mail); status == http.StatusOK && n != 0 {
		t.Errorf("%d events still read", n)
	}
	if status, e := lookupAnswer(t, "CRMID", other); status != http.StatusOK || dig(e, "person", "name", "firstName") != "Stay" {
		t.Errorf("another profile: %d %v", status, e)
	}

	bad := url.Values{"schema.name": {"_xdm.context.profile"}, "entityId": {crm}}
	if r := call(t, "DELETE", "/data/core/ups/access/entities?"+bad.Encode(), nil, ""); r.Status != http.StatusBadRequest {
		t.Errorf("DELETE without entityIdNS = %d, want 400", r.Status)
	}
}

// TestProfileJobOverManySteps runs a dataset delete on a profile-jobs
// whose steps work 100 ms each: the job takes many steps, one invocation
// each, and ends with every event gone, counted once.
func TestProfileJobOverManySteps(t *testing.T) {
	functionCloud(t, "e2ejobsteps", "profile-jobs", 0, map[string]string{topology.EnvJobStepTime: "100ms"})
	stamp := time.Now().UnixNano()
	events, _ := eventDataset(t, "Many steps")
	const n = 600
	dropFile(t, events, "views.json", eventRows(fmt.Sprintf("MS%d", stamp), n, func(i int) string {
		return fmt.Sprintf("steps%d-%d@example.com", stamp, i%50)
	}))
	if b := finishedBatch(t, events, 3*time.Minute); b["status"] != "success" {
		t.Fatalf("batch %v", b)
	}
	if got := liveEvents(t, events, ""); got != n {
		t.Fatalf("%d events, want %d", got, n)
	}
	j := startJob(t, map[string]any{"dataSetId": events})
	job, removed := waitJob(t, j["id"].(string))
	if removed != n {
		t.Errorf("recordsProcessed %d, want %d", removed, n)
	}
	if steps, _ := job["step"].(float64); steps < 2 {
		t.Errorf("the job took %v steps, want several of 100 ms", job["step"])
	}
	if got := liveEvents(t, events, ""); got != 0 {
		t.Errorf("%d events left", got)
	}
	if keys := s3Keys(t, topology.JobsPrefix+j["id"].(string)+"/"); len(keys) < 2 {
		t.Errorf("task objects %v, want one per step", keys)
	}
}
