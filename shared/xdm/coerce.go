package xdm

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// AEP reads loosely typed input (CSV cells, JSON written by hand) the way a
// data engineer would expect, so the validator first brings a row to its
// schema's types. The rules, applied in place before validation:
//
//   - a null value or an empty string is absent: the field is dropped, so a
//     required field that is null or "" is reported as XDM-REQUIRED;
//   - a string in an integer, number or boolean field becomes that type when
//     it spells one ("42", "-1.5e3", "true"/"FALSE"); anything else stays
//     and is reported as XDM-TYPE;
//   - a number in a date-time field is epoch milliseconds and becomes an
//     RFC 3339 UTC date-time; in a date field it becomes the UTC date; in
//     any other string field it becomes its decimal spelling (1000 →
//     "1000", 2.5 → "2.5"), so a postal code sent as a number is stored as
//     the string its schema asks for;
//   - nothing ever becomes an array or an object: a scalar where the schema
//     wants a list stays a type error;
//   - fields the schema does not define are reported as XDM-UNKNOWN-FIELD
//     (map fields such as identityMap accept any key).
//
// Coercion is idempotent: coercing a coerced row changes nothing. The
// coerced row is the row that is stored (AEP's conversion table, Data
// Ingestion "Data type conversions").

// numberPattern is a JSON number, optionally with leading/trailing spaces
// trimmed by the caller; it keeps out NaN, Inf, hex and underscores, which
// strconv would accept.
var numberPattern = regexp.MustCompile(`^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$`)

// location is where the coercion pass is in a row, kept as a chain of
// tokens so that a JSON pointer is only built when a violation is reported.
type location struct {
	up    *location
	token string // an object key, or an array index already written out
}

func (l *location) pointer() string {
	if l == nil {
		return ""
	}
	return l.up.pointer() + "/" + escapeToken(l.token)
}

// coerceObject coerces obj in place against its schema sch, appending
// unknown fields to out and setting *changed when it changes anything.
func coerceObject(obj, sch map[string]any, at *location, out *[]Violation, changed *bool) {
	props, _ := sch["properties"].(map[string]any)
	addl, _ := sch["additionalProperties"].(map[string]any)
	for k, val := range obj {
		if val == nil || val == "" {
			delete(obj, k)
			*changed = true
			continue
		}
		fs, _ := props[k].(map[string]any)
		if fs == nil {
			fs = addl
		}
		if fs == nil {
			*out = append(*out, Violation{Pointer: (&location{at, k}).pointer(), Code: CodeUnknownField, Message: "field is not defined by the schema"})
			continue
		}
		if nv, replaced := coerceValue(val, fs, &location{at, k}, out, changed); replaced {
			obj[k] = nv
			*changed = true
		}
	}
}

// coerceValue returns val converted to its schema fs, and whether it
// replaces val; objects and arrays are coerced in place.
func coerceValue(val any, fs map[string]any, at *location, out *[]Violation, changed *bool) (any, bool) {
	switch fs["type"] {
	case "object":
		if m, ok := val.(map[string]any); ok {
			coerceObject(m, fs, at, out, changed)
		}
	case "array":
		items, _ := fs["items"].(map[string]any)
		if a, ok := val.([]any); ok && items != nil {
			for i, x := range a {
				if x != nil {
					if nx, replaced := coerceValue(x, items, &location{at, strconv.Itoa(i)}, out, changed); replaced {
						a[i] = nx
						*changed = true
					}
				}
			}
		}
	case "integer":
		if s, ok := val.(string); ok {
			if f, ok := parseNumber(s); ok && f == math.Trunc(f) {
				return f, true
			}
		}
	case "number":
		if s, ok := val.(string); ok {
			if f, ok := parseNumber(s); ok {
				return f, true
			}
		}
	case "boolean":
		if s, ok := val.(string); ok {
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "true":
				return true, true
			case "false":
				return false, true
			}
		}
	case "string":
		if f, ok := val.(float64); ok {
			switch fs["format"] {
			case "date-time":
				if t, ok := epochMillis(f); ok {
					return t.Format(time.RFC3339Nano), true
				}
			case "date":
				if t, ok := epochMillis(f); ok {
					return t.Format(time.DateOnly), true
				}
			default:
				if !math.IsInf(f, 0) && !math.IsNaN(f) {
					return numberString(f), true
				}
			}
		}
	}
	return val, false
}

// numberString spells a number in a string field as JSON would write it,
// without an exponent for whole numbers below 10^21: 1000 → "1000",
// 2.5 → "2.5", 1e-7 → "1e-07".
func numberString(f float64) string {
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if !numberPattern.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// epochMillis reads a whole number of epoch milliseconds within years
// 1..9999, the range RFC 3339 can write.
func epochMillis(f float64) (time.Time, bool) {
	const lo, hi = -62135596800000, 253402300799999
	if f != math.Trunc(f) || f < lo || f > hi {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(f)).UTC(), true
}
