package records

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// csvReader reads a CSV file (RFC 4180, with encoding/csv: quoted fields
// with commas, quotes and line breaks, CRLF or LF line ends, a UTF-8
// byte-order mark skipped) whose first row names the fields of each
// record as dotted XDM paths: "person.name.firstName",
// "identityMap.Email[0].id". Each data row becomes one JSON object built
// from those paths (objects for dotted segments, arrays for "[i]"; the
// elements of an array come in index order, absent ones left out). An
// empty cell leaves its field out; a cell is typed by the Schema's type of
// its column (see cellValue).
//
// Row errors: a quoting error is CodeRowCSV (encoding/csv goes on after
// the line that holds it; an unclosed quote takes the rest of the file
// with it), a row with another field count than the header
// CodeRowCSVRagged, a row over MaxLineBytes CodeRowTooLarge.
//
// Its Position.Offset is the decoded offset of the next row's first
// byte; a reader opened there reads the header again from the start of
// the file.
type csvReader struct {
	name      string
	rc        io.ReadCloser
	w         *window
	cr        *csv.Reader
	base      int64 // file offset of the csv.Reader's input offset 0
	h         *csvHeader
	n         int
	off       int64
	fromStart bool
	noHeader  bool
	done      bool
	sticky
	data []byte
}

func openCSV(ctx context.Context, src Source, s Schema, at Position) (Reader, error) {
	rc, err := openDecoded(ctx, src, 0)
	if err != nil {
		return nil, err
	}
	r := &csvReader{name: src.Name(), n: at.Number, fromStart: at == Position{}}
	br := bufio.NewReaderSize(rc, readBufferSize)
	var base int64
	if head, _ := br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
		base = int64(len(utf8BOM))
	}
	r.setInput(rc, br, base)
	header, err := r.cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		r.noHeader = true
		return r, nil
	case err != nil:
		rc.Close()
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, fault.Wrap(err, fault.Invalid, CodeFileCSVHeader, "the header row of file "+quote(r.name)+" is not valid CSV")
		}
		return nil, err
	}
	if r.h, err = parseHeader(header, s); err != nil {
		rc.Close()
		return nil, err
	}
	r.off = r.base + r.cr.InputOffset()
	if at.Offset == 0 {
		return r, nil
	}
	if at.Offset < r.off {
		rc.Close()
		return nil, fault.Errorf(fault.Invalid, CodeFileFormat, "position %d is inside the header row of file %q", at.Offset, r.name)
	}
	rc.Close()
	if rc, err = openDecoded(ctx, src, at.Offset); err != nil {
		return nil, err
	}
	r.off = at.Offset
	r.setInput(rc, bufio.NewReaderSize(rc, readBufferSize), at.Offset)
	return r, nil
}

func (r *csvReader) setInput(rc io.ReadCloser, br io.Reader, base int64) {
	r.rc = rc
	r.base = base
	r.w = newWindow(br, base, "row", func() int { return r.n + 1 })
	r.cr = csv.NewReader(r.w)
	r.cr.FieldsPerRecord = -1
	r.cr.ReuseRecord = true
}

func (r *csvReader) Next() (Record, error) { return r.sticky.next(r.read) }

func (r *csvReader) read() (Record, error) {
	if r.done {
		return Record{}, io.EOF
	}
	if r.noHeader {
		r.done = true
		if r.fromStart {
			return Record{}, emptyFile(r.name)
		}
		return Record{}, io.EOF
	}
	start := r.off
	r.w.release(start)
	fields, err := r.cr.Read()
	if errors.Is(err, io.EOF) {
		r.done = true
		if r.fromStart && r.n == 0 {
			return Record{}, emptyFile(r.name)
		}
		return Record{}, io.EOF
	}
	var pe *csv.ParseError
	if err != nil && !errors.As(err, &pe) {
		return Record{}, err
	}
	r.off = r.base + r.cr.InputOffset()
	r.n++
	raw := bytes.Trim(r.w.slice(start, r.off), "\r\n")
	switch {
	case err != nil:
		return Record{Number: r.n, Raw: raw, Err: fault.Errorf(fault.Invalid, CodeRowCSV, "row is not valid CSV: %v", pe.Err)}, nil
	case r.off-start > MaxLineBytes:
		return Record{Number: r.n, Raw: raw, Err: fault.Errorf(fault.Invalid, CodeRowTooLarge, "row is over the %d-byte limit", MaxLineBytes)}, nil
	case len(fields) != len(r.h.columns):
		return Record{Number: r.n, Raw: raw, Err: fault.Errorf(fault.Invalid, CodeRowCSVRagged,
			"row has %s, the header has %d", fieldCount(len(fields)), len(r.h.columns))}, nil
	}
	r.data = r.h.build(r.data[:0], fields)
	return Record{Number: r.n, Data: r.data, Raw: raw}, nil
}

func (r *csvReader) Position() Position { return Position{Offset: r.off, Number: r.n} }

func (r *csvReader) Close() error { return r.rc.Close() }

// cellKind is how a column's cells become JSON values.
type cellKind uint8

const (
	cellString cellKind = iota
	cellNumber
	cellBoolean
	cellObject // "object" or "map": a cell holding a JSON object is taken as one
	cellArray  // a cell holding a JSON array is taken as one
)

// kindOf maps an XDM type (Schema.FieldType) to a cell kind.
func kindOf(xdmType string) cellKind {
	switch xdmType {
	case "number", "integer", "long", "int", "short", "byte":
		return cellNumber
	case "boolean":
		return cellBoolean
	case "object", "map":
		return cellObject
	case "array":
		return cellArray
	}
	return cellString
}

// pathNode is one node of the tree of the header's paths.
type pathNode struct {
	rawKey string // the key, under an object
	key    []byte // rawKey JSON-encoded
	index  int    // the index, under an array
	array  bool   // the node's children are array elements
	kids   []*pathNode
	column int // the column of a leaf, -1 for an inner node
	kind   cellKind
	name   string // the column that made the node, for conflicts
}

type csvHeader struct {
	columns []string
	root    *pathNode
}

// segment is one step of a column's path: an object key or an index.
type segment struct {
	key   string
	index int // -1 for a key
}

// parsePath splits "a.b[0].c" into a, b, [0], c. Keys are not empty and
// hold no brackets; indexes are decimal.
func parsePath(p string) ([]segment, bool) {
	var out []segment
	for part := range strings.SplitSeq(p, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key == "" || strings.ContainsAny(key, "]") {
			return nil, false
		}
		out = append(out, segment{key: key, index: -1})
		if rest == "" && !strings.Contains(part, "[") {
			continue
		}
		rest = "[" + rest
		for rest != "" {
			if rest[0] != '[' {
				return nil, false
			}
			num, after, ok := strings.Cut(rest[1:], "]")
			if !ok || num == "" || len(num) > 6 || strings.Trim(num, "0123456789") != "" {
				return nil, false
			}
			i, _ := strconv.Atoi(num)
			out = append(out, segment{index: i})
			rest = after
		}
	}
	return out, true
}

// identityFieldKind types the fields of identityMap.<namespace>[i]: the
// identity map is in every profile and event schema that holds
// identities, with any namespace as key (XDM's Identity Map).
func identityFieldKind(segs []segment) (cellKind, bool) {
	if len(segs) != 4 || segs[0].key != "identityMap" || segs[0].index >= 0 || segs[1].index >= 0 || segs[2].index < 0 || segs[3].index >= 0 {
		return 0, false
	}
	switch segs[3].key {
	case "id", "authenticatedState":
		return cellString, true
	case "primary":
		return cellBoolean, true
	}
	return 0, false
}

// parseHeader checks the header row against the schema and builds the
// tree of its paths.
func parseHeader(header []string, s Schema) (*csvHeader, error) {
	h := &csvHeader{columns: make([]string, len(header)), root: &pathNode{column: -1}}
	bad := func(format string, args ...any) error {
		return fault.Errorf(fault.Invalid, CodeFileCSVHeader, "header row: "+format, args...)
	}
	if len(header) == 0 || len(header) == 1 && strings.TrimSpace(header[0]) == "" {
		return nil, bad("it names no column")
	}
	for i, col := range header {
		col = strings.TrimSpace(col)
		h.columns[i] = col
		if col == "" {
			return nil, bad("column %d has no name", i+1)
		}
		if !utf8.ValidString(col) {
			return nil, bad("column %d's name is not UTF-8", i+1)
		}
		segs, ok := parsePath(col)
		if !ok {
			return nil, bad("column %q is not a dotted field path such as person.name.firstName or identityMap.Email[0].id", col)
		}
		kind, known := identityFieldKind(segs)
		if !known {
			if s == nil {
				known = true
			} else {
				var t string
				t, known = s.FieldType(col)
				kind = kindOf(t)
			}
		}
		if !known {
			return nil, bad("column %q names no field of the dataset's schema", col)
		}
		if err := h.add(segs, i, kind, col); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (h *csvHeader) add(segs []segment, column int, kind cellKind, col string) error {
	conflict := func(other string) error {
		if other == col {
			return fault.Errorf(fault.Invalid, CodeFileCSVHeader, "header row: column %q appears twice", col)
		}
		return fault.Errorf(fault.Invalid, CodeFileCSVHeader, "header row: columns %q and %q do not fit one record", other, col)
	}
	n := h.root
	for _, sg := range segs {
		if n.column >= 0 {
			return conflict(n.name)
		}
		isIndex := sg.index >= 0
		if len(n.kids) > 0 && n.array != isIndex {
			return conflict(n.kids[0].name)
		}
		n.array = isIndex
		var next *pathNode
		for _, k := range n.kids {
			if isIndex && k.index == sg.index || !isIndex && k.rawKey == sg.key {
				next = k
				break
			}
		}
		if next == nil {
			next = &pathNode{column: -1, name: col, index: sg.index}
			if !isIndex {
				next.rawKey, next.key = sg.key, jsonString(nil, sg.key)
			}
			// Array elements in index order.
			at := len(n.kids)
			for isIndex && at > 0 && n.kids[at-1].index > sg.index {
				at--
			}
			n.kids = append(n.kids, nil)
			copy(n.kids[at+1:], n.kids[at:])
			n.kids[at] = next
		}
		n = next
	}
	if n.column >= 0 || len(n.kids) > 0 {
		other := n.name
		if len(n.kids) > 0 {
			other = n.kids[0].name
		}
		return conflict(other)
	}
	n.column, n.kind = column, kind
	return nil
}

// build appends the JSON object of one row.
func (h *csvHeader) build(b []byte, fields []string) []byte {
	b, ok := appendNode(b, h.root, fields)
	if !ok {
		b = append(b, "{}"...)
	}
	return b
}

// appendNode appends n's value, or nothing (false) when none of its
// cells holds anything.
func appendNode(b []byte, n *pathNode, fields []string) ([]byte, bool) {
	if n.column >= 0 {
		cell := fields[n.column]
		if cell == "" {
			return b, false
		}
		return cellValue(b, cell, n.kind), true
	}
	start := len(b)
	open, closing := byte('{'), byte('}')
	if n.array {
		open, closing = '[', ']'
	}
	b = append(b, open)
	count := 0
	for _, k := range n.kids {
		mark := len(b)
		if count > 0 {
			b = append(b, ',')
		}
		if !n.array {
			b = append(b, k.key...)
			b = append(b, ':')
		}
		var ok bool
		if b, ok = appendNode(b, k, fields); ok {
			count++
		} else {
			b = b[:mark]
		}
	}
	if count == 0 {
		return b[:start], false
	}
	return append(b, closing), true
}

// cellValue appends a cell as a JSON value of its column's kind: a
// number column's cell that reads as a number is a JSON number ("42",
// "-1.5e3"; also "+7", "007", ".5", written as JSON numbers); a boolean
// column's "true"/"false" (any case) a JSON boolean; an object, map or
// array column's cell that holds JSON of that kind that JSON. Anything
// else is a JSON string, so that the schema validator coerces it or
// refuses it with its own error, as it does for JSON files (dates stay
// strings).
func cellValue(b []byte, cell string, kind cellKind) []byte {
	switch kind {
	case cellNumber:
		t := strings.TrimSpace(cell)
		if isJSONNumber(t) {
			return append(b, t...)
		}
		if strings.Trim(t, "+-.0123456789eE") == "" {
			if i, err := strconv.ParseInt(t, 10, 64); err == nil {
				return strconv.AppendInt(b, i, 10)
			}
			if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return strconv.AppendFloat(b, f, 'g', -1, 64)
			}
		}
	case cellBoolean:
		switch t := strings.TrimSpace(cell); {
		case strings.EqualFold(t, "true"):
			return append(b, "true"...)
		case strings.EqualFold(t, "false"):
			return append(b, "false"...)
		}
	case cellObject, cellArray:
		t := strings.TrimSpace(cell)
		want := byte('{')
		if kind == cellArray {
			want = '['
		}
		if len(t) > 0 && t[0] == want && json.Valid([]byte(t)) {
			return append(b, t...)
		}
	}
	return jsonString(b, cell)
}

// isJSONNumber reports whether s is a number as RFC 8259 §6 spells it.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

const hexDigits = "0123456789abcdef"

// jsonString appends s as a JSON string (RFC 8259 §7). Bytes that are not
// UTF-8 are kept as they are, so that the ingest decoder refuses the row
// with its UTF-8 error rather than the reader changing the data.
func jsonString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// fieldCount is "1 field" or "n fields", for messages.
func fieldCount(n int) string {
	if n == 1 {
		return "1 field"
	}
	return strconv.Itoa(n) + " fields"
}
