package upsert

import (
	"reflect"
	"sort"
)

// sortEntries sorts identity entries of namespace ns by normalised id.
func sortEntries(ns string, list []any) {
	n := canonicalNamespace(ns)
	sort.SliceStable(list, func(i, j int) bool {
		return entryKey(n, list[i].(map[string]any)) < entryKey(n, list[j].(map[string]any))
	})
}

// sameTree reports whether two trees hold the same registers and
// tombstones.
func sameTree(a, b *node) bool {
	if a.reg != b.reg || a.clock != b.clock || a.obj != b.obj || !reflect.DeepEqual(a.val, b.val) ||
		a.tombed != b.tombed || a.tomb != b.tomb || len(a.kids) != len(b.kids) {
		return false
	}
	for k, ak := range a.kids {
		bk, ok := b.kids[k]
		if !ok || !sameTree(ak, bk) {
			return false
		}
	}
	return true
}
