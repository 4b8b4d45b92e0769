package xdm

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Evolution rules (AEP): once a schema is enabled for Profile or has data,
// only additive changes pass. They are decided by a structural diff of the
// resolved schema before and after the change, so that the same rules hold
// however the change is made (PUT or PATCH of the schema, or of a field
// group it uses). Breaking:
//
//   - a field removed (a move or rename is a removal plus an addition);
//   - a field's type, meta:xdmType or format changed;
//   - enum values removed, or an enum put on a field that had none;
//   - a constraint added or narrowed: pattern, minLength, maxLength,
//     minimum, maximum, exclusiveMinimum, exclusiveMaximum, minItems,
//     maxItems;
//   - an existing field made required (a new field may be required);
//   - the class changed.
//
// Allowed: new fields, a required field made optional, constraints widened
// or dropped, enum values added, titles and descriptions.

// maxNamed is how many breaking changes one error names.
const maxNamed = 3

// BreakingChanges lists the breaking changes from before to after, ordered
// by field path; none means the change is additive.
func BreakingChanges(before, after *Resolved) []string {
	var out []string
	if before.Class != after.Class {
		out = append(out, fmt.Sprintf("class changed from %s to %s", before.Class, after.Class))
	}
	diffObject(before.JSON, after.JSON, "", &out)
	return out
}

// CheckEvolution refuses (400 XDM-BREAKING) a change with breaking changes,
// naming them: "breaking change: field /person/name/firstName removed".
func CheckEvolution(before, after *Resolved) error {
	bs := BreakingChanges(before, after)
	if len(bs) == 0 {
		return nil
	}
	more := ""
	if len(bs) > maxNamed {
		more = fmt.Sprintf(" (and %d more)", len(bs)-maxNamed)
		bs = bs[:maxNamed]
	}
	return fault.Errorf(fault.Invalid, "XDM-BREAKING", "breaking change: %s%s; a schema enabled for Profile or holding data accepts only additive changes", strings.Join(bs, "; "), more)
}

func diffObject(b, a map[string]any, at string, out *[]string) {
	bp, _ := b["properties"].(map[string]any)
	ap, _ := a["properties"].(map[string]any)
	names := make([]string, 0, len(bp))
	for k := range bp {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		bf, _ := bp[k].(map[string]any)
		af, _ := ap[k].(map[string]any)
		diffField(bf, af, at+"/"+k, out)
	}
	breq := stringsOf(b["required"])
	areq := stringsOf(a["required"])
	sort.Strings(areq)
	for _, r := range areq {
		if _, existed := bp[r]; existed && !slices.Contains(breq, r) {
			*out = append(*out, fmt.Sprintf("field %s/%s became required", at, r))
		}
	}
}

func diffField(b, a map[string]any, p string, out *[]string) {
	if b == nil {
		return
	}
	if a == nil {
		*out = append(*out, "field "+p+" removed")
		return
	}
	if b["type"] != a["type"] {
		*out = append(*out, fmt.Sprintf("field %s changed type from %v to %v", p, b["type"], a["type"]))
		return
	}
	if b["meta:xdmType"] != a["meta:xdmType"] {
		*out = append(*out, fmt.Sprintf("field %s changed type from %v to %v", p, orType(b), orType(a)))
		return
	}
	if af, ok := a["format"]; ok && af != b["format"] {
		*out = append(*out, fmt.Sprintf("field %s changed format to %v", p, af))
	}
	if ae, ok := a["enum"].([]any); ok {
		be, had := b["enum"].([]any)
		if !had {
			*out = append(*out, "field "+p+" was restricted to an enum")
		} else {
			for _, v := range be {
				if !slices.ContainsFunc(ae, func(x any) bool { return x == v }) {
					*out = append(*out, fmt.Sprintf("field %s enum value %v removed", p, v))
				}
			}
		}
	}
	if ap, ok := a["pattern"]; ok && ap != b["pattern"] {
		*out = append(*out, "field "+p+" pattern added or changed")
	}
	for _, c := range []string{"minLength", "minimum", "exclusiveMinimum", "minItems"} {
		if av, ok := num(a[c]); ok {
			if bv, had := num(b[c]); !had || av > bv {
				*out = append(*out, fmt.Sprintf("field %s constraint %s narrowed", p, c))
			}
		}
	}
	for _, c := range []string{"maxLength", "maximum", "exclusiveMaximum", "maxItems"} {
		if av, ok := num(a[c]); ok {
			if bv, had := num(b[c]); !had || av < bv {
				*out = append(*out, fmt.Sprintf("field %s constraint %s narrowed", p, c))
			}
		}
	}
	switch b["type"] {
	case "object":
		diffObject(b, a, p, out)
		bm, _ := b["additionalProperties"].(map[string]any)
		am, _ := a["additionalProperties"].(map[string]any)
		if bm != nil {
			if am == nil {
				*out = append(*out, "field "+p+" no longer accepts map values")
			} else {
				diffField(bm, am, p+"/*", out)
			}
		}
	case "array":
		bi, _ := b["items"].(map[string]any)
		ai, _ := a["items"].(map[string]any)
		if bi != nil && ai == nil {
			*out = append(*out, "field "+p+" items removed")
		} else if bi != nil {
			diffField(bi, ai, p+"/items", out)
		}
	}
}

func orType(f map[string]any) any {
	if t, ok := f["meta:xdmType"]; ok {
		return t
	}
	return f["type"]
}

func num(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// FieldTypes maps every field path of a resolved schema to its type
// ("string", "object", "array", or the meta:xdmType such as "map").
func FieldTypes(r *Resolved) map[string]string {
	out := map[string]string{}
	var walk func(sch map[string]any, at string)
	walk = func(sch map[string]any, at string) {
		props, _ := sch["properties"].(map[string]any)
		for k, v := range props {
			f, _ := v.(map[string]any)
			if f == nil {
				continue
			}
			p := at + "/" + k
			t, _ := orType(f).(string)
			out[p] = t
			if f["type"] == "object" {
				walk(f, p)
			}
			if items, ok := f["items"].(map[string]any); ok && items["type"] == "object" {
				walk(items, p+"/items")
			}
		}
	}
	walk(r.JSON, "")
	return out
}

// CheckTypeConflicts refuses (400 XDM-CONFLICT) a resource whose field
// types disagree with those already defined elsewhere in the tenant: a
// field path has one type across all tenant field groups and schemas.
func CheckTypeConflicts(mine map[string]string, others ...map[string]string) error {
	paths := make([]string, 0, len(mine))
	for p := range mine {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for _, o := range others {
			if t, ok := o[p]; ok && t != mine[p] {
				return fault.Errorf(fault.Invalid, "XDM-CONFLICT", "field %s is already defined in the tenant as %s and cannot be redefined as %s", p, t, mine[p])
			}
		}
	}
	return nil
}
