package ingest

import (
	"encoding/json"
	"strconv"
)

// decodeObject is a one-pass decoder of a JSON object into the values
// encoding/json gives an `any` (map[string]any, []any, string, float64,
// bool, nil), without reflection and with the depth limit built in: row
// decoding is the largest share of the pipeline's CPU (QUALITY P1). The
// input must be valid UTF-8. It reports false, and the caller falls back to
// encoding/json, for anything it does not take: malformed JSON, nesting
// over MaxDepth, numbers out of float64's range.
func decodeObject(data []byte) (map[string]any, bool) {
	d := fastDecoder{data: data}
	d.skipSpace()
	if d.i >= len(d.data) || d.data[d.i] != '{' {
		return nil, false
	}
	v, ok := d.value(0)
	if !ok {
		return nil, false
	}
	d.skipSpace()
	if d.i != len(d.data) {
		return nil, false
	}
	return v.(map[string]any), true
}

type fastDecoder struct {
	data []byte
	i    int
}

func (d *fastDecoder) skipSpace() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value decodes the value at d.i; depth counts the enclosing containers.
func (d *fastDecoder) value(depth int) (any, bool) {
	d.skipSpace()
	if d.i >= len(d.data) {
		return nil, false
	}
	switch c := d.data[d.i]; {
	case c == '{':
		if depth+1 > MaxDepth {
			return nil, false
		}
		return d.object(depth + 1)
	case c == '[':
		if depth+1 > MaxDepth {
			return nil, false
		}
		return d.array(depth + 1)
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return d.number()
	}
	return nil, false
}

func (d *fastDecoder) object(depth int) (any, bool) {
	d.i++ // '{'
	m := make(map[string]any)
	d.skipSpace()
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		return m, true
	}
	for {
		d.skipSpace()
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return nil, false
		}
		k, ok := d.str()
		if !ok {
			return nil, false
		}
		d.skipSpace()
		if d.i >= len(d.data) || d.data[d.i] != ':' {
			return nil, false
		}
		d.i++
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		m[k.(string)] = v // a repeated key keeps its last value, as encoding/json does
		d.skipSpace()
		if d.i >= len(d.data) {
			return nil, false
		}
		switch d.data[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return m, true
		default:
			return nil, false
		}
	}
}

func (d *fastDecoder) array(depth int) (any, bool) {
	d.i++ // '['
	a := make([]any, 0, 4)
	d.skipSpace()
	if d.i < len(d.data) && d.data[d.i] == ']' {
		d.i++
		return a, true
	}
	for {
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		d.skipSpace()
		if d.i >= len(d.data) {
			return nil, false
		}
		switch d.data[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// str decodes a string. Strings without escapes, nearly all of them, are
// copied as they are; the rare escaped one is left to encoding/json, which
// knows every escape and surrogate rule.
func (d *fastDecoder) str() (any, bool) {
	start := d.i
	d.i++ // '"'
	escaped := false
	for d.i < len(d.data) {
		switch c := d.data[d.i]; {
		case c == '"':
			d.i++
			if !escaped {
				return string(d.data[start+1 : d.i-1]), true
			}
			var s string
			if err := json.Unmarshal(d.data[start:d.i], &s); err != nil {
				return nil, false
			}
			return s, true
		case c == '\\':
			escaped = true
			d.i += 2
		case c < 0x20:
			return nil, false
		default:
			d.i++
		}
	}
	return nil, false
}

func (d *fastDecoder) literal(lit string) bool {
	if len(d.data)-d.i < len(lit) || string(d.data[d.i:d.i+len(lit)]) != lit {
		return false
	}
	d.i += len(lit)
	return true
}

// number checks JSON's number grammar, -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?,
// and parses it as encoding/json does, into a float64.
func (d *fastDecoder) number() (any, bool) {
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.data) && '0' <= d.data[d.i] && d.data[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.data[d.i] == '-' {
		d.i++
	}
	if d.i < len(d.data) && d.data[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return nil, false
	}
	if d.i < len(d.data) && d.data[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, false
		}
	}
	if d.i < len(d.data) && (d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		d.i++
		if d.i < len(d.data) && (d.data[d.i] == '+' || d.data[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(string(d.data[start:d.i]), 64)
	if err != nil {
		return nil, false
	}
	return f, true
}
