package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/eventsample"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/storetest"
)

const testDataset = "65a1b2c3d4e5f60718293a4b"

func newTestHandler() (*handler, *storetest.Profiles, *storetest.Failed) {
	prof := storetest.NewProfiles()
	failed := storetest.NewFailed()
	specs := storetest.Specs{testDataset: {
		DatasetID: testDataset, SchemaID: "https://ns.adobe.com/acme/schemas/crm", Class: catalog.ProfileClass,
		ProfileEnabled: true, IdentityEnabled: true,
		Identities: []catalog.IdentityField{{Path: "/personalEmail/address", Namespace: "Email", Primary: true}},
	}}
	h := &handler{specs: specs, run: &ingest.Runner{
		Pipeline: &ingest.Pipeline{Fragments: prof, Links: prof, Events: prof}, Failed: failed,
		Workers: recordWorkers, Margin: reportMargin, Now: func() time.Time { return time.UnixMilli(5000) },
	}}
	return h, prof, failed
}

func message(email, name, updated string) string {
	audit := ""
	if updated != "" {
		audit = fmt.Sprintf(`,"extSourceSystemAudit":{"lastUpdatedDate":%q}`, updated)
	}
	return fmt.Sprintf(`{"header":{"datasetId":%q,"schemaRef":{"id":"https://ns.adobe.com/acme/schemas/crm"}},"body":{"xdmEntity":{"personalEmail":{"address":%q},"person":{"name":%q}%s}}}`,
		testDataset, email, name, audit)
}

func kinesisEvent(datas ...string) events.KinesisEvent {
	var ev events.KinesisEvent
	for i, d := range datas {
		seq := fmt.Sprintf("%04d", i+1)
		var r events.KinesisEventRecord
		r.EventID = "shardId-000000000001:" + seq
		r.Kinesis.SequenceNumber = seq
		r.Kinesis.Data = []byte(d)
		r.Kinesis.ApproximateArrivalTimestamp = events.SecondsEpochTime{Time: time.Date(2026, 2, 1, 0, 0, i+1, 0, time.UTC)}
		ev.Records = append(ev.Records, r)
	}
	return ev
}

func TestSampleEvent(t *testing.T) {
	var ev events.KinesisEvent
	eventsample.Decode(t, "stream-ingest-kinesis.json", &ev)
	h, prof, failed := newTestHandler()
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 || len(failed.Recs) != 0 {
		t.Fatalf("got %v, %+v, %d failed records; want the sample ingested", err, resp, len(failed.Recs))
	}
	fr, ok := prof.Frags["Email#jane@example.com|"+testDataset]
	if !ok {
		t.Fatalf("no fragment for the sample's primary identity; have %v", prof.Frags)
	}
	if want := time.Date(2026, 1, 15, 10, 20, 30, 0, time.UTC).UnixMilli(); fr.TS != want {
		t.Errorf("ordering time %d, want lastUpdatedDate %d", fr.TS, want)
	}
	if !prof.Links["Email#jane@example.com|ECID#12345678901234567890123456789012345678"] {
		t.Errorf("sample's identities not linked: %v", prof.Links)
	}
}

func TestHandleInvalidRecordsAreRecordedNotRetried(t *testing.T) {
	h, prof, failed := newTestHandler()
	ev := kinesisEvent(
		message("a@example.com", "A", ""),
		`{"header":`,
		`{"header":{"datasetId":"unknown"},"body":{"xdmEntity":{}}}`,
		`{"messages":[`+message("b@example.com", "B", "")+`,{"header":{"datasetId":"`+testDataset+`"},"body":{"xdmEntity":{"person":{}}}}]}`,
	)
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %v, %+v; want no retries for invalid records", err, resp)
	}
	want := map[string]string{
		"shardId-000000000001|0002|0": ingest.CodeMessageJSON,
		"shardId-000000000001|0003|0": "DATASET-NOT-FOUND",
		"shardId-000000000001|0004|1": identity.CodeNoPrimary,
	}
	got := map[string]string{}
	for k, r := range failed.Recs {
		got[k] = r.Code
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("failed records (-want +got):\n%s", diff)
	}
	if len(prof.Frags) != 2 {
		t.Errorf("got %d fragments, want 2 (the good messages)", len(prof.Frags))
	}
}

func TestHandleTransientFailureRetriesTheRest(t *testing.T) {
	h, prof, _ := newTestHandler()
	prof.FailAt = 2
	ev := kinesisEvent(
		message("a@example.com", "A", ""), message("b@example.com", "B", ""),
		message("c@example.com", "C", ""), message("d@example.com", "D", ""),
	)
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	if diff := cmp.Diff([]string{"0002", "0003", "0004"}, got); diff != "" {
		t.Errorf("batch item failures (-want +got):\n%s", diff)
	}
	if len(prof.Frags) != 1 {
		t.Errorf("got %d fragments, want 1: nothing after the failure is written", len(prof.Frags))
	}
}

func TestHandleReplayAndOrder(t *testing.T) {
	newer := message("a@example.com", "new", "2026-01-02T00:00:00Z")
	older := message("a@example.com", "old", "2026-01-01T00:00:00Z")
	h, prof, _ := newTestHandler()
	ev := kinesisEvent(newer, older)
	for range 2 { // the second delivery is a replay
		if _, err := h.Handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	fr := prof.Frags["Email#a@example.com|"+testDataset]
	if fr.Record["person"].(map[string]any)["name"] != "new" {
		t.Errorf("stored %v, want the newer update to win although it arrived first", fr.Record["person"])
	}
	// The same records delivered once to a fresh store give the same state.
	h2, prof2, _ := newTestHandler()
	if _, err := h2.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(prof2.Frags, prof.Frags); diff != "" {
		t.Errorf("replay changed the store (-once +twice):\n%s", diff)
	}
}

func TestNewHandlerNamesMissingEnv(t *testing.T) {
	_, err := newHandler(context.Background(), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "MOSAIC_PROFILE_TABLE") {
		t.Fatalf("got %v, want an error naming MOSAIC_PROFILE_TABLE", err)
	}
}

// linkLog records the links written, with their source dataset.
type linkLog struct{ datasets map[string]string }

func (l *linkLog) PutLinks(_ context.Context, links []identity.Link) error {
	for _, k := range links {
		l.datasets[k.A.Key()+"|"+k.B.Key()] = k.Dataset
	}
	return nil
}

// fragLog records the fragment writes the pipeline asks for, as asked
// (the store's fake applies them; this test checks what is passed on).
type fragLog struct{ Frags map[string]merge.Fragment }

func (l *fragLog) PutFragment(_ context.Context, f merge.Fragment) error {
	l.Frags[f.Identity+"|"+f.Dataset] = f
	return nil
}

// opsMessage is a message to dataset ds with the given header.operations
// (none when ops is "").
func opsMessage(ds, ops, entity string) string {
	header := fmt.Sprintf(`"datasetId":%q`, ds)
	if ops != "" {
		header += `,"operations":` + ops
	}
	return `{"header":{` + header + `},"body":{"xdmEntity":` + entity + `}}`
}

func TestHandleOperations(t *testing.T) {
	const (
		schema      = "https://ns.adobe.com/acme/schemas/crm"
		identities  = "65a1b2c3d4e5f60718293a4c" // same schema, enabled for Identity
		noIdentity  = "65a1b2c3d4e5f60718293a4d" // same schema, not enabled for Identity
		otherSchema = "65a1b2c3d4e5f60718293a4e"
		eventsDS    = "65a1b2c3d4e5f60718293a4f"
	)
	primary := []catalog.IdentityField{{Path: "/personalEmail/address", Namespace: "Email", Primary: true}}
	specs := storetest.Specs{
		testDataset: {DatasetID: testDataset, SchemaID: schema, Class: catalog.ProfileClass, ProfileEnabled: true, Identities: primary},
		identities:  {DatasetID: identities, SchemaID: schema, Class: catalog.ProfileClass, IdentityEnabled: true, Identities: primary},
		noIdentity:  {DatasetID: noIdentity, SchemaID: schema, Class: catalog.ProfileClass, ProfileEnabled: true, Identities: primary},
		otherSchema: {DatasetID: otherSchema, SchemaID: schema + "2", Class: catalog.ProfileClass, IdentityEnabled: true, Identities: primary},
		eventsDS:    {DatasetID: eventsDS, SchemaID: schema + "3", Class: catalog.EventClass, ProfileEnabled: true, IdentityEnabled: true},
	}
	prof := &fragLog{Frags: map[string]merge.Fragment{}}
	links := &linkLog{datasets: map[string]string{}}
	failed := storetest.NewFailed()
	h := &handler{specs: specs, run: &ingest.Runner{
		Pipeline: &ingest.Pipeline{Fragments: prof, Links: links, Events: storetest.NewProfiles()}, Failed: failed,
		Workers: recordWorkers, Margin: reportMargin, Now: func() time.Time { return time.UnixMilli(5000) },
	}}
	ecid := strings.Repeat("1", 38)
	entity := func(email string) string {
		return `{"personalEmail":{"address":"` + email + `"},"person":{"name":null},"identityMap":{"ECID":[{"id":"` + ecid + `"}]}}`
	}
	idOps := func(data, ds string) string {
		return fmt.Sprintf(`{"data":%q,"identity":"create","identityDatasetId":%q}`, data, ds)
	}
	ev := kinesisEvent(
		opsMessage(testDataset, `{"data":"merge"}`, entity("merge@example.com")),
		opsMessage(testDataset, `{"data":"delete"}`, `{"personalEmail":{"address":"delete@example.com"}}`),
		opsMessage(testDataset, idOps("merge", identities), entity("linked@example.com")),
		opsMessage(testDataset, idOps("delete", identities), entity("deletelinked@example.com")),
		opsMessage(eventsDS, `{"data":"merge"}`, `{"_id":"e1","timestamp":"2026-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"`+ecid+`","primary":true}]}}`),
		opsMessage(testDataset, `{"identity":"delete","identityDatasetId":"`+identities+`"}`, entity("x1@example.com")),
		opsMessage(testDataset, `{"identity":"create"}`, entity("x2@example.com")),
		opsMessage(testDataset, idOps("create", "65a1b2c3d4e5f60718299999"), entity("x3@example.com")),
		opsMessage(testDataset, idOps("create", otherSchema), entity("x4@example.com")),
		opsMessage(testDataset, idOps("create", noIdentity), entity("x5@example.com")),
	)
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %v, %+v; want every record done", err, resp)
	}
	want := map[string]string{
		"shardId-000000000001|0004|0": ingest.CodeMessageOp, // identity create with a delete
		"shardId-000000000001|0005|0": ingest.CodeOperation,
		"shardId-000000000001|0006|0": ingest.CodeMessageOp,
		"shardId-000000000001|0007|0": ingest.CodeMessageOp,
		"shardId-000000000001|0008|0": ingest.CodeMessageIdentityDataset,
		"shardId-000000000001|0009|0": ingest.CodeMessageIdentityDataset,
		"shardId-000000000001|0010|0": ingest.CodeMessageIdentityDataset,
	}
	got := map[string]string{}
	for k, r := range failed.Recs {
		got[k] = r.Code
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("failed records (-want +got):\n%s", d)
	}
	merged := prof.Frags["Email#merge@example.com|"+testDataset]
	if name, ok := merged.Record["person"].(map[string]any)["name"]; merged.Op != ingest.OpMerge || !ok || name != nil {
		t.Errorf("merge stored %+v, want a merge fragment keeping its null", merged)
	}
	if d := prof.Frags["Email#delete@example.com|"+testDataset]; d.Op != ingest.OpDelete || d.Record != nil {
		t.Errorf("delete stored %+v, want a delete fragment without record", d)
	}
	wantLinks := map[string]string{"Email#linked@example.com|ECID#" + ecid: identities}
	if d := cmp.Diff(wantLinks, links.datasets); d != "" {
		t.Errorf("links by source dataset (-want +got):\n%s", d)
	}
	if d, ok := prof.Frags["Email#deletelinked@example.com|"+testDataset]; ok {
		t.Errorf("delete with an identity dataset stored %+v, want it refused", d)
	}
	if len(prof.Frags) != 3 {
		t.Errorf("%d fragments stored, want 3 (two merges, a delete)", len(prof.Frags))
	}
}

func TestHandleIdentityDatasetMessages(t *testing.T) {
	h, _, failed := newTestHandler()
	ev := kinesisEvent(
		opsMessage(testDataset, `{"identity":"create","identityDatasetId":"nope"}`, `{"personalEmail":{"address":"a@example.com"}}`),
		opsMessage(testDataset, `{"identity":"update","identityDatasetId":"`+testDataset+`"}`, `{"personalEmail":{"address":"a@example.com"}}`),
	)
	if _, err := h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"shardId-000000000001|0001|0": {ingest.CodeMessageIdentityDataset, "header.operations.identityDatasetId names a dataset that does not exist"},
		"shardId-000000000001|0002|0": {ingest.CodeMessageOp, "header.operations.identity must be create"},
	}
	got := map[string][2]string{}
	for k, r := range failed.Recs {
		got[k] = [2]string{r.Code, r.Message}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("failed records (-want +got):\n%s", d)
	}
}
