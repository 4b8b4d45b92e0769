//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// datasetBatches lists the batches of a dataset by id.
func datasetBatches(t *testing.T, ds string) map[string]map[string]any {
	t.Helper()
	var batches map[string]map[string]any
	r := call(t, "GET", catalogP+"/batches?dataSet="+ds, nil, "")
	if r.Status != http.StatusOK {
		t.Fatalf("batches of %s: status %d %s", ds, r.Status, r.Body)
	}
	r.decode(t, &batches)
	return batches
}

func isFinal(b map[string]any) bool {
	return b["status"] == "success" || b["status"] == "failed" || b["status"] == "aborted"
}

// waitBatches waits until the dataset has n batches, all final.
func waitBatches(t *testing.T, ds string, n int, within time.Duration) map[string]map[string]any {
	t.Helper()
	var got map[string]map[string]any
	eventually(t, within, fmt.Sprintf("%d finished batches in %s", n, ds), func() error {
		got = datasetBatches(t, ds)
		if len(got) < n {
			return errorf("%d batches", len(got))
		}
		for id, b := range got {
			if !isFinal(b) {
				return errorf("batch %s is %v", id, b["status"])
			}
		}
		return nil
	})
	if len(got) != n {
		t.Fatalf("dataset %s has %d batches, want %d", ds, len(got), n)
	}
	return got
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEveryUploadIsNewData puts content A, then B, then A again under one
// key with the AWS CLI: each upload is its own batch, and the profile ends
// with A, the last upload.
func TestEveryUploadIsNewData(t *testing.T) {
	ds := createDataset(t, "Uploads", createProfileSchema(t, fmt.Sprintf("Uploads %d", time.Now().UnixNano())))
	who := fmt.Sprintf("uploads%d@example.com", time.Now().UnixNano())
	row := func(name string) string {
		return fmt.Sprintf(`{"_id":%q,"personalEmail":{"address":%q},"person":{"name":{"firstName":%q}}}`+"\n", name, who, name)
	}
	a, b := writeFile(t, "a.json", row("Ann")), writeFile(t, "b.json", row("Bea"))
	dest := fmt.Sprintf("s3://%s/ingest/%s/members.json", tgt.Bucket, ds)
	for i, f := range []string{a, b, a} {
		awsCLI(t, "s3", "cp", f, dest)
		// Each upload is finished before the next, as a user re-uploading
		// a corrected export would see it.
		waitBatches(t, ds, i+1, 60*time.Second)
	}
	for id, b := range datasetBatches(t, ds) {
		if b["status"] != "success" {
			t.Errorf("batch %s: %v, want success", id, b["status"])
		}
	}
	status, p := lookup(t, "Email", who)
	if !found(status, p) {
		t.Fatalf("lookup = %d %v, want the profile", status, p)
	}
	if got := dig(p, "entity", "person", "name", "firstName"); got != "Ann" {
		t.Errorf("firstName = %v, want Ann (the last upload)", got)
	}
}

// TestUnchangedFileAfterFixIsProcessed drops a file whose rows use a
// namespace that does not exist yet (the batch fails), creates the
// namespace, and drops the very same file again: it is a new batch, and its
// rows are ingested.
func TestUnchangedFileAfterFixIsProcessed(t *testing.T) {
	schemaID, altID := createSchema(t, fmt.Sprintf("Fixed later %d", time.Now().UnixNano()),
		"https://ns.adobe.com/xdm/context/profile",
		"https://ns.adobe.com/xdm/context/profile-person-details",
		"https://ns.adobe.com/xdm/context/identitymap")
	enableForProfile(t, altID)
	ds := createDataset(t, "Fixed later", schemaID)
	code := fmt.Sprintf("Loyalty%d", time.Now().UnixNano()%1_000_000_000)
	member := fmt.Sprintf("M-%d", time.Now().UnixNano())
	file := writeFile(t, "members.json", fmt.Sprintf(`{"_id":"r1","identityMap":{%q:[{"id":%q,"primary":true}]},"person":{"name":{"firstName":"Fixed"}}}`+"\n", code, member))
	dest := fmt.Sprintf("s3://%s/ingest/%s/members.json", tgt.Bucket, ds)

	awsCLI(t, "s3", "cp", file, dest)
	for _, b := range waitBatches(t, ds, 1, 60*time.Second) {
		if b["status"] != "failed" {
			t.Fatalf("first drop: %v, want failed (unknown namespace)", b)
		}
	}
	must(t, http.StatusCreated, "POST", "/data/core/idnamespace/identities", map[string]any{
		"name": code, "code": code, "idType": "CROSS_DEVICE",
	})
	// The same file again. A namespace may take a while to reach the
	// ingest function's cache, so a drop that still fails on it is followed
	// by another; every drop must be a new batch.
	drops := 1
	eventually(t, 90*time.Second, "a re-drop of the unchanged file succeeds", func() error {
		awsCLI(t, "s3", "cp", file, dest)
		drops++
		got := waitBatches(t, ds, drops, 60*time.Second)
		for _, b := range got {
			if m, _ := b["metrics"].(map[string]any); b["status"] == "success" && m["outputRecordCount"] == 1.0 {
				return nil
			}
		}
		return errorf("no successful batch among %d drops", drops)
	})
}

// TestBatchEndsWhenEveryAttemptFails: a batch-ingest whose timeout (5 s)
// leaves no time before its deadline guard (10 s) can make no progress on
// any file: every attempt fails, and the batch ends failed with
// BATCH-RETRIES-EXHAUSTED through the on-failure destination, never stays
// processing.
func TestBatchEndsWhenEveryAttemptFails(t *testing.T) {
	batchIngestCloud(t, "e2enotime", 5*time.Second, nil)
	ds := createDataset(t, "No time", createProfileSchema(t, fmt.Sprintf("No time %d", time.Now().UnixNano())))
	awsCLI(t, "s3", "cp", writeFile(t, "small.json", `{"_id":"s1","personalEmail":{"address":"small@example.com"}}`+"\n"),
		fmt.Sprintf("s3://%s/ingest/%s/small.json", tgt.Bucket, ds))
	var batch map[string]any
	eventually(t, 2*time.Minute, "the file's batch ended", func() error {
		for _, b := range datasetBatches(t, ds) {
			if isFinal(b) {
				batch = b
				return nil
			}
			return errorf("batch is %v", b["status"])
		}
		return errorf("no batch yet")
	})
	errs, _ := batch["errors"].([]any)
	if batch["status"] != "failed" || len(errs) == 0 || dig(errs[len(errs)-1], "code") != "BATCH-RETRIES-EXHAUSTED" {
		t.Fatalf("batch %v, want failed with BATCH-RETRIES-EXHAUSTED", batch)
	}
	if d, _ := dig(errs[len(errs)-1], "description").(string); !strings.Contains(d, "RetriesExhausted") {
		t.Errorf("description %q does not name the condition", d)
	}
}

// TestLargeFileContinuesAcrossInvocations: a file too large for one
// invocation of a batch-ingest that times out after 13 s (its deadline
// guard keeps 10 s, so each run has about 3 s: with 1 s, a run on a
// loaded machine often wrote nothing before its guard and the file waited
// on retries) is scanned and written by runs that each go on where the
// last one stopped, through continuation tasks; it ends success with
// exact metrics, every row once. A redelivered event of a finished batch
// is then skipped. 20,000 rows in parts of 5,000: a run writes a few
// hundred rows here, so every part continues many times, and the file
// ends in about a minute and a half rather than near the test's limit.
func TestLargeFileContinuesAcrossInvocations(t *testing.T) {
	c := batchIngestCloud(t, "e2eshort", 13*time.Second, map[string]string{topology.EnvBatchPartRows: "5000"})
	ds := createDataset(t, "Too large", createProfileSchema(t, fmt.Sprintf("Too large %d", time.Now().UnixNano())))
	var sb strings.Builder
	const n = 20_000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, `{"_id":"r%d","personalEmail":{"address":"big%d@example.com"}}`+"\n", i, i)
	}
	awsCLI(t, "s3", "cp", writeFile(t, "big.json", sb.String()), fmt.Sprintf("s3://%s/ingest/%s/big.json", tgt.Bucket, ds))
	var batch map[string]any
	var id string
	eventually(t, 5*time.Minute, "the large file's batch ended", func() error {
		for bid, b := range datasetBatches(t, ds) {
			if isFinal(b) {
				batch, id = b, bid
				return nil
			}
			return errorf("batch is %v", b["status"])
		}
		return errorf("no batch yet")
	})
	m, _ := batch["metrics"].(map[string]any)
	if batch["status"] != "success" || m["inputRecordCount"] != float64(n) || m["outputRecordCount"] != float64(n) || m["failedRecordCount"] != 0.0 {
		t.Fatalf("batch %v, want success with %d records in and out", batch, n)
	}
	if c := fragmentCount(t, ds); c != n {
		t.Errorf("%d fragments, want %d", c, n)
	}
	continued := 0
	for _, k := range s3Keys(t, "ingest/_batches/"+id+"/tasks/") {
		if strings.Contains(k, "-from-") {
			continued++
		}
	}
	if continued == 0 {
		t.Errorf("no continuation task: the file was done in single runs, so the test proves nothing")
	}
	t.Logf("%d continuation tasks", continued)

	// A redelivered event: the same event, sequencer and all, twice.
	small := fmt.Sprintf("s3://%s/ingest/%s/small.json", tgt.Bucket, ds)
	awsCLI(t, "s3", "cp", writeFile(t, "small.json", `{"_id":"s1","personalEmail":{"address":"small@example.com"}}`+"\n"), small)
	waitBatches(t, ds, 2, 60*time.Second)
	var ev events.S3Event
	ev.Records = []events.S3EventRecord{{EventVersion: "2.1", EventSource: "aws:s3", EventName: "ObjectCreated:Put", EventTime: time.Now().UTC()}}
	ev.Records[0].S3.Bucket.Name = tgt.Bucket
	ev.Records[0].S3.Object.Key = fmt.Sprintf("ingest/%s/small.json", ds)
	ev.Records[0].S3.Object.Sequencer = "FFFFFFFFFFFFFFFFFF"
	payload, _ := json.Marshal(ev)
	for i := 0; i < 2; i++ {
		if _, err := c.Invoke(context.Background(), "batch-ingest", payload); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	got := datasetBatches(t, ds)
	if len(got) != 3 {
		t.Fatalf("%d batches after the event and its redelivery, want 3 (the redelivery opens none)", len(got))
	}
	reads := 0
	for _, b := range got {
		if m, _ := b["metrics"].(map[string]any); b["status"] == "success" && m["inputRecordCount"] == 1.0 {
			reads++
		}
	}
	if reads != 2 {
		t.Errorf("%d successful one-row batches, want 2 (the upload and the event, not its redelivery): %v", reads, got)
	}
}
