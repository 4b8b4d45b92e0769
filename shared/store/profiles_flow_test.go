package store

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/profile"
)

// profCountingDB counts write requests.
type profCountingDB struct {
	DynamoDB
	writes atomic.Int64
}

func (c *profCountingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.writes.Add(1)
	return c.DynamoDB.PutItem(ctx, in, o...)
}

func (c *profCountingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.writes.Add(1)
	return c.DynamoDB.UpdateItem(ctx, in, o...)
}

// TestProfilesIngestToLookup runs rows through the ingest pipeline into
// the profile table and reads the merged profile back, as the functions do.
func TestProfilesIngestToLookup(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		counting := &profCountingDB{DynamoDB: db}
		prof := NewProfiles(counting, table)
		p := &ingest.Pipeline{Fragments: prof, Links: prof, Events: prof}
		crm := &catalog.IngestSpec{DatasetID: "crm", Class: catalog.ProfileClass, ProfileEnabled: true, IdentityEnabled: true,
			Identities: []catalog.IdentityField{{Path: "/crmId", Namespace: "CRMID", Primary: true}, {Path: "/personalEmail/address", Namespace: "Email"}}}
		web := &catalog.IngestSpec{DatasetID: "web", Class: catalog.ProfileClass, ProfileEnabled: true, IdentityEnabled: true}
		ecid := strings.Repeat("9", 38)
		rows := []struct {
			spec *catalog.IngestSpec
			row  ingest.Row
		}{
			{crm, ingest.Row{Data: []byte(`{"crmId":"C-1","personalEmail":{"address":"Jane@Example.com"},"person":{"name":{"firstName":"Jane","lastName":"Doe"}}}`),
				Received: time.UnixMilli(1000), Src: "s3:crm#e:0000000001", Batch: "b1"}},
			{web, ingest.Row{Data: []byte(`{"identityMap":{"ECID":[{"id":"` + ecid + `","primary":true}],"Email":[{"id":"jane@example.com"}]},"person":{"name":{"firstName":"J"}}}`),
				Received: time.UnixMilli(2000), Src: "kinesis:s:1", Batch: "kinesis:s:1"}},
			// An older CRM update arriving late loses.
			{crm, ingest.Row{Data: []byte(`{"crmId":"C-1","person":{"name":{"lastName":"Old"}}}`),
				Received: time.UnixMilli(500), Src: "s3:crm#e:0000000009", Batch: "b0"}},
		}
		svc := &profile.Service{Graph: prof, Events: prof}
		policy, _ := merge.Default(merge.ProfileSchema)
		var e profile.Entity
		for round := 0; round < 2; round++ { // the second round replays everything
			for _, r := range rows {
				if _, err := p.Process(ctx, r.spec, r.row); err != nil {
					t.Fatalf("Process: %v", err)
				}
			}
			res, err := svc.Lookup(ctx, profile.LookupQuery{Namespace: "crmid", Value: "C-1", Policy: policy, Provenance: true})
			if err != nil {
				t.Fatal(err)
			}
			if round == 0 {
				e = res
				continue
			}
			if diff := cmp.Diff(e, res); diff != "" {
				t.Errorf("replay changed the profile (-once +twice):\n%s", diff)
			}
		}
		// Provenance names the row each attribute came from.
		for path, want := range map[string]string{"person.name.firstName": "web kinesis:s:1 ", "person.name.lastName": "crm s3:crm#e:0000000001 b1"} {
			if o := e.Provenance[path]; o.DataSetID+" "+o.Source+" "+o.BatchID != want {
				t.Errorf("provenance of %s = %+v, want %s", path, o, want)
			}
		}
		wantEntity := map[string]any{
			"crmId":         "C-1",
			"personalEmail": map[string]any{"address": "Jane@Example.com"},
			"person":        map[string]any{"name": map[string]any{"firstName": "J", "lastName": "Doe"}},
			"identityMap":   map[string]any{"ECID": []any{map[string]any{"id": ecid, "primary": true}}, "Email": []any{map[string]any{"id": "jane@example.com"}}},
		}
		if diff := cmp.Diff(wantEntity, e.Entity); diff != "" {
			t.Errorf("merged entity (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"crm", "web"}, e.Sources); diff != "" {
			t.Errorf("sources (-want +got):\n%s", diff)
		}
		if len(e.Identities) != 3 {
			t.Errorf("got %d cluster identities, want 3 (CRMID, Email, ECID)", len(e.Identities))
		}

		// Steady state: a known row costs one write, its links being cached.
		before := counting.writes.Load()
		for range 5 {
			if _, err := p.Process(ctx, rows[0].spec, rows[0].row); err != nil {
				t.Fatal(err)
			}
		}
		if got := counting.writes.Load() - before; got != 5 {
			t.Errorf("5 known rows cost %d writes, want 5", got)
		}
	})
}

// TestProfilesKnownLinkEitherWay: a link written from its e-mail side (a
// profile row) is known when an event names it from its ECID side, so the
// event costs its own write only.
func TestProfilesKnownLinkEitherWay(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		counting := &profCountingDB{DynamoDB: db}
		prof := NewProfiles(counting, table)
		email, ecid := identity.ID{Namespace: "Email", Value: "jane@example.com"}, identity.ID{Namespace: "ECID", Value: strings.Repeat("7", 38)}
		if err := prof.PutLinks(ctx, []identity.Link{{A: email, B: ecid, AType: "EMAIL", BType: "COOKIE", Dataset: "crm", At: 1}}); err != nil {
			t.Fatal(err)
		}
		before := counting.writes.Load()
		if err := prof.PutLinks(ctx, []identity.Link{{A: ecid, B: email, AType: "COOKIE", BType: "EMAIL", Dataset: "web", At: 2}}); err != nil {
			t.Fatal(err)
		}
		if got := counting.writes.Load() - before; got != 0 {
			t.Errorf("the known link named the other way round cost %d writes, want 0", got)
		}
	})
}
