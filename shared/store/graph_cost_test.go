package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
)

// The write cost of docs/quality.md P6 under the guardrails, through the
// ingest pipeline: a profile row seen for the first time with 2
// identities costs 3 writes of at most 1 WCU each (its fragment and the
// link's two halves); the same row again, its link known, costs its
// fragment's write and no read. The reads the guardrails add are logged
// (docs/identity-and-merge.md, "Cost").
func TestGraphWriteCost(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		ctx := context.Background()
		counting := &graphCountingDB{DynamoDB: db}
		prof := NewProfiles(counting, table)
		p := &ingest.Pipeline{Fragments: prof, Links: prof, Events: prof}
		spec := &catalog.IngestSpec{DatasetID: "crm", Class: catalog.ProfileClass, ProfileEnabled: true, IdentityEnabled: true,
			Identities: []catalog.IdentityField{{Path: "/personalEmail/address", Namespace: "Email", Primary: true}}}
		row := func(person, ecid int, at int64) ingest.Row {
			return ingest.Row{Data: []byte(fmt.Sprintf(`{"personalEmail":{"address":"p%d@example.com"},"identityMap":{"ECID":[{"id":"%038d"}]},"person":{"name":{"firstName":"%s"}}}`, person, ecid, strings.Repeat("x", 200))),
				Received: time.UnixMilli(at), Src: fmt.Sprintf("s3:k#1:%d", at), Batch: "b1"}
		}
		type cost struct {
			writes, queries, items int64
			wcu, rcu               float64
		}
		measure := func(r ingest.Row) cost {
			t.Helper()
			w0, q0, i0, wu0, ru0 := counting.writes(), counting.queries.Load(), counting.queryItems.Load(), counting.writeUnits.Load(), counting.readUnits.Load()
			if _, err := p.Process(ctx, spec, r); err != nil {
				t.Fatal(err)
			}
			return cost{counting.writes() - w0, counting.queries.Load() - q0, counting.queryItems.Load() - i0,
				float64(counting.writeUnits.Load()-wu0) / 1000, float64(counting.readUnits.Load()-ru0) / 1000}
		}
		first := measure(row(1, 1, 1000))
		t.Logf("first sight, 2 identities: %+v", first)
		if first.writes != 3 || first.wcu > 3 {
			t.Errorf("first sight with 2 identities: %d writes, %.1f WCU; want 3 writes, at most 3 WCU", first.writes, first.wcu)
		}
		known := measure(row(1, 1, 2000))
		t.Logf("known link: %+v", known)
		if known.writes != 1 || known.queries != 0 {
			t.Errorf("a row whose link is known: %d writes, %d queries; want 1 and 0", known.writes, known.queries)
		}
		// The same person on a second device: a new link into a cluster
		// of 2, in a new process (nothing known).
		prof2 := NewProfiles(counting, table)
		p.Fragments, p.Links = prof2, prof2
		grown := measure(row(1, 2, 3000))
		t.Logf("new link into a cluster of 2: %+v", grown)
		if grown.writes != 3 {
			t.Errorf("a new link into a cluster: %d writes, want 3", grown.writes)
		}
		// A new process sees the known link again: reads, no link write.
		prof3 := NewProfiles(counting, table)
		p.Fragments, p.Links = prof3, prof3
		again := measure(row(1, 1, 4000))
		t.Logf("known link, new process: %+v", again)
		if again.writes != 1 {
			t.Errorf("a link stored already, new process: %d writes, want 1 (the fragment)", again.writes)
		}
	})
}
