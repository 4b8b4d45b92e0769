//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// A poison row is one that can never be stored: retrying it cannot
// succeed, so it must become one failed record while every good row
// around it lands exactly once. Two kinds: a primary identity of 600 emoji
// (2,400 bytes of UTF-8, over the 1,024-byte identity limit and, with its
// namespace, over DynamoDB's 2,048-byte partition key), and a row with a
// 70 KB unknown field name of '<', which JSON encoding writes as six
// bytes each (\u003c): the failed record held a 420 KB message, over
// DynamoDB's 400 KB item, until messages were bounded.
var poisons = []struct {
	name, code string
	row        func(id string) string
}{
	{"600-emoji primary identity", "IDENTITY-VALUE-TOO-LONG", func(id string) string {
		return fmt.Sprintf(`{"_id":%q,"identityMap":{"CRMID":[{"id":%q,"primary":true}]}}`, id, strings.Repeat("😀", 600))
	}},
	{"70 KB unknown field name", "XDM-UNKNOWN-FIELD", func(id string) string {
		return fmt.Sprintf(`{"_id":%q,"identityMap":{"CRMID":[{"id":%q,"primary":true}]},%q:1}`, id, id, strings.Repeat("<", 70<<10))
	}},
}

// poisonDataset creates a profile dataset whose rows take their primary
// identity from identityMap, and returns its id and schema $id.
func poisonDataset(t *testing.T, what string) (dataset, schemaID string) {
	t.Helper()
	schemaID, altID := createSchema(t, fmt.Sprintf("%s %d", what, time.Now().UnixNano()),
		"https://ns.adobe.com/xdm/context/profile",
		"https://ns.adobe.com/xdm/context/profile-person-details",
		"https://ns.adobe.com/xdm/context/identitymap")
	enableForProfile(t, altID)
	return createDataset(t, what, schemaID), schemaID
}

// goodRow is a valid row; its birthYear is a string, which the profile
// must hold as the number its schema asks for.
func goodRow(prefix string, i int) string {
	return fmt.Sprintf(`{"_id":"%s-%d","identityMap":{"CRMID":[{"id":"%s-%d","primary":true}]},`+
		`"person":{"name":{"firstName":"Member%d"},"birthYear":"%d"}}`, prefix, i, prefix, i, i, 1900+i%100)
}

// TestPoisonRowInFile drops a file of 1,000 good rows with one poison row
// in the middle. The batch ends success with exact metrics, the poison
// row is the one failed row with its stable code, and every good row is
// one profile fragment.
func TestPoisonRowInFile(t *testing.T) {
	for _, p := range poisons {
		t.Run(p.name, func(t *testing.T) {
			ds, _ := poisonDataset(t, "Poison file")
			prefix := fmt.Sprintf("PF%d", time.Now().UnixNano())
			const good, at = 1000, 500
			var b strings.Builder
			for i := range good {
				if i == at {
					b.WriteString(p.row(prefix + "-poison"))
					b.WriteByte('\n')
				}
				b.WriteString(goodRow(prefix, i))
				b.WriteByte('\n')
			}
			file := filepath.Join(t.TempDir(), "members.json")
			if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			awsCLI(t, "s3", "cp", file, fmt.Sprintf("s3://%s/ingest/%s/members.json", tgt.Bucket, ds))

			batch := finishedBatch(t, ds, 90*time.Second)
			if batch["status"] != "success" {
				t.Errorf("batch status = %v, want success (1 of 1,001 rows failed)", batch["status"])
			}
			m, _ := batch["metrics"].(map[string]any)
			if m["inputRecordCount"] != float64(good+1) || m["outputRecordCount"] != float64(good) || m["failedRecordCount"] != 1.0 {
				t.Errorf("metrics = %v, want %d in, %d out, 1 failed", m, good+1, good)
			}
			errs, _ := batch["errors"].([]any)
			if len(errs) != 1 || dig(errs[0], "code") != p.code {
				t.Errorf("batch errors = %.300v, want one %s", errs, p.code)
			}
			if s := fmt.Sprint(errs); len(s) > 4<<10 {
				t.Errorf("batch errors are %d bytes", len(s))
			}

			// The failed row is the poison row: line 501, with its code and
			// the record as the file spells it, read through the export
			// route; the batch wrote no failed-record items.
			id := fmt.Sprint(batch["id"])
			rows := batchFailedRows(t, id)
			if len(rows) != 1 || failedRowCode(rows[0]) != p.code || rows[0]["_row"] != float64(at+1) ||
				rows[0]["_filename"] != "ingest/"+ds+"/members.json" || rows[0]["_corrupt_record"] != p.row(prefix+"-poison") {
				t.Errorf("failed rows %.500v, want one %s at row %d", rows, p.code, at+1)
			}
			if recs := allFailedRecords(t, "FAILED#"+id); len(recs) != 0 {
				t.Errorf("%d failed-record items of the batch, want none", len(recs))
			}
			// Every good row landed, once; the poison left nothing.
			if n := fragmentCount(t, ds); n != good {
				t.Errorf("%d fragments of the dataset, want %d", n, good)
			}
			for _, i := range []int{0, at - 1, at, good - 1} {
				status, prof := lookup(t, "CRMID", prefix+"-"+strconv.Itoa(i))
				if !found(status, prof) {
					t.Errorf("lookup of good row %d = %d %v, want its profile", i, status, prof)
					continue
				}
				if got := dig(prof, "entity", "person", "birthYear"); got != float64(1900+i%100) {
					t.Errorf("row %d birthYear = %#v, want the number %d", i, got, 1900+i%100)
				}
			}
			if status, p := lookup(t, "CRMID", prefix+"-poison"); !isNoData(status, p) {
				t.Errorf("lookup of the poison row's identity = %d %v, want the no-data entry", status, p)
			}
		})
	}
}

// TestPoisonRecordInStream puts 300 good messages and one poison message
// in one PutRecords call. The poison message is one failed record with its
// stable code; every good message is one profile fragment; the shard moves
// on (no retry holds the good records back).
func TestPoisonRecordInStream(t *testing.T) {
	for _, p := range poisons {
		t.Run(p.name, func(t *testing.T) {
			ds, schemaID := poisonDataset(t, "Poison stream")
			prefix := fmt.Sprintf("PS%d", time.Now().UnixNano())
			const good, at = 300, 150
			message := func(row string) string {
				var entity map[string]any
				if err := json.Unmarshal([]byte(row), &entity); err != nil {
					t.Fatal(err)
				}
				ref := map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
				// Written as sent: '<' stays one byte, not \u003c.
				var b strings.Builder
				enc := json.NewEncoder(&b)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(map[string]any{
					"header": map[string]any{"schemaRef": ref, "datasetId": ds},
					"body":   map[string]any{"xdmMeta": map[string]any{"schemaRef": ref}, "xdmEntity": entity},
				}); err != nil {
					t.Fatal(err)
				}
				return strings.TrimSpace(b.String())
			}
			type record struct {
				Data         string
				PartitionKey string
			}
			var recs []record
			for i := range good {
				if i == at {
					recs = append(recs, record{message(p.row(prefix + "-poison")), prefix + "-poison"})
				}
				recs = append(recs, record{message(goodRow(prefix, i)), fmt.Sprintf("%s-%d", prefix, i)})
			}
			body, err := json.Marshal(map[string]any{"StreamName": tgt.Stream, "Records": recs})
			if err != nil {
				t.Fatal(err)
			}
			input := filepath.Join(t.TempDir(), "records.json")
			if err := os.WriteFile(input, body, 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"kinesis", "put-records", "--cli-input-json", "file://" + input}
			if cliV2(t) {
				args = append(args, "--cli-binary-format", "raw-in-base64-out")
			}
			var put struct{ FailedRecordCount int }
			if err := json.Unmarshal([]byte(awsCLI(t, args...)), &put); err != nil || put.FailedRecordCount != 0 {
				t.Fatalf("put-records: %v, %d records refused", err, put.FailedRecordCount)
			}

			eventually(t, 90*time.Second, "every good message landed", func() error {
				if n := fragmentCount(t, ds); n != good {
					return errorf("%d of %d fragments", n, good)
				}
				return nil
			})
			var failed []map[string]any
			eventually(t, 30*time.Second, "the poison message is a failed record", func() error {
				failed = failedRecords(t, streamFailedPK, ds)
				if len(failed) == 0 {
					return errorf("no failed record yet")
				}
				return nil
			})
			if len(failed) != 1 || failed[0]["code"] != p.code {
				t.Errorf("failed records %.500v, want one %s", failed, p.code)
			}
			if n := fragmentCount(t, ds); n != good {
				t.Errorf("%d fragments after the poison was refused, want %d", n, good)
			}
			for _, i := range []int{0, at - 1, at, good - 1} {
				if status, prof := lookup(t, "CRMID", prefix+"-"+strconv.Itoa(i)); !found(status, prof) {
					t.Errorf("lookup of good message %d = %d %v, want its profile", i, status, prof)
				} else if got := dig(prof, "entity", "person", "name", "firstName"); got != "Member"+strconv.Itoa(i) {
					t.Errorf("message %d firstName = %v", i, got)
				}
			}
		})
	}
}

// finishedBatch waits for the dataset's one batch to end and returns it.
func finishedBatch(t *testing.T, ds string, within time.Duration) map[string]any {
	t.Helper()
	var batch map[string]any
	eventually(t, within, "the file's batch finished", func() error {
		var batches map[string]map[string]any
		r := call(t, "GET", catalogP+"/batches?dataSet="+ds, nil, "")
		if r.Status != http.StatusOK {
			return errorf("batches status %d", r.Status)
		}
		r.decode(t, &batches)
		for id, b := range batches {
			if b["status"] == "success" || b["status"] == "failed" {
				b["id"] = id
				batch = b
				return nil
			}
		}
		return errorf("no finished batch yet")
	})
	return batch
}

// tableName finds a table's physical name: from the outputs file when the
// target is a deployment, else among the local cloud's tables.
func tableName(t *testing.T, logicalID, output string) string {
	t.Helper()
	if path := os.Getenv("MOSAIC_OUTPUTS"); path != "" {
		var stacks map[string]map[string]string
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &stacks)
		}
		if err != nil {
			t.Fatal(err)
		}
		for name, outs := range stacks {
			if strings.HasPrefix(name, topology.DataStackPrefix) && outs[output] != "" {
				return outs[output]
			}
		}
		t.Fatalf("outputs file has no %s", output)
	}
	var out struct{ TableNames []string }
	if err := json.Unmarshal([]byte(awsCLI(t, "dynamodb", "list-tables")), &out); err != nil {
		t.Fatal(err)
	}
	suffix := "-" + strings.ToLower(strings.TrimSuffix(logicalID, "Table"))
	for _, n := range out.TableNames {
		if strings.HasSuffix(n, suffix) {
			return n
		}
	}
	t.Fatalf("no table ending in %s among %v", suffix, out.TableNames)
	return ""
}

// fragmentCount counts the profile fragments of a dataset in the profile
// table.
func fragmentCount(t *testing.T, ds string) int {
	t.Helper()
	table := tableName(t, topology.ProfileTable, topology.OutputProfileTable)
	values, _ := json.Marshal(map[string]any{":sk": map[string]string{"S": "F#" + ds}})
	var out struct{ Count int }
	if err := json.Unmarshal([]byte(awsCLI(t, "dynamodb", "scan", "--table-name", table, "--select", "COUNT",
		"--filter-expression", topology.SortKey+" = :sk", "--expression-attribute-values", string(values))), &out); err != nil {
		t.Fatal(err)
	}
	return out.Count
}

// failedRecords reads the failed records of one partition ("FAILED#<batch>"
// or streamFailedPK) for a dataset.
func failedRecords(t *testing.T, pk, ds string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, rec := range allFailedRecords(t, pk) {
		if rec["datasetId"] == ds {
			recs = append(recs, rec)
		}
	}
	return recs
}
