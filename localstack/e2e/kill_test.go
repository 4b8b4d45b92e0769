//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// batchIngestPids lists the batch-ingest bootstraps of the test's own
// local cloud: the processes below this test process whose executable is
// the dist folder's batch-ingest/bootstrap (the shared cloud of the package
// runs in another process tree and is left alone).
func batchIngestPids(t *testing.T) []int {
	t.Helper()
	dist, err := filepath.Abs(os.Getenv("MOSAIC_DIST"))
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dist, "batch-ingest", "bootstrap")
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
	for _, pid := range batchIngestPids(t) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			killed = append(killed, pid)
		}
	}
	return killed
}

// cpuTicks is the CPU time a process has used (utime + stime of
// /proc/<pid>/stat, in clock ticks), or -1 when it is gone.
func cpuTicks(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return u + st
}

// TestKilledRunsResume drops a file of 10,000 rows (100 refused) on a
// batch-ingest that cuts it into parts of 500 rows, and kills every
// batch-ingest process with SIGKILL once, before the batch writes (while
// it scans) in one subtest, and while it writes in the other. The local
// cloud sees crashed invocations, and Lambda's asynchronous retries run
// them again: each batch ends success with metrics exactly the file's
// rows, every good row stored once, and one diagnostics line per bad row.
func TestKilledRunsResume(t *testing.T) {
	batchIngestCloud(t, "e2ekill", 0, map[string]string{topology.EnvBatchPartRows: "500"})
	const n = 10_000
	isBad := func(i int) bool { return i%100 == 37 }
	const bad = n / 100

	// run drops the file and calls kill, which waits for its moment and
	// kills; baseline is taken just before the upload.
	run := func(t *testing.T, what string, kill func(ds, prefix string, baseline map[int]int) []int) {
		ds, _ := poisonDataset(t, "Killed "+what)
		prefix := fmt.Sprintf("K%d", time.Now().UnixNano())
		file := writeFile(t, "members.json", membersFile(prefix, n, isBad))
		baseline := map[int]int{}
		for _, pid := range batchIngestPids(t) {
			baseline[pid] = cpuTicks(pid)
		}
		awsCLI(t, "s3", "cp", file, fmt.Sprintf("s3://%s/ingest/%s/members.json", tgt.Bucket, ds))
		killed := kill(ds, prefix, baseline)
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
			if status, _ := lookup(t, "CRMID", fmt.Sprintf("%s-%d", prefix, i)); status != http.StatusOK {
				t.Errorf("lookup of good row %d = %d, want 200", i, status)
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

	// While scanning: the first run (which opens the batch and scans the
	// file) is killed once a batch-ingest process has spent 0.2 s of CPU
	// since the upload, long before the 10,000 rows are scanned.
	t.Run("while scanning", func(t *testing.T) {
		run(t, "scans", func(ds, prefix string, baseline map[int]int) []int {
			var killed []int
			eventually(t, time.Minute, "a busy batch-ingest process", func() error {
				for _, pid := range batchIngestPids(t) {
					if c := cpuTicks(pid); c-baseline[pid] >= 20 {
						killed = killBatchIngest(t)
						return nil
					}
				}
				return errorf("no batch-ingest process has run")
			})
			for id, b := range datasetBatches(t, ds) {
				if isFinal(b) {
					t.Fatalf("the batch ended (%v) before the kill", b["status"])
				}
				t.Logf("%d of 20 parts had stored diagnostics just after the kill", len(s3Keys(t, "diagnostics/"+id+"/row_errors/")))
			}
			return killed
		})
	})

	t.Run("while writing", func(t *testing.T) {
		run(t, "writes", func(ds, prefix string, _ map[int]int) []int {
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
				if status, _ := lookup(t, "CRMID", prefix+"-0"); status != http.StatusOK {
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
