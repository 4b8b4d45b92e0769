//go:build e2e

package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// functionPids lists the bootstraps of function name in the test's own
// local cloud: the processes below this test process whose executable is
// the dist folder's <name>/bootstrap (the shared cloud of the package runs
// in another process tree and is left alone).
func functionPids(t *testing.T, name string) []int {
	t.Helper()
	dist, err := filepath.Abs(os.Getenv("MOSAIC_DIST"))
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dist, name, "bootstrap")
	var pids []int
	for _, pid := range descendantsOf(os.Getpid()) {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && target == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killBatchIngest sends SIGKILL to every batch-ingest bootstrap of the
// test's own local cloud and returns the pids killed.
func killBatchIngest(t *testing.T) []int {
	t.Helper()
	var killed []int
	for _, pid := range functionPids(t, "batch-ingest") {
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			killed = append(killed, pid)
		}
	}
	return killed
}

// s3KeysNow lists the landing bucket's keys under prefix with one signed
// ListObjectsV2 call (path style), fast enough to watch a running scan;
// the AWS CLI takes most of a second to start.
func s3KeysNow(t *testing.T, prefix string) []string {
	t.Helper()
	q := url.Values{"list-type": {"2"}, "prefix": {prefix}}
	req, err := http.NewRequest("GET", tgt.Edge+"/"+tgt.Bucket+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	creds := aws.Credentials{AccessKeyID: tgt.AccessID, SecretAccessKey: tgt.Secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, emptySHA256, "s3", tgt.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := send(t, req)
	if r.Status != http.StatusOK {
		t.Fatalf("list %s: %d %s", prefix, r.Status, r.Body)
	}
	var out struct {
		Contents []struct{ Key string }
	}
	if err := xml.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("list %s: %v: %s", prefix, err, r.Body)
	}
	var keys []string
	for _, c := range out.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}

// TestKilledRunsResume drops a file of 10,000 rows (100 refused) on a
// batch-ingest that cuts it into parts of 500 rows, and kills every
// batch-ingest process with SIGKILL once: in one subtest after the scan
// stored its first part and before its last, in the other once write
// tasks exist and a row is readable. The local cloud sees crashed
// invocations, and Lambda's asynchronous retries run them again: each
// batch ends success with metrics exactly the file's rows, every good row
// stored once, and one diagnostics line per bad row.
func TestKilledRunsResume(t *testing.T) {
	batchIngestCloud(t, "e2ekill", 0, map[string]string{topology.EnvBatchPartRows: "500"})
	const n = 10_000
	isBad := func(i int) bool { return i%100 == 37 }
	const bad = n / 100

	// run drops the file and calls kill, which waits for its moment and
	// kills.
	run := func(t *testing.T, what string, kill func(ds, prefix string) []int) {
		ds, _ := poisonDataset(t, "Killed "+what)
		prefix := fmt.Sprintf("K%d", time.Now().UnixNano())
		file := writeFile(t, "members.json", membersFile(prefix, n, isBad))
		awsCLI(t, "s3", "cp", file, fmt.Sprintf("s3://%s/ingest/%s/members.json", tgt.Bucket, ds))
		killed := kill(ds, prefix)
		t.Logf("killed %d batch-ingest processes while it %s", len(killed), what)

		batch := finishedBatch(t, ds, 4*time.Minute)
		if batch["status"] != "success" {
			t.Fatalf("batch %v, want success after the killed runs were retried", batch)
		}
		m, _ := batch["metrics"].(map[string]any)
		want := map[string]any{"inputRecordCount": float64(n), "outputRecordCount": float64(n - bad), "failedRecordCount": float64(bad)}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("metrics %s = %v, want %v (all: %v)", k, m[k], v, m)
			}
		}
		if c := fragmentCount(t, ds); c != n-bad {
			t.Errorf("%d fragments, want %d", c, n-bad)
		}
		for _, i := range []int{0, 499, 500, 5001, n - 1} {
			if status, p := lookup(t, "CRMID", fmt.Sprintf("%s-%d", prefix, i)); !found(status, p) {
				t.Errorf("lookup of good row %d = %d %v, want its profile", i, status, p)
			}
		}
		seen := map[int]int{}
		for _, d := range failedRows(t, fmt.Sprint(batch["id"])) {
			seen[d.Row]++
		}
		for i := 0; i < n; i++ {
			want := 0
			if isBad(i) {
				want = 1
			}
			if seen[i+1] != want {
				t.Errorf("row %d has %d diagnostics lines, want %d", i+1, seen[i+1], want)
			}
			delete(seen, i+1)
		}
		if len(seen) != 0 {
			t.Errorf("diagnostics name rows outside the file: %v", seen)
		}
	}

	writes := func(id string) int {
		c := 0
		for _, k := range s3Keys(t, "ingest/_batches/"+id+"/tasks/") {
			if strings.Contains(k, "/tasks/write-") {
				c++
			}
		}
		return c
	}

	// While scanning: the run that scans the file is killed once it has
	// stored the diagnostics of one part of its 20 and before it has
	// stored them all (each part of 500 rows refuses 5).
	t.Run("while scanning", func(t *testing.T) {
		run(t, "scans", func(ds, prefix string) []int {
			var killed []int
			parts := 0
			// Polled every 10 ms (eventually backs off to 500 ms, about
			// as long as the whole scan takes).
			for deadline := time.Now().Add(time.Minute); ; {
				// The cloud is this test's own and this its first batch:
				// every diagnostics object is of this file.
				if parts = len(s3KeysNow(t, "diagnostics/")); parts > 0 {
					killed = killBatchIngest(t)
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no part scanned within a minute")
				}
				time.Sleep(10 * time.Millisecond) // polling a remote state with a deadline: there is nothing to wait on
			}
			if parts >= n/500 {
				t.Fatalf("%d parts were scanned before the kill: the scan had ended", parts)
			}
			t.Logf("%d of %d parts scanned at the kill", parts, n/500)
			return killed
		})
	})

	t.Run("while writing", func(t *testing.T) {
		run(t, "writes", func(ds, prefix string) []int {
			var killed []int
			eventually(t, 2*time.Minute, "batch-ingest killed while it writes", func() error {
				var id string
				for bid, b := range datasetBatches(t, ds) {
					if isFinal(b) {
						t.Fatalf("batch ended (%v) before it could be killed while it writes", b["status"])
					}
					id = bid
				}
				if id == "" {
					return errorf("no batch yet")
				}
				if writes(id) == 0 {
					return errorf("no write task yet")
				}
				if status, p := lookup(t, "CRMID", prefix+"-0"); !found(status, p) {
					return errorf("no row written yet")
				}
				if killed = killBatchIngest(t); len(killed) == 0 {
					return errorf("no batch-ingest process to kill")
				}
				return nil
			})
			return killed
		})
	})
}
