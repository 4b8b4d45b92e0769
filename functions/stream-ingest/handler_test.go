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
