//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exportP is the Data Access API's export of batches.
const exportP = "/data/foundation/export/batches"

// diagnosticsFile is one entry of meta?path=row_errors.
type diagnosticsFile struct {
	Name   string `json:"name"`
	Length string `json:"length"`
}

// batchDiagnosticsFiles lists the row diagnostics files of a batch through
// GET …/meta?path=row_errors, every page.
func batchDiagnosticsFiles(t *testing.T, batchID string) []diagnosticsFile {
	t.Helper()
	var out []diagnosticsFile
	path := exportP + "/" + batchID + "/meta?path=row_errors&limit=1000"
	for path != "" {
		var page struct {
			Data  []diagnosticsFile            `json:"data"`
			Links map[string]map[string]string `json:"_links"`
		}
		must(t, http.StatusOK, "GET", path, nil).decode(t, &page)
		out = append(out, page.Data...)
		path = page.Links["next"]["href"]
	}
	return out
}

// batchFailedRows reads the failed rows of a batch through the export
// route GET …/{batchId}/failed (JSON Lines of {"_corrupt_record",
// "_errors":[{"code","message"}],"_filename","_row"}), in diagnostics file
// order then row order. The rows of the tests fit one page (4 MB): a batch
// whose diagnostics are larger fails the test rather than be read in part.
func batchFailedRows(t *testing.T, batchID string) []map[string]any {
	t.Helper()
	var size int64
	for _, f := range batchDiagnosticsFiles(t, batchID) {
		n, err := strconv.ParseInt(f.Length, 10, 64)
		if err != nil {
			t.Fatalf("diagnostics file %s has length %q", f.Name, f.Length)
		}
		size += n
	}
	if size > 4<<20 {
		t.Fatalf("batch %s has %d bytes of diagnostics, more than one page of the failed rows", batchID, size)
	}
	r := must(t, http.StatusOK, "GET", exportP+"/"+batchID+"/failed", nil)
	var rows []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("failed row %.200q: %v", sc.Text(), err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// failedRowCode is the one error code of a failed row, "" when it has not
// exactly one.
func failedRowCode(row map[string]any) string {
	errs, _ := row["_errors"].([]any)
	if len(errs) != 1 {
		return ""
	}
	code, _ := dig(errs[0], "code").(string)
	return code
}

// TestDropInLargeRefusedRowsDiagnostics drops a file of 14 rows of 500 KB,
// each refused for its size: their diagnostics (7 MB, more than one 5 MiB
// part) are streamed to S3 as a multipart upload, and the object holds
// every row in order with its whole record.
func TestDropInLargeRefusedRowsDiagnostics(t *testing.T) {
	ds, _ := poisonDataset(t, "Large refused rows")
	prefix := fmt.Sprintf("LR%d", time.Now().UnixNano())
	const rows = 14
	row := func(i int) string {
		return fmt.Sprintf(`{"_id":"%s-%d","identityMap":{"CRMID":[{"id":"%s-%d","primary":true}]},"person":{"name":{"firstName":%q}}}`,
			prefix, i, prefix, i, strings.Repeat(string(rune('a'+i)), 500<<10))
	}
	var body strings.Builder
	for i := range rows {
		body.WriteString(row(i))
		body.WriteByte('\n')
	}
	awsCLI(t, "s3", "cp", writeFile(t, "members.json", body.String()), fmt.Sprintf("s3://%s/ingest/%s/members.json", tgt.Bucket, ds))
	batch := finishedBatch(t, ds, 3*time.Minute)
	id := fmt.Sprint(batch["id"])
	if batch["status"] != "failed" {
		t.Errorf("batch %.300v, want failed (every row refused)", batch)
	}
	files := batchDiagnosticsFiles(t, id)
	if len(files) != 1 {
		t.Fatalf("diagnostics files %v, want one", files)
	}
	if n, _ := strconv.Atoi(files[0].Length); n < rows*(500<<10) {
		t.Errorf("diagnostics file of %s bytes, want every record whole", files[0].Length)
	}
	out := awsCLI(t, "s3", "cp", fmt.Sprintf("s3://%s/diagnostics/%s/row_errors/%s", tgt.Bucket, id, files[0].Name), "-")
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 4<<20)
	i := 0
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("diagnostics line %d: %v", i+1, err)
		}
		if d["_row"] != float64(i+1) || d["_corrupt_record"] != row(i) || failedRowCode(d) == "" {
			t.Errorf("diagnostics line %d: row %v code %q, record of %d bytes", i+1, d["_row"], failedRowCode(d), len(fmt.Sprint(d["_corrupt_record"])))
		}
		i++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if i != rows {
		t.Errorf("%d diagnostics lines, want %d", i, rows)
	}
}
