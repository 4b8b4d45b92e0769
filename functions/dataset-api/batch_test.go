package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
)

const testDS = "5c8c3c555033b814b69f947f"

type batchEnv struct {
	t  *testing.T
	h  *handler
	m  *memCatalog
	s3 *memS3
}

func newBatchEnv(t *testing.T) *batchEnv {
	h, m := newTestHandler(t)
	m.datasets[testDS] = catalog.Dataset{ID: testDS, Name: "events"}
	s := newMemS3()
	h.s3, h.presign, h.bucket = s, fakePresigner{}, "landing"
	return &batchEnv{t, h, m, s}
}

// do sends one request; a raw body goes base64-encoded, as API Gateway
// sends binary bodies.
func (e *batchEnv) do(route string, params map[string]string, query string, headers map[string]string, body []byte, raw bool) events.APIGatewayV2HTTPResponse {
	e.t.Helper()
	ev := event(route, params, query, string(body))
	ev.Headers = headers
	ev.RawPath = rawPath(route, params)
	if raw {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	resp, err := e.h.Handle(context.Background(), ev)
	if err != nil {
		e.t.Fatalf("Handle: %v", err)
	}
	return resp
}

// rawPath is the path API Gateway's rawPath gives for a route and its
// parameters: each segment percent-encoded, a greedy parameter's '/' kept.
// A parameter that starts with "raw:" is put in as it is.
func rawPath(route string, params map[string]string) string {
	_, tmpl, _ := strings.Cut(route, " ")
	segs := strings.Split(tmpl, "/")
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		v := params[strings.Trim(s, "{}+")]
		if raw, ok := strings.CutPrefix(v, "raw:"); ok {
			segs[i] = raw
			continue
		}
		parts := strings.Split(v, "/")
		for j, p := range parts {
			parts[j] = url.PathEscape(p)
		}
		segs[i] = strings.Join(parts, "/")
	}
	return strings.Join(segs, "/")
}

func (e *batchEnv) create(body string) string {
	e.t.Helper()
	resp := e.do("POST "+importBase, nil, "", nil, []byte(body), false)
	if resp.StatusCode != 201 {
		e.t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	var b struct{ ID string }
	json.Unmarshal([]byte(resp.Body), &b)
	return b.ID
}

func fileParams(batch, ds, name string) map[string]string {
	return map[string]string{"batchId": batch, "datasetId": ds, "filePath": name}
}

func (e *batchEnv) put(batch, name string, body []byte) events.APIGatewayV2HTTPResponse {
	return e.do("PUT "+filesPath, fileParams(batch, testDS, name), "", nil, body, true)
}

func (e *batchEnv) fileAction(batch, name, action, body string) events.APIGatewayV2HTTPResponse {
	return e.do("POST "+filesPath, fileParams(batch, testDS, name), "action="+action, nil, []byte(body), false)
}

func (e *batchEnv) patch(batch, name string, first int, chunk string, total string) events.APIGatewayV2HTTPResponse {
	cr := fmt.Sprintf("bytes %d-%d/%s", first, first+len(chunk)-1, total)
	return e.do("PATCH "+filesPath, fileParams(batch, testDS, name), "", map[string]string{"content-range": cr}, []byte(chunk), true)
}

func (e *batchEnv) batchAction(batch, action string) events.APIGatewayV2HTTPResponse {
	return e.do("POST "+importBase+"/{batchId}", map[string]string{"batchId": batch}, "action="+action, nil, nil, false)
}

func wantStatus(t *testing.T, what string, resp events.APIGatewayV2HTTPResponse, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: got %d %s, want %d %s", what, resp.StatusCode, resp.Body, status, code)
	}
	if code != "" {
		var eb apigw.ErrorBody
		json.Unmarshal([]byte(resp.Body), &eb)
		if eb.Code != code {
			t.Fatalf("%s: got code %q (%s), want %s", what, eb.Code, eb.Message, code)
		}
	}
}

func TestCreateBatch(t *testing.T) {
	e := newBatchEnv(t)
	resp := e.do("POST "+importBase, nil, "", nil, []byte(`{"datasetId":"`+testDS+`","inputFormat":{"format":"json","isMultiLineJson":true},"enableErrorDiagnostics":true}`), false)
	wantStatus(t, "create", resp, 201, "")
	var got map[string]any
	json.Unmarshal([]byte(resp.Body), &got)
	id, _ := got["id"].(string)
	if len(id) != 26 {
		t.Errorf("id %q is not 26 characters", id)
	}
	want := map[string]any{
		"id": id, "imsOrg": "MOSAIC@AdobeOrg", "status": "loading", "created": float64(testNow.UnixMilli()), "updated": float64(testNow.UnixMilli()),
		"version": "1.0.0", "relatedObjects": []any{map[string]any{"type": "dataSet", "id": testDS}},
		"inputFormat": map[string]any{"format": "json", "isMultiLineJson": true},
		"tags":        map[string]any{"acp_partialIngestionPercent": float64(5), "acp_enableErrorDiagnostics": true},
		"metrics":     map[string]any{"inputByteSize": float64(0), "inputFileCount": float64(0), "inputRecordCount": float64(0), "outputRecordCount": float64(0), "failedRecordCount": float64(0)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	b, err := e.m.GetBatch(context.Background(), id)
	if err != nil || b.Origin != catalog.BatchOriginAPI || !b.MultiLineJSON || !b.EnableErrorDiagnostics || b.PartialIngestionPercent != 5 {
		t.Errorf("stored %+v, %v", b, err)
	}
	for _, tc := range []struct{ name, body, code string }{
		{"unknown dataset", `{"datasetId":"000000000000000000000000","inputFormat":{"format":"json"}}`, "BATCH-DATASET-NOT-FOUND"},
		{"no dataset", `{"inputFormat":{"format":"json"}}`, "BATCH-DATASET"},
		{"no format", `{"datasetId":"` + testDS + `"}`, "BATCH-FORMAT"},
		{"bad format", `{"datasetId":"` + testDS + `","inputFormat":{"format":"xml"}}`, "BATCH-FORMAT"},
		{"multi-line csv", `{"datasetId":"` + testDS + `","inputFormat":{"format":"csv","isMultiLineJson":true}}`, "BATCH-FORMAT"},
		{"percent over 100", `{"datasetId":"` + testDS + `","inputFormat":{"format":"json"},"partialIngestionPercent":101}`, "BATCH-PARTIAL-PERCENT"},
		{"unknown field", `{"datasetId":"` + testDS + `","inputFormat":{"format":"json"},"bogus":1}`, "REQ-JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, tc.name, e.do("POST "+importBase, nil, "", nil, []byte(tc.body), false), 400, tc.code)
		})
	}
}

// TestBatchLifecycle uploads a whole file, a chunked file in three
// chunks sent out of order, a pre-signed single PUT and a pre-signed
// multipart upload, completes the batch and reads its files back.
func TestBatchLifecycle(t *testing.T) {
	e := newBatchEnv(t)
	ctx := context.Background()
	id := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"json"},"partialIngestionPercent":10}`)
	whole := []byte("{\"a\":1}\n{\"a\":2}\n\x00\xff")
	wantStatus(t, "put", e.put(id, "part=1/a.json", whole), 200, "")
	if got := e.s3.objects["staging/"+id+"/"+testDS+"/part=1/a.json"]; string(got) != string(whole) {
		t.Errorf("staged %q, want %q", got, whole)
	}

	wantStatus(t, "initialize", e.fileAction(id, "b.json", "INITIALIZE", ""), 201, "")
	wantStatus(t, "chunk 3", e.patch(id, "b.json", 10, "{\"b\":3}\n", "*"), 200, "")
	wantStatus(t, "chunk 1", e.patch(id, "b.json", 0, "{\"b\":1}\n", "18"), 200, "")
	wantStatus(t, "chunk 2", e.patch(id, "b.json", 5, "3}\n{\"b\"", "*"), 200, "")
	// Bytes 0-7 and 5-11 overlap.
	wantStatus(t, "complete overlapping", e.fileAction(id, "b.json", "COMPLETE", ""), 400, "BATCH-CHUNK-OVERLAP")
	delete(e.s3.objects, chunkKey("staging/"+id+"/"+testDS+"/b.json", 5, 11))
	wantStatus(t, "chunk 2 again", e.patch(id, "b.json", 8, "{\"", "*"), 200, "")
	wantStatus(t, "complete file", e.fileAction(id, "b.json", "COMPLETE", ""), 201, "")
	f, err := e.m.GetBatchFile(ctx, id, "b.json")
	if err != nil || !f.Complete || f.Size != 18 || len(f.Objects) != 3 || f.Objects[1].Offset != 8 || f.Objects[2].Offset != 10 {
		t.Fatalf("chunked file %+v, %v", f, err)
	}

	resp := e.fileAction(id, "c.json", "PRESIGN", "")
	wantStatus(t, "presign", resp, 200, "")
	var single struct {
		URL, Method string
		Expires     int64
	}
	json.Unmarshal([]byte(resp.Body), &single)
	if single.Method != "PUT" || !strings.Contains(single.URL, "staging/"+id+"/"+testDS+"/c.json") || single.Expires != testNow.Add(presignTTL).UnixMilli() {
		t.Errorf("presign answered %s", resp.Body)
	}

	resp = e.fileAction(id, "d.json", "PRESIGN", `{"parts":2}`)
	wantStatus(t, "presign multipart", resp, 200, "")
	var multi struct {
		UploadID string
		Parts    []presignedPart
	}
	json.Unmarshal([]byte(resp.Body), &multi)
	if multi.UploadID == "" || len(multi.Parts) != 2 || multi.Parts[1].PartNumber != 2 {
		t.Fatalf("presign multipart answered %s", resp.Body)
	}
	etag1 := e.s3.uploadPart(multi.UploadID, 1, []byte("{\"d\":1}\n"))
	etag2 := e.s3.uploadPart(multi.UploadID, 2, []byte("{\"d\":2}\n"))
	wantStatus(t, "complete multipart, bad etag", e.fileAction(id, "d.json", "COMPLETE", `{"parts":[{"partNumber":1,"etag":"x"}]}`), 400, "BATCH-PARTS")
	wantStatus(t, "complete multipart", e.fileAction(id, "d.json", "COMPLETE", fmt.Sprintf(`{"parts":[{"partNumber":1,"etag":%q},{"partNumber":2,"etag":%q}]}`, etag1, etag2)), 201, "")

	wantStatus(t, "complete before the pre-signed PUT", e.batchAction(id, "COMPLETE"), 400, "BATCH-FILE-MISSING")
	e.s3.objects["staging/"+id+"/"+testDS+"/c.json"] = []byte("{\"c\":1}\n")
	wantStatus(t, "complete", e.batchAction(id, "COMPLETE"), 200, "")

	b, _ := e.m.GetBatch(ctx, id)
	if b.Status != catalog.BatchProcessing || b.Started != testNow.UnixMilli() || b.Metrics.InputFileCount != 4 || b.Metrics.InputByteSize != int64(len(whole))+18+8+16 {
		t.Errorf("batch after COMPLETE: %+v", b)
	}
	manifest := e.s3.objects[ManifestKey(id)]
	if string(manifest) != `{"batchId":"`+id+`","datasetId":"`+testDS+`"}` {
		t.Errorf("manifest %q", manifest)
	}
	// A repeated COMPLETE writes the manifest again and nothing else.
	delete(e.s3.objects, ManifestKey(id))
	wantStatus(t, "complete again", e.batchAction(id, "COMPLETE"), 200, "")
	if again, _ := e.m.GetBatch(ctx, id); !cmp.Equal(again, b) || e.s3.objects[ManifestKey(id)] == nil {
		t.Errorf("repeated COMPLETE changed the batch or wrote no manifest: %+v", again)
	}
	wantStatus(t, "put after complete", e.put(id, "e.json", []byte("{}")), 400, "BATCH-NOT-LOADING")
	wantStatus(t, "abort after complete", e.batchAction(id, "ABORT"), 400, "BATCH-NOT-LOADING")

	resp = e.do("GET "+exportBase+"/{batchId}/meta", map[string]string{"batchId": id}, "path=input_files", nil, nil, false)
	wantStatus(t, "input files", resp, 200, "")
	var page metaPage
	json.Unmarshal([]byte(resp.Body), &page)
	var names []string
	for _, d := range page.Data {
		names = append(names, d.Name+":"+d.Length)
	}
	if diff := cmp.Diff([]string{"b.json:18", "c.json:8", "d.json:16", fmt.Sprintf("part=1/a.json:%d", len(whole))}, names); diff != "" || page.Page.Count != 4 {
		t.Errorf("input files (-want +got):\n%s", diff)
	}

	// Once processing has finished, COMPLETE changes nothing.
	b.Status = catalog.BatchSuccess
	e.m.PutBatch(ctx, b)
	delete(e.s3.objects, ManifestKey(id))
	wantStatus(t, "complete after success", e.batchAction(id, "COMPLETE"), 200, "")
	if e.s3.objects[ManifestKey(id)] != nil {
		t.Error("COMPLETE after success wrote the manifest")
	}
}

func TestBatchUploadErrors(t *testing.T) {
	e := newBatchEnv(t)
	id := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"json"}}`)
	wantStatus(t, "complete without files", e.batchAction(id, "COMPLETE"), 400, "BATCH-NO-FILES")
	wantStatus(t, "unknown batch", e.do("PUT "+filesPath, fileParams("nope", testDS, "a.json"), "", nil, []byte("{}"), true), 404, "BATCH-NOT-FOUND")
	wantStatus(t, "other dataset", e.do("PUT "+filesPath, fileParams(id, "000000000000000000000000", "a.json"), "", nil, []byte("{}"), true), 400, "BATCH-DATASET-MISMATCH")
	wantStatus(t, "empty file", e.put(id, "a.json", nil), 400, "BATCH-FILE-EMPTY")
	for _, p := range []string{"a//b.json", "../a.json", "a/./b", "/a.json", "a.json/", "x.chunks/a", strings.Repeat("a", 513)} {
		wantStatus(t, "path "+p, e.put(id, p, []byte("{}")), 400, "BATCH-FILE-PATH")
	}
	wantStatus(t, "path of 512 bytes", e.put(id, strings.Repeat("a", 512), []byte("{}")), 200, "")
	wantStatus(t, "unknown file action", e.fileAction(id, "a.json", "FOO", ""), 400, "BATCH-ACTION")
	wantStatus(t, "unknown batch action", e.batchAction(id, "REVERT"), 400, "BATCH-ACTION")
	wantStatus(t, "chunk before INITIALIZE", e.patch(id, "c.json", 0, "{}", "*"), 400, "BATCH-FILE-NOT-INITIALIZED")
	wantStatus(t, "initialize", e.fileAction(id, "c.json", "INITIALIZE", ""), 201, "")
	wantStatus(t, "complete batch with an open chunked file", e.batchAction(id, "COMPLETE"), 400, "BATCH-FILE-INCOMPLETE")
	wantStatus(t, "complete file without chunks", e.fileAction(id, "c.json", "COMPLETE", ""), 400, "BATCH-FILE-NO-CHUNKS")
	for _, cr := range []string{"", "bytes 0-1", "bytes 2-1/*", "bytes 0-1/1", "items 0-1/*", "bytes a-1/*"} {
		resp := e.do("PATCH "+filesPath, fileParams(id, testDS, "c.json"), "", map[string]string{"content-range": cr}, []byte("{}"), true)
		wantStatus(t, "Content-Range "+cr, resp, 400, "BATCH-CONTENT-RANGE")
	}
	wantStatus(t, "body shorter than its range", e.do("PATCH "+filesPath, fileParams(id, testDS, "c.json"), "", map[string]string{"content-range": "bytes 0-9/*"}, []byte("{}"), true), 400, "BATCH-CONTENT-RANGE")
	wantStatus(t, "chunk 1", e.patch(id, "c.json", 0, "{\"a\":", "*"), 200, "")
	wantStatus(t, "chunk 3", e.patch(id, "c.json", 8, "}\n", "*"), 200, "")
	resp := e.fileAction(id, "c.json", "COMPLETE", "")
	wantStatus(t, "gap", resp, 400, "BATCH-CHUNK-GAP")
	if !strings.Contains(resp.Body, "bytes 5-7") {
		t.Errorf("gap answer does not name bytes 5-7: %s", resp.Body)
	}
	wantStatus(t, "too many parts", e.fileAction(id, "m.json", "PRESIGN", `{"parts":10001}`), 400, "BATCH-PARTS")

	// INITIALIZE again starts the file afresh: the earlier chunks are gone.
	wantStatus(t, "initialize again", e.fileAction(id, "c.json", "INITIALIZE", ""), 201, "")
	wantStatus(t, "new chunk", e.patch(id, "c.json", 0, "{}\n", "3"), 200, "")
	wantStatus(t, "complete the new file", e.fileAction(id, "c.json", "COMPLETE", ""), 201, "")
	if f, _ := e.m.GetBatchFile(context.Background(), id, "c.json"); !f.Complete || f.Size != 3 || len(f.Objects) != 1 {
		t.Errorf("file started again: %+v", f)
	}
}

func TestAbortBatch(t *testing.T) {
	e := newBatchEnv(t)
	ctx := context.Background()
	id := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"csv"}}`)
	other := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"csv"}}`)
	wantStatus(t, "put", e.put(id, "a.csv", []byte("a\n1\n")), 200, "")
	wantStatus(t, "put other", e.put(other, "a.csv", []byte("a\n1\n")), 200, "")
	wantStatus(t, "initialize", e.fileAction(id, "b.csv", "INITIALIZE", ""), 201, "")
	wantStatus(t, "chunk", e.patch(id, "b.csv", 0, "a\n", "*"), 200, "")
	wantStatus(t, "multipart", e.fileAction(id, "m.csv", "PRESIGN", `{"parts":1}`), 200, "")
	wantStatus(t, "abort", e.batchAction(id, "ABORT"), 200, "")
	if b, _ := e.m.GetBatch(ctx, id); b.Status != catalog.BatchAborted {
		t.Errorf("status %s, want aborted", b.Status)
	}
	for k := range e.s3.objects {
		if strings.HasPrefix(k, "staging/"+id+"/") {
			t.Errorf("%s was not deleted", k)
		}
	}
	if len(e.s3.uploads) != 0 {
		t.Errorf("open multipart uploads: %v", e.s3.uploads)
	}
	if e.s3.objects["staging/"+other+"/"+testDS+"/a.csv"] == nil {
		t.Error("another batch's file was deleted")
	}
	wantStatus(t, "abort again", e.batchAction(id, "ABORT"), 200, "")
	wantStatus(t, "complete after abort", e.batchAction(id, "COMPLETE"), 400, "BATCH-ABORTED")
	wantStatus(t, "put after abort", e.put(id, "c.csv", []byte("a\n")), 400, "BATCH-NOT-LOADING")
}

func TestExportDiagnostics(t *testing.T) {
	e := newBatchEnv(t)
	id := "b2"
	prefix := diagnosticsPrefix(id)
	e.s3.objects[prefix+"part-00000-000001.json"] = []byte(`{"_row":1}` + "\n")
	e.s3.objects[prefix+"part-00000-000002.json"] = []byte(`{"_row":2}`)
	e.s3.objects[prefix+"part-00001-000001.json"] = []byte(strings.Repeat("x", maxInlineBytes-5))
	e.s3.objects[prefix+"part-00002-000001.json"] = []byte(strings.Repeat("y", maxInlineBytes+1))
	e.s3.objects["diagnostics/b1/row_errors/part-00000-000001.json"] = []byte("{}\n")
	meta := func(query string) events.APIGatewayV2HTTPResponse {
		return e.do("GET "+exportBase+"/{batchId}/meta", map[string]string{"batchId": id}, query, nil, nil, false)
	}
	resp := meta("path=row_errors&limit=2")
	wantStatus(t, "row_errors", resp, 200, "")
	var page metaPage
	json.Unmarshal([]byte(resp.Body), &page)
	if page.Page.Count != 2 || page.Page.Limit != 2 || page.Data[0].Name != "part-00000-000001.json" || page.Data[0].Length != "11" ||
		page.Data[0].Links["self"].Href != exportBase+"/b2/meta?path=row_errors%2Fpart-00000-000001.json" ||
		page.Links["next"].Href != exportBase+"/b2/meta?path=row_errors&limit=2&start=part-00001-000001.json" {
		t.Errorf("page 1: %s", resp.Body)
	}
	resp = meta("path=row_errors&limit=2&start=part-00001-000001.json")
	page = metaPage{}
	json.Unmarshal([]byte(resp.Body), &page)
	if page.Page.Count != 2 || page.Data[0].Name != "part-00001-000001.json" || page.Links != nil {
		t.Errorf("page 2: %s", resp.Body)
	}
	resp = meta("path=row_errors/part-00000-000001.json")
	body, _ := base64.StdEncoding.DecodeString(resp.Body)
	if resp.StatusCode != 200 || !resp.IsBase64Encoded || string(body) != `{"_row":1}`+"\n" || resp.Headers["content-type"] != "application/json" {
		t.Errorf("file: %d %q %v", resp.StatusCode, body, resp.Headers)
	}
	resp = meta("path=row_errors/part-00002-000001.json")
	if resp.StatusCode != 307 || resp.Headers["location"] != "https://s3.test/"+prefix+"part-00002-000001.json?op=get" {
		t.Errorf("large file: %d %v", resp.StatusCode, resp.Headers)
	}
	wantStatus(t, "unknown file", meta("path=row_errors/nope.json"), 404, "EXPORT-FILE-NOT-FOUND")
	wantStatus(t, "bad path", meta("path=other"), 400, "EXPORT-PATH")
	wantStatus(t, "unknown batch", e.do("GET "+exportBase+"/{batchId}/meta", map[string]string{"batchId": "nope"}, "path=row_errors", nil, nil, false), 404, "BATCH-NOT-FOUND")

	failed := func(query string) events.APIGatewayV2HTTPResponse {
		return e.do("GET "+exportBase+"/{batchId}/failed", map[string]string{"batchId": id}, query, nil, nil, false)
	}
	resp = failed("")
	body, _ = base64.StdEncoding.DecodeString(resp.Body)
	if resp.StatusCode != 200 || string(body) != `{"_row":1}`+"\n"+`{"_row":2}`+"\n" || resp.Headers["link"] != `<`+exportBase+`/b2/failed?start=part-00001-000001.json>; rel="next"` {
		t.Errorf("failed page 1: %d %q %v", resp.StatusCode, body, resp.Headers)
	}
	resp = failed("start=part-00001-000001.json")
	if resp.StatusCode != 200 || len(resp.Body) != base64.StdEncoding.EncodedLen(maxInlineBytes-5) || resp.Headers["link"] != `<`+exportBase+`/b2/failed?start=part-00002-000001.json>; rel="next"` {
		t.Errorf("failed page 2: %d %v", resp.StatusCode, resp.Headers)
	}
	resp = failed("start=part-00002-000001.json")
	if resp.StatusCode != 307 || resp.Headers["link"] != "" || !strings.HasSuffix(resp.Headers["location"], "part-00002-000001.json?op=get") {
		t.Errorf("failed page 3: %d %v", resp.StatusCode, resp.Headers)
	}
	wantStatus(t, "failed, unknown batch", e.do("GET "+exportBase+"/{batchId}/failed", map[string]string{"batchId": "nope"}, "", nil, nil, false), 404, "BATCH-NOT-FOUND")
}

func TestListBatchesFilters(t *testing.T) {
	e := newBatchEnv(t)
	list := func(q string) events.APIGatewayV2HTTPResponse {
		return e.do("GET "+catalogBase+"/batches", nil, q, nil, nil, false)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"status=loading", []string{"b1"}},
		{"createdAfter=1000", []string{"b2"}},
		{"limit=1&start=1", []string{"b1"}},
	} {
		resp := list(tc.query)
		var m map[string]any
		json.Unmarshal([]byte(resp.Body), &m)
		var got []string
		for k := range m {
			got = append(got, k)
		}
		if resp.StatusCode != 200 || !cmp.Equal(tc.want, got) {
			t.Errorf("%s: %d %v, want %v", tc.query, resp.StatusCode, got, tc.want)
		}
	}
	wantStatus(t, "bad status", list("status=done"), 400, "CATALOG-STATUS")
	wantStatus(t, "bad createdAfter", list("createdAfter=x"), 400, "CATALOG-CREATEDAFTER")
	wantStatus(t, "bad start", list("start=-1"), 400, "CATALOG-START")
}

// TestCompleteAndAbortRace: COMPLETE and ABORT of one loading batch at the
// same moment; whichever writes first wins and the other answers for the
// status it finds, so a batch is never aborted after its manifest was
// written, nor processed after it was aborted.
func TestCompleteAndAbortRace(t *testing.T) {
	ctx := context.Background()
	t.Run("abort wins", func(t *testing.T) {
		e := newBatchEnv(t)
		id := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"json"}}`)
		wantStatus(t, "put", e.put(id, "a.json", []byte("{}\n")), 200, "")
		e.m.beforePutFrom = func() { wantStatus(t, "abort", e.batchAction(id, "ABORT"), 200, "") }
		wantStatus(t, "complete", e.batchAction(id, "COMPLETE"), 400, "BATCH-ABORTED")
		if b, _ := e.m.GetBatch(ctx, id); b.Status != catalog.BatchAborted || e.s3.objects[ManifestKey(id)] != nil {
			t.Errorf("status %s, manifest written %v", b.Status, e.s3.objects[ManifestKey(id)] != nil)
		}
	})
	t.Run("complete wins", func(t *testing.T) {
		e := newBatchEnv(t)
		id := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"json"}}`)
		wantStatus(t, "put", e.put(id, "a.json", []byte("{}\n")), 200, "")
		e.m.beforePutFrom = func() { wantStatus(t, "complete", e.batchAction(id, "COMPLETE"), 200, "") }
		wantStatus(t, "abort", e.batchAction(id, "ABORT"), 400, "BATCH-NOT-LOADING")
		if b, _ := e.m.GetBatch(ctx, id); b.Status != catalog.BatchProcessing || e.s3.objects[ManifestKey(id)] == nil {
			t.Errorf("status %s, manifest written %v", b.Status, e.s3.objects[ManifestKey(id)] != nil)
		}
	})
}

// TestFilePathMustBeUTF8WithoutControlsOrTrailingSlash: the file path is
// read from the raw path, so bytes that are not UTF-8 (which the event's
// JSON would turn into U+FFFD, making a%FFb.json and a%FEb.json one
// file), control characters and a trailing '/' (which the event drops)
// are refused on every route that takes {filePath+}.
func TestFilePathMustBeUTF8WithoutControlsOrTrailingSlash(t *testing.T) {
	e := newBatchEnv(t)
	id := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"json"}}`)
	// params as the event carries them: replaced and trimmed.
	bad := map[string]string{
		"a%FFb.json": "a\ufffdb.json", "a%FEb.json": "a\ufffdb.json", "a%C3b.json": "a\ufffdb.json",
		"files/dir/": "files/dir", "a%00b": "a\x00b", "a%0Ab": "a\nb", "a%1Fb": "a\x1fb", "a%7Fb": "a\x7fb", "a%ZZ": "a%ZZ",
	}
	for raw, decoded := range bad {
		params := fileParams(id, testDS, decoded)
		ev := func(route, query string, headers map[string]string, body string, b64 bool) events.APIGatewayV2HTTPResponse {
			t.Helper()
			x := event(route, params, query, body)
			x.RawPath = strings.Replace(rawPath(route, fileParams(id, testDS, "F")), "/F", "/"+raw, 1)
			x.Headers = headers
			if b64 {
				x.Body, x.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(body)), true
			}
			resp, err := e.h.Handle(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		wantStatus(t, "PUT "+raw, ev("PUT "+filesPath, "", nil, "{}", true), 400, "BATCH-FILE-PATH")
		for _, a := range []string{"INITIALIZE", "COMPLETE", "PRESIGN"} {
			wantStatus(t, a+" "+raw, ev("POST "+filesPath, "action="+a, nil, "", false), 400, "BATCH-FILE-PATH")
		}
		wantStatus(t, "PATCH "+raw, ev("PATCH "+filesPath, "", map[string]string{"content-range": "bytes 0-1/*"}, "{}", true), 400, "BATCH-FILE-PATH")
	}
	if files, _ := e.m.ListBatchFiles(context.Background(), id); len(files) != 0 {
		t.Errorf("files recorded from refused paths: %+v", files)
	}
	if len(e.s3.objects) != 0 {
		t.Errorf("objects stored from refused paths: %d", len(e.s3.objects))
	}
	wantStatus(t, "UTF-8 path", e.put(id, "caf\u00e9/a b.json", []byte("{}")), 200, "")
	if _, err := e.m.GetBatchFile(context.Background(), id, "caf\u00e9/a b.json"); err != nil {
		t.Errorf("UTF-8 path not stored under its name: %v", err)
	}
}

// TestActionIsOneUpperCaseName: AEP's actions are upper case and given
// once; a repeated action, a lower-case one or an unknown one is 400
// BATCH-ACTION and changes nothing.
func TestActionIsOneUpperCaseName(t *testing.T) {
	e := newBatchEnv(t)
	id := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"json"}}`)
	wantStatus(t, "put", e.put(id, "a.json", []byte("{}\n")), 200, "")
	for _, q := range []string{"action=ABORT&action=COMPLETE", "action=COMPLETE&action=COMPLETE", "action=complete", "action=Abort", "", "action="} {
		resp := e.do("POST "+importBase+"/{batchId}", map[string]string{"batchId": id}, q, nil, nil, false)
		wantStatus(t, "batch "+q, resp, 400, "BATCH-ACTION")
	}
	if b, _ := e.m.GetBatch(context.Background(), id); b.Status != catalog.BatchLoading {
		t.Fatalf("status %s after refused actions, want loading", b.Status)
	}
	for _, q := range []string{"action=INITIALIZE&action=PRESIGN", "action=initialize", "action=Presign", "action=ABORT", ""} {
		resp := e.do("POST "+filesPath, fileParams(id, testDS, "b.json"), q, nil, nil, false)
		wantStatus(t, "file "+q, resp, 400, "BATCH-ACTION")
	}
	if _, err := e.m.GetBatchFile(context.Background(), id, "b.json"); err == nil {
		t.Errorf("a refused file action recorded b.json")
	}
	wantStatus(t, "one COMPLETE", e.batchAction(id, "COMPLETE"), 200, "")
}

// TestPresignPartsMustBePositive: {"parts": 0} or a negative count is 400
// BATCH-PARTS; no body, an empty object or "parts" left out is one PUT.
func TestPresignPartsMustBePositive(t *testing.T) {
	e := newBatchEnv(t)
	id := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"json"}}`)
	for _, body := range []string{`{"parts":0}`, `{"parts":-1}`, `{"parts":0,"firstPart":1}`, `{"firstPart":2}`} {
		wantStatus(t, body, e.fileAction(id, "m.json", "PRESIGN", body), 400, "BATCH-PARTS")
	}
	if _, err := e.m.GetBatchFile(context.Background(), id, "m.json"); err == nil {
		t.Errorf("a refused PRESIGN recorded the file")
	}
	for _, body := range []string{"", "{}"} {
		resp := e.fileAction(id, "s.json", "PRESIGN", body)
		wantStatus(t, "single "+body, resp, 200, "")
		var got struct{ Method string }
		json.Unmarshal([]byte(resp.Body), &got)
		if got.Method != "PUT" {
			t.Errorf("PRESIGN %q answered %s, want a single PUT", body, resp.Body)
		}
	}
}

// TestNotLoadingMessagesReadWell: the refusal of an upload names where the
// batch stands in words.
func TestNotLoadingMessagesReadWell(t *testing.T) {
	e := newBatchEnv(t)
	for status, want := range map[string]string{
		catalog.BatchSuccess: "has already finished (success)", catalog.BatchFailed: "has already finished (failed)",
		catalog.BatchProcessing: "is processing", catalog.BatchAborted: "was aborted",
	} {
		id := "B" + status
		e.m.batches = append(e.m.batches, catalog.Batch{ID: id, DatasetID: testDS, Status: status})
		resp := e.put(id, "a.json", []byte("{}"))
		wantStatus(t, status, resp, 400, "BATCH-NOT-LOADING")
		var eb apigw.ErrorBody
		json.Unmarshal([]byte(resp.Body), &eb)
		if !strings.Contains(eb.Message, "batch "+id+" "+want+";") {
			t.Errorf("%s: message %q does not say %q", status, eb.Message, want)
		}
		if status != catalog.BatchAborted {
			resp = e.batchAction(id, "ABORT")
			json.Unmarshal([]byte(resp.Body), &eb)
			if !strings.Contains(eb.Message, want) {
				t.Errorf("ABORT %s: message %q does not say %q", status, eb.Message, want)
			}
		}
	}
}

// TestExportInputFile: the self link of each input_files entry answers the
// file: its bytes up to 4 MB (a chunked file's chunks in order), a 307 to
// a pre-signed GET for one larger object, 400 EXPORT-FILE-TOO-LARGE for a
// larger chunked file, 404 for an unknown name.
func TestExportInputFile(t *testing.T) {
	e := newBatchEnv(t)
	id := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"json"}}`)
	wantStatus(t, "put", e.put(id, "day=1/a b+c.json", []byte("{\"a\":1}\n")), 200, "")
	wantStatus(t, "initialize", e.fileAction(id, "c.json", "INITIALIZE", ""), 201, "")
	wantStatus(t, "chunk 2", e.patch(id, "c.json", 3, "45\n", "*"), 200, "")
	wantStatus(t, "chunk 1", e.patch(id, "c.json", 0, "{\"x", "*"), 200, "")
	wantStatus(t, "complete c", e.fileAction(id, "c.json", "COMPLETE", ""), 201, "")
	wantStatus(t, "big", e.put(id, "big.json", []byte(strings.Repeat("b", maxInlineBytes+1))), 200, "")
	wantStatus(t, "initialize big chunked", e.fileAction(id, "bc.json", "INITIALIZE", ""), 201, "")
	half := strings.Repeat("c", maxInlineBytes/2+1)
	wantStatus(t, "big chunk 1", e.patch(id, "bc.json", 0, half, "*"), 200, "")
	wantStatus(t, "big chunk 2", e.patch(id, "bc.json", len(half), half, "*"), 200, "")
	wantStatus(t, "complete bc", e.fileAction(id, "bc.json", "COMPLETE", ""), 201, "")
	wantStatus(t, "initialize open", e.fileAction(id, "open.json", "INITIALIZE", ""), 201, "")

	get := func(href string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		_, query, _ := strings.Cut(href, "?")
		return e.do("GET "+exportBase+"/{batchId}/meta", map[string]string{"batchId": id}, query, nil, nil, false)
	}
	resp := get(metaHref(id, "input_files"))
	wantStatus(t, "input_files", resp, 200, "")
	var page metaPage
	json.Unmarshal([]byte(resp.Body), &page)
	links := map[string]string{}
	for _, d := range page.Data {
		links[d.Name] = d.Links["self"].Href
	}
	for name, want := range map[string]string{"day=1/a b+c.json": "{\"a\":1}\n", "c.json": "{\"x45\n"} {
		resp := get(links[name])
		body, _ := base64.StdEncoding.DecodeString(resp.Body)
		if resp.StatusCode != 200 || string(body) != want || resp.Headers["content-type"] != "application/octet-stream" {
			t.Errorf("%s via %s: %d %q %v", name, links[name], resp.StatusCode, body, resp.Headers)
		}
	}
	resp = get(links["big.json"])
	if resp.StatusCode != 307 || resp.Headers["location"] != "https://s3.test/"+stagingKey(id, testDS, "big.json")+"?op=get" {
		t.Errorf("big.json: %d %v", resp.StatusCode, resp.Headers)
	}
	wantStatus(t, "big chunked", get(links["bc.json"]), 400, "EXPORT-FILE-TOO-LARGE")
	wantStatus(t, "open chunked", get(links["open.json"]), 409, "EXPORT-FILE-INCOMPLETE")
	wantStatus(t, "unknown", get(metaHref(id, "input_files/nope.json")), 404, "EXPORT-FILE-NOT-FOUND")
	wantStatus(t, "empty name", get("?path=input_files/"), 400, "EXPORT-PATH")
	for _, q := range []string{"path=input_files/a%FFb.json", "path=input_files/a%0Ab", "path=row_errors/a%FEb.json", "path=row_errors/a%7F"} {
		wantStatus(t, q, get("?"+q), 400, "EXPORT-PATH")
	}
}

// TestContentRangeMessageCountsInWords: a chunk whose body does not match
// its range is refused with "1 byte" for one byte and "n bytes" otherwise.
func TestContentRangeMessageCountsInWords(t *testing.T) {
	e := newBatchEnv(t)
	id := e.create(`{"datasetId":"` + testDS + `","inputFormat":{"format":"json"}}`)
	wantStatus(t, "initialize", e.fileAction(id, "c.json", "INITIALIZE", ""), 201, "")
	for cr, want := range map[string]string{"bytes 0-0/*": "names 1 byte, the body holds 2", "bytes 0-2/*": "names 3 bytes, the body holds 2"} {
		resp := e.do("PATCH "+filesPath, fileParams(id, testDS, "c.json"), "", map[string]string{"content-range": cr}, []byte("{}"), true)
		wantStatus(t, cr, resp, 400, "BATCH-CONTENT-RANGE")
		var eb apigw.ErrorBody
		json.Unmarshal([]byte(resp.Body), &eb)
		if !strings.Contains(eb.Message, want) {
			t.Errorf("%s: message %q does not say %q", cr, eb.Message, want)
		}
	}
}

// TestOnlyAPIBatchesAreCompletedOrAborted: COMPLETE or ABORT of a
// streaming batch or of a dropped file's batch is 400 BATCH-NOT-API and
// writes no manifest (one without files would fail the batch it names).
func TestOnlyAPIBatchesAreCompletedOrAborted(t *testing.T) {
	e := newBatchEnv(t)
	ctx := context.Background()
	now := time.Date(2026, 2, 1, 0, 20, 0, 0, time.UTC)
	stream := catalog.NewStreamBatch(testDS, now, now)
	dropIn := catalog.Batch{ID: "0123456789abcdef01234567", DatasetID: testDS, Status: catalog.BatchProcessing, Origin: catalog.BatchOriginDropIn, Created: now.UnixMilli()}
	for _, b := range []catalog.Batch{stream, dropIn} {
		if err := e.m.PutBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		for _, act := range []string{"COMPLETE", "ABORT"} {
			wantStatus(t, b.Origin+" "+act, e.batchAction(b.ID, act), 400, "BATCH-NOT-API")
		}
		if e.s3.objects[ManifestKey(b.ID)] != nil {
			t.Errorf("a manifest was written for the %s batch", b.Origin)
		}
		if got, _ := e.m.GetBatch(ctx, b.ID); got.Status != catalog.BatchProcessing {
			t.Errorf("%s batch is %s, want it left processing", b.Origin, got.Status)
		}
	}
}
