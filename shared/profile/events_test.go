package profile

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

// fakeEvents keeps events per identity and answers windows as the store
// does: from inclusive, to exclusive, ordered, at most limit.
type fakeEvents map[identity.ID][]merge.Event

func (f fakeEvents) Events(_ context.Context, id identity.ID, from, to int64, limit int, desc bool) ([]merge.Event, error) {
	var out []merge.Event
	for _, e := range f[id] {
		if e.Timestamp >= from && e.Timestamp < to {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if desc {
			return out[i].Timestamp > out[j].Timestamp
		}
		return out[i].Timestamp < out[j].Timestamp
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func eventsAt(id identity.ID, times ...int64) []merge.Event {
	var out []merge.Event
	for _, ts := range times {
		out = append(out, merge.Event{Identity: id.Key(), ID: fmt.Sprintf("%s-%d", id.Value, ts), Timestamp: ts, Record: map[string]any{"n": ts}})
	}
	return out
}

func timestamps(p EventPage) []int64 {
	var out []int64
	for _, c := range p.Children {
		out = append(out, c.Timestamp)
	}
	return out
}

func TestTimeline(t *testing.T) {
	a := identity.ID{Namespace: "Email", Value: "a@example.com"}
	b := identity.ID{Namespace: "CRMID", Value: "C1"}
	loner := identity.ID{Namespace: "Email", Value: "events-only@example.com"}
	ev := fakeEvents{a: eventsAt(a, 10, 30, 50), b: eventsAt(b, 20, 40), loner: eventsAt(loner, 5, 15, 25)}
	s := &Service{Graph: &fakeGraph{members: []identity.ID{a, b}}, Events: ev}

	tests := []struct {
		name  string
		q     EventQuery
		pages [][]int64
	}{
		{"the cluster's events, oldest first", EventQuery{Namespace: "Email", Value: "a@example.com"}, [][]int64{{10, 20, 30, 40, 50}}},
		{"newest first in pages of two", EventQuery{Namespace: "Email", Value: "a@example.com", Limit: 2, Descending: true}, [][]int64{{50, 40}, {30, 20}, {10}}},
		{"a window: start inclusive, end exclusive", EventQuery{Namespace: "Email", Value: "a@example.com", From: 20, To: 40}, [][]int64{{20, 30}}},
		{"an identity known only by its events", EventQuery{Namespace: "Email", Value: "Events-Only@example.com"}, [][]int64{{5, 15, 25}}},
		{"one identity, newest first, a page each", EventQuery{Namespace: "Email", Value: "events-only@example.com", Limit: 1, Descending: true}, [][]int64{{25}, {15}, {5}}},
		{"one identity, oldest first, pages of two", EventQuery{Namespace: "Email", Value: "events-only@example.com", Limit: 2}, [][]int64{{5, 15}, {25}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			for i, want := range tt.pages {
				page, err := s.Timeline(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				if got := timestamps(page); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("page %d = %v, want %v", i, got, want)
				}
				if last := i == len(tt.pages)-1; last != (page.Next == "") {
					t.Fatalf("page %d next = %q, want a cursor only before the last page", i, page.Next)
				}
				q.Start = page.Next
			}
		})
	}

	page, err := s.Timeline(context.Background(), EventQuery{Namespace: "Email", Value: "nobody@example.com"})
	if err != nil || len(page.Children) != 0 || page.Next != "" {
		t.Errorf("unknown identity: got %+v, %v; want an empty last page", page, err)
	}
}
