package profile

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// MaxEventsPerPage is the most events one page returns (docs/rules.md#limits); a
// page also ends where its JSON would pass EventQuery.MaxBytes.
const MaxEventsPerPage = 1000

// maxEventTime is the largest epoch ms of 13 digits, the width of the
// event sort key.
const maxEventTime = 9999999999999

// EventQuery selects a profile's events.
type EventQuery struct {
	Namespace, Value string
	From, To         int64 // epoch ms; From inclusive, To exclusive
	Limit            int
	Descending       bool
	// Start is the cursor of a previous page's next, or empty.
	Start  string
	Fields []string
	// MaxBytes bounds the JSON of the page's children; 0 means
	// topology.MaxPageBytes. A page holds at least one event.
	MaxBytes int
}

// EventChild is one event of the answer, AEP's shape.
type EventChild struct {
	RelatedEntityID string         `json:"relatedEntityId"`
	EntityID        string         `json:"entityId"`
	Timestamp       int64          `json:"timestamp"`
	Entity          map[string]any `json:"entity"`
	LastModifiedAt  string         `json:"lastModifiedAt"`
}

// EventPage is one page of a profile's timeline.
type EventPage struct {
	Children []EventChild
	// Next is the cursor of the next page, empty on the last.
	Next string
	// RelatedEntityID is the asked identity's entity id (EntityID), the
	// relatedEntityId of every child.
	RelatedEntityID string
}

// Timeline returns a page of the events of the cluster of the asked
// identity, ordered by timestamp: the union of every member's events. An
// identity with no events has an empty page. Errors: the namespace's and
// value's Invalid errors, Invalid EVENTS-CURSOR (a start this API did not
// give), Unprocessable CodeClusterTooLarge (the cluster has more
// identities than the cap: part of a timeline would look whole), and the
// store's.
func (s *Service) Timeline(ctx context.Context, q EventQuery) (EventPage, error) {
	id, err := s.normalize(ctx, q.Namespace, q.Value)
	if err != nil {
		return EventPage{}, err
	}
	if q.Limit <= 0 || q.Limit > MaxEventsPerPage {
		q.Limit = MaxEventsPerPage
	}
	if q.To <= 0 || q.To > maxEventTime {
		q.To = maxEventTime
	}
	var afterTS int64 = -1
	afterID := ""
	if q.Start != "" {
		ts, eid, ok := strings.Cut(q.Start, ":")
		n, err := strconv.ParseInt(ts, 10, 64)
		if !ok || err != nil {
			return EventPage{}, fault.E(fault.Invalid, "EVENTS-CURSOR", "start is not a cursor this API returned")
		}
		afterTS, afterID = n, eid
		if q.Descending {
			q.To = n + 1
		} else {
			q.From = n
		}
	}
	c, err := s.Graph.Cluster(ctx, id, true, s.cap())
	if err != nil {
		return EventPage{}, err
	}
	if c.Truncated {
		return EventPage{}, s.clusterTooLarge()
	}
	// An identity seen only in events has no node and no fragment, so the
	// graph does not know it; its own events are still its timeline.
	members := c.Members
	if !c.Found {
		members = []identity.ID{id}
	}
	// Each member gives one event more than a page, which tells whether
	// another page exists. Events the cursor has already served (its own
	// timestamp) are dropped afterwards, so when a member gave a full
	// window and too few events remain, read again with a wider one.
	fetch := q.Limit + 1
	var all []merge.Event
	for {
		all = all[:0]
		full := false
		for _, m := range members {
			evs, err := s.Events.Events(ctx, m, q.From, q.To, fetch, q.Descending)
			if err != nil {
				return EventPage{}, err
			}
			full = full || len(evs) == fetch
			all = append(all, evs...)
		}
		all = merge.Timeline(all, q.Descending)
		if afterTS >= 0 {
			kept := all[:0]
			for _, e := range all {
				past := e.Timestamp > afterTS || (e.Timestamp == afterTS && e.ID > afterID)
				if q.Descending {
					past = e.Timestamp < afterTS || (e.Timestamp == afterTS && e.ID < afterID)
				}
				if past {
					kept = append(kept, e)
				}
			}
			all = kept
		}
		if len(all) > q.Limit || !full || fetch >= 4*MaxEventsPerPage {
			break
		}
		fetch *= 2
	}
	var page EventPage
	more := len(all) > q.Limit
	if more {
		all = all[:q.Limit]
	}
	budget := q.MaxBytes
	if budget <= 0 {
		budget = topology.MaxPageBytes
	}
	rel := EntityID(id)
	page.RelatedEntityID = rel
	page.Children = make([]EventChild, 0, len(all))
	size := 2 // the brackets of the array
	for i, e := range all {
		ent := e.Record
		if len(q.Fields) > 0 {
			ent = Project(ent, q.Fields)
		}
		c := EventChild{
			RelatedEntityID: rel, EntityID: e.ID, Timestamp: e.Timestamp, Entity: ent,
			LastModifiedAt: time.UnixMilli(e.Timestamp).UTC().Format(time.RFC3339),
		}
		b, err := json.Marshal(c)
		if err != nil {
			return EventPage{}, fault.Wrap(err, fault.Internal, "EVENTS-ENCODE", "event could not be encoded")
		}
		size += len(b) + 1
		if size > budget && i > 0 {
			// The bytes ran out: the next page starts at this event.
			all, more = all[:i], true
			break
		}
		page.Children = append(page.Children, c)
	}
	if more {
		last := all[len(all)-1]
		page.Next = strconv.FormatInt(last.Timestamp, 10) + ":" + last.ID
	}
	return page, nil
}
