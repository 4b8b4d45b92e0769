package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// refLink is a link of the reference repair: its two ends and when it
// was seen (first and last, one record each here).
type refLink struct {
	a, b string // keys, a < b
	at   int64
}

// refRepair is the guardrails' rule applied to a whole graph at once,
// written as plainly as possible to check the store against: links taken
// by (time, key), a link joining two values of a unique namespace
// dropped; then, while a cluster has more than capacity identities, the
// one of the lowest type priority, oldest last seen, smallest key loses
// all its links. It returns the links kept.
func refRepair(links []refLink, capacity int, unique func(ns string) bool, typeOf func(key string) string) map[string]bool {
	sort.Slice(links, func(i, j int) bool {
		if links[i].at != links[j].at {
			return links[i].at < links[j].at
		}
		return links[i].a+"\x00"+links[i].b < links[j].a+"\x00"+links[j].b
	})
	var sets []map[string]bool
	setOf := func(k string) int {
		for i, s := range sets {
			if s[k] {
				return i
			}
		}
		sets = append(sets, map[string]bool{k: true})
		return len(sets) - 1
	}
	var kept []refLink
	for _, l := range links {
		i, j := setOf(l.a), setOf(l.b)
		if i == j {
			kept = append(kept, l)
			continue
		}
		clash := false
		for x := range sets[i] {
			for y := range sets[j] {
				if ns := strings.SplitN(x, "#", 2)[0]; unique(ns) && ns == strings.SplitN(y, "#", 2)[0] {
					clash = true
				}
			}
		}
		if clash {
			continue
		}
		for y := range sets[j] {
			sets[i][y] = true
		}
		sets = append(sets[:j], sets[j+1:]...)
		kept = append(kept, l)
	}
	for {
		// The clusters of what is kept.
		var comps []map[string]bool
		for _, l := range kept {
			var in []int
			for i, c := range comps {
				if c[l.a] || c[l.b] {
					in = append(in, i)
				}
			}
			merged := map[string]bool{l.a: true, l.b: true}
			for k := len(in) - 1; k >= 0; k-- {
				for x := range comps[in[k]] {
					merged[x] = true
				}
				comps = append(comps[:in[k]], comps[in[k]+1:]...)
			}
			comps = append(comps, merged)
		}
		var over map[string]bool
		for _, c := range comps {
			if len(c) > capacity {
				over = c
				break
			}
		}
		if over == nil {
			break
		}
		victim, vPrio, vSeen := "", 0, int64(0)
		for x := range over {
			var seen int64
			for _, l := range kept {
				if (l.a == x || l.b == x) && l.at > seen {
					seen = l.at
				}
			}
			prio := identity.EvictionPriority(typeOf(x))
			if victim == "" || prio < vPrio || prio == vPrio && (seen < vSeen || seen == vSeen && x < victim) {
				victim, vPrio, vSeen = x, prio, seen
			}
		}
		var rest []refLink
		for _, l := range kept {
			if l.a != victim && l.b != victim {
				rest = append(rest, l)
			}
		}
		kept = rest
	}
	out := map[string]bool{}
	for _, l := range kept {
		out[l.a+"\x00"+l.b] = true
	}
	return out
}

// R6 (docs/quality.md): 16 writers, each a process of its own, write at
// once records whose links would fuse four customers' clusters through
// shared cookies (CRMID is unique) and take a fifth customer's cluster
// far past the cap of 10; every record goes to two writers, so links are
// also replayed concurrently. Afterwards every cluster is within the cap,
// no cluster holds two CRMIDs, every link is on both its nodes, and the
// graph is exactly the reference repair of the union of all the links:
// no link that should be kept is lost, none that should go is left.
func TestGraphConcurrentWritersConverge(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		db, table := newTestTable(t)
		const capacity, writers = 10, 16
		r := rand.New(rand.NewPCG(6, uint64(len(t.Name()))))
		ats := r.Perm(1000)
		next := 0
		at := func() int64 { next++; return int64(10000 + ats[next]) }
		types := map[string]string{}
		typed := func(id identity.ID, typ string) identity.ID { types[id.Key()] = typ; return id }
		link := func(a, b identity.ID) identity.Link {
			return graphLink(a, types[a.Key()], b, types[b.Key()], at(), "ds", fmt.Sprint("b", next))
		}
		var records [][]identity.Link
		// Four customers, each with an e-mail and three cookies of its
		// own (a record of two links, then one link each), and four
		// cookies each seen with two or three of them: fused, the
		// cluster would hold 24 identities and four CRMIDs; kept apart,
		// none passes 9.
		var customers []identity.ID
		for i := range 4 {
			c := typed(graphCRM(fmt.Sprint("C", i)), identity.TypeCrossDevice)
			customers = append(customers, c)
			email := typed(identity.ID{Namespace: "Email", Value: fmt.Sprintf("c%d@example.com", i)}, identity.TypeEmail)
			own := typed(graphECID(100+10*i), identity.TypeCookie)
			records = append(records, []identity.Link{link(c, email), link(c, own)})
			for j := 1; j < 3; j++ {
				records = append(records, []identity.Link{link(c, typed(graphECID(100+10*i+j), identity.TypeCookie))})
			}
		}
		for s := range 4 {
			shared := typed(graphECID(900+s), identity.TypeCookie)
			for _, i := range r.Perm(4)[:2+s%2] {
				records = append(records, []identity.Link{link(customers[i], shared)})
			}
		}
		// A fifth customer seen with 20 cookies and 5 devices: 27
		// identities for a cap of 10.
		c5 := typed(graphCRM("C5"), identity.TypeCrossDevice)
		e5 := typed(identity.ID{Namespace: "Email", Value: "c5@example.com"}, identity.TypeEmail)
		records = append(records, []identity.Link{link(c5, e5)})
		for j := range 25 {
			id, typ := graphECID(500+j), identity.TypeCookie
			if j%5 == 0 {
				id, typ = identity.ID{Namespace: "GAID", Value: fmt.Sprintf("gaid-%02d", j)}, identity.TypeDevice
			}
			records = append(records, []identity.Link{link(c5, typed(id, typ))})
		}

		work := make([][][]identity.Link, writers)
		var union []refLink
		for _, rec := range records {
			for _, w := range r.Perm(writers)[:2] {
				work[w] = append(work[w], rec)
			}
			for _, l := range rec {
				a, b := l.A.Key(), l.B.Key()
				union = append(union, refLink{a: min(a, b), b: max(a, b), at: l.At})
			}
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			r.Shuffle(len(work[w]), func(i, j int) { work[w][i], work[w][j] = work[w][j], work[w][i] })
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := NewProfiles(db, table)
				p.SetGraphRules(GraphRules{Cap: capacity})
				<-start
				for _, rec := range work[w] {
					if err := p.PutLinks(context.Background(), rec); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("PutLinks: %v", err)
		}

		links := graphLinks(t, db, table)
		graphCheckGuardrails(t, links, capacity, "CRMID")
		want := refRepair(union, capacity, func(ns string) bool { return ns == "CRMID" }, func(k string) string { return types[k] })
		for k := range want {
			if _, ok := links[k]; !ok {
				t.Errorf("lost: the link %s should be kept", strings.ReplaceAll(k, "\x00", " - "))
			}
		}
		for k := range links {
			if !want[k] {
				t.Errorf("left: the link %s should be gone", strings.ReplaceAll(k, "\x00", " - "))
			}
		}
		t.Logf("%d records, %d links kept of %d", len(records), len(links), len(union))
	})
}
