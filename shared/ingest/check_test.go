package ingest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
)

// TestCheckRefusesWhatProcessRefuses runs the same rows through Check and
// Process: every row gets the same outcome and the same refusal, and Check
// writes nothing.
func TestCheckRefusesWhatProcessRefuses(t *testing.T) {
	ecid := strings.Repeat("7", 38)
	upserts := upsertSpec(t)
	notIdentity := *p1ProfileSpec(t)
	notIdentity.IdentityEnabled = false
	email := `"personalEmail":{"address":"a@example.com"}`
	rows := []struct {
		spec    *catalog.IngestSpec
		data    string
		op, ids string
	}{
		// Partial rows: merges (an upsert dataset's, or streamed) and deletes.
		{upserts, `{"identityMap":{"Email":[{"id":"a@example.com","primary":true}],"ECID":[{"id":"` + ecid + `"}]},"person":{"name":{"firstName":null}}}`, "", ""},
		{upserts, `{` + email + `,"extSourceSystemAudit":{"lastUpdatedDate":"2099-01-01T00:00:00Z"},"mobilePhone":null}`, "", ""},
		{upserts, `{` + email + `,"identityMap":{"ECID":null}}`, "", ""},
		{upserts, `{` + email + `,"person":{"nickName":null,"birthYear":"soon"}}`, "", ""},
		{upserts, `{"person":{"name":{"firstName":"A"}}}`, "", ""},
		{&notIdentity, `{` + email + `,"identityMap":{"ECID":[{"id":"` + ecid + `"}]}}`, OpMerge, "ids"},
		{&notIdentity, `{` + email + `,"identityMap":{"ECID":[{"id":"` + ecid + `"}]}}`, OpCreate, "ids"},
		{&notIdentity, `{` + email + `,"identityMap":{"ECID":[{"id":"` + ecid + `"}]},"x":null}`, OpDelete, "ids"},
		{&notIdentity, `{` + email + `,"x":1}`, OpDelete, ""},
		{eventSpec, `{"_id":"e1","timestamp":"2026-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"` + ecid + `","primary":true}]}}`, OpMerge, ""},
		{profileSpec, `{` + email + `}`, "put", ""},
		{profileSpec, `{"personalEmail":{"address":"a@example.com"},"loyaltyId":"L-1","identityMap":{"ECID":[{"id":"` + ecid + `"}]}}`, "", ""},
		{profileSpec, `{"personalEmail":{"address":"b@example.com"},"extSourceSystemAudit":{"lastUpdatedDate":"2099-01-01T00:00:00Z"}}`, "", ""},
		{profileSpec, `{"personalEmail":`, "", ""},
		{profileSpec, `[1,2]`, "", ""},
		{profileSpec, `{"loyaltyId":"L-2"}`, "", ""},
		{profileSpec, `{"identityMap":{"NOPE":[{"id":"x"}]}}`, "", ""},
		{eventSpec, `{"_id":"e1","timestamp":"2026-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"` + ecid + `","primary":true}],"Email":[{"id":"c@example.com"}]}}`, "", ""},
		{eventSpec, `{"timestamp":"2026-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"` + ecid + `","primary":true}]}}`, "", ""},
		{eventSpec, `{"_id":"e2","timestamp":"yesterday","identityMap":{"ECID":[{"id":"` + ecid + `","primary":true}]}}`, "", ""},
		{&catalog.IngestSpec{DatasetID: "x", Class: "other", ProfileEnabled: true}, `{}`, "", ""},
		{&catalog.IngestSpec{DatasetID: "x", Class: catalog.ProfileClass}, `{}`, "", ""},
	}
	refusals := 0
	for i, r := range rows {
		row := Row{Data: []byte(r.data), Received: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Src: "s", Batch: "b", Op: r.op, IdentityDataset: r.ids}
		checked := &recorder{}
		cOut, cErr := (&Pipeline{Fragments: checked, Links: checked, Events: checked}).Check(context.Background(), r.spec, row)
		processed := &recorder{}
		pOut, pErr := (&Pipeline{Fragments: processed, Links: processed, Events: processed}).Process(context.Background(), r.spec, row)
		if diff := cmp.Diff(pOut, cOut); diff != "" {
			t.Errorf("row %d: outcome of Check differs from Process (-process +check):\n%s", i, diff)
		}
		cc, cm := Describe(cErr)
		pc, pm := Describe(pErr)
		if (cErr == nil) != (pErr == nil) || cc != pc || cm != pm {
			t.Errorf("row %d: Check refused with %v, Process with %v", i, cErr, pErr)
		}
		if cErr != nil {
			refusals++
		}
		if len(checked.frags)+len(checked.events)+len(checked.links) > 0 {
			t.Errorf("row %d: Check wrote %d fragments, %d events, %d links", i, len(checked.frags), len(checked.events), len(checked.links))
		}
		if pErr == nil && len(processed.frags)+len(processed.events) == 0 {
			t.Errorf("row %d: Process accepted the row but wrote nothing", i)
		}
		if pErr == nil && pOut.Links != len(processed.links) {
			t.Errorf("row %d: outcome counts %d links, Process wrote %d", i, pOut.Links, len(processed.links))
		}
	}
	if refusals < 10 || refusals == len(rows) {
		t.Errorf("%d of %d rows refused: the sample must hold both kinds", refusals, len(rows))
	}
}
