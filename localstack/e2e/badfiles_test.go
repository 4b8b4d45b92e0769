//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/mosaic-cdp/mosaic/shared/records"
)

// dropBytes drops body as ingest/<ds>/<name> with the AWS CLI and waits for
// the dataset's batch to end.
func dropBytes(t *testing.T, ds, name string, body []byte) map[string]any {
	t.Helper()
	awsCLI(t, "s3", "cp", writeFile(t, name, string(body)), fmt.Sprintf("s3://%s/ingest/%s/%s", tgt.Bucket, ds, name))
	return finishedBatch(t, ds, 2*time.Minute)
}

// wantFileFailed checks that a batch ended failed with exactly one error,
// of code, with a description, and that its dataset holds no fragment.
func wantFileFailed(t *testing.T, batch map[string]any, ds, code string) {
	t.Helper()
	errs, _ := batch["errors"].([]any)
	if batch["status"] != "failed" || len(errs) != 1 || dig(errs[0], "code") != code {
		t.Fatalf("batch %v, want failed with the one error %s", batch, code)
	}
	if d, _ := dig(errs[0], "description").(string); d == "" {
		t.Errorf("error %v has no description", errs[0])
	}
	if n := fragmentCount(t, ds); n != 0 {
		t.Errorf("%d fragments written by a failed batch, want none", n)
	}
}

// wantNoProfile checks that the e-mail addresses have no profile.
func wantNoProfile(t *testing.T, emails ...string) {
	t.Helper()
	for _, e := range emails {
		if status, p := lookup(t, "Email", e); !isNoData(status, p) {
			t.Errorf("lookup of %s = %d %v, want the no-data entry: a failed batch wrote it", e, status, p)
		}
	}
}

// gzipBombFile streams n bytes of newlines through gzip into a file and
// returns its path and stored size; the expanded bytes are never held.
func gzipBombFile(t *testing.T, n int64) (string, int64) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bomb.json.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{'\n'}, 1<<20)
	for written := int64(0); written < n; written += int64(len(chunk)) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return p, st.Size()
}

type pqRowExtra struct {
	pqRow
	Tier string `parquet:"loyaltyTier"`
}

// TestBadFilesFailWithOneError drops (or uploads through the Batch
// Ingestion API) files that cannot be read as a whole: each fails its
// batch with exactly one error of its own code, and nothing of it is
// written.
func TestBadFilesFailWithOneError(t *testing.T) {
	schema := createProfileSchema(t, fmt.Sprintf("Bad files %d", time.Now().UnixNano()))
	stamp := time.Now().UnixNano()
	mail := func(what string) string { return fmt.Sprintf("%s%d@badfiles.example.com", what, stamp) }
	row := func(what string) string {
		return fmt.Sprintf(`{"personalEmail":{"address":%q},"person":{"name":{"firstName":"Bad"}}}`, mail(what))
	}

	t.Run("empty file is refused by the API", func(t *testing.T) {
		id, ds := newAPIBatch(t, "Empty upload")
		r := callRaw(t, "PUT", filePath(id, ds, "empty.json"), nil, nil)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "BATCH-FILE-EMPTY") {
			t.Fatalf("PUT of 0 bytes = %d %s, want 400 BATCH-FILE-EMPTY", r.Status, r.Body)
		}
	})

	drops := []struct {
		name, file, code string
		body             func(t *testing.T) []byte
		emails           []string
	}{
		{"empty drop-in", "empty.json", records.CodeFileEmpty, func(*testing.T) []byte { return nil }, nil},
		{"whitespace only", "blank.json", records.CodeFileEmpty, func(*testing.T) []byte { return []byte(" \r\n\t\n  \n") }, nil},
		{"named .gz but not gzip", "rows.json.gz", records.CodeFileGzip,
			func(*testing.T) []byte { return []byte(row("notgzip") + "\n") }, []string{mail("notgzip")}},
		{"corrupt parquet", "people.parquet", records.CodeFileParquet, func(t *testing.T) []byte {
			b := parquetOf(t, fmt.Sprintf("corrupt%d", stamp))
			return append(b[:len(b)/2:len(b)/2], "PAR1"...) // truncated: its footer is gone
		}, nil},
		{"parquet column not in the schema", "extra.parquet", records.CodeFileColumns, func(t *testing.T) []byte {
			var r pqRowExtra
			r.PersonalEmail.Address = mail("pqextra")
			r.Person.Name.FirstName = "Extra"
			r.Tier = "gold"
			var b bytes.Buffer
			if err := parquet.Write(&b, []pqRowExtra{r}); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}, []string{mail("pqextra")}},
		{"csv without a header", "empty.csv", records.CodeFileEmpty, func(*testing.T) []byte { return []byte("\r\n") }, nil},
		{"csv header naming an unknown path", "unknown.csv", records.CodeFileCSVHeader, func(*testing.T) []byte {
			return []byte("personalEmail.address,person.noSuchField\r\n" + mail("csvheader") + ",1\r\n")
		}, []string{mail("csvheader")}},
	}
	for _, d := range drops {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ds := createDataset(t, "Bad file", schema)
			wantFileFailed(t, dropBytes(t, ds, d.file, d.body(t)), ds, d.code)
			wantNoProfile(t, d.emails...)
		})
	}

	t.Run("gzip bomb", func(t *testing.T) {
		t.Parallel()
		ds := createDataset(t, "Gzip bomb", schema)
		const expanded = 160 << 20
		path, stored := gzipBombFile(t, expanded)
		if limit := records.ExpansionLimit(stored); expanded <= limit {
			t.Fatalf("%d bytes stored expand to %d, within the limit %d: no bomb", stored, int64(expanded), limit)
		}
		awsCLI(t, "s3", "cp", path, fmt.Sprintf("s3://%s/ingest/%s/bomb.json.gz", tgt.Bucket, ds))
		wantFileFailed(t, finishedBatch(t, ds, 2*time.Minute), ds, records.CodeFileExpansion)
	})

	t.Run("json array that is not an array", func(t *testing.T) {
		t.Parallel()
		ds := createDataset(t, "Not an array", schema)
		b := apiBatch(t, ds, map[string]any{"format": "json", "isMultiLineJson": true},
			map[string][]byte{"rows.json": []byte(row("notarray1") + "\n" + row("notarray2") + "\n")})
		wantFileFailed(t, b, ds, records.CodeFileJSONArray)
		wantNoProfile(t, mail("notarray1"), mail("notarray2"))
	})

	// docs/api.md "Ingestion": a file under a dataset that does not exist,
	// or one not enabled for Profile, ends failed with the dataset's
	// lookup error or DATASET-NOT-ENABLED.
	t.Run("unknown dataset", func(t *testing.T) {
		t.Parallel()
		ds := fmt.Sprintf("%024x", stamp) // the shape of a dataset id, of none
		b := dropBytes(t, ds, "rows.json", []byte(row("nodataset")+"\n"))
		wantFileFailed(t, b, ds, "DATASET-NOT-FOUND")
		wantNoProfile(t, mail("nodataset"))
	})

	t.Run("dataset not enabled for Profile", func(t *testing.T) {
		t.Parallel()
		var refs []string
		must(t, http.StatusCreated, "POST", catalogP+"/dataSets", map[string]any{
			"name":      "Not for Profile",
			"schemaRef": map[string]any{"id": schema, "contentType": "application/vnd.adobe.xed-full+json;version=1"},
		}).decode(t, &refs)
		ds := strings.TrimPrefix(refs[0], "@/dataSets/")
		b := dropBytes(t, ds, "rows.json", []byte(row("notenabled")+"\n"))
		wantFileFailed(t, b, ds, "DATASET-NOT-ENABLED")
		wantNoProfile(t, mail("notenabled"))
	})
}

// diagLine is one line of a batch's row diagnostics.
type diagLine struct {
	Corrupt  string                           `json:"_corrupt_record"`
	Errors   []struct{ Code, Message string } `json:"_errors"`
	Filename string                           `json:"_filename"`
	Row      int                              `json:"_row"`
}

// failedRows reads every diagnostics line of a batch through GET
// /export/batches/{id}/failed, following its Link header.
func failedRows(t *testing.T, id string) []diagLine {
	t.Helper()
	var out []diagLine
	path := "/data/foundation/export/batches/" + id + "/failed"
	for page := 0; path != "" && page < 100; page++ {
		r := call(t, "GET", path, nil, "")
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, r.Status, r.Body)
		}
		sc := bufio.NewScanner(bytes.NewReader(r.Body))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			var d diagLine
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatalf("diagnostics line %q: %v", sc.Text(), err)
			}
			out = append(out, d)
		}
		path = "" // one page holds up to 100 diagnostics files, more than these tests make
	}
	return out
}

// TestBadRowsInCSV drops one CSV file of 120 good rows (one with quotes,
// one with an embedded line break, one with 21 identities, the file
// starting with a byte-order mark) and five bad rows: a bare quote, a
// ragged row, a wrong type, no primary identity and invalid UTF-8. The
// batch succeeds (5 of 125 rows, 4%), every good row lands, and each bad
// row has exactly one diagnostics line with its row number and code.
func TestBadRowsInCSV(t *testing.T) {
	ds, _ := poisonDataset(t, "Bad CSV rows")
	prefix := fmt.Sprintf("CSV%d", time.Now().UnixNano())
	const extra = 20 // identities beside the primary one: 21 in all
	cols := []string{"identityMap.CRMID[0].id", "identityMap.CRMID[0].primary", "person.name.firstName", "person.name.lastName", "person.birthYear"}
	for k := 1; k <= extra; k++ {
		cols = append(cols, fmt.Sprintf("identityMap.CRMID[%d].id", k))
	}
	pad := strings.Repeat(",", extra)
	var b strings.Builder
	b.WriteString("\xEF\xBB\xBF" + strings.Join(cols, ",") + "\r\n")
	type bad struct {
		row  int
		code string
	}
	var bads []bad
	rowNo := 0
	line := func(s string) { rowNo++; b.WriteString(s + "\r\n") }
	good := 0
	goodLine := func(first, last string) {
		line(fmt.Sprintf("%s-%d,true,%s,%s,%d%s", prefix, good, first, last, 1900+good%100, pad))
		good++
	}
	for i := 0; i < 125; i++ {
		switch i {
		case 10:
			line(fmt.Sprintf(`%s-bare,true,Ab"c,Q,1980%s`, prefix, pad))
			bads = append(bads, bad{rowNo, records.CodeRowCSV})
		case 30:
			line(fmt.Sprintf("%s-ragged,true,Short", prefix))
			bads = append(bads, bad{rowNo, records.CodeRowCSVRagged})
		case 50:
			line(fmt.Sprintf("%s-type,true,Typed,T,not-a-year%s", prefix, pad))
			bads = append(bads, bad{rowNo, "XDM-TYPE"})
		case 70:
			line(fmt.Sprintf(",,NoPrimary,P,1980%s", pad))
			bads = append(bads, bad{rowNo, "IDENTITY-NO-PRIMARY"})
		case 90:
			line(fmt.Sprintf("%s-utf8,true,Bad\xff\xfeName,U,1980%s", prefix, pad))
			bads = append(bads, bad{rowNo, "ROW-UTF8"})
		case 20:
			goodLine(`"Quoted ""Q"", Esq."`, `"O""Neil"`)
		case 40:
			goodLine("\"Multi\r\nLine\"", "M")
		case 60:
			var ids []string
			for k := 1; k <= extra; k++ {
				ids = append(ids, fmt.Sprintf("%s-many-%d", prefix, k))
			}
			line(fmt.Sprintf("%s-%d,true,Many,Ids,1960,%s", prefix, good, strings.Join(ids, ",")))
			good++
		default:
			goodLine(fmt.Sprintf("Member%d", good), "Last")
		}
	}
	batch := dropBytes(t, ds, "members.csv", []byte(b.String()))
	if batch["status"] != "success" {
		t.Fatalf("batch %v, want success (5 of 125 rows refused)", batch)
	}
	m, _ := batch["metrics"].(map[string]any)
	if m["inputRecordCount"] != 125.0 || m["outputRecordCount"] != float64(good) || m["failedRecordCount"] != float64(len(bads)) {
		t.Errorf("metrics %v, want 125 in, %d out, %d failed", m, good, len(bads))
	}
	if n := fragmentCount(t, ds); n != good {
		t.Errorf("%d fragments, want %d", n, good)
	}
	wantFirst := map[int]string{0: "Member0", 19: `Quoted "Q", Esq.`, 38: "Multi\nLine", 57: "Many", good - 1: fmt.Sprintf("Member%d", good-1)}
	for i, first := range wantFirst {
		status, p := lookup(t, "CRMID", fmt.Sprintf("%s-%d", prefix, i))
		if !found(status, p) {
			t.Errorf("lookup of good row %d = %d %v, want its profile", i, status, p)
			continue
		}
		if got := dig(p, "entity", "person", "name", "firstName"); got != first {
			t.Errorf("good row %d firstName = %q, want %q", i, got, first)
		}
	}
	if status, p := lookup(t, "CRMID", fmt.Sprintf("%s-%d", prefix, 19)); found(status, p) {
		if got := dig(p, "entity", "person", "name", "lastName"); got != `O"Neil` {
			t.Errorf("lastName = %q, want O\"Neil", got)
		}
	}
	for _, id := range []string{"bare", "ragged", "type", "utf8"} {
		if status, p := lookup(t, "CRMID", prefix+"-"+id); !isNoData(status, p) {
			t.Errorf("lookup of bad row %s = %d %v, want the no-data entry", id, status, p)
		}
	}

	diags := failedRows(t, fmt.Sprint(batch["id"]))
	seen := map[int]int{}
	for _, d := range diags {
		seen[d.Row]++
		if d.Filename != "ingest/"+ds+"/members.csv" || len(d.Errors) != 1 {
			t.Errorf("diagnostics line %+v", d)
		}
	}
	for _, want := range bads {
		var got []string
		for _, d := range diags {
			if d.Row == want.row && len(d.Errors) > 0 {
				got = append(got, d.Errors[0].Code)
			}
		}
		if len(got) != 1 || got[0] != want.code {
			t.Errorf("row %d: diagnostics codes %v, want one %s", want.row, got, want.code)
		}
		delete(seen, want.row)
	}
	if len(seen) != 0 || len(diags) != len(bads) {
		t.Errorf("%d diagnostics lines, want %d; rows not refused: %v", len(diags), len(bads), seen)
	}
}
