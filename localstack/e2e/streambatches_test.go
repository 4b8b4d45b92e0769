//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
)

// rowEntity decodes a row.
func rowEntity(t *testing.T, row string) map[string]any {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal([]byte(row), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// streamFailedAll reads every failed row of a batch through
// GET …/{batchId}/failed, following its Link headers.
func streamFailedAll(t *testing.T, batchID string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	path := exportP + "/" + url.PathEscape(batchID) + "/failed"
	for pages := 0; path != ""; pages++ {
		if pages > 1000 {
			t.Fatalf("/failed of %s does not end", batchID)
		}
		r := must(t, http.StatusOK, "GET", path, nil)
		sc := bufio.NewScanner(bytes.NewReader(r.Body))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("failed row %.200q: %v", sc.Text(), err)
			}
			rows = append(rows, row)
		}
		path = ""
		if link := r.Header.Get("link"); link != "" {
			path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	return rows
}

// TestStreamingFailuresAsBatches streams good and bad messages for two
// datasets and one record that is not JSON over Kinesis. Each dataset's
// streaming batch is listed with exact metrics and errors by code, and
// its failed records are downloaded through the export routes; the
// record that is not JSON is in the stream-level batch of its window.
func TestStreamingFailuresAsBatches(t *testing.T) {
	type dsCase struct {
		id, schemaID string
		good, bad    int
	}
	var cases []*dsCase
	for i, n := range []struct{ good, bad int }{{3, 2}, {4, 1}} {
		ds, schemaID := poisonDataset(t, fmt.Sprintf("Stream batches %d", i))
		cases = append(cases, &dsCase{id: ds, schemaID: schemaID, good: n.good, bad: n.bad})
	}
	prefix := fmt.Sprintf("SB%d", time.Now().UnixNano())
	type record struct {
		Data         string
		PartitionKey string
	}
	var recs []record
	bad := map[int]string{} // record index -> dataset
	for _, c := range cases {
		for i := range c.good {
			recs = append(recs, record{string(streamMessage(c.schemaID, c.id, nil, rowEntity(t, goodRow(prefix+c.id, i)))), fmt.Sprintf("%s-%d", prefix, len(recs))})
		}
		for i := range c.bad {
			// No identity at all: refused with IDENTITY-NO-PRIMARY.
			bad[len(recs)] = c.id
			recs = append(recs, record{string(streamMessage(c.schemaID, c.id, nil, rowEntity(t, fmt.Sprintf(`{"_id":"%s-bad-%d"}`, prefix, i)))), fmt.Sprintf("%s-%d", prefix, len(recs))})
		}
	}
	notJSON := len(recs)
	recs = append(recs, record{"not JSON " + prefix, prefix + "-garbage"})

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
	before := time.Now()
	var put struct {
		FailedRecordCount int
		Records           []struct{ SequenceNumber, ShardId string }
	}
	if err := json.Unmarshal([]byte(awsCLI(t, args...)), &put); err != nil || put.FailedRecordCount != 0 || len(put.Records) != len(recs) {
		t.Fatalf("put-records: %v, %d records refused", err, put.FailedRecordCount)
	}
	after := time.Now()

	for _, c := range cases {
		// The dataset is new: its batches are this test's. A put that
		// straddles a window boundary may make two.
		var bs map[string]struct {
			Status  string
			Metrics struct{ InputRecordCount, OutputRecordCount, FailedRecordCount int }
			Errors  []struct {
				Code        string
				RecordCount int
			}
		}
		eventually(t, 60*time.Second, "the streaming batch of dataset "+c.id+" counts every message", func() error {
			bs = nil
			must(t, http.StatusOK, "GET", "/data/foundation/catalog/batches?dataSet="+c.id, nil).decode(t, &bs)
			in, out, failed := 0, 0, 0
			for _, b := range bs {
				in, out, failed = in+b.Metrics.InputRecordCount, out+b.Metrics.OutputRecordCount, failed+b.Metrics.FailedRecordCount
			}
			if in != c.good+c.bad || out != c.good || failed != c.bad {
				return errorf("metrics in %d out %d failed %d, want %d %d %d", in, out, failed, c.good+c.bad, c.good, c.bad)
			}
			return nil
		})
		var rows []map[string]any
		for id, b := range bs {
			if !strings.HasPrefix(id, "stream-"+c.id+"-") || b.Status != "processing" {
				t.Errorf("batch %s of dataset %s is %s; want a streaming batch id, processing while its window is open", id, c.id, b.Status)
			}
			codes := 0
			for _, e := range b.Errors {
				if e.Code != "IDENTITY-NO-PRIMARY" {
					t.Errorf("batch %s error %s, want IDENTITY-NO-PRIMARY only", id, e.Code)
				}
				codes += e.RecordCount
			}
			if codes != b.Metrics.FailedRecordCount {
				t.Errorf("batch %s errors count %d records, failedRecordCount %d", id, codes, b.Metrics.FailedRecordCount)
			}
			rows = append(rows, streamFailedAll(t, id)...)
			if b.Metrics.FailedRecordCount > 0 {
				files := batchDiagnosticsFiles(t, id)
				if len(files) != 1 || files[0].Name != "part-000000.json" {
					t.Errorf("row_errors of %s: %+v, want part-000000.json", id, files)
				}
				r := must(t, http.StatusOK, "GET", exportP+"/"+id+"/meta?path="+url.QueryEscape("row_errors/part-000000.json"), nil)
				if n := bytes.Count(r.Body, []byte("\n")); n != b.Metrics.FailedRecordCount {
					t.Errorf("row_errors/part-000000.json of %s has %d lines, want %d", id, n, b.Metrics.FailedRecordCount)
				}
			}
		}
		want := map[string]bool{}
		for i, ds := range bad {
			if ds == c.id {
				want[put.Records[i].SequenceNumber] = true
			}
		}
		got := map[string]bool{}
		for _, row := range rows {
			seq, _ := row["_sequenceNumber"].(string)
			got[seq] = true
			if row["_corrupt_record"] != "" || failedRowCode(row) != "IDENTITY-NO-PRIMARY" || row["_datasetId"] != c.id || row["_shard"] == "" {
				t.Errorf("failed row %v", row)
			}
		}
		if len(got) != len(want) || len(rows) != len(want) {
			t.Errorf("dataset %s failed rows %v, want sequence numbers %v", c.id, got, want)
		}
		for s := range want {
			if !got[s] {
				t.Errorf("dataset %s: no failed row for sequence number %s", c.id, s)
			}
		}
	}

	// The record that is not JSON: in the stream-level batch of the
	// window it arrived in.
	seq := put.Records[notJSON].SequenceNumber
	ids := map[string]bool{}
	for _, at := range []time.Time{before, after} {
		ids[catalog.StreamBatchID(catalog.StreamUnknownDataset, at)] = true
	}
	eventually(t, 30*time.Second, "the record that is not JSON in the stream-level batch", func() error {
		for id := range ids {
			r := call(t, "GET", "/data/foundation/catalog/batches/"+id, nil, "")
			if r.Status == http.StatusNotFound {
				continue
			}
			var m map[string]struct {
				Status  string
				Metrics struct{ InputRecordCount, FailedRecordCount int }
			}
			r.decode(t, &m)
			b := m[id]
			if b.Metrics.FailedRecordCount < 1 || b.Metrics.InputRecordCount < b.Metrics.FailedRecordCount {
				return errorf("batch %s metrics %+v", id, b.Metrics)
			}
			for _, row := range streamFailedAll(t, id) {
				if row["_sequenceNumber"] == seq {
					if code := failedRowCode(row); code != "STREAM-MESSAGE-JSON" {
						t.Errorf("not-JSON record's code %s", code)
					}
					return nil
				}
			}
		}
		return errorf("no failed row for sequence number %s in %v", seq, ids)
	})
	// The stream-level batch is listed too.
	var all map[string]any
	must(t, http.StatusOK, "GET", "/data/foundation/catalog/batches?limit=100", nil).decode(t, &all)
	found := false
	for id := range ids {
		found = found || all[id] != nil
	}
	if !found {
		t.Errorf("no stream-level batch %v in the batch listing", ids)
	}
}
