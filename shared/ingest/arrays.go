package ingest

import (
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// checkArrays refuses a record holding an array of more than max elements
// (docs/rules.md#limits), naming where it is; the walk builds a path only for the
// array it refuses.
func checkArrays(rec map[string]any, max int) error {
	var path []string
	if n, ok := longArray(rec, max, &path); ok {
		return fault.Errorf(fault.Invalid, CodeArrayTooLong, "array at /%s has %d elements, over the %d-element limit",
			strings.Join(path, "/"), n, max)
	}
	return nil
}

// longArray reports the length of the first array under v longer than max,
// filling path (outermost first) on the way back out.
func longArray(v any, max int, path *[]string) (int, bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if n, ok := longArray(c, max, path); ok {
				*path = append([]string{pointerToken(k)}, *path...)
				return n, true
			}
		}
	case []any:
		if len(x) > max {
			return len(x), true
		}
		for i, c := range x {
			if n, ok := longArray(c, max, path); ok {
				*path = append([]string{strconv.Itoa(i)}, *path...)
				return n, true
			}
		}
	}
	return 0, false
}

// pointerToken escapes a key as a JSON pointer token (RFC 6901).
func pointerToken(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
