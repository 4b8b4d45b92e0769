package catalog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// nsSource is a fakeSource that also keeps custom namespaces.
type nsSource struct {
	*fakeSource
	ns      []identity.Namespace
	nsReads int
}

func (s *nsSource) ListNamespaces(ctx context.Context) ([]identity.Namespace, error) {
	s.nsReads++
	return append([]identity.Namespace(nil), s.ns...), nil
}

func newNSLoader(t *testing.T) (*SpecLoader, *nsSource, *time.Time) {
	t.Helper()
	s := newSchema(t, xdm.ProfileClass, xdm.PersonalDetailsFieldGroup, xdm.IdentityMapFieldGroup)
	s.ImmutableTags = []string{xdm.UnionTag}
	src := &nsSource{fakeSource: &fakeSource{
		datasets: map[string]Dataset{"ds": {ID: "ds", SchemaRef: SchemaRef{ID: s.ID}, Tags: map[string][]string{"unifiedProfile": {"enabled:true"}}}},
		schemas:  map[string]xdm.Schema{s.ID: s},
	}}
	clock := time.Unix(1000, 0)
	l := NewSpecLoader(src)
	l.Now = func() time.Time { return clock }
	return l, src, &clock
}

// TestNamespaceLookupRereadsOnce checks Namespace: a miss reads the table
// once more before answering unknown.
func TestNamespaceLookupRereadsOnce(t *testing.T) {
	l, src, _ := newNSLoader(t)
	ctx := context.Background()
	if _, ok, _ := l.Namespace(ctx, "Email"); !ok || src.nsReads != 1 {
		t.Fatalf("standard namespace: ok %v after %d reads", ok, src.nsReads)
	}
	src.ns = append(src.ns, identity.Namespace{ID: 1000002, Code: "CustomerID", IDType: identity.TypeCrossDevice, Custom: true})
	if ns, ok, err := l.Namespace(ctx, "customerid"); err != nil || !ok || ns.ID != 1000002 {
		t.Errorf("just-created namespace: %+v %v %v", ns, ok, err)
	}
	if src.nsReads != 2 {
		t.Errorf("%d reads, want 2 (one forced by the miss)", src.nsReads)
	}
}

// TestNamespaceMissFloodIsBounded checks that unknown codes cannot hammer
// the table: forced reads are NamespaceRetry apart, however many misses.
func TestNamespaceMissFloodIsBounded(t *testing.T) {
	l, src, clock := newNSLoader(t)
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		if _, ok, err := l.Namespace(ctx, fmt.Sprintf("Nada%d", i)); ok || err != nil {
			t.Fatalf("unknown namespace found: %v", err)
		}
	}
	if src.nsReads > 2 {
		t.Errorf("1000 misses in one instant made %d reads, want at most 2", src.nsReads)
	}
	*clock = clock.Add(l.NamespaceRetry)
	before := src.nsReads
	for i := 0; i < 100; i++ {
		_, _, _ = l.Namespace(ctx, fmt.Sprintf("Later%d", i))
	}
	if got := src.nsReads - before; got != 1 {
		t.Errorf("%d reads after NamespaceRetry, want 1", got)
	}
	// After the freshness window the list is read again as before.
	*clock = clock.Add(DefaultFreshness)
	before = src.nsReads
	if _, err := l.Namespaces(ctx); err != nil || src.nsReads != before+1 {
		t.Errorf("stale list: %v, %d reads", err, src.nsReads-before)
	}
}

// slowNS is a namespace source whose reads block until released.
type slowNS struct {
	*nsSource
	entered chan struct{}
	release chan struct{}
}

func (s *slowNS) ListNamespaces(ctx context.Context) ([]identity.Namespace, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.nsSource.ListNamespaces(ctx)
}

// TestNamespaceReadIsAwaited checks that a caller arriving while a forced
// read is under way uses that read's list, not the one it replaces.
func TestNamespaceReadIsAwaited(t *testing.T) {
	_, inner, _ := newNSLoader(t)
	src := &slowNS{nsSource: inner, entered: make(chan struct{}, 4), release: make(chan struct{})}
	l := NewSpecLoader(src)
	clock := time.Unix(1000, 0)
	l.Now = func() time.Time { return clock }
	ctx := context.Background()
	go func() { <-src.entered; src.release <- struct{}{} }()
	if _, err := l.Namespaces(ctx); err != nil {
		t.Fatal(err)
	}
	inner.ns = append(inner.ns, identity.Namespace{ID: 1000003, Code: "Fresh", IDType: identity.TypeCrossDevice, Custom: true})
	got := make(chan bool, 1)
	go func() {
		_, ok, _ := l.Namespace(ctx, "Fresh") // forces a read, which blocks
		got <- ok
	}()
	<-src.entered // the forced read is under way
	second := make(chan []identity.Namespace, 1)
	go func() {
		list, _ := l.Namespaces(ctx)
		second <- list
	}()
	select {
	case list := <-second:
		t.Fatalf("a caller used %v while the forced read was under way", list)
	case <-time.After(50 * time.Millisecond): // proving a goroutine still blocks needs a bound; 50 ms is ample for an unblocked call
	}
	src.release <- struct{}{}
	if list := <-second; len(list) != 1 || list[0].Code != "Fresh" {
		t.Errorf("waiting caller got %v, want the fresh list", list)
	}
	if !<-got {
		t.Error("the forcing lookup did not find the fresh namespace")
	}
}

// overrideSource also keeps the tenant's settings of standard namespaces.
type overrideSource struct {
	*nsSource
	overrides []identity.Override
}

func (s *overrideSource) ListNamespaceOverrides(context.Context) ([]identity.Override, error) {
	return append([]identity.Override(nil), s.overrides...), nil
}

// TestNamespaceOverrides checks that Namespace answers a standard namespace
// as the tenant set it, once the loader's freshness has passed.
func TestNamespaceOverrides(t *testing.T) {
	base, ns, clock := newNSLoader(t)
	src := &overrideSource{nsSource: ns}
	l := NewSpecLoader(src)
	l.Now = base.Now
	ctx := context.Background()
	unique := func(code string) bool {
		t.Helper()
		got, ok, err := l.Namespace(ctx, code)
		if err != nil || !ok {
			t.Fatalf("Namespace(%s): %v %v", code, ok, err)
		}
		return got.Unique
	}
	if !unique("CRMID") || unique("Email") {
		t.Fatalf("defaults: CRMID unique %v, Email unique %v; want true, false", unique("CRMID"), unique("Email"))
	}
	src.overrides = []identity.Override{{Code: "CRMID", Unique: false}, {Code: "email", Unique: true}}
	if !unique("crmid") {
		t.Errorf("a setting was seen before the loader's freshness passed")
	}
	*clock = clock.Add(DefaultFreshness)
	if unique("crmid") || !unique("EMAIL") {
		t.Errorf("after the freshness: CRMID unique %v, Email unique %v; want false, true", unique("crmid"), unique("EMAIL"))
	}
	list, _ := l.Namespaces(ctx)
	if ns, ok := identity.Lookup("CRMID", list); !ok || ns.Unique {
		t.Errorf("identity.Lookup on the loader's list: %+v, want CRMID not unique", ns)
	}
}
