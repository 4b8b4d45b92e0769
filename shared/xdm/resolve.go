package xdm

import (
	"slices"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Resolved is a schema with its class and field groups merged into one
// self-contained JSON Schema (no $refs left).
type Resolved struct {
	Class string
	// JSON is the merged JSON Schema: {"type":"object","properties":…,"required":…}.
	JSON map[string]any
}

// Resolve merges the schema's class and field groups into one JSON Schema.
// tenant are the tenant field groups the schema may name (others are
// ignored). Two parts that define the same field with different types
// conflict (400).
func Resolve(s Schema, tenant ...FieldGroup) (*Resolved, error) {
	parts := make([]Resource, 0, len(s.AllOf))
	for _, ref := range s.AllOf {
		r, ok := find(ref.Ref, tenant)
		if !ok {
			return nil, fault.Errorf(fault.Invalid, "XDM-UNKNOWN-REF", "allOf refers to %q, which is not a known class or field group", ref.Ref)
		}
		parts = append(parts, r)
	}
	return resolveResources(s.Class, parts)
}

// find looks a $id or altId up among the built-ins, then the tenant groups.
func find(id string, tenant []FieldGroup) (Resource, bool) {
	if r, ok := Lookup(id); ok {
		return r, true
	}
	for _, g := range tenant {
		if g.ID == id || g.AltID == id {
			return g.Resource(), true
		}
	}
	return Resource{}, false
}

func resolveResources(class string, parts []Resource) (*Resolved, error) {
	props := map[string]any{}
	var required []string
	for _, r := range parts {
		for _, part := range r.AllOf {
			name, ok := strings.CutPrefix(part.Ref, "#/definitions/")
			if !ok {
				continue
			}
			def, _ := r.Definitions[name].(map[string]any)
			if def == nil {
				continue
			}
			src, _ := inline(deepCopy(def)).(map[string]any)
			sp, _ := src["properties"].(map[string]any)
			if err := mergeProps(props, sp, ""); err != nil {
				return nil, err
			}
			for _, q := range stringsOf(src["required"]) {
				if !slices.Contains(required, q) {
					required = append(required, q)
				}
			}
		}
	}
	js := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		js["required"] = toAnys(required)
	}
	return &Resolved{Class: class, JSON: js}, nil
}

// ResolveFieldGroup resolves a field group on its own (xed-full of a field
// group).
func ResolveFieldGroup(g Resource) (*Resolved, error) {
	return resolveResources("", []Resource{g})
}

// inline replaces references to shared data types with their definitions.
func inline(v any) any {
	switch c := v.(type) {
	case map[string]any:
		if ref, ok := c["$ref"].(string); ok {
			if name, ok := strings.CutPrefix(ref, "#/definitions/"); ok {
				if dt, ok := dataTypes[name].(map[string]any); ok {
					m := deepCopy(dt).(map[string]any)
					for k, x := range c {
						if k != "$ref" {
							m[k] = x
						}
					}
					c = m
				}
			}
		}
		for k, x := range c {
			c[k] = inline(x)
		}
		return c
	case []any:
		for i, x := range c {
			c[i] = inline(x)
		}
		return c
	}
	return v
}

func mergeProps(dst, src map[string]any, at string) error {
	for k, sv := range src {
		dv, ok := dst[k]
		if !ok {
			dst[k] = sv
			continue
		}
		dm, _ := dv.(map[string]any)
		sm, _ := sv.(map[string]any)
		if dm == nil || sm == nil || dm["type"] != sm["type"] {
			return fault.Errorf(fault.Invalid, "XDM-CONFLICT", "field %s/%s is defined twice with different types", at, k)
		}
		if dm["type"] != "object" {
			continue // the same scalar field from two parts
		}
		dp, _ := dm["properties"].(map[string]any)
		sp, _ := sm["properties"].(map[string]any)
		if dp == nil {
			dp = map[string]any{}
			dm["properties"] = dp
		}
		if err := mergeProps(dp, sp, at+"/"+k); err != nil {
			return err
		}
	}
	return nil
}

// Field returns the JSON Schema of the field at a descriptor-style path
// ("/personalEmail/address": no "properties" segments).
func (r *Resolved) Field(path string) (map[string]any, bool) {
	toks, ok := fieldPath(path)
	if !ok {
		return nil, false
	}
	cur := r.JSON
	for _, t := range toks {
		props, _ := cur["properties"].(map[string]any)
		next, _ := props[t].(map[string]any)
		if next == nil {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// HasIdentityMap reports whether the schema has an identityMap field.
func (r *Resolved) HasIdentityMap() bool {
	_, ok := r.Field("/identityMap")
	return ok
}

// fieldPath splits "/a/b" into ["a","b"]; it refuses an empty path, a
// trailing slash and empty segments.
func fieldPath(path string) ([]string, bool) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok || rest == "" || strings.HasSuffix(rest, "/") {
		return nil, false
	}
	toks := strings.Split(rest, "/")
	for _, t := range toks {
		if t == "" {
			return nil, false
		}
	}
	return toks, true
}

// withRequired returns a copy of the schema in which the field at path and
// its parents are required.
func withRequired(js map[string]any, path string) map[string]any {
	toks, ok := fieldPath(path)
	if !ok {
		return js
	}
	out := deepCopy(js).(map[string]any)
	cur := out
	for _, t := range toks {
		req := stringsOf(cur["required"])
		if !slices.Contains(req, t) {
			cur["required"] = toAnys(append(req, t))
		}
		props, _ := cur["properties"].(map[string]any)
		next, _ := props[t].(map[string]any)
		if next == nil {
			break
		}
		cur = next
	}
	return out
}

func stringsOf(v any) []string {
	var out []string
	switch c := v.(type) {
	case []any:
		for _, x := range c {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = append(out, c...)
	}
	return out
}

func toAnys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
