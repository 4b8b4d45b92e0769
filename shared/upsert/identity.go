package upsert

import (
	"sort"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// identityMapKey is the root attribute that is a set of identities.
const identityMapKey = "identityMap"

// canonicalNamespace is the code a namespace is kept under: a standard
// namespace's own spelling, else the code trimmed (a custom namespace keeps
// its case), as read-time merging keys identityMap.
func canonicalNamespace(code string) identity.Namespace {
	code = strings.TrimSpace(code)
	if ns, ok := identity.LookupStandard(code); ok {
		return ns
	}
	return identity.Namespace{Code: code}
}

// entryKey is the key of an identityMap entry in its namespace: its id
// normalised (docs/rules.md#identities), else trimmed.
func entryKey(ns identity.Namespace, entry map[string]any) string {
	raw, _ := entry["id"].(string)
	if id, err := identity.NormalizeValue(ns, raw); err == nil {
		return id.Value
	}
	return strings.TrimSpace(raw)
}

// identityEntries reads an update's identityMap as a set: namespace code →
// entry key → entry. Namespaces are read in the order of their codes as
// written and a later entry with the same key replaces an earlier one, so
// that the result does not depend on map order. What is not an object of
// arrays of objects is not an identity and is left out.
func identityEntries(v any) map[string]map[string]map[string]any {
	im, ok := v.(map[string]any)
	if !ok || len(im) == 0 {
		return nil
	}
	codes := make([]string, 0, len(im))
	for code := range im {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	out := map[string]map[string]map[string]any{}
	for _, code := range codes {
		list, ok := im[code].([]any)
		if !ok {
			continue
		}
		ns := canonicalNamespace(code)
		for _, e := range list {
			entry, ok := e.(map[string]any)
			if !ok {
				continue
			}
			if out[ns.Code] == nil {
				out[ns.Code] = map[string]map[string]any{}
			}
			out[ns.Code][entryKey(ns, entry)] = entry
		}
	}
	return out
}

// addIdentities writes the entries of an update's identityMap at c as
// value registers below root's identity set.
func addIdentities(root *node, eff bound, c Clock, v any) bool {
	entries := identityEntries(v)
	if len(entries) == 0 {
		return false
	}
	changed := false
	set := root.kid(identityMapKey)
	setEff := eff.with(set)
	for code, byKey := range entries {
		nsn := set.kid(code)
		nsEff := setEff.with(nsn)
		for key, entry := range byKey {
			en := nsn.kid(key)
			changed = en.setReg(nsEff.with(en), c, false, entry) || changed
			nsn.tidy(key)
		}
		set.tidy(code)
	}
	root.tidy(identityMapKey)
	return changed
}

// checkNoIdentityRemoval refuses a patch that holds a null in identityMap:
// a partial update only ever adds identities.
func checkNoIdentityRemoval(patch map[string]any) error {
	v, ok := patch[identityMapKey]
	if !ok {
		return nil
	}
	if ptr, found := findNull(v, "/"+identityMapKey); found {
		return fault.E(fault.Invalid, CodeIdentityRemove,
			"a partial update can only add identities: identityMap holds a null at "+ptr)
	}
	return nil
}

func findNull(v any, ptr string) (string, bool) {
	switch x := v.(type) {
	case nil:
		return ptr, true
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if p, ok := findNull(x[k], ptr+"/"+escape(k)); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range x {
			if p, ok := findNull(e, ptr+"/"+itoa(i)); ok {
				return p, true
			}
		}
	}
	return "", false
}
