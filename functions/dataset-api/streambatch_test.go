package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// memStreams is a streaming batches' partition store: failed records in
// position order and input counts by batch, as the store reads them.
type memStreams struct {
	recs   map[string][]catalog.FailedRecord // by batch, in position order
	input  map[string]int
	totals int // StreamTotals calls
}

func (s *memStreams) StreamTotals(_ context.Context, batchID string) (store.StreamTotals, error) {
	s.totals++
	t := store.StreamTotals{Input: s.input[batchID]}
	codes := map[string]*catalog.BatchError{}
	for _, r := range s.recs[batchID] {
		t.Failed++
		if codes[r.Code] == nil {
			codes[r.Code] = &catalog.BatchError{Code: r.Code, Description: r.Message}
		}
		codes[r.Code].Rows++
	}
	for _, e := range codes {
		t.Errors = append(t.Errors, *e)
	}
	sort.Slice(t.Errors, func(i, j int) bool { return t.Errors[i].Code < t.Errors[j].Code })
	return t, nil
}

// FailedPage pages by sequence number, the records' cursor here.
func (s *memStreams) FailedPage(_ context.Context, batch, after string, limit int) ([]catalog.FailedRecord, string, error) {
	var out []catalog.FailedRecord
	for _, r := range s.recs[batch] {
		if r.Seq > after {
			out = append(out, r)
		}
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].Seq, nil
	}
	return out, "", nil
}

func newStreamEnv(t *testing.T) (*batchEnv, *memStreams) {
	e := newBatchEnv(t)
	s := &memStreams{recs: map[string][]catalog.FailedRecord{}, input: map[string]int{}}
	e.h.streams = s
	return e, s
}

func batchBody(t *testing.T, resp events.APIGatewayV2HTTPResponse, id string) map[string]any {
	t.Helper()
	var m map[string]map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &m); err != nil || m[id] == nil {
		t.Fatalf("batch %s not in %d %s", id, resp.StatusCode, resp.Body)
	}
	return m[id]
}

func TestStreamingBatchStatusAndMetrics(t *testing.T) {
	e, s := newStreamEnv(t)
	open := catalog.NewStreamBatch(testDS, testNow.Add(-5*time.Minute), testNow)
	closed := catalog.NewStreamBatch(testDS, testNow.Add(-catalog.StreamWindow-catalog.StreamGrace-time.Minute), testNow)
	unknown := catalog.NewStreamBatch(catalog.StreamUnknownDataset, testNow.Add(-3*time.Hour), testNow)
	for _, b := range []catalog.Batch{open, closed, unknown} {
		e.m.CreateBatch(context.Background(), b)
	}
	s.input[open.ID], s.input[closed.ID], s.input[unknown.ID] = 5, 4, 2
	s.recs[open.ID] = []catalog.FailedRecord{
		{Batch: open.ID, Dataset: testDS, Shard: "shardId-1", Seq: "01", Code: "XDM-TYPE", Message: "type"},
		{Batch: open.ID, Dataset: testDS, Shard: "shardId-1", Seq: "02", Code: "IDENTITY-NO-PRIMARY", Message: "no primary"},
		{Batch: open.ID, Dataset: testDS, Shard: "shardId-1", Seq: "03", Code: "XDM-TYPE", Message: "type"},
	}
	s.recs[closed.ID] = []catalog.FailedRecord{{Batch: closed.ID, Shard: "shardId-1", Seq: "01", Code: "XDM-TYPE", Message: "type"}}
	s.recs[unknown.ID] = []catalog.FailedRecord{
		{Batch: unknown.ID, Shard: "shardId-1", Seq: "01", Code: "ROW-JSON", Message: "not JSON"},
		{Batch: unknown.ID, Shard: "shardId-1", Seq: "02", Code: "DATASET-NOT-FOUND", Message: "no dataset"},
	}
	get := func(id string) map[string]any {
		return batchBody(t, e.do("GET "+catalogBase+"/batches/{id}", map[string]string{"id": id}, "", nil, nil, false), id)
	}

	b := get(open.ID)
	metrics, _ := b["metrics"].(map[string]any)
	if b["status"] != "processing" || metrics["inputRecordCount"] != 5.0 || metrics["outputRecordCount"] != 2.0 || metrics["failedRecordCount"] != 3.0 {
		t.Errorf("open window: %v", b)
	}
	errs, _ := b["errors"].([]any)
	if len(errs) != 2 || fmt.Sprint(errs[1]) != fmt.Sprint(map[string]any{"code": "XDM-TYPE", "description": "type", "recordCount": 2.0}) {
		t.Errorf("open window errors: %v", errs)
	}
	if stored, _ := e.m.GetBatch(context.Background(), open.ID); stored.Status != catalog.BatchProcessing {
		t.Errorf("open window stored as %s; it stays processing", stored.Status)
	}

	b = get(closed.ID)
	metrics, _ = b["metrics"].(map[string]any)
	if b["status"] != "success" || metrics["inputRecordCount"] != 4.0 || metrics["outputRecordCount"] != 3.0 || metrics["failedRecordCount"] != 1.0 {
		t.Errorf("closed window: %v", b)
	}
	stored, _ := e.m.GetBatch(context.Background(), closed.ID)
	if stored.Status != catalog.BatchSuccess || stored.Metrics.InputRecordCount != 4 || stored.Completed != testNow.UnixMilli() {
		t.Errorf("closed window not sealed: %+v", stored)
	}
	calls := s.totals
	get(closed.ID)
	if s.totals != calls {
		t.Errorf("a sealed batch was counted again")
	}

	if b = get(unknown.ID); b["status"] != "failed" {
		t.Errorf("stream-level batch whose every message failed: %v", b)
	}

	// Listed with the dataSet filter, with their metrics.
	resp := e.do("GET "+catalogBase+"/batches", nil, "dataSet="+testDS, nil, nil, false)
	var list map[string]map[string]any
	json.Unmarshal([]byte(resp.Body), &list)
	if len(list) != 2 || list[open.ID] == nil || list[closed.ID] == nil {
		t.Fatalf("dataSet listing: %s", resp.Body)
	}
	if m, _ := list[open.ID]["metrics"].(map[string]any); m["failedRecordCount"] != 3.0 {
		t.Errorf("listed open window: %v", list[open.ID])
	}
	resp = e.do("GET "+catalogBase+"/batches", nil, "status=failed", nil, nil, false)
	list = nil
	json.Unmarshal([]byte(resp.Body), &list)
	if len(list) != 1 || list[unknown.ID] == nil {
		t.Errorf("status=failed listing: %s", resp.Body)
	}
}

func TestStreamingBatchExport(t *testing.T) {
	e, s := newStreamEnv(t)
	b := catalog.NewStreamBatch(testDS, testNow.Add(-5*time.Minute), testNow)
	e.m.CreateBatch(context.Background(), b)
	const n = 2*streamPage + 50
	for i := range n {
		s.recs[b.ID] = append(s.recs[b.ID], catalog.FailedRecord{Batch: b.ID, Dataset: testDS, Shard: "shardId-000000000001",
			Seq: fmt.Sprintf("%05d", i), Index: 1, Code: "XDM-TYPE", Message: "/person: must be object", At: 7})
	}
	meta := func(query string) events.APIGatewayV2HTTPResponse {
		return e.do("GET "+exportBase+"/{batchId}/meta", map[string]string{"batchId": b.ID}, query, nil, nil, false)
	}
	resp := meta("path=row_errors&limit=2")
	wantStatus(t, "row_errors", resp, 200, "")
	var page metaPage
	json.Unmarshal([]byte(resp.Body), &page)
	if page.Page.Count != 2 || page.Data[0].Name != "part-000000.json" || page.Data[1].Name != "part-000001.json" ||
		page.Links["next"].Href != exportBase+"/"+b.ID+"/meta?path=row_errors&limit=2&start=part-000002.json" {
		t.Fatalf("row_errors page 1: %s", resp.Body)
	}
	resp = meta("path=row_errors&limit=2&start=part-000002.json")
	page = metaPage{}
	json.Unmarshal([]byte(resp.Body), &page)
	if page.Page.Count != 1 || page.Links != nil {
		t.Fatalf("row_errors page 2: %s", resp.Body)
	}
	resp = meta("path=" + url.QueryEscape("row_errors/part-000002.json"))
	body, _ := base64.StdEncoding.DecodeString(resp.Body)
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if resp.StatusCode != 200 || len(lines) != 50 || page.Data[0].Length != fmt.Sprint(len(body)) {
		t.Fatalf("part 2: %d, %d lines, %d bytes, listed %s", resp.StatusCode, len(lines), len(body), page.Data[0].Length)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"_corrupt_record": "", "_errors": []any{map[string]any{"code": "XDM-TYPE", "message": "/person: must be object"}},
		"_datasetId": testDS, "_shard": "shardId-000000000001", "_sequenceNumber": "00200", "_index": 1.0, "_failedAt": 7.0}
	if fmt.Sprint(row) != fmt.Sprint(want) {
		t.Errorf("row = %v, want %v", row, want)
	}
	wantStatus(t, "part past the end", meta("path="+url.QueryEscape("row_errors/part-000003.json")), 404, "EXPORT-FILE-NOT-FOUND")
	wantStatus(t, "not a part name", meta("path="+url.QueryEscape("row_errors/x.json")), 404, "EXPORT-FILE-NOT-FOUND")

	// /failed pages through every record once, by its Link header.
	seen := map[string]bool{}
	start := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("/failed does not end")
		}
		q := ""
		if start != "" {
			q = "start=" + url.QueryEscape(start)
		}
		resp := e.do("GET "+exportBase+"/{batchId}/failed", map[string]string{"batchId": b.ID}, q, nil, nil, false)
		body, _ := base64.StdEncoding.DecodeString(resp.Body)
		for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
			var r map[string]any
			json.Unmarshal([]byte(l), &r)
			seq, _ := r["_sequenceNumber"].(string)
			if seen[seq] {
				t.Fatalf("record %s twice", seq)
			}
			seen[seq] = true
		}
		link := resp.Headers["link"]
		if link == "" {
			break
		}
		u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
		if err != nil {
			t.Fatal(err)
		}
		start = u.Query().Get("start")
	}
	if len(seen) != n {
		t.Errorf("/failed gave %d records, want %d", len(seen), n)
	}
}
