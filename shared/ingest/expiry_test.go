package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
)

// TestProcessEventExpiry: an event of a dataset with a row expiration
// expires at its timestamp plus the TTL (epoch seconds, rounded up, so
// never early), whenever it is ingested; without one it never expires.
func TestProcessEventExpiry(t *testing.T) {
	withTTL := *eventSpec
	withTTL.RowExpiration = 24 * time.Hour
	ts := time.Date(2024, 2, 23, 22, 7, 1, 250e6, time.UTC)
	for _, tc := range []struct {
		name string
		spec *catalog.IngestSpec
		want int64
	}{
		{"no row expiration", eventSpec, 0},
		// 22:07:01.250 + 1 day, rounded up to the second.
		{"P1D", &withTTL, ts.Add(24*time.Hour).Unix() + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
			row := Row{Data: []byte(`{"_id":"e1","timestamp":"` + ts.Format(time.RFC3339Nano) + `","identityMap":{"Email":[{"id":"a@example.com","primary":true}]}}`),
				Src: "kinesis:s:1", Received: time.Now()}
			if _, err := p.Process(context.Background(), tc.spec, row); err != nil {
				t.Fatal(err)
			}
			if len(rec.events) != 1 {
				t.Fatalf("got %d events, want 1", len(rec.events))
			}
			if got := rec.events[0].ExpiresAt; got != tc.want {
				t.Errorf("ExpiresAt = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestExpiresAtNeverEarly(t *testing.T) {
	for _, tc := range []struct {
		ts   int64
		ttl  time.Duration
		want int64
	}{
		{0, 24 * time.Hour, 86400},
		{1, 24 * time.Hour, 86401},
		{999, 24 * time.Hour, 86401},
		{1000, 24 * time.Hour, 86401},
		{1001, time.Hour, 3602},
	} {
		if got := expiresAt(tc.ts, tc.ttl); got != tc.want {
			t.Errorf("expiresAt(%d, %v) = %d, want %d", tc.ts, tc.ttl, got, tc.want)
		}
		if got := expiresAt(tc.ts, tc.ttl); got*1000 < tc.ts+tc.ttl.Milliseconds() {
			t.Errorf("expiresAt(%d, %v) = %d s is before the event's expiry", tc.ts, tc.ttl, got)
		}
	}
}
