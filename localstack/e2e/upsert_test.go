//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Partial updates (docs/api.md, "Ingestion"): an upsert dataset takes
// every batch row as a JSON Merge Patch (RFC 7386) of its identity's
// fragment; a streamed message says create, merge or delete in
// header.operations.data. The expected states below are computed by the
// tests themselves, by applying the updates one after the other in
// ordering-time order with mergePatch. The tests run in parallel with
// one another: each has its own schema, datasets and identities.

// timeLayout writes extSourceSystemAudit.lastUpdatedDate, the ordering time.
const timeLayout = "2006-01-02T15:04:05.000Z"

// upsertSchema creates a profile schema for partial updates: person and
// personal details, identityMap, the external source system audit
// (extSourceSystemAudit.lastUpdatedDate) and a tenant field group holding
// an object (membership: tier, points) and an array of strings
// (interests), with personalEmail.address the primary Email identity; it
// is enabled for Profile. It returns the schema's $id and the tenant's
// field ("_mosaic" with the default tenant).
func upsertSchema(t *testing.T, title string) (schemaID, tenant string) {
	t.Helper()
	var stats map[string]any
	must(t, http.StatusOK, "GET", registry+"/stats", nil).decode(t, &stats)
	tid, _ := stats["tenantId"].(string)
	if tid == "" {
		t.Fatalf("stats %v name no tenant", stats)
	}
	tenant = "_" + tid
	var fg map[string]any
	must(t, http.StatusCreated, "POST", registry+"/tenant/fieldgroups", map[string]any{
		"title": title + " fields", "type": "object",
		"meta:intendedToExtend": []any{"https://ns.adobe.com/xdm/context/profile"},
		"definitions": map[string]any{"upsert": map[string]any{"properties": map[string]any{
			tenant: map[string]any{"type": "object", "properties": map[string]any{
				"membership": map[string]any{"type": "object", "properties": map[string]any{
					"tier":   map[string]any{"type": "string"},
					"points": map[string]any{"type": "integer"},
				}},
				"interests": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			}},
		}}},
		"allOf": []any{map[string]any{"$ref": "#/definitions/upsert"}},
	}).decode(t, &fg)
	fgID, _ := fg["$id"].(string)
	if fgID == "" {
		t.Fatalf("field group answer %v has no $id", fg)
	}
	id, altID := createSchema(t, title,
		"https://ns.adobe.com/xdm/context/profile",
		"https://ns.adobe.com/xdm/context/profile-person-details",
		"https://ns.adobe.com/xdm/context/profile-personal-details",
		"https://ns.adobe.com/xdm/context/identitymap",
		"https://ns.adobe.com/xdm/common/external-source-system-audit-details",
		fgID)
	must(t, http.StatusCreated, "POST", registry+"/tenant/descriptors", map[string]any{
		"@type": "xdm:descriptorIdentity", "xdm:sourceSchema": id, "xdm:sourceVersion": 1,
		"xdm:sourceProperty": "/personalEmail/address", "xdm:namespace": "Email",
		"xdm:property": "xdm:code", "xdm:isPrimary": true,
	})
	enableForProfile(t, altID)
	return id, tenant
}

// createDatasetTagged creates a dataset of schemaID with tags and returns
// its id.
func createDatasetTagged(t *testing.T, name, schemaID string, tags map[string]any) string {
	t.Helper()
	var refs []string
	must(t, http.StatusCreated, "POST", catalogP+"/dataSets", map[string]any{
		"name":      name,
		"schemaRef": map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full+json;version=1"},
		"tags":      tags,
	}).decode(t, &refs)
	if len(refs) != 1 || !strings.HasPrefix(refs[0], "@/dataSets/") {
		t.Fatalf("dataset answer = %v, want [\"@/dataSets/<id>\"]", refs)
	}
	return strings.TrimPrefix(refs[0], "@/dataSets/")
}

// createUpsertDataset creates a Profile- and Identity-enabled upsert dataset.
func createUpsertDataset(t *testing.T, name, schemaID string) string {
	t.Helper()
	return createDatasetTagged(t, name, schemaID, map[string]any{
		"unifiedProfile":  []any{"enabled:true", "isUpsert:true"},
		"unifiedIdentity": []any{"enabled:true"},
	})
}

// streamMessage is an AEP streaming message for dataset with the given
// header.operations (none when nil).
func streamMessage(schemaID, dataset string, ops map[string]any, entity map[string]any) []byte {
	ref := map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
	header := map[string]any{"schemaRef": ref, "datasetId": dataset}
	if ops != nil {
		header["operations"] = ops
	}
	msg, _ := json.Marshal(map[string]any{
		"header": header,
		"body":   map[string]any{"xdmMeta": map[string]any{"schemaRef": ref}, "xdmEntity": entity},
	})
	return msg
}

var cliVersion struct {
	once sync.Once
	v2   bool
}

// cliIsV2 is cliV2, asked once.
func cliIsV2(t *testing.T) bool {
	t.Helper()
	cliVersion.once.Do(func() { cliVersion.v2 = cliV2(t) })
	return cliVersion.v2
}

// putRecordSeq puts one record with the AWS CLI and returns its sequence
// number. Records put one after the other under one partition key are in
// that order in their shard.
func putRecordSeq(t *testing.T, partitionKey string, data []byte) string {
	t.Helper()
	args := []string{"kinesis", "put-record", "--stream-name", tgt.Stream, "--partition-key", partitionKey, "--data", string(data)}
	if cliIsV2(t) {
		args = append(args, "--cli-binary-format", "raw-in-base64-out")
	}
	var put struct{ SequenceNumber string }
	if err := json.Unmarshal([]byte(awsCLI(t, args...)), &put); err != nil || put.SequenceNumber == "" {
		t.Fatalf("put-record answer: %v", err)
	}
	return put.SequenceNumber
}

// kinesisRecord is one entry of a PutRecords call.
type kinesisRecord struct {
	Data         string
	PartitionKey string
}

// putRecords puts records in one PutRecords call with the AWS CLI and
// returns their sequence numbers, in the order of recs.
func putRecords(t *testing.T, recs []kinesisRecord) []string {
	t.Helper()
	body, err := json.Marshal(map[string]any{"StreamName": tgt.Stream, "Records": recs})
	if err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(t.TempDir(), "records.json")
	if err := os.WriteFile(input, body, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"kinesis", "put-records", "--cli-input-json", "file://" + input}
	if cliIsV2(t) {
		args = append(args, "--cli-binary-format", "raw-in-base64-out")
	}
	var put struct {
		FailedRecordCount int
		Records           []struct{ SequenceNumber string }
	}
	if err := json.Unmarshal([]byte(awsCLI(t, args...)), &put); err != nil || put.FailedRecordCount != 0 || len(put.Records) != len(recs) {
		t.Fatalf("put-records: %v, %d of %d records refused", err, put.FailedRecordCount, len(recs))
	}
	seqs := make([]string, len(recs))
	for i, r := range put.Records {
		seqs[i] = r.SequenceNumber
	}
	return seqs
}

// flushShards waits until everything put on the stream so far under each
// partition key has been processed. It puts a create of a new identity
// (a sentinel) under each key, in one call made after those records were
// put, and waits for the sentinels' profiles: a key's records share a
// shard, a record put later has a later sequence number in its shard, and
// stream-ingest processes a shard in order, retrying from the first record
// that failed.
func flushShards(t *testing.T, schemaID, dataset string, keys ...string) {
	t.Helper()
	var sentinels []string
	var recs []kinesisRecord
	for i, k := range keys {
		email := fmt.Sprintf("sentinel%d-%d@flush.example.com", time.Now().UnixNano(), i)
		recs = append(recs, kinesisRecord{
			Data:         string(streamMessage(schemaID, dataset, nil, map[string]any{"personalEmail": map[string]any{"address": email}})),
			PartitionKey: k,
		})
		sentinels = append(sentinels, email)
	}
	putRecords(t, recs)
	start := time.Now()
	defer func() { t.Logf("flush of %d keys: %v", len(keys), time.Since(start)) }()
	eventually(t, 2*time.Minute, "the records before the sentinels processed", func() error {
		for _, e := range sentinels {
			if status, p := lookup(t, "Email", e); !found(status, p) {
				return errorf("sentinel %s: no profile data yet (lookup status %d)", e, status)
			}
		}
		return nil
	})
}

// getSigned is a signed GET without a testing.T, for use from several
// goroutines.
func getSigned(path string) (apiResponse, error) {
	req, err := http.NewRequest(http.MethodGet, tgt.APIURL+path, nil)
	if err != nil {
		return apiResponse{}, err
	}
	if tgt.Sandbox != "" {
		req.Header.Set("x-sandbox-name", tgt.Sandbox)
	}
	sum := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: tgt.AccessID, SecretAccessKey: tgt.Secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", tgt.Region, time.Now()); err != nil {
		return apiResponse{}, err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return apiResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return apiResponse{Status: resp.StatusCode, Body: b}, err
}

// entityOf reads the merged profile entity of an e-mail identity.
func entityOf(email string) (int, map[string]any, error) {
	q := url.Values{"schema.name": {"_xdm.context.profile"}, "entityId": {email}, "entityIdNS": {"Email"}}
	r, err := getSigned("/data/core/ups/access/entities?" + q.Encode())
	if err != nil || r.Status != http.StatusOK {
		return r.Status, nil, err
	}
	var answer map[string]map[string]any
	if err := json.Unmarshal(r.Body, &answer); err != nil || len(answer) != 1 {
		return r.Status, nil, fmt.Errorf("answer %.300s: %v", r.Body, err)
	}
	for _, v := range answer {
		e, _ := v["entity"].(map[string]any)
		return r.Status, e, nil
	}
	return r.Status, nil, nil
}

// settle bounds how long a state read just after its updates were
// processed may take to show them (a Query of DynamoDB is eventually
// consistent): a check of an expected state is retried until then, and
// a wrong state, which stays, still fails it.
const settle = 15 * time.Second

// checkProfiles reads the profile of every e-mail in want through the
// Profile Access API (four at a time) until each entity is exactly the
// visible part of its expected state, for at most settle, and reports
// those that are not; it returns whether all were.
func checkProfiles(t *testing.T, what string, want map[string]map[string]any) bool {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		bad := profileMismatches(want)
		n := len(bad)
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			sort.Strings(bad)
			if n > 10 {
				bad = append(bad[:10], "…")
			}
			t.Errorf("%s: %d of %d profiles not as expected:\n%s", what, n, len(want), strings.Join(bad, "\n"))
			return false
		}
		time.Sleep(500 * time.Millisecond) // polling a remote state with a deadline
	}
}

// profileMismatches reads the profile of every e-mail in want, four at a
// time, and describes each that is not its expected state.
func profileMismatches(want map[string]map[string]any) []string {
	emails := make([]string, 0, len(want))
	for e := range want {
		emails = append(emails, e)
	}
	var mu sync.Mutex
	var bad []string
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				status, got, err := entityOf(e)
				var problem string
				switch {
				case err != nil:
					problem = err.Error()
				case status != http.StatusOK:
					problem = fmt.Sprintf("lookup status %d", status)
				default:
					if d := diffJSON(normEntity(got), normEntity(visible(want[e]))); len(d) > 0 {
						problem = strings.Join(d, "; ")
					}
				}
				if problem != "" {
					mu.Lock()
					bad = append(bad, e+": "+problem)
					mu.Unlock()
				}
			}
		}()
	}
	for _, e := range emails {
		work <- e
	}
	close(work)
	wg.Wait()
	return bad
}

// wantNoData checks that an identity is answered as one Mosaic holds no
// data for: AEP's no-data entry, as for an identity nobody has sent,
// within settle.
func wantNoData(t *testing.T, what, email string) {
	t.Helper()
	if status, p := lookup(t, "Email", fmt.Sprintf("nobody%d@nodata.example.com", time.Now().UnixNano())); !isNoData(status, p) {
		t.Fatalf("lookup of an identity nobody sent = %d %v, want the no-data entry", status, p)
	}
	deadline := time.Now().Add(settle)
	for {
		status, p := lookup(t, "Email", email)
		if isNoData(status, p) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: lookup = %d %.300v, want the no-data entry of an identity with no data", what, status, p)
			return
		}
		time.Sleep(500 * time.Millisecond) // polling a remote state with a deadline
	}
}

// clone deep-copies a decoded JSON value.
func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = clone(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = clone(e)
		}
		return a
	case []string:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = e
		}
		return a
	}
	return v
}

// mergePatch applies patch to target as RFC 7386 says (section 2), with
// Mosaic's one difference: "" is no value at all (coercion drops it), so
// it changes nothing. target is not changed; the result is.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return clone(patch)
	}
	out, ok := clone(target).(map[string]any)
	if !ok {
		out = map[string]any{}
	}
	for k, v := range p {
		switch {
		case v == nil:
			delete(out, k)
		case v == "":
		default:
			out[k] = mergePatch(out[k], v)
		}
	}
	return out
}

// visible is what a profile shows of a state: empty values (null, "",
// [], objects of nothing but empty values) are absent (docs/api.md,
// "Merging").
func visible(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			if ve := visible(e); ve != nil {
				m[k] = ve
			}
		}
		if len(m) == 0 {
			return nil
		}
		return m
	case []any:
		if len(x) == 0 {
			return nil
		}
		return clone(x)
	case string:
		if x == "" {
			return nil
		}
	}
	return clone(v)
}

// normEntity is v as JSON decodes it, with
// extSourceSystemAudit.lastUpdatedDate as epoch ms, so that two spellings
// of one time compare equal.
func normEntity(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	if s, ok := dig(out, "extSourceSystemAudit", "lastUpdatedDate").(string); ok {
		if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
			out.(map[string]any)["extSourceSystemAudit"].(map[string]any)["lastUpdatedDate"] = float64(at.UnixMilli())
		}
	}
	return out
}

// diffJSON lists the JSON pointers where got and want differ, with both values.
func diffJSON(got, want any) []string {
	g, w := map[string]string{}, map[string]string{}
	flatten("", got, g)
	flatten("", want, w)
	var out []string
	for p, wv := range w {
		if gv, ok := g[p]; !ok {
			out = append(out, fmt.Sprintf("%s missing, want %s", p, wv))
		} else if gv != wv {
			out = append(out, fmt.Sprintf("%s = %s, want %s", p, gv, wv))
		}
	}
	for p, gv := range g {
		if _, ok := w[p]; !ok {
			out = append(out, fmt.Sprintf("%s = %s, want it absent", p, gv))
		}
	}
	sort.Strings(out)
	return out
}

func flatten(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok && len(m) > 0 {
		for k, e := range m {
			flatten(prefix+"/"+k, e, out)
		}
		return
	}
	b, _ := json.Marshal(v)
	out[prefix] = string(b)
}

// wantBatchOK checks that a batch ended success with n records in and
// out and none failed.
func wantBatchOK(t *testing.T, what string, b map[string]any, n int) {
	t.Helper()
	m, _ := b["metrics"].(map[string]any)
	if b["status"] != "success" || m["inputRecordCount"] != float64(n) || m["outputRecordCount"] != float64(n) || m["failedRecordCount"] != 0.0 {
		t.Fatalf("%s: batch %.600v, want success with %d records in and out", what, b, n)
	}
}

// apiBatchID is apiBatch that also returns the batch's id.
func apiBatchID(t *testing.T, ds string, format map[string]any, files map[string][]byte) (string, map[string]any) {
	t.Helper()
	var b map[string]any
	must(t, http.StatusCreated, "POST", importP, map[string]any{"datasetId": ds, "inputFormat": format}).decode(t, &b)
	id, _ := b["id"].(string)
	for name, body := range files {
		mustRaw(t, http.StatusOK, "PUT", filePath(id, ds, name), body, nil)
	}
	must(t, http.StatusOK, "POST", importP+"/"+id+"?action=COMPLETE", nil)
	return id, waitBatch(t, id, 2*time.Minute)
}

// jsonLines writes rows as JSON Lines.
func jsonLines(rows []map[string]any) []byte {
	var b bytes.Buffer
	for _, r := range rows {
		line, _ := json.Marshal(r)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// arrowParquet writes rows (JSON objects of Arrow's JSON form) as a
// Parquet file with Apache Arrow's writer.
func arrowParquet(t *testing.T, schema *arrow.Schema, rows []map[string]any) []byte {
	t.Helper()
	js, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := array.RecordFromJSON(memory.NewGoAllocator(), schema, bytes.NewReader(js))
	if err != nil {
		t.Fatalf("arrow record: %v", err)
	}
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUpsertFileCorrectsOneAttribute loads 1,000 profiles into an upsert
// dataset, then corrects one attribute of all of them with a JSON Lines
// file dropped into S3: every profile has the corrected value and every
// other attribute as loaded. Then one file of each other format, through
// the Batch Ingestion API, corrects another attribute of 100 profiles:
// a JSON array (first names; one row's null removes its last name,
// another's removes its whole mobile phone), CSV (membership points; an
// empty cell is no value, as CSV has no null, except inside the JSON text
// of an object column: one homeAddress cell removes a postal code),
// Parquet written by Apache Arrow (interests, an array, replaced whole by
// a shorter one; a null is no value and keeps one row's interests)
// and gzipped JSON Lines (mobile numbers; a null removes one membership
// tier, another one postal code, and "" leaves one last name as it was).
// A last JSON Lines file corrects birth years, with two rows refused: a
// null in identityMap (PATCH-IDENTITY-REMOVE) and a null at a path the
// schema does not define (XDM-UNKNOWN-FIELD). Every profile then is
// exactly what applying the files in order as merge patches gives, the
// refused rows left out. An experience event dataset cannot be an upsert
// dataset.
func TestUpsertFileCorrectsOneAttribute(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	schemaID, tn := upsertSchema(t, fmt.Sprintf("Upsert files %d", stamp))

	t.Run("event dataset refused", func(t *testing.T) {
		evID, evAlt := createSchema(t, fmt.Sprintf("Upsert events %d", stamp),
			"https://ns.adobe.com/xdm/context/experienceevent", "https://ns.adobe.com/xdm/context/identitymap")
		enableForProfile(t, evAlt)
		r := call(t, "POST", catalogP+"/dataSets", map[string]any{
			"name":      "Upsert events",
			"schemaRef": map[string]any{"id": evID, "contentType": "application/vnd.adobe.xed-full+json;version=1"},
			"tags":      map[string]any{"unifiedProfile": []any{"enabled:true", "isUpsert:true"}},
		}, "")
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "CATALOG-UPSERT-CLASS") {
			t.Errorf("upsert dataset of an event schema: %d %s, want 400 CATALOG-UPSERT-CLASS", r.Status, r.Body)
		}
	})

	ds := createUpsertDataset(t, "Upsert files", schemaID)
	const n = 1000
	mail := func(i int) string { return fmt.Sprintf("u%04d-%d@upsert.example.com", i, stamp) }
	want := map[string]map[string]any{}
	apply := func(rows []map[string]any) {
		for _, r := range rows {
			e := dig(r, "personalEmail", "address").(string)
			want[e] = mergePatch(want[e], r).(map[string]any)
		}
	}

	var load []map[string]any
	for i := range n {
		tier := "silver"
		if i%3 == 0 {
			tier = "gold"
		}
		load = append(load, map[string]any{
			"personalEmail": map[string]any{"address": mail(i)},
			"person": map[string]any{
				"name":      map[string]any{"firstName": fmt.Sprintf("First%d", i), "lastName": fmt.Sprintf("Last%d", i)},
				"birthYear": 1950 + i%50,
			},
			"homeAddress": map[string]any{"city": fmt.Sprintf("City%d", i), "postalCode": fmt.Sprintf("PC-%04d", i)},
			"mobilePhone": map[string]any{"number": fmt.Sprintf("+1 555 %04d", i)},
			tn: map[string]any{
				"membership": map[string]any{"tier": tier, "points": i * 10},
				"interests":  []any{fmt.Sprintf("golf%d", i), fmt.Sprintf("chess%d", i)},
			},
		})
	}
	wantBatchOK(t, "load", apiBatch(t, ds, map[string]any{"format": "json"}, map[string][]byte{"load.json": jsonLines(load)}), n)
	apply(load)

	// JSON Lines, dropped into S3: every city.
	var cities []map[string]any
	for i := range n {
		cities = append(cities, map[string]any{
			"personalEmail": map[string]any{"address": mail(i)},
			"homeAddress":   map[string]any{"city": fmt.Sprintf("Corrected City %d", i)},
		})
	}
	awsCLI(t, "s3", "cp", writeFile(t, "cities.json", string(jsonLines(cities))), fmt.Sprintf("s3://%s/ingest/%s/cities.json", tgt.Bucket, ds))
	for id, b := range waitBatches(t, ds, 2, 3*time.Minute) {
		b["id"] = id
		wantBatchOK(t, "cities", b, n) // the load's batch too
	}
	apply(cities)
	if !checkProfiles(t, "after the JSON Lines correction", want) {
		t.FailNow()
	}

	// JSON array: first names of 100..199.
	var names []map[string]any
	for i := 100; i < 200; i++ {
		row := map[string]any{
			"personalEmail": map[string]any{"address": mail(i)},
			"person":        map[string]any{"name": map[string]any{"firstName": fmt.Sprintf("Corrected%d", i)}},
		}
		switch i {
		case 100:
			row["person"].(map[string]any)["name"].(map[string]any)["lastName"] = nil
		case 101:
			row["mobilePhone"] = nil
		}
		names = append(names, row)
	}
	arr, _ := json.MarshalIndent(names, "", " ")
	wantBatchOK(t, "JSON array", apiBatch(t, ds, map[string]any{"format": "json", "isMultiLineJson": true}, map[string][]byte{"names.json": arr}), len(names))
	apply(names)

	// CSV: membership points of 200..299; every tenth cell is empty. The
	// homeAddress column, an object, takes JSON text: one row's removes a
	// postal code; its other cells are empty.
	var pointsRows []map[string]any
	var csvBody strings.Builder
	csvBody.WriteString("personalEmail.address," + tn + ".membership.points,homeAddress\r\n")
	for i := 200; i < 300; i++ {
		row := map[string]any{"personalEmail": map[string]any{"address": mail(i)}}
		cell, address := "", ""
		if i%10 != 7 {
			cell = fmt.Sprint(i * 100)
			row[tn] = map[string]any{"membership": map[string]any{"points": i * 100}}
		}
		if i == 205 {
			address = `"{""postalCode"":null}"`
			row["homeAddress"] = map[string]any{"postalCode": nil}
		}
		fmt.Fprintf(&csvBody, "%s,%s,%s\r\n", mail(i), cell, address)
		pointsRows = append(pointsRows, row)
	}
	wantBatchOK(t, "CSV", apiBatch(t, ds, map[string]any{"format": "csv"}, map[string][]byte{"points.csv": []byte(csvBody.String())}), len(pointsRows))
	apply(pointsRows)

	// Parquet (Apache Arrow's writer): interests of 300..399, one each;
	// one row's null is no value, so it keeps its interests.
	pqSchema := arrow.NewSchema([]arrow.Field{
		{Name: "personalEmail", Type: arrow.StructOf(arrow.Field{Name: "address", Type: arrow.BinaryTypes.String})},
		{Name: tn, Type: arrow.StructOf(arrow.Field{Name: "interests", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true})},
	}, nil)
	var interests, pqRows []map[string]any
	for i := 300; i < 400; i++ {
		who := map[string]any{"address": mail(i)}
		if i == 305 {
			pqRows = append(pqRows, map[string]any{"personalEmail": who, tn: map[string]any{"interests": nil}})
			interests = append(interests, map[string]any{"personalEmail": who})
			continue
		}
		row := map[string]any{"personalEmail": who, tn: map[string]any{"interests": []any{fmt.Sprintf("sailing%d", i)}}}
		pqRows = append(pqRows, row)
		interests = append(interests, row)
	}
	wantBatchOK(t, "Parquet", apiBatch(t, ds, map[string]any{"format": "parquet"},
		map[string][]byte{"interests.parquet": arrowParquet(t, pqSchema, pqRows)}), len(pqRows))
	apply(interests)

	// Gzipped JSON Lines: mobile numbers of 400..499.
	var phones []map[string]any
	for i := 400; i < 500; i++ {
		row := map[string]any{
			"personalEmail": map[string]any{"address": mail(i)},
			"mobilePhone":   map[string]any{"number": fmt.Sprintf("+44 20 %04d", i)},
		}
		switch i {
		case 400:
			row[tn] = map[string]any{"membership": map[string]any{"tier": nil}}
		case 401:
			row["homeAddress"] = map[string]any{"postalCode": nil}
		case 402:
			row["person"] = map[string]any{"name": map[string]any{"lastName": ""}}
		}
		phones = append(phones, row)
	}
	wantBatchOK(t, "gzip", apiBatch(t, ds, map[string]any{"format": "json"}, map[string][]byte{"phones.json.gz": gzipOf(t, jsonLines(phones))}), len(phones))
	apply(phones)

	// JSON Lines with two refused rows (2 of 100, within the 5% a batch
	// may refuse): birth years of 500..599, where the row of 550 also
	// holds a null in identityMap and the row of 560 a null at a path the
	// schema does not define; neither writes anything.
	var years, yearsWritten []map[string]any
	for i := 500; i < 600; i++ {
		row := map[string]any{
			"personalEmail": map[string]any{"address": mail(i)},
			"person":        map[string]any{"birthYear": 2000 + i%20},
		}
		switch i {
		case 550:
			row["identityMap"] = map[string]any{"Email": nil}
			row["person"].(map[string]any)["name"] = map[string]any{"firstName": "Refused"}
		case 560:
			row["person"].(map[string]any)["noSuchField"] = nil
		default:
			yearsWritten = append(yearsWritten, row)
		}
		years = append(years, row)
	}
	id, yb := apiBatchID(t, ds, map[string]any{"format": "json"}, map[string][]byte{"years.json": jsonLines(years)})
	if m, _ := yb["metrics"].(map[string]any); yb["status"] != "success" || m["inputRecordCount"] != 100.0 || m["outputRecordCount"] != 98.0 || m["failedRecordCount"] != 2.0 {
		t.Errorf("batch with two refused rows: %.600v, want success with 100 in, 98 out, 2 failed", yb)
	}
	codes := map[int]string{}
	for _, d := range failedRows(t, id) {
		if len(d.Errors) == 1 {
			codes[d.Row] = d.Errors[0].Code
		}
	}
	if len(codes) != 2 || codes[51] != "PATCH-IDENTITY-REMOVE" || codes[61] != "XDM-UNKNOWN-FIELD" {
		t.Errorf("refused rows %v, want row 51 PATCH-IDENTITY-REMOVE and row 61 XDM-UNKNOWN-FIELD", codes)
	}
	apply(yearsWritten)

	// The hand-made expectations hold what the files say.
	for path, w := range map[string]struct {
		i    int
		keys []string
		want any
	}{
		"null removes lastName":      {100, []string{"person", "name", "lastName"}, nil},
		"null removes mobilePhone":   {101, []string{"mobilePhone"}, nil},
		"empty CSV cell keeps":       {207, []string{tn, "membership", "points"}, 2070},
		"array replaced whole":       {300, []string{tn, "interests"}, []any{"sailing300"}},
		"null removes tier":          {400, []string{tn, "membership", "tier"}, nil},
		"tier removal keeps points":  {400, []string{tn, "membership", "points"}, 4000},
		`"" keeps lastName`:          {402, []string{"person", "name", "lastName"}, "Last402"},
		"refused row writes nothing": {550, []string{"person", "birthYear"}, 1950},
		"written row":                {551, []string{"person", "birthYear"}, 2011},
	} {
		if got := dig(want[mail(w.i)], w.keys...); fmt.Sprint(got) != fmt.Sprint(w.want) {
			t.Fatalf("expected state of profile %d: %s: %v, want %v", w.i, path, got, w.want)
		}
	}
	checkProfiles(t, "after the six corrections", want)
}

// mergeGroups are the parts of the profile that streamed merges patch:
// each returns one random patch of its top-level field.
func mergeGroups(tn string) []func(r *rand.Rand) (string, any) {
	word := func(r *rand.Rand, p string) string { return fmt.Sprintf("%s%d", p, r.IntN(1000)) }
	return []func(r *rand.Rand) (string, any){
		func(r *rand.Rand) (string, any) {
			switch r.IntN(4) {
			case 0:
				return "person", map[string]any{"name": map[string]any{"firstName": word(r, "F")}}
			case 1:
				return "person", map[string]any{"name": map[string]any{"lastName": nil}}
			case 2:
				return "person", map[string]any{"name": map[string]any{"firstName": word(r, "F"), "lastName": word(r, "L")}}
			}
			return "person", map[string]any{"birthYear": 1940 + r.IntN(60)}
		},
		func(r *rand.Rand) (string, any) {
			switch r.IntN(4) {
			case 0:
				return "homeAddress", map[string]any{"city": word(r, "C")}
			case 1:
				return "homeAddress", map[string]any{"city": nil}
			case 2:
				return "homeAddress", map[string]any{"city": word(r, "C"), "postalCode": word(r, "P")}
			}
			return "homeAddress", nil
		},
		func(r *rand.Rand) (string, any) {
			switch r.IntN(5) {
			case 0:
				return tn, map[string]any{"membership": map[string]any{"points": r.IntN(10000)}}
			case 1:
				return tn, map[string]any{"membership": map[string]any{"tier": word(r, "T")}}
			case 2:
				return tn, map[string]any{"membership": nil}
			case 3:
				var list []any
				for range 1 + r.IntN(3) {
					list = append(list, word(r, "I"))
				}
				return tn, map[string]any{"interests": list}
			}
			return tn, map[string]any{"interests": []any{word(r, "I")}, "membership": map[string]any{"points": r.IntN(10000)}}
		},
		func(r *rand.Rand) (string, any) {
			if r.IntN(3) == 0 {
				return "mobilePhone", nil
			}
			return "mobilePhone", map[string]any{"number": word(r, "+1 555 ")}
		},
	}
}

// TestStreamMergesConverge streams merges (header.operations.data
// "merge", each with its extSourceSystemAudit.lastUpdatedDate) of four
// identities, each top-level field patched by several of them (values,
// nested objects, arrays, nulls of one field and of whole objects), every
// message twice, shuffled, under four partition keys (so that both shards'
// invocations write the same fragments at once). Each profile ends exactly
// as applying the merges once each in time order gives.
func TestStreamMergesConverge(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	schemaID, tn := upsertSchema(t, fmt.Sprintf("Stream merges %d", stamp))
	ds := createUpsertDataset(t, "Stream merges", schemaID)
	seed := uint64(stamp)
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed>>1))
	groups := mergeGroups(tn)
	base := time.Now().Add(-50 * time.Minute).Truncate(time.Millisecond)

	type update struct {
		at    time.Time
		patch map[string]any
	}
	const identities, merges = 4, 12
	byEmail := map[string][]update{}
	var recs []kinesisRecord
	keys := make([]string, 4)
	for k := range keys {
		keys[k] = fmt.Sprintf("merges-%d-%d", stamp, k)
	}
	for id := range identities {
		email := fmt.Sprintf("m%d-%d@converge.example.com", id, stamp)
		// Each top-level field is patched by three merges at least.
		var patches []map[string]any
		for enough := false; !enough; {
			patches = make([]map[string]any, merges)
			touched := make([]int, len(groups))
			for j := range patches {
				patches[j] = map[string]any{"personalEmail": map[string]any{"address": email}}
				for g, gen := range groups {
					if r.IntN(2) == 0 {
						k, v := gen(r)
						patches[j][k] = v
						touched[g]++
					}
				}
			}
			enough = true
			for _, c := range touched {
				enough = enough && c >= 3
			}
		}
		// Distinct times (slots 7 s apart, up to 1 s late), in an order
		// unrelated to the order of generation or of arrival.
		for j, slot := range r.Perm(merges) {
			at := base.Add(time.Duration(id*merges+slot)*7*time.Second + time.Duration(r.IntN(1000))*time.Millisecond)
			patches[j]["extSourceSystemAudit"] = map[string]any{"lastUpdatedDate": at.UTC().Format(timeLayout)}
			byEmail[email] = append(byEmail[email], update{at, patches[j]})
			msg := string(streamMessage(schemaID, ds, map[string]any{"data": "merge"}, patches[j]))
			for range 2 {
				recs = append(recs, kinesisRecord{Data: msg, PartitionKey: keys[r.IntN(len(keys))]})
			}
		}
	}
	r.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	putRecords(t, recs)

	want := map[string]map[string]any{}
	for email, ups := range byEmail {
		sort.Slice(ups, func(i, j int) bool { return ups[i].at.Before(ups[j].at) })
		for i := 1; i < len(ups); i++ {
			if !ups[i].at.After(ups[i-1].at) {
				t.Fatalf("two merges of %s at %v", email, ups[i].at)
			}
		}
		var state any
		for _, u := range ups {
			state = mergePatch(state, u.patch)
		}
		want[email] = state.(map[string]any)
	}
	flushShards(t, schemaID, ds, keys...)
	checkProfiles(t, "after every merge twice, shuffled", want)
}

// TestDeleteThenOlderReplayStaysDeleted streams a create (t1), a merge
// (t2) and a delete (t3) of one identity: its lookup then answers as for
// an identity with no data. The create and the merge again, on the
// stream and in a batch file (ordering times older than the delete), do
// not bring it back; a merge at t4, newer than the delete, brings back
// its own attributes and nothing else. Beside it, a delete streamed
// before the older create and merge it removes leaves no data either,
// and a delete in one dataset leaves the identity's fragment of another.
func TestDeleteThenOlderReplayStaysDeleted(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	schemaID, tn := upsertSchema(t, fmt.Sprintf("Deletes %d", stamp))
	ds := createUpsertDataset(t, "Deletes", schemaID)
	email := fmt.Sprintf("deleted%d@upsert.example.com", stamp)
	key := email
	base := time.Now().Add(-40 * time.Minute).Truncate(time.Millisecond)
	at := func(k int) map[string]any {
		return map[string]any{"lastUpdatedDate": base.Add(time.Duration(k) * time.Minute).UTC().Format(timeLayout)}
	}
	who := map[string]any{"address": email}
	create := map[string]any{
		"personalEmail":        who,
		"person":               map[string]any{"name": map[string]any{"firstName": "Dora", "lastName": "Deleted"}},
		"homeAddress":          map[string]any{"city": "Porto"},
		tn:                     map[string]any{"membership": map[string]any{"tier": "gold", "points": 10}},
		"extSourceSystemAudit": at(1),
	}
	merge := map[string]any{
		"personalEmail":        who,
		"person":               map[string]any{"name": map[string]any{"firstName": "Dorothea"}},
		"mobilePhone":          map[string]any{"number": "+351 555 0101"},
		"extSourceSystemAudit": at(2),
	}
	del := map[string]any{"personalEmail": who, "extSourceSystemAudit": at(3)}

	createAndMerge := []kinesisRecord{
		{Data: string(streamMessage(schemaID, ds, map[string]any{"data": "create"}, create)), PartitionKey: key},
		{Data: string(streamMessage(schemaID, ds, map[string]any{"data": "merge"}, merge)), PartitionKey: key},
	}

	// Beside it: an identity whose delete (t3) comes before the create
	// (t1) and merge (t2) it removes, and one with a fragment in another
	// dataset too, which its delete in this one leaves.
	early := fmt.Sprintf("early%d@upsert.example.com", stamp)
	earlyOf := func(m map[string]any) map[string]any {
		c := clone(m).(map[string]any)
		c["personalEmail"] = map[string]any{"address": early}
		return c
	}
	kept := fmt.Sprintf("kept%d@upsert.example.com", stamp)
	other := createDataset(t, "Deletes, other dataset", schemaID)
	keptOther := map[string]any{
		"personalEmail":        map[string]any{"address": kept},
		"person":               map[string]any{"name": map[string]any{"firstName": "Kept"}},
		"homeAddress":          map[string]any{"city": "Lyon"},
		"extSourceSystemAudit": at(1),
	}
	keptHere := map[string]any{
		"personalEmail":        map[string]any{"address": kept},
		"person":               map[string]any{"name": map[string]any{"lastName": "Gone"}},
		tn:                     map[string]any{"membership": map[string]any{"tier": "silver"}},
		"extSourceSystemAudit": at(2),
	}
	putRecords(t, append([]kinesisRecord{
		{Data: string(streamMessage(schemaID, ds, map[string]any{"data": "delete"}, earlyOf(del))), PartitionKey: key},
		{Data: string(streamMessage(schemaID, other, nil, keptOther)), PartitionKey: key},
		{Data: string(streamMessage(schemaID, ds, map[string]any{"data": "create"}, keptHere)), PartitionKey: key},
	}, createAndMerge...))
	flushShards(t, schemaID, ds, key)
	checkProfiles(t, "after the create and the merge", map[string]map[string]any{
		email: mergePatch(create, merge).(map[string]any),
		kept:  mergePatch(keptOther, keptHere).(map[string]any),
	})
	putRecords(t, []kinesisRecord{
		{Data: string(streamMessage(schemaID, ds, map[string]any{"data": "delete"}, del)), PartitionKey: key},
		{Data: string(streamMessage(schemaID, ds, map[string]any{"data": "create"}, earlyOf(create))), PartitionKey: key},
		{Data: string(streamMessage(schemaID, ds, map[string]any{"data": "merge"}, earlyOf(merge))), PartitionKey: key},
		{Data: string(streamMessage(schemaID, ds, map[string]any{"data": "delete"}, map[string]any{"personalEmail": map[string]any{"address": kept}, "extSourceSystemAudit": at(3)})), PartitionKey: key},
	})
	flushShards(t, schemaID, ds, key)
	wantNoData(t, "after the delete", email)
	wantNoData(t, "after a delete that came before the older create and merge", early)
	checkProfiles(t, "after the delete of one of two datasets' fragments", map[string]map[string]any{kept: keptOther})
	if _, p := lookup(t, "Email", kept); fmt.Sprint(p["sources"]) != fmt.Sprint([]any{other}) {
		t.Errorf("sources after the delete = %v, want only the other dataset %s", p["sources"], other)
	}

	putRecords(t, createAndMerge)
	flushShards(t, schemaID, ds, key)
	wantNoData(t, "after the older create and merge streamed again", email)

	wantBatchOK(t, "replay file", apiBatch(t, ds, map[string]any{"format": "json"},
		map[string][]byte{"replay.json": jsonLines([]map[string]any{create, merge})}), 2)
	wantNoData(t, "after the older create and merge in a file", email)

	newer := map[string]any{
		"personalEmail":        who,
		tn:                     map[string]any{"membership": map[string]any{"points": 7}},
		"extSourceSystemAudit": at(4),
	}
	putRecordSeq(t, key, streamMessage(schemaID, ds, map[string]any{"data": "merge"}, newer))
	flushShards(t, schemaID, ds, key)
	checkProfiles(t, "after a merge newer than the delete", map[string]map[string]any{email: newer})
}

// linkDataset reads the dataset a link half records in the profile table
// (docs/architecture.md, "Storage": the half of the link to neighbour in
// node's partition, sort key "L#<neighbour key>"); "" when there is none.
// No API shows a link's source.
func linkDataset(t *testing.T, node, neighbour string) string {
	t.Helper()
	table := tableName(t, topology.ProfileTable, topology.OutputProfileTable)
	key, _ := json.Marshal(map[string]any{
		topology.PartitionKey: map[string]string{"S": node},
		topology.SortKey:      map[string]string{"S": "L#" + neighbour},
	})
	var out struct {
		Item map[string]map[string]string
	}
	if err := json.Unmarshal([]byte(awsCLI(t, "dynamodb", "get-item", "--table-name", table, "--key", string(key), "--consistent-read")), &out); err != nil {
		return ""
	}
	return out.Item["dataset"]["S"]
}

// TestStreamIdentityDataset streams a message into a dataset enabled for
// Profile only, with operations.identity "create" and
// operations.identityDatasetId naming an identity-enabled dataset of the
// same schema: its e-mail and CRM id are linked (the cluster of one holds
// the other, the profile reads the same by either) with that dataset as
// the link's source, while the same message without the operation links
// nothing. A message naming a dataset that does not exist, one that is not
// identity-enabled or one of another schema is a failed record
// STREAM-IDENTITY-DATASET; one with identityDatasetId and no identity
// operation, or an identity operation other than create, is
// STREAM-OPERATION; a merge or a delete of an experience event is
// OPERATION-UNSUPPORTED.
func TestStreamIdentityDataset(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	schemaID, _ := upsertSchema(t, fmt.Sprintf("Identity datasets %d", stamp))
	profileOnly := createDatasetTagged(t, "Profile only", schemaID, map[string]any{"unifiedProfile": []any{"enabled:true"}})
	identities := createDatasetTagged(t, "Identities", schemaID, map[string]any{"unifiedIdentity": []any{"enabled:true"}})
	other := createDataset(t, "Other schema", createProfileSchema(t, fmt.Sprintf("Identity datasets other %d", stamp)))
	key := fmt.Sprintf("identity-ds-%d", stamp)
	person := func(what string) (email, crm string, entity map[string]any) {
		email = fmt.Sprintf("%s%d@identityds.example.com", what, stamp)
		crm = fmt.Sprintf("CRM-%s-%d", what, stamp)
		return email, crm, map[string]any{
			"personalEmail": map[string]any{"address": email},
			"identityMap":   map[string]any{"CRMID": []any{map[string]any{"id": crm}}},
			"person":        map[string]any{"name": map[string]any{"firstName": "Ida-" + what}},
		}
	}

	plainEmail, plainCRM, plain := person("plain")
	email, crm, linked := person("linked")
	recs := []kinesisRecord{
		{Data: string(streamMessage(schemaID, profileOnly, nil, plain)), PartitionKey: key},
		{Data: string(streamMessage(schemaID, profileOnly,
			map[string]any{"data": "create", "identity": "create", "identityDatasetId": identities}, linked)), PartitionKey: key},
	}

	evSchema, evAlt := createSchema(t, fmt.Sprintf("Identity datasets events %d", stamp),
		"https://ns.adobe.com/xdm/context/experienceevent", "https://ns.adobe.com/xdm/context/identitymap")
	enableForProfile(t, evAlt)
	events := createDataset(t, "Events", evSchema)
	type bad struct {
		what, code string
		ops        map[string]any
		seq        string
	}
	bads := []bad{
		{"identity dataset that does not exist", "STREAM-IDENTITY-DATASET", map[string]any{"identity": "create", "identityDatasetId": fmt.Sprintf("%024x", stamp)}, ""},
		{"identity dataset not enabled for Identity", "STREAM-IDENTITY-DATASET", map[string]any{"identity": "create", "identityDatasetId": profileOnly}, ""},
		{"identity dataset of another schema", "STREAM-IDENTITY-DATASET", map[string]any{"identity": "create", "identityDatasetId": other}, ""},
		{"identityDatasetId without identity", "STREAM-OPERATION", map[string]any{"identityDatasetId": identities}, ""},
		{"identity other than create", "STREAM-OPERATION", map[string]any{"identity": "update", "identityDatasetId": identities}, ""},
	}
	for i, b := range bads {
		_, _, e := person(fmt.Sprintf("bad%d", i))
		recs = append(recs, kinesisRecord{Data: string(streamMessage(schemaID, profileOnly, b.ops, e)), PartitionKey: key})
	}
	// merge and delete apply to profiles only.
	for _, op := range []string{"merge", "delete"} {
		ev := map[string]any{
			"_id": fmt.Sprintf("ev-%s-%d", op, stamp), "timestamp": time.Now().UTC().Format(time.RFC3339),
			"identityMap": map[string]any{"Email": []any{map[string]any{"id": fmt.Sprintf("ev%d@identityds.example.com", stamp), "primary": true}}},
		}
		bads = append(bads, bad{what: op + " of an experience event", code: "OPERATION-UNSUPPORTED"})
		recs = append(recs, kinesisRecord{Data: string(streamMessage(evSchema, events, map[string]any{"data": op}, ev)), PartitionKey: key})
	}
	for i, s := range putRecords(t, recs)[2:] {
		bads[i].seq = s
	}
	flushShards(t, schemaID, profileOnly, key)

	var members map[string]any
	eventually(t, 30*time.Second, "the linked CRM id's cluster", func() error {
		r := call(t, "GET", "/data/core/identity/cluster/members?"+url.Values{"namespace": {"CRMID"}, "id": {crm}}.Encode(), nil, "")
		if r.Status != http.StatusOK {
			return errorf("cluster/members = %d %s", r.Status, r.Body)
		}
		r.decode(t, &members)
		return nil
	})
	if got := fmt.Sprint(members["members"]); !strings.Contains(got, email) || !strings.Contains(got, crm) {
		t.Errorf("cluster of %s = %v, want the e-mail %s in it", crm, members, email)
	}
	status, byCRM := lookup(t, "CRMID", crm)
	if !found(status, byCRM) || dig(byCRM, "entity", "person", "name", "firstName") != "Ida-linked" {
		t.Errorf("profile by the CRM id = %d %v, want the e-mail's profile", status, byCRM)
	}
	if got := linkDataset(t, "Email#"+email, "CRMID#"+crm); got != identities {
		t.Errorf("link e-mail → CRM id has source dataset %q, want the identity dataset %s", got, identities)
	}
	if got := linkDataset(t, "CRMID#"+crm, "Email#"+email); got != identities {
		t.Errorf("link CRM id → e-mail has source dataset %q, want the identity dataset %s", got, identities)
	}

	// Without the operation the Profile-only dataset links nothing.
	if status, p := lookup(t, "Email", plainEmail); !found(status, p) {
		t.Errorf("profile of the message without identity operation = %d %v, want its profile", status, p)
	}
	if r := call(t, "GET", "/data/core/identity/cluster/members?"+url.Values{"namespace": {"CRMID"}, "id": {plainCRM}}.Encode(), nil, ""); r.Status != http.StatusNotFound {
		t.Errorf("cluster of a CRM id sent to a dataset not enabled for Identity = %d %s, want 404", r.Status, r.Body)
	}

	eventually(t, 30*time.Second, "the refused messages' failed records", func() error {
		got := map[string]string{}
		for _, rec := range allFailedRecords(t, streamFailedPK) {
			if s, _ := rec["sequenceNumber"].(string); s != "" {
				got[s], _ = rec["code"].(string)
			}
		}
		var missing []string
		for _, b := range bads {
			code, ok := got[b.seq]
			switch {
			case !ok:
				missing = append(missing, b.what)
			case code != b.code:
				t.Errorf("%s: failed record %s, want %s", b.what, code, b.code)
			}
		}
		if len(missing) > 0 {
			return errorf("no failed record yet for %v", missing)
		}
		return nil
	})
	for i := range bads {
		if bads[i].code == "OPERATION-UNSUPPORTED" {
			continue
		}
		if status, p := lookup(t, "Email", fmt.Sprintf("bad%d%d@identityds.example.com", i, stamp)); !isNoData(status, p) {
			t.Errorf("%s: its profile was written (lookup %d %v), want a refused message", bads[i].what, status, p)
		}
	}
}

// TestMergesOnlyAddIdentities merges identityMap entries into one
// fragment: two streamed merges and a row of an upsert file, each with
// another loyalty id, in the reverse of their time order. identityMap is a
// set, not an array a patch replaces: the profile holds all three, and the
// e-mail's cluster links all three (LOYALTYID is not unique; CRMID, which
// is, would keep one in the cluster: see TestIdentitySharedDevice).
func TestMergesOnlyAddIdentities(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	schemaID, _ := upsertSchema(t, fmt.Sprintf("Identity merges %d", stamp))
	ds := createUpsertDataset(t, "Identity merges", schemaID)
	email := fmt.Sprintf("ids%d@upsert.example.com", stamp)
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	crm := func(k int) string { return fmt.Sprintf("LOY-%d-%d", stamp, k) }
	row := func(k int) map[string]any {
		return map[string]any{
			"personalEmail":        map[string]any{"address": email},
			"identityMap":          map[string]any{"LOYALTYID": []any{map[string]any{"id": crm(k)}}},
			"extSourceSystemAudit": map[string]any{"lastUpdatedDate": base.Add(time.Duration(k) * time.Minute).UTC().Format(timeLayout)},
		}
	}
	wantBatchOK(t, "identity row", apiBatch(t, ds, map[string]any{"format": "json"}, map[string][]byte{"ids.json": jsonLines([]map[string]any{row(3)})}), 1)
	putRecords(t, []kinesisRecord{
		{Data: string(streamMessage(schemaID, ds, map[string]any{"data": "merge"}, row(2))), PartitionKey: email},
		{Data: string(streamMessage(schemaID, ds, map[string]any{"data": "merge"}, row(1))), PartitionKey: email},
	})
	flushShards(t, schemaID, ds, email)

	status, p := lookup(t, "Email", email)
	if !found(status, p) {
		t.Fatalf("lookup = %d %v, want the profile", status, p)
	}
	var ids []string
	entries, _ := dig(p, "entity", "identityMap", "LOYALTYID").([]any)
	for _, e := range entries {
		id, _ := dig(e, "id").(string)
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if want := []string{crm(1), crm(2), crm(3)}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("identityMap.LOYALTYID ids = %v, want %v: merges add identities", ids, want)
	}
	var members map[string]any
	must(t, http.StatusOK, "GET", "/data/core/identity/cluster/members?"+url.Values{"namespace": {"Email"}, "id": {email}}.Encode(), nil).decode(t, &members)
	for k := 1; k <= 3; k++ {
		if !strings.Contains(fmt.Sprint(members["members"]), crm(k)) {
			t.Errorf("cluster of %s = %v, want %s in it", email, members["members"], crm(k))
		}
	}
}

// TestUpsertRowTooLargeWhenMerged loads a profile with a 60 KB first
// name into an upsert dataset, then a file of 50 rows, one of which adds
// a 60 KB last name to it: each row is under the 100 KB a record may be,
// but the merged fragment would not be. That row is refused when written,
// FRAGMENT-TOO-LARGE, counted in the batch (which still succeeds, 1 row
// of 50 refused) and listed with the batch's failed rows; the fragment
// keeps its first name, and the other 49 rows are written.
func TestUpsertRowTooLargeWhenMerged(t *testing.T) {
	t.Parallel()
	stamp := time.Now().UnixNano()
	schemaID, _ := upsertSchema(t, fmt.Sprintf("Too large merged %d", stamp))
	ds := createUpsertDataset(t, "Too large merged", schemaID)
	mail := func(i int) string { return fmt.Sprintf("big%d-%d@upsert.example.com", i, stamp) }
	big := strings.Repeat("a", 60<<10)
	wantBatchOK(t, "load", apiBatch(t, ds, map[string]any{"format": "json"}, map[string][]byte{"load.json": jsonLines([]map[string]any{{
		"personalEmail": map[string]any{"address": mail(0)},
		"person":        map[string]any{"name": map[string]any{"firstName": big}},
	}})}), 1)

	lastName := func(i int, last string) map[string]any {
		return map[string]any{
			"personalEmail": map[string]any{"address": mail(i)},
			"person":        map[string]any{"name": map[string]any{"lastName": last}},
		}
	}
	var rows []map[string]any
	for i := 1; i < 50; i++ {
		if i == 21 { // row 21: the loaded profile's 60 KB last name
			rows = append(rows, lastName(0, strings.Repeat("b", 60<<10)))
		}
		rows = append(rows, lastName(i, fmt.Sprintf("Last%d", i)))
	}
	id, b := apiBatchID(t, ds, map[string]any{"format": "json"}, map[string][]byte{"last.json": jsonLines(rows)})
	m, _ := b["metrics"].(map[string]any)
	if b["status"] != "success" || m["inputRecordCount"] != 50.0 || m["outputRecordCount"] != 49.0 || m["failedRecordCount"] != 1.0 {
		t.Errorf("batch %.600v, want success with 50 in, 49 out, 1 failed", b)
	}
	if errs, _ := b["errors"].([]any); len(errs) != 1 || dig(errs[0], "code") != "FRAGMENT-TOO-LARGE" || dig(errs[0], "recordCount") != 1.0 {
		t.Errorf("batch errors %v, want one FRAGMENT-TOO-LARGE of one record", b["errors"])
	}
	if fr := failedRows(t, id); len(fr) != 1 || fr[0].Row != 21 || len(fr[0].Errors) != 1 || fr[0].Errors[0].Code != "FRAGMENT-TOO-LARGE" {
		t.Errorf("failed rows %+v, want row 21 FRAGMENT-TOO-LARGE", fr)
	}
	status, p := lookup(t, "Email", mail(0))
	if !found(status, p) || dig(p, "entity", "person", "name", "firstName") != big || dig(p, "entity", "person", "name", "lastName") != nil {
		t.Errorf("profile of the refused row = %d, lastName %.20v: want its first name only", status, dig(p, "entity", "person", "name", "lastName"))
	}
	for _, i := range []int{1, 19, 21, 49} {
		if status, p := lookup(t, "Email", mail(i)); !found(status, p) || dig(p, "entity", "person", "name", "lastName") != fmt.Sprintf("Last%d", i) {
			t.Errorf("profile %d = %d %v, want its last name written", i, status, dig(p, "entity"))
		}
	}
}
