package xdm

import (
	"math"
	"math/big"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The ingest pipeline validates every row, and nearly every row is valid,
// so validation is split in two. A typed tree compiled once from the
// resolved schema (node) coerces a row in place and checks the common
// keywords in one walk, building no strings. The walk only ever answers
// "valid" or "not sure": on a violation, a keyword it does not model or a
// value type it does not know, Validate runs the reference path
// (validateLibrary: the coercion pass and santhosh-tekuri/jsonschema), which
// produces the violations. So the fast walk may be incomplete but must never
// accept a row the library would reject; FuzzFastPath checks that both paths
// give the same answer.

// node is one schema location as the fast walk sees it.
type node struct {
	// slow: the schema here uses a construct the walk does not model, so
	// any value at this location sends the row to the reference path.
	slow bool
	typ  string // the single JSON type: "object", "string", …
	// date and dateTime mirror the raw "format" the coercion pass reads
	// (epoch milliseconds become dates only in these fields).
	date, dateTime bool
	// format is the library's own checker, so a format the walk accepts is
	// one the library accepts.
	format  func(any) error
	enum    []string // string members of enum; a value outside them is "not sure"
	hasEnum bool
	pattern jsonschema.Regexp
	minLen  int // -1 when absent
	maxLen  int // -1 when absent
	// bounds: minimum, maximum, exclusiveMinimum, exclusiveMaximum, nil
	// when absent. Only whole bounds within ±2^53 are modelled (see bound).
	min, max, exMin, exMax *float64
	props                  map[string]*node
	required               []string
	addl                   *node // the schema of keys not in props (map fields), or nil
	items                  *node // nil: elements are neither coerced nor constrained
}

// modelledFields are the fields of a compiled jsonschema.Schema the walk
// understands or that never change a verdict (annotations, identity). Any
// other field that is set makes the node slow, so a keyword added by a
// tenant field group or a future library version is never ignored.
var modelledFields = map[string]bool{
	"DraftVersion": true, "Location": true, "ID": true,
	"Types": true, "Enum": true, "Format": true,
	"Required": true, "Properties": true, "AdditionalProperties": true,
	"Items2020": true, "MinLength": true, "MaxLength": true, "Pattern": true,
	"Minimum": true, "Maximum": true, "ExclusiveMinimum": true, "ExclusiveMaximum": true,
	"Title": true, "Description": true, "Default": true, "Comment": true,
	"ReadOnly": true, "WriteOnly": true, "Examples": true, "Deprecated": true,
}

var slowNode = &node{slow: true}

// compileNode builds the node for the raw schema raw, which the library
// compiled as sch. The raw map decides coercion (as in coerceObject) and the
// compiled schema decides the checks; where the two could disagree the node
// is slow.
func compileNode(raw map[string]any, sch *jsonschema.Schema) *node {
	if raw == nil || sch == nil || sch.Bool != nil || !onlyModelled(sch) {
		return slowNode
	}
	typ, ok := raw["type"].(string)
	if !ok || sch.Types == nil {
		return slowNode
	}
	if ts := sch.Types.ToStrings(); len(ts) != 1 || ts[0] != typ {
		return slowNode
	}
	n := &node{typ: typ, minLen: -1, maxLen: -1, required: sch.Required, pattern: sch.Pattern}
	switch raw["format"] {
	case "date":
		n.date = true
	case "date-time":
		n.dateTime = true
	}
	if sch.Format != nil {
		if sch.Format.Name == "regex" {
			return slowNode // the library checks it with its own regexp engine
		}
		n.format = sch.Format.Validate
	}
	if typ != "string" && (sch.Format != nil || sch.Enum != nil) {
		return slowNode // modelled for strings only
	}
	if sch.Enum != nil {
		n.hasEnum = true
		for _, x := range sch.Enum.Values {
			if s, ok := x.(string); ok {
				n.enum = append(n.enum, s)
			}
		}
	}
	if sch.MinLength != nil {
		n.minLen = *sch.MinLength
	}
	if sch.MaxLength != nil {
		n.maxLen = *sch.MaxLength
	}
	var ok1, ok2, ok3, ok4 bool
	n.min, ok1 = bound(sch.Minimum)
	n.max, ok2 = bound(sch.Maximum)
	n.exMin, ok3 = bound(sch.ExclusiveMinimum)
	n.exMax, ok4 = bound(sch.ExclusiveMaximum)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return slowNode
	}
	rawProps, _ := raw["properties"].(map[string]any)
	if len(rawProps) != len(sch.Properties) {
		return slowNode
	}
	for k, rp := range rawProps {
		// A property that is not a schema object (true/false) is an
		// unknown field to the coercion pass: leaving it out of props
		// sends such a row to the reference path.
		if m, ok := rp.(map[string]any); ok {
			if n.props == nil {
				n.props = make(map[string]*node, len(rawProps))
			}
			n.props[k] = compileNode(m, sch.Properties[k])
		}
	}
	if m, ok := raw["additionalProperties"].(map[string]any); ok {
		s, ok := sch.AdditionalProperties.(*jsonschema.Schema)
		if !ok {
			return slowNode
		}
		n.addl = compileNode(m, s)
	}
	if m, ok := raw["items"].(map[string]any); ok {
		n.items = compileNode(m, sch.Items2020)
	} else if sch.Items2020 != nil {
		return slowNode
	}
	return n
}

// maxExact is 2^53: every whole number up to it is exact in a float64,
// and fmt.Sprint, which the library reads numbers through, writes it
// exactly.
const maxExact = 1 << 53

// bound converts a numeric bound the library compiled to a float64. It
// refuses (false) a bound that is not a whole number within ±2^53, so a
// comparison of a whole float64 within the same range against it is exact,
// as the library's big.Rat comparison is.
func bound(r *big.Rat) (*float64, bool) {
	if r == nil {
		return nil, true
	}
	if !r.IsInt() || !r.Num().IsInt64() || r.Num().Int64() > maxExact || r.Num().Int64() < -maxExact {
		return nil, false
	}
	f := float64(r.Num().Int64())
	return &f, true
}

// inBounds reports whether f certainly satisfies n's bounds. A fraction or
// a number beyond ±2^53 is only compared by the library.
func (n *node) inBounds(f float64) bool {
	if n.min == nil && n.max == nil && n.exMin == nil && n.exMax == nil {
		return true
	}
	if f != math.Trunc(f) || f > maxExact || f < -maxExact {
		return false
	}
	return (n.min == nil || f >= *n.min) && (n.max == nil || f <= *n.max) &&
		(n.exMin == nil || f > *n.exMin) && (n.exMax == nil || f < *n.exMax)
}

// onlyModelled reports whether sch sets nothing outside modelledFields.
func onlyModelled(sch *jsonschema.Schema) bool {
	v := reflect.ValueOf(sch).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || modelledFields[f.Name] {
			continue
		}
		if !v.Field(i).IsZero() {
			return false
		}
	}
	return true
}

// object coerces obj in place like coerceObject and reports whether it is
// certainly valid against n. It stops at the first doubt: the caller then
// runs the reference path, which finishes the (idempotent) coercion.
func (n *node) object(obj map[string]any) bool {
	var changed bool
	return n.walk(obj, &changed)
}

// walk is object that also sets *changed when it changes obj (a value
// converted, a null or "" dropped), at any depth.
func (n *node) walk(obj map[string]any, changed *bool) bool {
	if n.slow || n.typ != "object" {
		return false // even an empty row: the library may want properties
	}
	for k, val := range obj {
		if val == nil || val == "" {
			delete(obj, k)
			*changed = true
			continue
		}
		c := n.props[k]
		if c == nil {
			c = n.addl
		}
		if c == nil {
			return false // XDM-UNKNOWN-FIELD
		}
		nv, replaced, ok := c.value(val, changed)
		if !ok {
			return false
		}
		if replaced {
			obj[k] = nv
			*changed = true
		}
	}
	for _, r := range n.required {
		if _, ok := obj[r]; !ok {
			return false
		}
	}
	return true
}

// value coerces val like coerceValue and reports whether the result is
// certainly valid against n. replaced says whether nv replaces val (values
// are not compared: maps and slices are not comparable); objects and arrays
// are coerced in place, and *changed is set when anything inside them
// changes.
func (n *node) value(val any, changed *bool) (nv any, replaced, ok bool) {
	if n.slow {
		return val, false, false
	}
	nv, ok = n.check(val, changed)
	return nv, ok && n.typ != "object" && n.typ != "array" && nv != val, ok
}

// check is value without the replaced flag.
func (n *node) check(val any, changed *bool) (any, bool) {
	switch n.typ {
	case "object":
		m, ok := val.(map[string]any)
		return val, ok && n.walk(m, changed)
	case "array":
		a, ok := val.([]any)
		if !ok {
			return val, false
		}
		if n.items == nil {
			// Unconstrained elements still must be JSON values the
			// library knows.
			for _, x := range a {
				if !knownValue(x) {
					return val, false
				}
			}
			return val, true
		}
		for i, x := range a {
			if x == nil {
				// The coercion pass keeps null elements; the library
				// then checks them against items.
				if _, _, ok := n.items.value(nil, changed); !ok {
					return val, false
				}
				continue
			}
			nx, replaced, ok := n.items.value(x, changed)
			if !ok {
				return val, false
			}
			if replaced {
				a[i] = nx
				*changed = true
			}
		}
		return val, true
	case "integer":
		switch x := val.(type) {
		case string:
			if f, ok := parseNumber(x); ok && f == math.Trunc(f) {
				return f, n.inBounds(f)
			}
			return val, false
		case float64:
			return val, isFinite(x) && x == math.Trunc(x) && n.inBounds(x)
		}
		return val, false
	case "number":
		switch x := val.(type) {
		case string:
			if f, ok := parseNumber(x); ok {
				return f, n.inBounds(f)
			}
			return val, false
		case float64:
			return val, isFinite(x) && n.inBounds(x)
		}
		return val, false
	case "boolean":
		switch x := val.(type) {
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true, true
			case "false":
				return false, true
			}
			return val, false
		case bool:
			return val, true
		}
		return val, false
	case "string":
		switch x := val.(type) {
		case float64:
			if n.dateTime {
				if t, ok := epochMillis(x); ok {
					s := t.Format(time.RFC3339Nano)
					return s, n.str(s)
				}
			} else if n.date {
				if t, ok := epochMillis(x); ok {
					s := t.Format(time.DateOnly)
					return s, n.str(s)
				}
			} else if isFinite(x) {
				s := numberString(x)
				return s, n.str(s)
			}
			return val, false
		case string:
			return val, n.str(x)
		}
		return val, false
	case "null":
		return val, val == nil
	}
	return val, false
}

// str reports whether s certainly satisfies n's string keywords. The
// shapes of date and date-time checked here are a strict subset of what the
// library accepts; anything else is left to the library's own checker.
func (n *node) str(s string) bool {
	if n.hasEnum && !containsString(n.enum, s) {
		return false
	}
	if n.minLen >= 0 || n.maxLen >= 0 {
		l := utf8.RuneCountInString(s)
		if (n.minLen >= 0 && l < n.minLen) || (n.maxLen >= 0 && l > n.maxLen) {
			return false
		}
	}
	if n.pattern != nil && !n.pattern.MatchString(s) {
		return false
	}
	if n.format != nil {
		switch {
		case n.dateTime && isDateTime(s), n.date && isDate(s):
		default:
			if n.format(s) != nil {
				return false
			}
		}
	}
	return true
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// knownValue reports whether x is made only of the types encoding/json
// decodes to, which the walk and the library read alike.
func knownValue(x any) bool {
	switch c := x.(type) {
	case nil, bool, string:
		return true
	case float64:
		return isFinite(c)
	case []any:
		for _, e := range c {
			if !knownValue(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range c {
			if !knownValue(e) {
				return false
			}
		}
		return true
	}
	return false
}

// isDate accepts YYYY-MM-DD with a day that exists in that month, which
// is what time.Parse (the library's check) accepts, and nothing more.
func isDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// isDateTime accepts YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm) without leap
// seconds: a strict subset of the library's RFC 3339 check.
func isDateTime(s string) bool {
	if len(s) < 20 || (s[10] != 'T' && s[10] != 't') || !isDate(s[:10]) {
		return false
	}
	// Seconds stop at 59: leap seconds are left to the library.
	if !isClock(s[11:19], 23, 59) {
		return false
	}
	rest := s[19:]
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	switch {
	case rest == "Z" || rest == "z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		zh, ok1 := digits(rest[1:3])
		zm, ok2 := digits(rest[4:6])
		return ok1 && ok2 && zh <= 23 && zm <= 59
	}
	return false
}

// isClock accepts hh:mm:ss with hh ≤ maxH and mm, ss ≤ maxM.
func isClock(s string, maxH, maxM int) bool {
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return false
	}
	h, ok1 := digits(s[0:2])
	m, ok2 := digits(s[3:5])
	sec, ok3 := digits(s[6:8])
	return ok1 && ok2 && ok3 && h <= maxH && m <= maxM && sec <= maxM
}

// digits reads a short run of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
