package profile

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// TestTimelinePagesAreBoundedInBytes reads 1,000 events of 10 KB each
// (10 MB, over Lambda's 6 MB response limit) with the largest page size:
// every page stays under topology.MaxPageBytes, and following next reads
// every event exactly once, in order, in both directions.
func TestTimelinePagesAreBoundedInBytes(t *testing.T) {
	a := identity.ID{Namespace: "Email", Value: "big@example.com"}
	pad := strings.Repeat("x", 10*1024)
	var evs []merge.Event
	for i := 0; i < MaxEventsPerPage; i++ {
		evs = append(evs, merge.Event{Identity: a.Key(), ID: fmt.Sprintf("e%04d", i), Timestamp: int64(1000 + i/3),
			Record: map[string]any{"_id": fmt.Sprintf("e%04d", i), "pad": pad}})
	}
	s := &Service{Graph: &fakeGraph{members: []identity.ID{a}}, Events: fakeEvents{a: evs}}
	for _, desc := range []bool{false, true} {
		t.Run(fmt.Sprint("descending=", desc), func(t *testing.T) {
			q := EventQuery{Namespace: "Email", Value: a.Value, Limit: MaxEventsPerPage, Descending: desc}
			seen := map[string]bool{}
			var order []string
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatal("paging does not end")
				}
				page, err := s.Timeline(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(page.Children)
				if len(b) > topology.MaxPageBytes || len(page.Children) == 0 {
					t.Fatalf("page %d: %d events in %d bytes, want 1 or more in at most %d", pages, len(page.Children), len(b), topology.MaxPageBytes)
				}
				for _, c := range page.Children {
					if seen[c.EntityID] {
						t.Fatalf("event %s served twice", c.EntityID)
					}
					seen[c.EntityID] = true
					order = append(order, c.EntityID)
				}
				if page.Next == "" {
					break
				}
				q.Start = page.Next
			}
			if len(order) != MaxEventsPerPage {
				t.Fatalf("%d events over all pages, want %d", len(order), MaxEventsPerPage)
			}
			for i := 1; i < len(order); i++ {
				if (order[i] < order[i-1]) != desc {
					t.Fatalf("events out of order at %d: %s after %s", i, order[i], order[i-1])
				}
			}
		})
	}
}
