//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/localstack/cloud"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// batchIngestCloud starts a second local cloud whose batch-ingest has the
// given timeout (0 keeps the topology's) and settings added to its own,
// and points the package's target at it for the test.
func batchIngestCloud(t *testing.T, env string, timeout time.Duration, settings map[string]string) *cloud.Cloud {
	t.Helper()
	return functionCloud(t, env, "batch-ingest", timeout, settings)
}

// functionCloud starts a second local cloud whose function name has the
// given timeout (0 keeps the topology's) and settings added to its own,
// and points the package's target at it for the test.
func functionCloud(t *testing.T, env, name string, timeout time.Duration, settings map[string]string) *cloud.Cloud {
	t.Helper()
	if os.Getenv("MOSAIC_LOCAL_BIN") == "" || os.Getenv("MOSAIC_OUTPUTS") != "" {
		t.Skip("needs the local cloud's function builds (MOSAIC_DIST), not another target")
	}
	fns := make([]topology.Function, len(topology.Functions))
	copy(fns, topology.Functions)
	for i := range fns {
		if fns[i].Name != name {
			continue
		}
		if timeout > 0 {
			fns[i].Timeout = timeout
		}
		s := map[string]string{}
		for k, v := range fns[i].Settings {
			s[k] = v
		}
		for k, v := range settings {
			s[k] = v
		}
		fns[i].Settings = s
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cloud.Start(ctx, cloud.Config{
		Edge: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), DistDir: os.Getenv("MOSAIC_DIST"), RIE: os.Getenv("MOSAIC_RIE"),
		Env: env, Functions: fns,
	})
	if err != nil {
		t.Fatalf("start a local cloud for %s: %v", name, err)
	}
	prev := tgt
	tgt = target{APIURL: c.EdgeURL(), Edge: c.EdgeURL(), Region: "us-east-1", Bucket: c.Name(topology.LandingBucket),
		Stream: c.Name(topology.IngestStream), Sandbox: "prod", LogsDir: c.LogsDir(), AccessID: "test", Secret: "test"}
	t.Cleanup(func() {
		tgt = prev
		c.Stop()
	})
	return c
}

// noIdentityRow is refused: it has no primary identity.
func noIdentityRow(prefix string, i int) string {
	return fmt.Sprintf(`{"_id":"%s-bad-%d","person":{"name":{"firstName":"NoId%d"}}}`, prefix, i, i)
}

// membersFile is n rows of goodRow, those whose index isBad says refused.
func membersFile(prefix string, n int, isBad func(i int) bool) string {
	var b strings.Builder
	for i := range n {
		if isBad(i) {
			b.WriteString(noIdentityRow(prefix, i))
		} else {
			b.WriteString(goodRow(prefix, i))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// s3Keys lists the keys under prefix in the landing bucket.
func s3Keys(t *testing.T, prefix string) []string {
	t.Helper()
	var out struct{ Contents []struct{ Key string } }
	raw := awsCLI(t, "s3api", "list-objects-v2", "--bucket", tgt.Bucket, "--prefix", prefix)
	if strings.TrimSpace(raw) == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	var keys []string
	for _, c := range out.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}

// TestDropInFileInParts drops JSON Lines files on a batch-ingest that cuts
// files into parts of 100 records. A file with 2% bad rows is scanned in
// ten parts and written by one task per part: it ends success with exact
// metrics, one diagnostics object per part with refusals, and every good
// row once. A file with 10% bad rows ends failed and leaves no profile:
// nothing is written before the batch is decided.
func TestDropInFileInParts(t *testing.T) {
	batchIngestCloud(t, "e2eparts", 0, map[string]string{topology.EnvBatchPartRows: "100"})

	t.Run("success in ten parts", func(t *testing.T) {
		ds, _ := poisonDataset(t, "Parts")
		prefix := fmt.Sprintf("PT%d", time.Now().UnixNano())
		const n = 1000
		bad := func(i int) bool { return i%50 == 7 } // 2 per part of 100
		body := membersFile(prefix, n, bad)
		awsCLI(t, "s3", "cp", writeFile(t, "members.json", body), fmt.Sprintf("s3://%s/ingest/%s/members.json", tgt.Bucket, ds))
		batch := finishedBatch(t, ds, 3*time.Minute)
		id := fmt.Sprint(batch["id"])
		if batch["status"] != "success" {
			t.Fatalf("batch %v, want success (20 of 1,000 rows refused)", batch)
		}
		m, _ := batch["metrics"].(map[string]any)
		want := map[string]any{"inputRecordCount": 1000.0, "outputRecordCount": 980.0, "failedRecordCount": 20.0,
			"inputFileCount": 1.0, "inputByteSize": float64(len(body))}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("metrics %s = %v, want %v (all: %v)", k, m[k], v, m)
			}
		}
		rows := 0.0
		errs, _ := batch["errors"].([]any)
		for _, e := range errs {
			r, _ := dig(e, "recordCount").(float64)
			if r == 0 {
				r, _ = dig(e, "rows").(float64)
			}
			rows += r
		}
		if rows != 20 {
			t.Errorf("errors %v count %v rows, want 20", errs, rows)
		}
		if c := fragmentCount(t, ds); c != n-20 {
			t.Errorf("%d fragments, want %d", c, n-20)
		}
		for _, i := range []int{0, 99, 100, 999} {
			if status, p := lookup(t, "CRMID", fmt.Sprintf("%s-%d", prefix, i)); !found(status, p) {
				t.Errorf("lookup of row %d = %d %v, want its profile", i, status, p)
			}
		}
		tasks := s3Keys(t, "ingest/_batches/"+id+"/tasks/")
		if len(tasks) != 10 {
			t.Errorf("%d write tasks, want 10 (one per part): %v", len(tasks), tasks)
		}
		diags := s3Keys(t, "diagnostics/"+id+"/row_errors/")
		if len(diags) != 10 {
			t.Fatalf("%d diagnostics objects, want 10 (every part refused 2 rows): %v", len(diags), diags)
		}
		lines := strings.TrimSpace(awsCLI(t, "s3", "cp", fmt.Sprintf("s3://%s/%s", tgt.Bucket, diags[3]), "-"))
		sc := bufio.NewScanner(strings.NewReader(lines))
		var got []float64
		for sc.Scan() {
			var d struct {
				Corrupt  string                           `json:"_corrupt_record"`
				Errors   []struct{ Code, Message string } `json:"_errors"`
				Filename string                           `json:"_filename"`
				Row      float64                          `json:"_row"`
			}
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatalf("diagnostics line %q: %v", sc.Text(), err)
			}
			if d.Filename != "ingest/"+ds+"/members.json" || len(d.Errors) != 1 || d.Errors[0].Code == "" ||
				d.Corrupt != noIdentityRow(prefix, int(d.Row)-1) {
				t.Errorf("diagnostics line %s", sc.Text())
			}
			got = append(got, d.Row)
		}
		if fmt.Sprint(got) != "[308 358]" {
			t.Errorf("part 3 diagnostics rows %v, want [308 358]", got)
		}
	})

	t.Run("failed batch leaves no profile", func(t *testing.T) {
		ds, _ := poisonDataset(t, "Parts failed")
		prefix := fmt.Sprintf("PF%d", time.Now().UnixNano())
		body := membersFile(prefix, 500, func(i int) bool { return i%10 == 9 }) // 10% > 5%
		awsCLI(t, "s3", "cp", writeFile(t, "members.json", body), fmt.Sprintf("s3://%s/ingest/%s/members.json", tgt.Bucket, ds))
		batch := finishedBatch(t, ds, 3*time.Minute)
		if batch["status"] != "failed" {
			t.Fatalf("batch %v, want failed (10%% of rows refused)", batch)
		}
		m, _ := batch["metrics"].(map[string]any)
		if m["inputRecordCount"] != 500.0 || m["failedRecordCount"] != 50.0 || m["outputRecordCount"] != 0.0 {
			t.Errorf("metrics %v, want 500 in, 50 failed, none out", m)
		}
		if errs, _ := batch["errors"].([]any); len(errs) == 0 || dig(errs[0], "code") != "BATCH-TOO-MANY-FAILED" {
			t.Errorf("errors %v, want BATCH-TOO-MANY-FAILED first", errs)
		}
		if c := fragmentCount(t, ds); c != 0 {
			t.Errorf("%d fragments of a failed batch, want none", c)
		}
		for _, i := range []int{0, 250, 498} {
			if status, p := lookup(t, "CRMID", fmt.Sprintf("%s-%d", prefix, i)); !isNoData(status, p) {
				t.Errorf("lookup of good row %d of a failed batch = %d %v, want the no-data entry", i, status, p)
			}
		}
		if tasks := s3Keys(t, "ingest/_batches/"+fmt.Sprint(batch["id"])+"/tasks/"); len(tasks) != 0 {
			t.Errorf("a failed batch issued tasks %v", tasks)
		}
		// Its 50 refused rows are the failed rows of the export route, in
		// row order (part by part); none is a failed-record item.
		id := fmt.Sprint(batch["id"])
		rows := batchFailedRows(t, id)
		var got []int
		for _, r := range rows {
			n, _ := r["_row"].(float64)
			got = append(got, int(n))
			if failedRowCode(r) == "" || r["_corrupt_record"] != noIdentityRow(prefix, int(n)-1) {
				t.Errorf("failed row %.300v", r)
			}
		}
		var want []int
		for i := range 500 {
			if i%10 == 9 {
				want = append(want, i+1)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("failed rows %v, want %v", got, want)
		}
		if files := batchDiagnosticsFiles(t, id); len(files) != 5 {
			t.Errorf("%d diagnostics files, want 5 (every part refused rows): %v", len(files), files)
		}
		if recs := allFailedRecords(t, "FAILED#"+id); len(recs) != 0 {
			t.Errorf("%d failed-record items of the batch, want none", len(recs))
		}
	})
}
