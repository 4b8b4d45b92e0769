//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRowErrors drops one file that mixes good rows with every kind of bad
// row the validator and identity extraction refuse, into a dataset whose
// schema takes its primary identity from identityMap. Each bad row gets its
// own stable code in the batch's error summary; every good row lands.
func TestRowErrors(t *testing.T) {
	schemaID, altID := createSchema(t, fmt.Sprintf("Loyalty members %d", time.Now().UnixNano()),
		"https://ns.adobe.com/xdm/context/profile",
		"https://ns.adobe.com/xdm/context/profile-person-details",
		"https://ns.adobe.com/xdm/context/identitymap")
	// No descriptor: identityMap's primary:true entry is the primary identity.
	enableForProfile(t, altID)
	ds := createDataset(t, "Loyalty members", schemaID)

	row := func(id, identityMap, extra string) string {
		return fmt.Sprintf(`{"_id":%q,"identityMap":%s%s}`, id, identityMap, extra)
	}
	bad := map[string]string{
		"IDENTITY-VALUE-BLOCKED":     row("b1", `{"CRMID":[{"id":"anonymous","primary":true}]}`, ""),
		"IDENTITY-NO-PRIMARY":        row("b2", `{"CRMID":[{"id":"C-0002"}]}`, ""),
		"IDENTITY-UNKNOWN-NAMESPACE": row("b3", `{"NoSuchNamespace":[{"id":"x-3","primary":true}]}`, ""),
		"XDM-TYPE":                   row("b4", `{"CRMID":[{"id":"C-0004","primary":true}]}`, `,"person":{"name":{"firstName":{"nested":true}}}`),
	}
	var lines []string
	for i := 0; i < 96; i++ {
		lines = append(lines, row(fmt.Sprintf("g%d", i), fmt.Sprintf(`{"CRMID":[{"id":"C-1%03d","primary":true}]}`, i),
			fmt.Sprintf(`,"person":{"name":{"firstName":"Member%d"}}`, i)))
	}
	for _, l := range bad {
		lines = append(lines, l)
	}
	file := filepath.Join(t.TempDir(), "members.json")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	awsCLI(t, "s3", "cp", file, fmt.Sprintf("s3://%s/ingest/%s/members.json", tgt.Bucket, ds))

	var batch map[string]any
	eventually(t, 60*time.Second, "the members file's batch finished", func() error {
		var batches map[string]map[string]any
		r := call(t, "GET", catalogP+"/batches?dataSet="+ds, nil, "")
		if r.Status != http.StatusOK {
			return errorf("batches status %d", r.Status)
		}
		r.decode(t, &batches)
		for _, b := range batches {
			if b["status"] == "success" || b["status"] == "failed" {
				batch = b
				return nil
			}
		}
		return errorf("no finished batch yet: %v", batches)
	})
	if batch["status"] != "success" {
		t.Errorf("batch status = %v, want success (4 of 100 rows failed, under 5%%)", batch["status"])
	}
	m, _ := batch["metrics"].(map[string]any)
	if m["inputRecordCount"] != 100.0 || m["outputRecordCount"] != 96.0 || m["failedRecordCount"] != 4.0 {
		t.Errorf("metrics = %v, want 100 in, 96 out, 4 failed", m)
	}
	codes := map[string]bool{}
	errs, _ := batch["errors"].([]any)
	for _, e := range errs {
		code, _ := dig(e, "code").(string)
		codes[code] = true
		if desc, _ := dig(e, "description").(string); desc == "" {
			t.Errorf("error %v has no description", e)
		}
	}
	for code := range bad {
		if !codes[code] {
			t.Errorf("batch errors %v lack %s", errs, code)
		}
	}
	// (The blocked-value message names the placeholders it refuses, so
	// "anonymous" is not a sign of a leak; the other values are.)
	for _, leak := range []string{"C-0002", "x-3", "C-0004", "nested"} {
		if strings.Contains(fmt.Sprint(errs), leak) {
			t.Errorf("batch errors echo the row value %q: %v", leak, errs)
		}
	}

	// Each refused row is one failed row of the export route: its code,
	// its line and the record as the file spells it; messages do not
	// echo values. None is a failed-record item.
	rows := batchFailedRows(t, fmt.Sprint(batch["id"]))
	if len(rows) != len(bad) {
		t.Errorf("%d failed rows, want %d: %.500v", len(rows), len(bad), rows)
	}
	for _, r := range rows {
		code := failedRowCode(r)
		n, _ := r["_row"].(float64)
		if want, ok := bad[code]; !ok || r["_corrupt_record"] != want || n < 1 || int(n) > len(lines) || lines[int(n)-1] != want ||
			r["_filename"] != "ingest/"+ds+"/members.json" {
			t.Errorf("failed row %.300v does not match the file's bad row of its code", r)
		}
		msg, _ := dig(r["_errors"].([]any)[0], "message").(string)
		for _, leak := range []string{"C-0002", "x-3", "C-0004", "nested"} {
			if strings.Contains(msg, leak) {
				t.Errorf("failed row message echoes the row value %q: %s", leak, msg)
			}
		}
	}
	if recs := allFailedRecords(t, "FAILED#"+fmt.Sprint(batch["id"])); len(recs) != 0 {
		t.Errorf("%d failed-record items of the batch, want none", len(recs))
	}

	// Good rows are profiles; CRMID codes match case-insensitively.
	if status, p := lookup(t, "crmid", "C-1042"); !found(status, p) {
		t.Errorf("lookup of a good row's identity = %d %v, want its profile", status, p)
	} else if got := dig(p, "entity", "person", "name", "firstName"); got != "Member42" {
		t.Errorf("firstName = %v, want Member42", got)
	}
	// Refused rows left nothing behind.
	for _, id := range []string{"C-0002", "C-0004"} {
		if status, p := lookup(t, "CRMID", id); !isNoData(status, p) {
			t.Errorf("lookup of refused row identity %s = %d %v, want the no-data entry", id, status, p)
		}
	}
}

// TestFileForNoProfileDataset drops files under a dataset that does not
// exist and under one not enabled for Profile or Identity: each becomes a
// failed batch with a clear reason, and nothing is ingested.
func TestFileForNoProfileDataset(t *testing.T) {
	schemaID := createProfileSchema(t, fmt.Sprintf("Archive %d", time.Now().UnixNano()))
	var refs []string
	must(t, http.StatusCreated, "POST", catalogP+"/dataSets", map[string]any{
		"name":      "Archive only",
		"schemaRef": map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full+json;version=1"},
	}).decode(t, &refs)
	archive := strings.TrimPrefix(refs[0], "@/dataSets/")

	who := fmt.Sprintf("archived%d@example.com", time.Now().UnixNano())
	file := filepath.Join(t.TempDir(), "rows.json")
	if err := os.WriteFile(file, []byte(`{"_id":"a1","personalEmail":{"address":"`+who+`"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dataset string
	}{
		{"unknown dataset", fmt.Sprintf("nosuchdataset%d", time.Now().UnixNano())},
		{"dataset not enabled for Profile", archive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awsCLI(t, "s3", "cp", file, fmt.Sprintf("s3://%s/ingest/%s/rows.json", tgt.Bucket, tt.dataset))
			eventually(t, 60*time.Second, "the file's batch finished", func() error {
				var batches map[string]map[string]any
				r := call(t, "GET", catalogP+"/batches?dataSet="+tt.dataset, nil, "")
				if r.Status != http.StatusOK {
					return errorf("batches status %d", r.Status)
				}
				r.decode(t, &batches)
				for _, b := range batches {
					if b["status"] == "success" {
						t.Fatalf("batch for %s succeeded: %v", tt.name, b)
					}
					if b["status"] != "failed" {
						return errorf("batch status %v", b["status"])
					}
					errs, _ := b["errors"].([]any)
					if len(errs) == 0 || dig(errs[0], "code") == nil || dig(errs[0], "description") == "" {
						t.Errorf("failed batch gives no reason: %v", b)
					}
					return nil
				}
				return errorf("no batch yet")
			})
		})
	}
	if status, p := lookup(t, "Email", who); !isNoData(status, p) {
		t.Errorf("lookup of a row no dataset accepted = %d %v, want the no-data entry", status, p)
	}
}
