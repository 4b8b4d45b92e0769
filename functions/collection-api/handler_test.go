package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

const (
	schemaID = "https://ns.adobe.com/mosaic/schemas/s1"
	dataset  = "ds1"
)

// testSpec is a profile dataset keyed by /personalEmail/address (Email,
// primary). Its Check refuses every top-level field other than
// personalEmail, identityMap and person, one violation each.
func testSpec() *catalog.IngestSpec {
	return &catalog.IngestSpec{
		DatasetID: dataset, SchemaID: schemaID, Class: catalog.ProfileClass, ProfileEnabled: true,
		Identities: []catalog.IdentityField{{Path: "/personalEmail/address", Namespace: "Email", Primary: true}},
		Check: func(row map[string]any) ([]catalog.Violation, bool) {
			var vs []catalog.Violation
			for k := range row {
				switch k {
				case "personalEmail", "identityMap", "person":
				default:
					vs = append(vs, catalog.Violation{Pointer: "/" + k, Code: "XDM-UNKNOWN-FIELD", Message: "field is not defined by the schema"})
				}
			}
			return vs, false
		},
	}
}

type fixture struct {
	h      *handler
	stream *fakeStream
	conns  *memConns
	specs  *fakeSpecs
	waits  []time.Duration
	ctx    context.Context // of the calls; nil is context.Background()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{stream: &fakeStream{}, conns: &memConns{conns: map[string]connection{}},
		specs: &fakeSpecs{specs: map[string]*catalog.IngestSpec{dataset: testSpec()}}}
	h, err := newService(service{
		stream: f.stream, streamName: "ingest", specs: f.specs,
		check: &ingest.Pipeline{Namespaces: f.specs}, conns: f.conns,
		sandbox: "prod", now: func() time.Time { return time.UnixMilli(1_700_000_000_000) },
		sleep: func(ctx context.Context, d time.Duration) error { f.waits = append(f.waits, d); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

func (f *fixture) inlet() string { return topology.DefaultInletID("", "prod") }

// call invokes the handler as API Gateway would for route and path.
func (f *fixture) call(t *testing.T, method, route, path, query, body string, params map[string]string) (int, map[string]any) {
	t.Helper()
	ctx := f.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	resp, err := f.h.Handle(ctx, events.APIGatewayV2HTTPRequest{
		RouteKey: method + " " + route, RawPath: path, RawQueryString: query, Body: body,
		PathParameters: params, Headers: map[string]string{"host": "api.example.com"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "req-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
			t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, resp.Body)
		}
	}
	return resp.StatusCode, out
}

func (f *fixture) post(t *testing.T, inlet, query, body string) (int, map[string]any) {
	return f.call(t, "POST", singlePath, "/collection/"+inlet, query, body, map[string]string{"inletId": inlet})
}

func (f *fixture) postBatch(t *testing.T, inlet, query string, msgs ...string) (int, map[string]any) {
	return f.call(t, "POST", batchPath, "/collection/batch/"+inlet, query, `{"messages":[`+strings.Join(msgs, ",")+`]}`, map[string]string{"inletId": inlet})
}

// message is an AEP streaming message of ds1 with the given xdmEntity.
func message(entity string) string {
	return `{"header":{"schemaRef":{"id":"` + schemaID + `","contentType":"application/vnd.adobe.xed-full+json;version=1"},"imsOrgId":"MOSAIC@AdobeOrg","datasetId":"` + dataset + `","source":{"name":"test"}},` +
		`"body":{"xdmMeta":{"schemaRef":{"id":"` + schemaID + `"}},"xdmEntity":` + entity + `}}`
}

func person(email string) string {
	return `{"personalEmail":{"address":"` + email + `"},"person":{"name":{"firstName":"Jane"}}}`
}

func TestSingleMessageIsPutWithItsIdentityAsPartitionKey(t *testing.T) {
	f := newFixture(t)
	msg := message(person(" Jane@Example.com "))
	status, out := f.post(t, f.inlet(), "", msg)
	if status != http.StatusOK {
		t.Fatalf("status %d %v", status, out)
	}
	if len(f.stream.puts) != 1 {
		t.Fatalf("%d records put, want 1", len(f.stream.puts))
	}
	p := f.stream.puts[0]
	if string(p.data) != msg {
		t.Errorf("record data %s, want the message as posted", p.data)
	}
	if p.key != "Email#jane@example.com" {
		t.Errorf("partition key %q, want the normalised primary identity Email#jane@example.com", p.key)
	}
	if ms, err := ingest.ParseMessages(p.data); err != nil || len(ms) != 1 || ms[0].Err != nil || ms[0].DatasetID != dataset {
		t.Errorf("stream-ingest would not read the record: %v %+v", err, ms)
	}
	want := map[string]any{"inletId": f.inlet(), "xactionId": "1700000000000:shardId-000000000000:" + p.seq,
		"receivedTimeMs": float64(1_700_000_000_000), "syncValidation": map[string]any{"skipped": true}}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("answer %v, want %v", out, want)
	}
}

func TestPartitionKeyFromIdentityMapAndFallback(t *testing.T) {
	f := newFixture(t)
	f.specs.specs["ds2"] = &catalog.IngestSpec{DatasetID: "ds2", SchemaID: schemaID, Class: catalog.ProfileClass, ProfileEnabled: true}
	byMap := strings.Replace(message(`{"identityMap":{"ECID":[{"id":"12345678901234567890123456789012345678","primary":true}],"Email":[{"id":"a@b.c"}]}}`), `"datasetId":"ds1"`, `"datasetId":"ds2"`, 1)
	noID := strings.Replace(message(`{"person":{}}`), `"datasetId":"ds1"`, `"datasetId":"ds2"`, 1)
	for _, body := range []string{byMap, noID, noID} {
		if status, out := f.post(t, f.inlet(), "", body); status != http.StatusOK {
			t.Fatalf("status %d %v", status, out)
		}
	}
	keys := []string{f.stream.puts[0].key, f.stream.puts[1].key, f.stream.puts[2].key}
	if keys[0] != "ECID#12345678901234567890123456789012345678" {
		t.Errorf("identityMap primary gives key %q", keys[0])
	}
	if !strings.HasPrefix(keys[1], "message:") || len(keys[1]) != len("message:")+64 || keys[1] != keys[2] {
		t.Errorf("a message without a primary identity gives keys %q, %q: want one stable message:<sha256>", keys[1], keys[2])
	}
}

func TestLongIdentityKeyIsHashedUnderKinesisLimit(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("a", 300) + "@example.com"
	for range 2 {
		if status, out := f.post(t, f.inlet(), "", message(person(long))); status != http.StatusOK {
			t.Fatalf("status %d %v", status, out)
		}
	}
	k := f.stream.puts[0].key
	if !strings.HasPrefix(k, "sha256:") || len(k) > maxPartitionKey || k != f.stream.puts[1].key {
		t.Errorf("keys %q, %q: want one sha256:<hex> of at most 256 characters", k, f.stream.puts[1].key)
	}
}

func TestSingleMessageRefusals(t *testing.T) {
	f := newFixture(t)
	big := message(`{"personalEmail":{"address":"a@b.c"},"person":{"x":"` + strings.Repeat("x", maxMessageBytes) + `"}}`)
	cases := []struct {
		name, inlet, body string
		status            int
		code              string
	}{
		{"unknown inlet", "00000000-0000-4000-8000-000000000000", message(person("a@b.c")), 404, codeInletNotFound},
		{"not an id", "nope", message(person("a@b.c")), 404, codeInletNotFound},
		{"missing body", f.inlet(), `{"header":{"datasetId":"ds1","schemaRef":{"id":"` + schemaID + `"}}}`, 400, ingest.CodeMessageBody},
		{"no xdmEntity", f.inlet(), `{"header":{"datasetId":"ds1"},"body":{"xdmMeta":{"schemaRef":{"id":"` + schemaID + `"}}}}`, 400, ingest.CodeMessageBody},
		{"no datasetId", f.inlet(), `{"header":{},"body":{"xdmEntity":{}}}`, 400, ingest.CodeMessageDataset},
		{"unknown dataset", f.inlet(), strings.Replace(message(person("a@b.c")), `"datasetId":"ds1"`, `"datasetId":"nope"`, 1), 400, codeDatasetUnknown},
		{"schema mismatch", f.inlet(), strings.ReplaceAll(message(person("a@b.c")), schemaID, schemaID+"x"), 400, ingest.CodeMessageSchema},
		{"header and body schemas differ", f.inlet(), strings.Replace(message(person("a@b.c")), `"xdmMeta":{"schemaRef":{"id":"`+schemaID, `"xdmMeta":{"schemaRef":{"id":"other`, 1), 400, ingest.CodeMessageSchema},
		{"not JSON", f.inlet(), `{"header":`, 400, ingest.CodeMessageJSON},
		{"a batch", f.inlet(), `{"messages":[` + message(person("a@b.c")) + `]}`, 400, codeNotSingle},
		{"over 1 MB", f.inlet(), big, 413, codeTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := f.post(t, c.inlet, "", c.body)
			if status != c.status || out["code"] != c.code || out["status"] != float64(c.status) {
				t.Fatalf("got %d %v, want %d %s", status, out, c.status, c.code)
			}
			if out["type"] != problemInlet {
				t.Errorf("type %v, want AEP's problem type", out["type"])
			}
			rep, _ := out["report"].(map[string]any)
			if msg, _ := rep["message"].(string); !strings.HasPrefix(msg, "inletId: [") {
				t.Errorf("report.message %q is not AEP's", msg)
			}
		})
	}
	if len(f.stream.puts) != 0 {
		t.Errorf("%d records put for refused messages", len(f.stream.puts))
	}
}

func TestSingleMessageStreamDown(t *testing.T) {
	f := newFixture(t)
	f.stream.failPut = errCallFailed
	status, out := f.post(t, f.inlet(), "", message(person("a@b.c")))
	if status != http.StatusServiceUnavailable || out["code"] != codeUnavailable {
		t.Fatalf("got %d %v, want 503", status, out)
	}
}

// TestSyncValidationParameter: a value other than true/false/1/0, or the
// parameter twice, is 400 COLLECTION-PARAM on both routes and nothing is
// put: validation is never skipped silently.
func TestSyncValidationParameter(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{"syncValidation=yes", "syncValidation=false&syncValidation=true", "synchronousValidation=on", "syncValidation="} {
		if status, out := f.post(t, f.inlet(), q, message(person("a@x.y"))); status != http.StatusBadRequest || out["code"] != codeParam {
			t.Errorf("single, %s: %d %v", q, status, out)
		}
		if status, out := f.postBatch(t, f.inlet(), q, message(person("a@x.y"))); status != http.StatusBadRequest || out["code"] != codeParam {
			t.Errorf("batch, %s: %d %v", q, status, out)
		}
	}
	if len(f.stream.puts) != 0 {
		t.Errorf("%d messages put", len(f.stream.puts))
	}
	if status, _ := f.post(t, f.inlet(), "syncValidation=TRUE", message(person("a@x.y"))); status != http.StatusOK {
		t.Errorf("syncValidation=TRUE: %d", status)
	}
}

// TestSyncValidationChecksTheIdentityDataset: with syncValidation, a
// message whose identity dataset stream-ingest would refuse is refused at
// once, and nothing is put.
func TestSyncValidationChecksTheIdentityDataset(t *testing.T) {
	f := newFixture(t)
	msg := strings.Replace(message(person("a@x.y")), `"source":`, `"operations":{"data":"merge","identity":"create","identityDatasetId":"nope"},"source":`, 1)
	status, out := f.post(t, f.inlet(), "syncValidation=true", msg)
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), ingest.CodeMessageIdentityDataset) {
		t.Errorf("%d %v, want 400 %s", status, out, ingest.CodeMessageIdentityDataset)
	}
	if len(f.stream.puts) != 0 {
		t.Errorf("%d messages put", len(f.stream.puts))
	}
}

func TestSyncValidation(t *testing.T) {
	f := newFixture(t)
	bad := message(`{"personalEmail":{"address":"a@b.c"},"f1":1,"f2":2,"f3":3,"f4":4,"f5":5,"f6":6,"f7":7}`)
	for _, q := range []string{"syncValidation=true", "synchronousValidation=true"} {
		status, out := f.post(t, f.inlet(), q, bad)
		if status != http.StatusBadRequest {
			t.Fatalf("%s: status %d %v", q, status, out)
		}
		if out["type"] != problemInlet || out["title"] != "Invalid XDM Message Format" || out["status"] != float64(400) {
			t.Errorf("%s: answer %v is not AEP's problem", q, out)
		}
		sv := out["report"].(map[string]any)["cause"].(map[string]any)["_streamingValidation"].([]any)
		top := sv[0].(map[string]any)
		causes := top["causingExceptions"].([]any)
		if len(causes) != maxSyncViolations {
			t.Errorf("%s: %d causingExceptions, want AEP's at most %d", q, len(causes), maxSyncViolations)
		}
		if top["message"] != "7 schema violations found" {
			t.Errorf("%s: message %v", q, top["message"])
		}
		c0 := causes[0].(map[string]any)
		if c0["pointerToViolation"] != "#/f1" || c0["schemaLocation"] != "#/properties/f1" || c0["keyword"] != "XDM-UNKNOWN-FIELD" {
			t.Errorf("%s: first cause %v", q, c0)
		}
	}
	// A refusal that is not a schema violation: no primary identity.
	status, out := f.post(t, f.inlet(), "syncValidation=true", message(`{"person":{}}`))
	if status != http.StatusBadRequest {
		t.Fatalf("status %d %v", status, out)
	}
	causes := out["report"].(map[string]any)["cause"].(map[string]any)["_streamingValidation"].([]any)[0].(map[string]any)["causingExceptions"].([]any)
	if len(causes) != 1 || causes[0].(map[string]any)["keyword"] != out["code"] {
		t.Errorf("causes %v, want the pipeline's refusal %v", causes, out["code"])
	}
	if len(f.stream.puts) != 0 {
		t.Fatalf("%d records put for messages that failed validation", len(f.stream.puts))
	}
	status, out = f.post(t, f.inlet(), "syncValidation=true", message(person("a@b.c")))
	if status != http.StatusOK || fmt.Sprint(out["syncValidation"]) != fmt.Sprint(map[string]any{"status": "pass"}) || len(f.stream.puts) != 1 {
		t.Fatalf("valid message: %d %v, %d puts", status, out, len(f.stream.puts))
	}
	// Without syncValidation, an invalid message is accepted (it becomes
	// a failed record of the stream).
	if status, _ := f.post(t, f.inlet(), "syncValidation=false", bad); status != http.StatusOK {
		t.Fatalf("asynchronous invalid message: %d", status)
	}
}

func batchResponses(t *testing.T, out map[string]any) []map[string]any {
	t.Helper()
	rs, _ := out["responses"].([]any)
	var res []map[string]any
	for _, r := range rs {
		res = append(res, r.(map[string]any))
	}
	return res
}

func TestBatchMixesResultsInOrder(t *testing.T) {
	f := newFixture(t)
	big := message(`{"personalEmail":{"address":"a@b.c"},"person":{"x":"` + strings.Repeat("x", maxMessageBytes) + `"}}`)
	status, out := f.postBatch(t, f.inlet(), "",
		message(person("a@b.c")),
		`{"header":{"datasetId":"ds1"}}`,
		big,
		strings.Replace(message(person("a@b.c")), `"datasetId":"ds1"`, `"datasetId":"nope"`, 1),
		message(person("d@e.f")),
	)
	if status != http.StatusMultiStatus {
		t.Fatalf("status %d %v", status, out)
	}
	rs := batchResponses(t, out)
	if len(rs) != 5 {
		t.Fatalf("%d responses, want 5", len(rs))
	}
	wantStatus := []float64{0, 400, 413, 400, 0}
	for i, r := range rs {
		if wantStatus[i] == 0 {
			if x, _ := r["xactionId"].(string); !strings.HasPrefix(x, "1700000000000:shardId-000000000000:") || r["statusCode"] != nil {
				t.Errorf("response %d: %v, want a xactionId", i, r)
			}
			continue
		}
		if r["statusCode"] != wantStatus[i] || !strings.HasPrefix(r["message"].(string), "inletId: [") {
			t.Errorf("response %d: %v, want statusCode %v", i, r, wantStatus[i])
		}
	}
	if len(f.stream.puts) != 2 || f.stream.puts[0].key != "Email#a@b.c" || f.stream.puts[1].key != "Email#d@e.f" {
		t.Errorf("puts %+v", f.stream.puts)
	}
	if out["inletId"] != f.inlet() || out["receivedTimeMs"] != float64(1_700_000_000_000) || out["batchId"] == "" {
		t.Errorf("answer %v", out)
	}
}

func TestBatchRetriesFailedEntries(t *testing.T) {
	f := newFixture(t)
	// b@ fails twice then passes; c@ always fails.
	f.stream.failEntry = func(key string, attempt int) bool {
		return key == "Email#b@x.y" && attempt <= 2 || key == "Email#c@x.y"
	}
	status, out := f.postBatch(t, f.inlet(), "", message(person("a@x.y")), message(person("b@x.y")), message(person("c@x.y")), message(person("c@x.y")), message(person("d@x.y")))
	if status != http.StatusMultiStatus {
		t.Fatalf("status %d %v", status, out)
	}
	rs := batchResponses(t, out)
	for i, want := range []float64{0, 0, 503, 503, 0} {
		if got, _ := rs[i]["statusCode"].(float64); got != want {
			t.Errorf("response %d: %v, want statusCode %v", i, rs[i], want)
		}
	}
	// c@'s second message is never put after its first failed.
	if n := f.stream.attempts["Email#c@x.y"]; n != putAttempts {
		t.Errorf("c@ was tried %d times, want %d (the first message only)", n, putAttempts)
	}
	var keys []string
	for _, p := range f.stream.puts {
		keys = append(keys, p.key)
	}
	if got := strings.Join(keys, ","); got != "Email#a@x.y,Email#d@x.y,Email#b@x.y" {
		t.Errorf("put %s", got)
	}
	if len(f.waits) != putAttempts-1 {
		t.Errorf("%d waits between attempts, want %d", len(f.waits), putAttempts-1)
	}
	for i, w := range f.waits {
		if w <= 0 || w > firstBackoff<<i {
			t.Errorf("wait %d is %v, want in (0, %v]", i, w, firstBackoff<<i)
		}
	}
}

func TestBatchKeepsAnIdentitysOrderAcrossCalls(t *testing.T) {
	f := newFixture(t)
	status, out := f.postBatch(t, f.inlet(), "", message(person("a@x.y")), message(person("b@x.y")), message(`{"personalEmail":{"address":"a@x.y"},"person":{"n":2}}`))
	if status != http.StatusMultiStatus {
		t.Fatalf("status %d %v", status, out)
	}
	if fmt.Sprint(f.stream.calls) != "[2 1]" {
		t.Errorf("calls %v: want the second message of a@ in a call of its own, after the first", f.stream.calls)
	}
	if !strings.Contains(string(f.stream.puts[2].data), `"n":2`) {
		t.Errorf("a@'s second message is not last: %s", f.stream.puts[2].data)
	}
}

// TestBatchStopsBeforeItsDeadline: no PutRecords call starts with less
// than putMargin left; the messages not put are answered 503 (and the
// later messages of their identity too), the ones put keep their ids.
func TestBatchStopsBeforeItsDeadline(t *testing.T) {
	f := newFixture(t)
	base := time.Now()
	deadline := base.Add(putMargin + 1500*time.Millisecond)
	f.h.now = func() time.Time { return base.Add(time.Duration(len(f.stream.calls)) * time.Second) } // each call takes 1 s
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	f.ctx = ctx
	msgs := make([]string, 4)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf(`{"personalEmail":{"address":"a@x.y"},"person":{"n":%d}}`, i))
	}
	status, out := f.postBatch(t, f.inlet(), "", msgs...)
	rs := batchResponses(t, out)
	if status != http.StatusMultiStatus || len(rs) != 4 {
		t.Fatalf("%d %v", status, out)
	}
	for i, r := range rs {
		put := r["xactionId"] != nil
		if want := i < 2; put != want || (!want && r["statusCode"] != 503.0) {
			t.Errorf("message %d: %v, want put %v (else 503)", i, r, want)
		}
	}
	if fmt.Sprint(f.stream.calls) != "[1 1]" {
		t.Errorf("calls %v, want two of one message each", f.stream.calls)
	}
}

func TestBatchWholeCallFailureIsRetried(t *testing.T) {
	f := newFixture(t)
	f.stream.failCall = func(call int) error {
		if call == 1 {
			return errCallFailed
		}
		return nil
	}
	status, out := f.postBatch(t, f.inlet(), "", message(person("a@x.y")))
	if rs := batchResponses(t, out); status != 207 || rs[0]["xactionId"] == nil {
		t.Fatalf("%d %v", status, out)
	}
}

func TestBatchSplitsCallsAt500Records(t *testing.T) {
	f := newFixture(t)
	var msgs []string
	for i := range 1201 {
		msgs = append(msgs, message(person(fmt.Sprintf("u%d@x.y", i))))
	}
	status, out := f.postBatch(t, f.inlet(), "", msgs...)
	if status != 207 || len(batchResponses(t, out)) != 1201 {
		t.Fatalf("status %d", status)
	}
	if fmt.Sprint(f.stream.calls) != "[500 500 201]" {
		t.Errorf("calls %v, want [500 500 201]", f.stream.calls)
	}
}

func TestBatchSplitsCallsAt5MB(t *testing.T) {
	f := newFixture(t)
	var msgs []string
	for i := range 12 {
		msgs = append(msgs, message(`{"personalEmail":{"address":"u`+fmt.Sprint(i)+`@x.y"},"person":{"x":"`+strings.Repeat("x", 450_000)+`"}}`))
	}
	status, _ := f.postBatch(t, f.inlet(), "", msgs...)
	if status != 207 {
		t.Fatalf("status %d", status)
	}
	if fmt.Sprint(f.stream.calls) != "[11 1]" {
		t.Errorf("calls %v, want [11 1] (at most 5 MiB each)", f.stream.calls)
	}
}

func TestBatchRefusesSyncValidationAndBadBodies(t *testing.T) {
	f := newFixture(t)
	status, out := f.postBatch(t, f.inlet(), "syncValidation=true", message(person("a@b.c")))
	if status != http.StatusNotImplemented || out["code"] != codeSyncBatch {
		t.Errorf("syncValidation on batch: %d %v, want 501", status, out)
	}
	for body, code := range map[string]string{`{"messages":[]}`: codeNoMessages, `[1]`: codeBatchBody, `{}`: codeNoMessages} {
		status, out := f.call(t, "POST", batchPath, "/collection/batch/"+f.inlet(), "", body, map[string]string{"inletId": f.inlet()})
		if status != 400 || out["code"] != code {
			t.Errorf("%s: %d %v, want 400 %s", body, status, out, code)
		}
	}
	if status, out := f.postBatch(t, "00000000-0000-4000-8000-000000000000", "", message(person("a@b.c"))); status != 404 {
		t.Errorf("unknown inlet: %d %v", status, out)
	}
	if len(f.stream.puts) != 0 {
		t.Errorf("%d records put", len(f.stream.puts))
	}
}

func TestBatchTransientCatalogFailureIs503PerMessage(t *testing.T) {
	f := newFixture(t)
	f.specs.err = fault.E(fault.Unavailable, "STORE-UNAVAILABLE", "down")
	status, out := f.postBatch(t, f.inlet(), "", message(person("a@b.c")))
	if rs := batchResponses(t, out); status != 207 || rs[0]["statusCode"] != float64(503) {
		t.Fatalf("%d %v", status, out)
	}
}

func TestConnections(t *testing.T) {
	f := newFixture(t)
	body := `{"name":"POS","providerId":"521eee4d-8cbe-4906-bb48-fb6bd4450033","description":"point of sale",
	  "connectionSpec":{"id":"bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb","version":"1.0"},
	  "auth":{"specName":"Streaming Connection","params":{"sourceId":"pos","dataType":"xdm","name":"POS inlet"}}}`
	status, out := f.call(t, "POST", connsPath, connsPath, "", body, nil)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, out)
	}
	id, _ := out["id"].(string)
	if !validConnectionID(id) || out["etag"] == "" || len(out) != 2 {
		t.Fatalf("create answer %v, want {id, etag}", out)
	}
	status, out = f.call(t, "GET", connsPath+"/{id}", connsPath+"/"+id, "", "", map[string]string{"id": id})
	items, _ := out["items"].([]any)
	if status != 200 || len(items) != 1 {
		t.Fatalf("get: %d %v", status, out)
	}
	c := items[0].(map[string]any)
	params := c["auth"].(map[string]any)["params"].(map[string]any)
	if c["id"] != id || params["inletId"] != id || params["inletUrl"] != "https://api.example.com/collection/"+id || params["name"] != "POS inlet" || params["sourceId"] != "pos" {
		t.Errorf("connection %v", c)
	}
	status, out = f.call(t, "GET", connsPath, connsPath, "", "", nil)
	items, _ = out["items"].([]any)
	if status != 200 || len(items) != 2 || items[0].(map[string]any)["id"] != f.inlet() || items[1].(map[string]any)["id"] != id {
		t.Errorf("list: %d %v, want the stack's inlet then the created one", status, out)
	}
	// The new connection is an inlet at once; its lookup is remembered.
	for range 2 {
		if status, out := f.post(t, id, "", message(person("a@b.c"))); status != 200 {
			t.Fatalf("post to the new inlet: %d %v", status, out)
		}
	}
	if f.conns.gets != 2 { // one by GET /connections/{id}, one by the first post
		t.Errorf("%d store reads, want 2", f.conns.gets)
	}
	status, out = f.call(t, "GET", connsPath+"/{id}", connsPath+"/"+f.inlet(), "", "", map[string]string{"id": f.inlet()})
	if status != 200 {
		t.Errorf("get the stack's inlet: %d %v", status, out)
	}
	status, out = f.call(t, "GET", connsPath+"/{id}", connsPath+"/x", "", "", map[string]string{"id": "00000000-0000-4000-8000-000000000000"})
	if status != 404 || out["code"] != codeConnNotFound {
		t.Errorf("get unknown: %d %v", status, out)
	}
}

func TestConnectionRefusals(t *testing.T) {
	f := newFixture(t)
	spec := `"connectionSpec":{"id":"bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb","version":"1.0"}`
	cases := map[string]string{
		`{"name":"x","connectionSpec":{"id":"other"},"auth":{"params":{"name":"x"}}}`: codeConnSpec,
		`{"name":"x","auth":{"params":{"name":"x"}}}`:                                 codeConnSpec,
		`{` + spec + `,"auth":{"params":{}}}`:                                         codeConnName,
		`{` + spec + `,"auth":{"params":{"name":"x","dataType":"raw"}}}`:              codeConnDataType,
		`{` + spec + `,"auth":{"params":{"name":"x","authenticationRequired":true}}}`: codeConnAuth,
		`{` + spec + `,"auth":{"params":{"name":"x"}},"bogus":1}`:                     "REQ-JSON",
	}
	for body, code := range cases {
		status, out := f.call(t, "POST", connsPath, connsPath, "", body, nil)
		if status != 400 || out["code"] != code {
			t.Errorf("%s: %d %v, want 400 %s", body, status, out, code)
		}
	}
	if len(f.conns.conns) != 0 {
		t.Errorf("%d connections stored", len(f.conns.conns))
	}
}
