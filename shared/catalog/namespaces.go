package catalog

import (
	"context"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// DefaultNamespaceRetry is the default SpecLoader.NamespaceRetry.
const DefaultNamespaceRetry = time.Second

// nsCache is the SpecLoader's copy of the tenant's custom namespaces. It is
// read again when older than the loader's Freshness, and sooner when a
// code it does not know was asked for (a miss): a namespace created a
// moment ago is then usable at once. Reads forced by misses are at least
// NamespaceRetry apart. Guarded by SpecLoader.mu.
type nsCache struct {
	list    []identity.Namespace
	loaded  bool
	checked time.Time     // when list was read
	forced  time.Time     // when a miss last forced a read
	missed  bool          // a miss asks for a read before list is used again
	reading chan struct{} // closed when the read a miss forced ends
}

// miss records that code was asked for and is unknown; it reports whether
// that allows a forced read now (NamespaceRetry since the last one).
func (l *SpecLoader) miss(now time.Time) bool {
	if l.ns.missed {
		return true
	}
	if l.ns.loaded && now.Sub(l.ns.forced) < l.NamespaceRetry {
		return false
	}
	l.ns.missed = true
	return true
}

// Namespaces lists the tenant's identity namespaces: its custom ones and
// the standard ones whose settings it changed, as changed (identity.
// Overridden; nil when the source keeps none). The list is cached for the
// loader's freshness window, and read again sooner when a code it did not
// know was asked of Namespace. Callers that arrive while such a read is
// under way wait for it, so none of them decides on the list the read
// replaces. Use it with identity.Lookup(code, list), which prefers it to
// identity.Standard. When a read fails transiently, the last good list is
// served.
func (l *SpecLoader) Namespaces(ctx context.Context) ([]identity.Namespace, error) {
	src, ok := l.src.(NamespaceSource)
	if !ok {
		return nil, nil
	}
	now := l.Now()
	l.mu.Lock()
	if wait := l.ns.reading; wait != nil {
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fault.Wrap(ctx.Err(), fault.Unavailable, "NAMESPACES-WAIT", "stopped waiting for the identity namespaces")
		}
		l.mu.Lock()
	}
	if l.ns.loaded && !l.ns.missed && now.Sub(l.ns.checked) < l.Freshness {
		list := l.ns.list
		l.mu.Unlock()
		return list, nil
	}
	list, loaded := l.ns.list, l.ns.loaded
	var done chan struct{}
	if l.ns.missed {
		// One read per burst of misses; callers meanwhile wait for it.
		l.ns.missed, l.ns.forced = false, now
		done = make(chan struct{})
		l.ns.reading = done
	}
	l.mu.Unlock()
	read, err := readNamespaces(ctx, src)
	l.mu.Lock()
	defer l.mu.Unlock()
	if done != nil {
		close(done)
		l.ns.reading = nil
	}
	if err != nil {
		if loaded && fault.KindOf(err).Transient() {
			return list, nil
		}
		return nil, err
	}
	l.ns.list, l.ns.loaded, l.ns.checked = read, true, now
	return read, nil
}

// readNamespaces reads the custom namespaces and the settings of standard
// ones from src.
func readNamespaces(ctx context.Context, src NamespaceSource) ([]identity.Namespace, error) {
	list, err := src.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	if settings, ok := src.(OverrideSource); ok {
		overrides, err := settings.ListNamespaceOverrides(ctx)
		if err != nil {
			return nil, err
		}
		list = append(list, identity.Overridden(overrides)...)
	}
	return list, nil
}

// Namespace finds a namespace by code, case-insensitively: a standard one,
// with the tenant's setting (Unique as the tenant set it, within the
// loader's freshness), or one of the tenant's custom namespaces. A code the
// cache does not know forces one read of the namespaces (at most one per
// NamespaceRetry) before the answer is "unknown" (ok false).
func (l *SpecLoader) Namespace(ctx context.Context, code string) (identity.Namespace, bool, error) {
	custom, err := l.Namespaces(ctx)
	if err != nil {
		return identity.Namespace{}, false, err
	}
	if ns, ok := identity.Lookup(strings.TrimSpace(code), custom); ok {
		return ns, true, nil
	}
	l.mu.Lock()
	retry := l.miss(l.Now())
	l.mu.Unlock()
	if !retry {
		return identity.Namespace{}, false, nil
	}
	if custom, err = l.Namespaces(ctx); err != nil {
		return identity.Namespace{}, false, err
	}
	ns, ok := identity.Lookup(strings.TrimSpace(code), custom)
	return ns, ok, nil
}
