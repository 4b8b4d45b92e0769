//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// flowConnections is Flow Service's connections route.
const flowConnections = "/data/foundation/flowservice/connections"

// aepStreamer is a client of AEP's streaming API as its documentation
// writes one: messages in AEP's envelope posted to
// <base>/collection/{inletId} or /collection/batch/{inletId}. Only the base
// URL and the signature (SigV4, through call) differ from AEP.
type aepStreamer struct {
	inlet string
}

// envelope wraps an XDM entity in AEP's streaming envelope.
func envelope(schemaID, dataset string, entity map[string]any) map[string]any {
	ref := map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
	return map[string]any{
		"header": map[string]any{
			"schemaRef": ref, "imsOrgId": "MOSAIC@AdobeOrg", "datasetId": dataset,
			"source": map[string]any{"name": "e2e"}, "createdAt": time.Now().UnixMilli(),
		},
		"body": map[string]any{"xdmMeta": map[string]any{"schemaRef": ref}, "xdmEntity": entity},
	}
}

func (c aepStreamer) send(t *testing.T, msg any, query string) apiResponse {
	t.Helper()
	return call(t, "POST", "/collection/"+c.inlet+query, msg, "")
}

func (c aepStreamer) sendBatch(t *testing.T, query string, msgs ...any) apiResponse {
	t.Helper()
	return call(t, "POST", "/collection/batch/"+c.inlet+query, map[string]any{"messages": msgs}, "")
}

// stackInlet is the stack's own inlet: the first streaming connection
// Flow Service lists.
func stackInlet(t *testing.T) string {
	t.Helper()
	var conns map[string]any
	must(t, http.StatusOK, "GET", flowConnections, nil).decode(t, &conns)
	items, _ := conns["items"].([]any)
	if len(items) == 0 {
		t.Fatalf("no streaming connection listed: %v", conns)
	}
	id, _ := dig(items[0], "id").(string)
	if id == "" || dig(items[0], "auth", "params", "inletId") != id {
		t.Fatalf("first connection %v has no inlet id", items[0])
	}
	return id
}

// waitProfile polls the Profile Access API until the identity's profile
// has the first name.
func waitProfile(t *testing.T, email, firstName string) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, 30*time.Second, "the profile of "+email, func() error {
		status, p := lookup(t, "Email", email)
		if !found(status, p) {
			return errorf("no profile data yet (lookup status %d)", status)
		}
		if got := dig(p, "entity", "person", "name", "firstName"); got != firstName {
			return errorf("firstName = %v, want %s", got, firstName)
		}
		return nil
	})
	return time.Since(start)
}

func personEntity(email, firstName string) map[string]any {
	return map[string]any{
		"personalEmail": map[string]any{"address": email},
		"person":        map[string]any{"name": map[string]any{"firstName": firstName}},
	}
}

// TestCollectionEndpoint streams records over HTTPS as an AEP client does,
// to the stack's inlet and to one created through Flow Service, and reads
// them back through the Profile Access API.
func TestCollectionEndpoint(t *testing.T) {
	n := time.Now().UnixNano()
	schemaID := createProfileSchema(t, fmt.Sprintf("Streamed customers %d", n))
	ds := createDataset(t, "Streamed customers", schemaID)
	stack := aepStreamer{inlet: stackInlet(t)}

	t.Run("single message", func(t *testing.T) {
		email := fmt.Sprintf("single%d@example.com", n)
		var out map[string]any
		r := stack.send(t, envelope(schemaID, ds, personEntity(email, "Ana")), "")
		if r.Status != http.StatusOK {
			t.Fatalf("POST /collection = %d %s", r.Status, r.Body)
		}
		r.decode(t, &out)
		if out["inletId"] != stack.inlet || dig(out, "syncValidation", "skipped") != true {
			t.Errorf("answer %v", out)
		}
		if x, _ := out["xactionId"].(string); strings.Count(x, ":") != 2 {
			t.Errorf("xactionId %q is not <receivedTimeMs>:<shard>:<sequence>", x)
		}
		if ms, _ := out["receivedTimeMs"].(float64); time.Since(time.UnixMilli(int64(ms))).Abs() > time.Minute {
			t.Errorf("receivedTimeMs %v is not now", out["receivedTimeMs"])
		}
		t.Logf("single message readable through the Profile Access API %v after its 200", waitProfile(t, email, "Ana"))
	})

	t.Run("syncValidation", func(t *testing.T) {
		email := fmt.Sprintf("sync%d@example.com", n)
		bad := personEntity(email, "Bea")
		bad["loyaltyTier"] = "gold"
		bad["person"] = map[string]any{"name": map[string]any{"firstName": 42}}
		for _, q := range []string{"?syncValidation=true", "?synchronousValidation=true"} {
			r := stack.send(t, envelope(schemaID, ds, bad), q)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("%s: %d %s, want 400", q, r.Status, r.Body)
			}
			var p map[string]any
			r.decode(t, &p)
			if p["type"] != "http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet" || p["status"] != float64(400) || p["title"] != "Invalid XDM Message Format" {
				t.Errorf("%s: %v is not AEP's problem", q, p)
			}
			sv, _ := dig(p, "report", "cause", "_streamingValidation").([]any)
			if len(sv) != 1 {
				t.Fatalf("%s: _streamingValidation %v", q, dig(p, "report"))
			}
			causes, _ := dig(sv[0], "causingExceptions").([]any)
			if len(causes) == 0 || len(causes) > 5 {
				t.Errorf("%s: %d causingExceptions, want 1 to 5: %v", q, len(causes), sv[0])
			}
			for _, c := range causes {
				if ptr, _ := dig(c, "pointerToViolation").(string); !strings.HasPrefix(ptr, "#/") || dig(c, "message") == "" {
					t.Errorf("%s: cause %v", q, c)
				}
			}
		}
		var out map[string]any
		r := stack.send(t, envelope(schemaID, ds, personEntity(email, "Bea")), "?syncValidation=true")
		if r.Status != http.StatusOK {
			t.Fatalf("valid message with syncValidation: %d %s", r.Status, r.Body)
		}
		if r.decode(t, &out); dig(out, "syncValidation", "status") != "pass" {
			t.Errorf("answer %v, want syncValidation.status pass", out)
		}
		waitProfile(t, email, "Bea")
	})

	t.Run("refusals", func(t *testing.T) {
		big := personEntity("big@example.com", strings.Repeat("x", 1<<20))
		r := stack.send(t, envelope(schemaID, ds, big), "")
		if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.Body), "COLLECTION-MESSAGE-TOO-LARGE") {
			t.Errorf("message over 1 MB: %d %s, want 413", r.Status, r.Body)
		}
		if r := (aepStreamer{inlet: "00000000-0000-4000-8000-000000000000"}).send(t, envelope(schemaID, ds, personEntity("x@example.com", "X")), ""); r.Status != http.StatusNotFound {
			t.Errorf("unknown inlet: %d %s, want 404", r.Status, r.Body)
		}
		noBody := map[string]any{"header": map[string]any{"datasetId": ds, "schemaRef": map[string]any{"id": schemaID}}}
		if r := stack.send(t, noBody, ""); r.Status != http.StatusBadRequest {
			t.Errorf("missing body: %d %s, want 400", r.Status, r.Body)
		}
		if r := stack.sendBatch(t, "?syncValidation=true", envelope(schemaID, ds, personEntity("x@example.com", "X"))); r.Status != http.StatusNotImplemented {
			t.Errorf("syncValidation on the batch route: %d %s, want 501", r.Status, r.Body)
		}
		if r := callUnsigned(t, "POST", "/collection/"+stack.inlet); r.Status != http.StatusForbidden {
			t.Errorf("unsigned post: %d %s, want 403", r.Status, r.Body)
		}
	})

	t.Run("batch on a created inlet", func(t *testing.T) {
		var created map[string]any
		must(t, http.StatusCreated, "POST", flowConnections, map[string]any{
			"name": "e2e inlet", "providerId": "521eee4d-8cbe-4906-bb48-fb6bd4450033",
			"connectionSpec": map[string]any{"id": "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb", "version": "1.0"},
			"auth": map[string]any{"specName": "Streaming Connection",
				"params": map[string]any{"sourceId": "e2e", "dataType": "xdm", "name": "e2e inlet"}},
		}).decode(t, &created)
		id, _ := created["id"].(string)
		if id == "" || created["etag"] == nil {
			t.Fatalf("create connection answer %v", created)
		}
		var got map[string]any
		must(t, http.StatusOK, "GET", flowConnections+"/"+id, nil).decode(t, &got)
		if items, _ := got["items"].([]any); len(items) != 1 || dig(items[0], "auth", "params", "inletId") != id {
			t.Errorf("GET connection %v", got)
		}

		inlet := aepStreamer{inlet: id}
		c, d := fmt.Sprintf("batchc%d@example.com", n), fmt.Sprintf("batchd%d@example.com", n)
		r := inlet.sendBatch(t, "",
			envelope(schemaID, ds, personEntity(c, "Cleo")),
			map[string]any{"header": map[string]any{"datasetId": ds, "schemaRef": map[string]any{"id": schemaID}}},
			envelope(schemaID, "no-such-dataset", personEntity(c, "Nope")),
			envelope("https://ns.adobe.com/mosaic/schemas/other", ds, personEntity(c, "Nope")),
			envelope(schemaID, ds, personEntity(d, "Dora")),
		)
		if r.Status != http.StatusMultiStatus {
			t.Fatalf("batch: %d %s, want 207", r.Status, r.Body)
		}
		var out map[string]any
		r.decode(t, &out)
		rs, _ := out["responses"].([]any)
		if len(rs) != 5 || out["inletId"] != id {
			t.Fatalf("batch answer %s", r.Body)
		}
		for i, want := range []float64{0, 400, 400, 400, 0} {
			if want == 0 {
				if x, _ := dig(rs[i], "xactionId").(string); x == "" {
					t.Errorf("response %d: %v, want a xactionId", i, rs[i])
				}
				continue
			}
			if dig(rs[i], "statusCode") != want {
				t.Errorf("response %d: %v, want statusCode %v", i, rs[i], want)
			}
		}
		waitProfile(t, c, "Cleo")
		waitProfile(t, d, "Dora")
	})
}

// TestCollectionBodyLimit measures the largest batch request the API lets
// through to the function: API Gateway takes 10 MB, but the function's
// event, which holds the body as a JSON string, must fit Lambda's 6 MB
// request payload. The messages name no dataset, so nothing is put.
func TestCollectionBodyLimit(t *testing.T) {
	stack := aepStreamer{inlet: stackInlet(t)}
	// body builds a batch of n bytes whose content JSON does not escape.
	body := func(n int) string {
		msg := `{"header":{"datasetId":"none"},"body":{"xdmEntity":{"x":"` + strings.Repeat("x", 512*1024) + `"}}}`
		var b strings.Builder
		b.WriteString(`{"messages":[`)
		for b.Len()+len(msg)+3 < n {
			if b.Len() > len(`{"messages":[`) {
				b.WriteString(",")
			}
			b.WriteString(msg)
		}
		if b.Len() > len(`{"messages":[`) {
			b.WriteString(",")
		}
		rest := n - b.Len() - len(`{"header":{"datasetId":"none"},"body":{"xdmEntity":{"x":""}}}]}`)
		b.WriteString(`{"header":{"datasetId":"none"},"body":{"xdmEntity":{"x":"` + strings.Repeat("y", rest) + `"}}}]}`)
		return b.String()
	}
	passes := func(n int) bool {
		r := call(t, "POST", "/collection/batch/"+stack.inlet, body(n), "")
		switch r.Status {
		case http.StatusMultiStatus:
			return true
		case http.StatusRequestEntityTooLarge:
			return false
		}
		t.Fatalf("%d-byte batch: %d %s", n, r.Status, r.Body)
		return false
	}
	lo, hi := 5_000_000, 6_400_000
	if !passes(lo) || passes(hi) {
		t.Fatalf("a %d-byte batch should pass and a %d-byte one should not", lo, hi)
	}
	for hi-lo > 1024 {
		mid := (lo + hi) / 2
		if passes(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	t.Logf("batch bodies of %d bytes pass, %d bytes are 413 (JSON without escaped characters)", lo, hi)
	if lo < 6_000_000 {
		t.Errorf("only %d bytes pass: want close to Lambda's 6 MB", lo)
	}
}
