//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/localstack/cloud"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// s3Event is the S3 notification of an object created in the landing
// bucket under key, as the bucket sends it to batch-ingest.
func s3Event(t *testing.T, key, sequencer string) []byte {
	t.Helper()
	var ev events.S3Event
	ev.Records = []events.S3EventRecord{{EventVersion: "2.1", EventSource: "aws:s3", EventName: "ObjectCreated:Put", EventTime: time.Now().UTC()}}
	ev.Records[0].S3.Bucket.Name = tgt.Bucket
	ev.Records[0].S3.Object.Key = key
	ev.Records[0].S3.Object.Sequencer = sequencer
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

// getBatch reads one batch from the Catalog.
func getBatch(t *testing.T, id string) map[string]any {
	t.Helper()
	var m map[string]map[string]any
	must(t, http.StatusOK, "GET", catalogP+"/batches/"+id, nil).decode(t, &m)
	return m[id]
}

// replayRows is a JSON Lines file of n rows with e-mail identities and one
// row without any identity, which is refused.
func replayRows(domain string, n int) []byte {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i == n/2 {
			b.WriteString(`{"person":{"name":{"firstName":"NoIdentity"}}}` + "\n")
		}
		fmt.Fprintf(&b, `{"personalEmail":{"address":"m%d@%s"},"person":{"name":{"firstName":"Member%d"}}}`+"\n", i, domain, i)
	}
	return []byte(b.String())
}

// TestBatchReplays redelivers what drives a batch on a batch-ingest that
// cuts files into parts of 50 rows.
//
// An API batch that ended success is COMPLETEd again, its manifest object
// is PUT again with the AWS CLI (a new S3 event) and delivered again by
// hand, and every one of its task events is delivered again: the batch
// (status, metrics, errors, updated) and its profiles stay as they were.
//
// A drop-in file's S3 event is delivered twice at once: one batch, with
// exact metrics, and one diagnostics line for its one bad row.
func TestBatchReplays(t *testing.T) {
	c := batchIngestCloud(t, "e2ereplay", 0, map[string]string{topology.EnvBatchPartRows: "50"})
	schema := createProfileSchema(t, fmt.Sprintf("Replays %d", time.Now().UnixNano()))
	const n = 300

	t.Run("finished API batch", func(t *testing.T) {
		ds := createDataset(t, "Replayed API batch", schema)
		domain := fmt.Sprintf("api%d.example.com", time.Now().UnixNano())
		first := apiBatch(t, ds, map[string]any{"format": "json"}, map[string][]byte{"members.json": replayRows(domain, n)})
		id := fmt.Sprint(first["id"])
		if id == "<nil>" {
			for bid := range datasetBatches(t, ds) {
				id = bid
			}
		}
		m, _ := first["metrics"].(map[string]any)
		if first["status"] != "success" || m["inputRecordCount"] != float64(n+1) || m["outputRecordCount"] != float64(n) || m["failedRecordCount"] != 1.0 {
			t.Fatalf("batch %v, want success with %d in, %d out, 1 failed", first, n+1, n)
		}
		before := getBatch(t, id)
		samples := []int{0, 49, 50, n / 2, n - 1}
		profiles := func() []string {
			var out []string
			for _, i := range samples {
				status, p := lookup(t, "Email", fmt.Sprintf("m%d@%s", i, domain))
				if !found(status, p) {
					t.Fatalf("lookup of row %d = %d %v, want its profile", i, status, p)
				}
				b, _ := json.Marshal(p)
				out = append(out, string(b))
			}
			return out
		}
		wantProfiles := profiles()
		fragments := fragmentCount(t, ds)
		if fragments != n {
			t.Errorf("%d fragments, want %d", fragments, n)
		}
		tasks := s3Keys(t, "ingest/_batches/"+id+"/tasks/")
		if len(tasks) < 2 {
			t.Fatalf("tasks %v: want several parts, so that their events can be redelivered", tasks)
		}

		// COMPLETE again: 200, nothing changes.
		must(t, http.StatusOK, "POST", importP+"/"+id+"?action=COMPLETE", nil)
		// The manifest again, through S3 (a new event) and by hand.
		manifest := "ingest/_batches/" + id + "/manifest.json"
		body := awsCLI(t, "s3", "cp", fmt.Sprintf("s3://%s/%s", tgt.Bucket, manifest), "-")
		awsCLI(t, "s3", "cp", writeFile(t, "manifest.json", body), fmt.Sprintf("s3://%s/%s", tgt.Bucket, manifest))
		ctx := context.Background()
		if _, err := c.Invoke(ctx, "batch-ingest", s3Event(t, manifest, "0000000000000000A1")); err != nil {
			t.Fatalf("manifest event delivered again: %v", err)
		}
		// Every task event again.
		for _, k := range tasks {
			if _, err := c.Invoke(ctx, "batch-ingest", s3Event(t, k, "0000000000000000B2")); err != nil {
				t.Fatalf("task event %s delivered again: %v", k, err)
			}
		}

		after := getBatch(t, id)
		for _, k := range []string{"status", "metrics", "errors", "updated", "started", "completed"} {
			if !reflect.DeepEqual(before[k], after[k]) {
				t.Errorf("batch %s changed: %v, then %v", k, before[k], after[k])
			}
		}
		if !reflect.DeepEqual(before, after) {
			t.Errorf("batch changed:\n%v\n%v", before, after)
		}
		if got := profiles(); !reflect.DeepEqual(got, wantProfiles) {
			t.Errorf("profiles changed:\n%v\n%v", wantProfiles, got)
		}
		if f := fragmentCount(t, ds); f != fragments {
			t.Errorf("%d fragments after the replays, %d before", f, fragments)
		}
		if got := len(datasetBatches(t, ds)); got != 1 {
			t.Errorf("%d batches in the dataset after the replays, want 1", got)
		}
	})

	t.Run("drop-in event delivered twice at once", func(t *testing.T) {
		testConcurrentDropIn(t, c, schema, n)
	})
}

// testConcurrentDropIn drops a file (its own S3 event opens one batch),
// then delivers one more event for it twice at once: that event opens
// exactly one more batch, and each batch has exact metrics and one
// diagnostics line for the file's bad row.
func testConcurrentDropIn(t *testing.T, c *cloud.Cloud, schema string, n int) {
	ds := createDataset(t, "Replayed drop-in", schema)
	domain := fmt.Sprintf("drop%d.example.com", time.Now().UnixNano())
	key := fmt.Sprintf("ingest/%s/members.json", ds)
	awsCLI(t, "s3", "cp", writeFile(t, "members.json", string(replayRows(domain, n))), fmt.Sprintf("s3://%s/%s", tgt.Bucket, key))
	waitBatches(t, ds, 1, 2*time.Minute)

	payload := s3Event(t, key, "FFFFFFFFFFFFFFFFC3")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Invoke(context.Background(), "batch-ingest", payload)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("delivery %d: %v", i+1, err)
		}
	}
	got := waitBatches(t, ds, 2, 2*time.Minute)
	for id, b := range got {
		m, _ := b["metrics"].(map[string]any)
		if b["status"] != "success" || m["inputRecordCount"] != float64(n+1) || m["outputRecordCount"] != float64(n) || m["failedRecordCount"] != 1.0 {
			t.Errorf("batch %s: %v, want success with %d in, %d out, 1 failed", id, b, n+1, n)
		}
		rows := failedRows(t, id)
		if len(rows) != 1 || rows[0].Row != n/2+1 {
			t.Errorf("batch %s diagnostics %+v, want one line for row %d", id, rows, n/2+1)
		}
	}
	if f := fragmentCount(t, ds); f != n {
		t.Errorf("%d fragments, want %d", f, n)
	}
	for _, i := range []int{0, n - 1} {
		if status, p := lookup(t, "Email", fmt.Sprintf("m%d@%s", i, domain)); !found(status, p) {
			t.Errorf("lookup of row %d = %d %v, want its profile", i, status, p)
		}
	}
}
