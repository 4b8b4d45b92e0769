//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/localstack/cloud"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// The streaming reliability scenarios (R1–R5 for Kinesis) run on local
// clouds of their own: one whose stream-ingest meets DynamoDB faults and
// retries without bound, one whose stream-ingest can never finish a batch.

// streamCloud starts a second local cloud whose stream-ingest trigger and
// function adjust changes, with faults on its DynamoDB calls, and points
// the package's target at it for the test.
func streamCloud(t *testing.T, env string, faults cloud.Faults, adjust func(f *topology.Function)) *cloud.Cloud {
	t.Helper()
	if os.Getenv("MOSAIC_LOCAL_BIN") == "" || os.Getenv("MOSAIC_OUTPUTS") != "" {
		t.Skip("needs the local cloud's function builds (MOSAIC_DIST), not another target")
	}
	fns := make([]topology.Function, len(topology.Functions))
	copy(fns, topology.Functions)
	for i := range fns {
		if fns[i].Name == "stream-ingest" {
			st := *fns[i].Stream
			fns[i].Stream = &st
			adjust(&fns[i])
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cloud.Start(ctx, cloud.Config{
		Edge: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), DistDir: os.Getenv("MOSAIC_DIST"), RIE: os.Getenv("MOSAIC_RIE"),
		Env: env, Functions: fns, DynamoDBFaults: faults,
	})
	if err != nil {
		t.Fatalf("start a local cloud for stream-ingest: %v", err)
	}
	prev := tgt
	tgt = target{APIURL: c.EdgeURL(), Edge: c.EdgeURL(), Region: "us-east-1", Bucket: c.Name(topology.LandingBucket),
		Stream: c.Name(topology.IngestStream), Sandbox: "prod", LogsDir: c.LogsDir(), AccessID: "test", Secret: "test"}
	t.Cleanup(func() {
		tgt = prev
		c.Stop()
	})
	return c
}

// orderedDataset creates a profile dataset whose rows carry
// extSourceSystemAudit.lastUpdatedDate and take their primary identity
// from identityMap, and returns its id and schema $id.
func orderedDataset(t *testing.T, what string) (dataset, schemaID string) {
	t.Helper()
	schemaID, altID := createSchema(t, fmt.Sprintf("%s %d", what, time.Now().UnixNano()),
		"https://ns.adobe.com/xdm/context/profile",
		"https://ns.adobe.com/xdm/context/profile-person-details",
		"https://ns.adobe.com/xdm/context/identitymap",
		"https://ns.adobe.com/xdm/common/external-source-system-audit-details")
	enableForProfile(t, altID)
	return createDataset(t, what, schemaID), schemaID
}

// member is a profile of identity id whose first name is name, as of
// updated.
func member(id, name string, updated time.Time) map[string]any {
	return map[string]any{
		"_id":                  fmt.Sprintf("%s-%d", id, updated.UnixMilli()),
		"identityMap":          map[string]any{"CRMID": []any{map[string]any{"id": id, "primary": true}}},
		"person":               map[string]any{"name": map[string]any{"firstName": name}},
		"extSourceSystemAudit": map[string]any{"lastUpdatedDate": updated.UTC().Format(timeLayout)},
	}
}

// datasetFailedRecords reads every failed record of ds, whatever its
// batch partition (FAILED#<batchId>).
func datasetFailedRecords(t *testing.T, ds string) []map[string]any {
	t.Helper()
	table := tableName(t, topology.CatalogTable, topology.OutputCatalogTable)
	values, _ := json.Marshal(map[string]any{":p": map[string]string{"S": "FAILED#"}})
	// The partitions hold count items too (a string set "seqs", no
	// "rec"): only failed records are read.
	var out struct {
		Items []map[string]map[string]any
	}
	if err := json.Unmarshal([]byte(awsCLI(t, "dynamodb", "scan", "--table-name", table,
		"--filter-expression", "begins_with("+topology.PartitionKey+", :p)", "--expression-attribute-values", string(values))), &out); err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, item := range out.Items {
		data, ok := item["rec"]["S"].(string)
		if !ok {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(data), &rec); err != nil {
			t.Fatalf("failed record %v: %v", item, err)
		}
		if ds == "" || rec["datasetId"] == ds {
			recs = append(recs, rec)
		}
	}
	return recs
}

// TestStreamUnderFaults runs the stream's reliability scenarios on a local
// cloud whose stream-ingest meets DynamoDB faults on one call in ten
// (throttling, 500s, answers lost after the write was applied) and whose
// mapping retries without giving up:
//
//   - R1, R2, R4, R5: updates of one attribute of 20 identities, 3 each
//     with distinct lastUpdatedDate, every record put twice, all in a
//     random order, with one poison message among them. Each identity ends
//     with its newest value, one fragment each, the poison is the one
//     failed record with its code, nothing exhausted its retries.
//   - R3: stream-ingest is killed in the middle of a batch of 200
//     messages; after Lambda's retries every message is one fragment and
//     nothing failed.
func TestStreamUnderFaults(t *testing.T) {
	c := streamCloud(t, "e2efaults", cloud.Faults{Rate: 0.1, Seed: 20, Delay: 100 * time.Millisecond, Functions: []string{"stream-ingest"}},
		func(f *topology.Function) { f.Stream.MaxRetries = 10_000 })

	t.Run("twice, shuffled, with a poison message", func(t *testing.T) {
		ds, schemaID := orderedDataset(t, "Stream under faults")
		prefix := fmt.Sprintf("SF%d", time.Now().UnixNano())
		const ids, updates = 20, 3
		seed := uint64(time.Now().UnixNano())
		t.Logf("permutation seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 1))
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		var recs []kinesisRecord
		newest := map[string]string{}
		for i := range ids {
			id := fmt.Sprintf("%s-%d", prefix, i)
			for u := range updates {
				name := fmt.Sprintf("Name%d-%d", i, u)
				at := base.Add(time.Duration(u) * time.Minute)
				if u == updates-1 {
					newest[id] = name
				}
				msg := string(streamMessage(schemaID, ds, nil, member(id, name, at)))
				recs = append(recs, kinesisRecord{msg, id}, kinesisRecord{msg, id}) // R1: every record twice
			}
		}
		poison := poisons[0]
		var entity map[string]any
		if err := json.Unmarshal([]byte(poison.row(prefix+"-poison")), &entity); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, kinesisRecord{string(streamMessage(schemaID, ds, nil, entity)), prefix + "-poison"})
		rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		putRecords(t, recs)

		eventually(t, 90*time.Second, "every identity holds its newest value", func() error {
			if n := fragmentCount(t, ds); n != ids {
				return errorf("%d of %d fragments", n, ids)
			}
			for id, want := range newest {
				status, prof := lookup(t, "CRMID", id)
				if !found(status, prof) {
					return errorf("lookup of %s = %d, no profile data yet", id, status)
				}
				if got := dig(prof, "entity", "person", "name", "firstName"); got != want {
					return errorf("%s firstName = %v, want %s", id, got, want)
				}
			}
			return nil
		})
		var failed []map[string]any
		eventually(t, 30*time.Second, "the poison message is a failed record", func() error {
			if failed = datasetFailedRecords(t, ds); len(failed) == 0 {
				return errorf("no failed record yet")
			}
			return nil
		})
		if len(failed) != 1 || failed[0]["code"] != poison.code {
			t.Errorf("failed records %.500v, want one %s", failed, poison.code)
		}
		if n := fragmentCount(t, ds); n != ids {
			t.Errorf("%d fragments, want %d", n, ids)
		}
		f := c.DynamoDBFaults()
		t.Logf("DynamoDB calls of stream-ingest: %+v", f)
		if f.Throttled == 0 || f.Internal == 0 || f.Timeout == 0 {
			t.Errorf("the proxy injected %+v: every kind should have been met", f)
		}
	})

	t.Run("killed mid-batch", func(t *testing.T) {
		ds, schemaID := orderedDataset(t, "Stream killed")
		prefix := fmt.Sprintf("SK%d", time.Now().UnixNano())
		const n = 200
		at := time.Now().Add(-time.Minute)
		var recs []kinesisRecord
		for i := range n {
			id := fmt.Sprintf("%s-%d", prefix, i)
			// One partition key: one shard, batches of 100 in order.
			recs = append(recs, kinesisRecord{string(streamMessage(schemaID, ds, nil, member(id, "Killed", at))), prefix})
		}
		putRecords(t, recs)
		var killed []int
		landed := 0
		eventually(t, time.Minute, "stream-ingest killed mid-batch", func() error {
			landed = fragmentCount(t, ds)
			if landed == 0 {
				return errorf("nothing written yet")
			}
			if landed >= n {
				t.Fatalf("all %d messages landed before the kill", n)
			}
			for _, pid := range functionPids(t, "stream-ingest") {
				if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
					killed = append(killed, pid)
				}
			}
			if len(killed) == 0 {
				return errorf("no stream-ingest process to kill")
			}
			return nil
		})
		t.Logf("killed %v with %d of %d messages written", killed, landed, n)
		eventually(t, 2*time.Minute, "every message landed after the kill", func() error {
			if got := fragmentCount(t, ds); got != n {
				return errorf("%d of %d fragments", got, n)
			}
			return nil
		})
		if failed := datasetFailedRecords(t, ds); len(failed) != 0 {
			t.Errorf("failed records %.500v, want none", failed)
		}
		for _, i := range []int{0, n / 2, n - 1} {
			if status, p := lookup(t, "CRMID", fmt.Sprintf("%s-%d", prefix, i)); !found(status, p) {
				t.Errorf("lookup of message %d = %d %v, want its profile", i, status, p)
			}
		}
	})
}

// TestStreamRetriesExhausted: on a cloud whose stream-ingest never
// finishes a batch (its timeout leaves no time before the 3 s it keeps to
// report) and whose mapping retries once, each message put becomes one
// STREAM-RETRIES-EXHAUSTED failed record in its dataset's window batch, a
// record that is not JSON one in the unknown dataset's, nothing is
// ingested, and nothing is left in the failure log.
func TestStreamRetriesExhausted(t *testing.T) {
	c := streamCloud(t, "e2eexhaust", cloud.Faults{}, func(f *topology.Function) {
		f.Timeout = 2 * time.Second
		f.Stream.MaxRetries = 1
	})
	ds, schemaID := orderedDataset(t, "Stream exhausted")
	prefix := fmt.Sprintf("SX%d", time.Now().UnixNano())
	at := time.Now().Add(-time.Minute)
	var recs []kinesisRecord
	for i := range 4 {
		id := fmt.Sprintf("%s-%d", prefix, i)
		recs = append(recs, kinesisRecord{string(streamMessage(schemaID, ds, nil, member(id, "Never", at))), prefix})
	}
	recs = append(recs, kinesisRecord{"not json " + prefix, prefix})
	seqs := putRecords(t, recs)

	var failed []map[string]any
	eventually(t, 60*time.Second, "every record counted as failed", func() error {
		if failed = datasetFailedRecords(t, ""); len(failed) < len(recs) {
			return errorf("%d of %d failed records", len(failed), len(recs))
		}
		return nil
	})
	bySeq := map[string]map[string]any{}
	for _, f := range failed {
		bySeq[fmt.Sprint(f["sequenceNumber"])] = f
	}
	if len(failed) != len(recs) {
		t.Errorf("%d failed records, want %d: %.800v", len(failed), len(recs), failed)
	}
	for i, seq := range seqs {
		f := bySeq[seq]
		wantDS, wantBatch := ds, "stream-"+ds+"-"
		if i == len(recs)-1 {
			wantDS, wantBatch = "", "stream-unknown-"
		}
		if f == nil || f["code"] != "STREAM-RETRIES-EXHAUSTED" || fmt.Sprint(f["datasetId"]) != fmt.Sprint(wantDS) && !(wantDS == "" && f["datasetId"] == nil) ||
			!strings.HasPrefix(fmt.Sprint(f["batchId"]), wantBatch) {
			t.Errorf("record %d (%s): failed record %v, want STREAM-RETRIES-EXHAUSTED in %s…", i, seq, f, wantBatch)
		}
	}
	if n := fragmentCount(t, ds); n != 0 {
		t.Errorf("%d fragments, want none", n)
	}
	if raw, err := os.ReadFile(filepath.Join(filepath.Dir(c.LogsDir()), "stream-failures.jsonl")); err == nil && len(raw) > 0 {
		t.Errorf("failure log holds %s: the on-failure records should all have been drained", raw)
	}
}
