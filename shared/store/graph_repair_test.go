package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
)

func TestParseClusterCap(t *testing.T) {
	for in, want := range map[string]int{"": DefaultClusterCap, " 50 ": 50, "1": 1, "10000": 10000} {
		if got, err := ParseClusterCap(in); err != nil || got != want {
			t.Errorf("ParseClusterCap(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-3", "10001", "fifty", "5.5"} {
		_, err := ParseClusterCap(in)
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Code != "CONFIG-CLUSTER-CAP" {
			t.Errorf("ParseClusterCap(%q) = %v, want Invalid CONFIG-CLUSTER-CAP", in, err)
		}
	}
}

// planRepair, applied to random graphs, keeps exactly the links the
// plain reference implementation of the rules keeps (refRepair, in
// graph_r6_test.go): uniqueness over links taken oldest first, then the
// cap by type priority, last sighting and key.
func TestPlanRepairMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	nsTypes := []struct{ ns, typ string }{
		{"CRMID", identity.TypeCrossDevice}, {"ECID", identity.TypeCookie}, {"GAID", identity.TypeDevice},
		{"Email", identity.TypeEmail}, {"Phone", identity.TypePhone},
	}
	for round := range 500 {
		n := 2 + r.IntN(30)
		capacity := 2 + r.IntN(12)
		keys := make([]string, n)
		types := map[string]string{}
		for i := range keys {
			nt := nsTypes[r.IntN(len(nsTypes))]
			keys[i] = fmt.Sprintf("%s#v%02d", nt.ns, i)
			types[keys[i]] = nt.typ
		}
		v := &graphView{nodes: map[string]*graphNode{}}
		for _, k := range keys {
			id, _ := identity.ParseKey(k)
			v.nodes[k] = &graphNode{id: id, idType: types[k], halves: map[string]linkHalf{}}
		}
		var union []refLink
		seen := map[string]bool{}
		for range r.IntN(3 * n) {
			a, b := keys[r.IntN(n)], keys[r.IntN(n)]
			if a == b || seen[min(a, b)+max(a, b)] {
				continue
			}
			seen[min(a, b)+max(a, b)] = true
			at := int64(r.IntN(40)) // ties on purpose
			info := LinkInfo{First: at, Last: at}
			v.nodes[a].halves[b], v.nodes[b].halves[a] = linkHalf{info: info}, linkHalf{info: info}
			union = append(union, refLink{a: min(a, b), b: max(a, b), at: at})
		}
		unique := uniqueSet{"CRMID": true, "Phone": r.IntN(2) == 0}
		plan := planRepair(v, capacity, unique, func(k string) string { return types[k] }, nil)
		got := map[string]bool{}
		for _, e := range v.edges() {
			got[e.key()] = true
		}
		for _, rm := range plan.removed {
			delete(got, rm.e.key())
		}
		for _, ev := range plan.evicted {
			for _, e := range ev.links {
				delete(got, e.key())
			}
		}
		want := refRepair(union, capacity, func(ns string) bool { return unique[ns] }, func(k string) string { return types[k] })
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round %d (%d identities, cap %d): links kept (-reference +planRepair):\n%s", round, n, capacity, diff)
		}
	}
}

// A link found on one node only counts as a link, and the repair
// completes it only when it is the caller's own.
func TestPlanRepairCompletesOnlyOwnLinks(t *testing.T) {
	a, b, c := "Email#a", "ECID#b", "Phone#c"
	v := &graphView{nodes: map[string]*graphNode{}}
	for _, k := range []string{a, b, c} {
		id, _ := identity.ParseKey(k)
		v.nodes[k] = &graphNode{id: id, halves: map[string]linkHalf{}}
	}
	info := LinkInfo{First: 1, Last: 2, Dataset: "ds", Source: "s", LastDataset: "ds", LastSource: "s2"}
	v.nodes[a].halves[b] = linkHalf{info: info} // b's half missing
	v.nodes[c].halves[a] = linkHalf{info: info} // a's half missing
	plan := planRepair(v, 50, uniqueSet{}, func(string) string { return "" }, map[string]bool{profLinkCacheKey(a, b): true})
	want := []halfCopy{{node: b, nb: a, info: info}}
	if diff := cmp.Diff(want, plan.completed, cmp.AllowUnexported(halfCopy{})); diff != "" {
		t.Errorf("completed (-want +got):\n%s", diff)
	}
	if len(plan.removed)+len(plan.evicted) != 0 {
		t.Errorf("plan removes %+v, want nothing", plan)
	}
}
