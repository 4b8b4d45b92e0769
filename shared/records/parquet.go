package records

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// parquetBatch is how many rows are read from a row group at once.
const parquetBatch = 16

// parquetReader reads a Parquet file (parquet.apache.org/docs/file-format)
// with github.com/parquet-go/parquet-go through Source.ReadAt, row group
// by row group, page by page. Each row is one JSON object: groups are
// objects, LIST groups arrays, MAP groups objects (keys as strings),
// INT96 and TIMESTAMP values RFC 3339 strings (UTC), DATE values
// "YYYY-MM-DD", TIME values "hh:mm:ss[.fraction]", DECIMAL values numbers,
// byte arrays strings (STRING, ENUM, JSON that is not valid JSON, and
// unannotated UTF-8; base64 otherwise), JSON values as they are, UUIDs in
// their canonical form. Record.Raw is the record's JSON.
//
// Every leaf column must be a field the Schema knows, named by its dotted
// path with "[0]" for a list element ("items[0].sku"); a MAP column is
// checked as a whole (its keys are data). Otherwise the file fails with
// CodeFileColumns. A file parquet-go cannot read is CodeFileParquet.
//
// Position.Offset and Number are both the index of the next row; opening
// at one skips the row groups before it without reading them.
type parquetReader struct {
	name       string
	file       *parquet.File
	cache      *cachedReaderAt // nil when reading a temporary file
	tmp        *os.File
	plan       *pqPlan
	group      int // index of the row group being read
	rows       parquet.Rows
	buf        []parquet.Row
	bufN, bufI int
	seek       int64 // row to seek to within the first group read
	next       int64 // index of the next row
	total      int64
	fromStart  bool
	empty      bool
	sticky
	data []byte
	tree pqTree
}

func openParquet(ctx context.Context, src Source, s Schema, at Position) (r Reader, err error) {
	pr := &parquetReader{name: src.Name(), fromStart: at == Position{}, next: at.Offset}
	defer func() {
		if err != nil {
			pr.Close()
		}
	}()
	gz, err := isGzip(ctx, src)
	if err != nil {
		return nil, err
	}
	var ra io.ReaderAt
	var size int64
	if gz {
		if pr.tmp, size, err = gunzipToTemp(ctx, src); err != nil {
			return nil, err
		}
		ra = pr.tmp
	} else {
		pr.cache = newCachedReaderAt(ctx, src)
		ra, size = pr.cache, src.Size()
	}
	if size == 0 {
		pr.empty = true
		return pr, nil
	}
	if err := pr.guard(func() error {
		var err error
		pr.file, err = parquet.OpenFile(ra, size,
			parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(cacheBlockSize))
		return err
	}); err != nil {
		return nil, err
	}
	if pr.plan, err = planParquet(pr.file.Root(), s); err != nil {
		return nil, err
	}
	pr.total = pr.file.NumRows()
	if pr.total == 0 {
		pr.empty = true
		return pr, nil
	}
	if at.Offset != int64(at.Number) || at.Offset > pr.total {
		return nil, fault.Errorf(fault.Invalid, CodeFileFormat, "position %+v is not a row of file %q", at, pr.name)
	}
	// Skip the row groups before the position.
	rest := at.Offset
	groups := pr.file.RowGroups()
	for pr.group < len(groups) && rest >= groups[pr.group].NumRows() {
		rest -= groups[pr.group].NumRows()
		pr.group++
	}
	pr.seek = rest
	pr.buf = make([]parquet.Row, parquetBatch)
	return pr, nil
}

// guard runs a call into parquet-go, turning its errors and panics (it
// panics on some malformed files) into CodeFileParquet, unless the source
// failed under it: that error passes as it is.
func (r *parquetReader) guard(call func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parquet: %v", p)
		}
		if err == nil || errors.Is(err, io.EOF) {
			return
		}
		if r.cache != nil {
			if serr := r.cache.sourceError(); serr != nil {
				err = serr
				return
			}
		}
		if fault.KindOf(err) == fault.Internal {
			err = fault.Wrap(err, fault.Invalid, CodeFileParquet, "file "+quote(r.name)+" is not a valid Parquet file")
		}
	}()
	return call()
}

// gunzipToTemp decompresses src into a temporary file, within the
// expansion limit.
func gunzipToTemp(ctx context.Context, src Source) (*os.File, int64, error) {
	rc, err := src.Open(ctx, 0)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	d, err := newGunzip(rc, src.Name(), ExpansionLimit(src.Size()))
	if err != nil {
		return nil, 0, err
	}
	defer d.Close()
	f, err := os.CreateTemp("", "records-*.parquet")
	if err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(f, d)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	return f, n, nil
}

func (r *parquetReader) Next() (Record, error) { return r.sticky.next(r.read) }

func (r *parquetReader) read() (Record, error) {
	if r.empty {
		if r.fromStart {
			r.err = emptyFile(r.name)
			return Record{}, r.err
		}
		return Record{}, io.EOF
	}
	for r.bufI == r.bufN {
		if err := r.fill(); err != nil {
			return Record{}, err
		}
	}
	row := r.buf[r.bufI]
	r.bufI++
	r.next++
	var err error
	if gerr := r.guard(func() error {
		r.data, err = r.tree.assemble(r.data[:0], r.plan, row)
		return nil
	}); gerr != nil {
		return Record{}, gerr
	}
	if err != nil {
		return Record{}, fault.Wrap(err, fault.Invalid, CodeFileParquet, "file "+quote(r.name)+" is not a valid Parquet file")
	}
	n := int(r.next)
	if len(r.data) > MaxLineBytes {
		return Record{Number: n, Raw: r.data[:MaxRawBytes], Err: fault.Errorf(fault.Invalid, CodeRowTooLarge,
			"row is %d bytes as JSON, over the %d-byte limit", len(r.data), MaxLineBytes)}, nil
	}
	return Record{Number: n, Data: r.data, Raw: r.data}, nil
}

// fill reads the next rows, moving on to the next row group as need be.
func (r *parquetReader) fill() error {
	groups := r.file.RowGroups()
	if r.rows == nil {
		if r.group >= len(groups) {
			return io.EOF
		}
		if err := r.guard(func() error {
			r.rows = groups[r.group].Rows()
			if r.seek > 0 {
				err := r.rows.SeekToRow(r.seek)
				r.seek = 0
				return err
			}
			return nil
		}); err != nil {
			return err
		}
	}
	for i := range r.buf {
		r.buf[i] = r.buf[i][:0]
	}
	var n int
	err := r.guard(func() error {
		var err error
		n, err = r.rows.ReadRows(r.buf)
		return err
	})
	r.bufN, r.bufI = n, 0
	if errors.Is(err, io.EOF) {
		r.rows.Close()
		r.rows = nil
		r.group++
		return nil
	}
	return err
}

func (r *parquetReader) Position() Position { return Position{Offset: r.next, Number: int(r.next)} }

func (r *parquetReader) Close() error {
	if r.rows != nil {
		r.rows.Close()
		r.rows = nil
	}
	if r.tmp != nil {
		r.tmp.Close()
		os.Remove(r.tmp.Name())
		r.tmp = nil
	}
	return nil
}

// pqKind is what a Parquet node becomes in JSON.
type pqKind uint8

const (
	pqObject   pqKind = iota
	pqListKind        // a LIST group: its repeated child's elements
	pqMap             // a MAP group: its key_value entries as members
	pqLeaf
)

// pqNode is one node of the Parquet schema with what it becomes in JSON.
type pqNode struct {
	col      *parquet.Column
	key      []byte // JSON-encoded name
	kind     pqKind
	repeated bool
	def, rep int // the definition and repetition levels at which it is present
	kids     []*pqNode
	// For pqListKind: how to take an element out of the repeated child's
	// value: the child itself, or its one field (elemField).
	elemField bool
	// elemOf: the node is a list's repeated group whose one field is
	// the element.
	elemOf bool
	leaf   int // column index of a leaf
	conv   leafConv
	path   []pathStep // from the root, for leaves
}

// pathStep is one node on a leaf's path with its slot in its parent.
type pathStep struct {
	node *pqNode
	slot int
}

func isList(c *parquet.Column) bool {
	lt := c.Type().LogicalType()
	if lt != nil {
		if _, ok := lt.Value.(*format.ListType); ok {
			return true
		}
	}
	ct := c.Type().ConvertedType()
	return ct != nil && *ct == deprecated.List
}

func isMap(c *parquet.Column) bool {
	lt := c.Type().LogicalType()
	if lt != nil {
		if _, ok := lt.Value.(*format.MapType); ok {
			return true
		}
	}
	ct := c.Type().ConvertedType()
	return ct != nil && (*ct == deprecated.Map || *ct == deprecated.MapKeyValue)
}

// pqPlan is a file's schema as JSON: the tree, and its leaves by column
// index.
type pqPlan struct {
	root   *pqNode
	leaves []*pqNode
}

// planParquet builds the plan of a file's schema and checks its columns
// against the dataset's schema.
func planParquet(root *parquet.Column, s Schema) (*pqPlan, error) {
	top := &pqNode{col: root, kind: pqObject}
	var leaves []*pqNode
	var build func(n *pqNode, xdmPath string, check bool, path []pathStep) error
	build = func(n *pqNode, xdmPath string, check bool, path []pathStep) error {
		c := n.col
		if c.Leaf() {
			n.kind = pqLeaf
			n.leaf = c.Index()
			n.conv = leafConvOf(c)
			n.path = append([]pathStep(nil), path...)
			leaves = append(leaves, n)
			if check && !knownPath(s, xdmPath) {
				return unknownColumn(c)
			}
			return nil
		}
		kids := c.Columns()
		switch {
		case isList(c) && len(kids) == 1 && kids[0].Repeated():
			n.kind = pqListKind
			rep := kids[0]
			// Backward-compatible list forms (Parquet's LogicalTypes.md,
			// "Lists"): a repeated group of one field that is not named
			// "array" or "<list>_tuple" holds the element; otherwise the
			// repeated node is the element.
			n.elemField = !rep.Leaf() && len(rep.Columns()) == 1 && rep.Name() != "array" && rep.Name() != c.Name()+"_tuple"
			xdmPath += "[0]"
		case isMap(c) && len(kids) == 1 && kids[0].Repeated() && !kids[0].Leaf() && len(kids[0].Columns()) >= 1 && len(kids[0].Columns()) <= 2:
			n.kind = pqMap
			if check {
				if !knownPath(s, xdmPath) {
					return unknownColumn(c)
				}
				check = false // keys are data
			}
		default:
			n.kind = pqObject
		}
		for i, kc := range kids {
			k := &pqNode{col: kc, key: jsonString(nil, kc.Name()), repeated: kc.Repeated(), def: n.def, rep: n.rep, elemOf: n.kind == pqListKind && n.elemField}
			if !kc.Required() {
				k.def++
			}
			if kc.Repeated() {
				k.rep++
			}
			n.kids = append(n.kids, k)
			p := xdmPath
			switch {
			case n.kind == pqListKind, n.kind == pqMap, n.elemOf:
				// A list's repeated node and its element field add
				// nothing; a map's keys are data.
			case kc.Repeated():
				p = join(p, kc.Name()) + "[0]"
			default:
				p = join(p, kc.Name())
			}
			if err := build(k, p, check, append(path, pathStep{node: k, slot: i})); err != nil {
				return err
			}
		}
		return nil
	}
	if err := build(top, "", s != nil, nil); err != nil {
		return nil, err
	}
	p := &pqPlan{root: top}
	for _, l := range leaves {
		for len(p.leaves) <= l.leaf {
			p.leaves = append(p.leaves, nil)
		}
		p.leaves[l.leaf] = l
	}
	return p, nil
}

func join(p, name string) string {
	if p == "" {
		return name
	}
	return p + "." + name
}

// knownPath: the Schema knows the field at p, or p is in the identity map.
func knownPath(s Schema, p string) bool {
	if p == "identityMap" || strings.HasPrefix(p, "identityMap.") {
		return true
	}
	_, ok := s.FieldType(p)
	return ok
}

func unknownColumn(c *parquet.Column) error {
	return fault.Errorf(fault.Invalid, CodeFileColumns, "column %q names no field of the dataset's schema", strings.Join(c.Path(), "."))
}

// pqTree is the value of one row while it is assembled: a value for each
// node, as the row's levels say (the record assembly of Dremel, which
// Parquet's repetition and definition levels follow).
type pqTree struct {
	idx []int // per repetition level, the element index of the current value
}

// pqGroup holds the values of a group's fields: nil (absent), a
// *parquet.Value, a *pqGroup or a *pqList.
type pqGroup struct{ fields []any }

type pqList struct{ items []any }

func newGroup(n int) *pqGroup { return &pqGroup{fields: make([]any, n)} }

// assemble appends the JSON object of row.
func (t *pqTree) assemble(b []byte, p *pqPlan, row parquet.Row) ([]byte, error) {
	top := newGroup(len(p.root.kids))
	var err error
	row.Range(func(column int, values []parquet.Value) bool {
		if column < 0 || column >= len(p.leaves) || p.leaves[column] == nil {
			err = fmt.Errorf("row holds column %d, which the schema does not", column)
			return false
		}
		leaf := p.leaves[column]
		for i := range values {
			if e := t.place(top, leaf, &values[i], i == 0); e != nil {
				err = e
				return false
			}
		}
		return true
	})
	if err != nil {
		return b, err
	}
	return appendGroup(b, p.root, top), nil
}

// place puts one value of a leaf column into the row's tree.
func (t *pqTree) place(top *pqGroup, leaf *pqNode, v *parquet.Value, first bool) error {
	r, d := v.RepetitionLevel(), v.DefinitionLevel()
	if r > leaf.rep || d > leaf.def {
		return fmt.Errorf("value levels %d/%d are over the column's %d/%d", r, d, leaf.rep, leaf.def)
	}
	for len(t.idx) <= leaf.rep {
		t.idx = append(t.idx, 0)
	}
	if first {
		for i := range t.idx {
			t.idx[i] = 0
		}
	} else {
		if r == 0 {
			return errors.New("a row's value has repetition level 0 after its first")
		}
		t.idx[r]++
		for i := r + 1; i < len(t.idx); i++ {
			t.idx[i] = 0
		}
	}
	cur := top
	for _, st := range leaf.path {
		n := st.node
		slot := &cur.fields[st.slot]
		if n.def > d {
			if n.repeated && *slot == nil {
				*slot = &pqList{}
			}
			return nil
		}
		if n.repeated {
			l, _ := (*slot).(*pqList)
			if l == nil {
				l = &pqList{}
				*slot = l
			}
			j := t.idx[n.rep]
			for len(l.items) <= j {
				l.items = append(l.items, nil)
			}
			if n.kind == pqLeaf {
				l.items[j] = v
				return nil
			}
			g, _ := l.items[j].(*pqGroup)
			if g == nil {
				g = newGroup(len(n.kids))
				l.items[j] = g
			}
			cur = g
			continue
		}
		if n.kind == pqLeaf {
			*slot = v
			return nil
		}
		g, _ := (*slot).(*pqGroup)
		if g == nil {
			g = newGroup(len(n.kids))
			*slot = g
		}
		cur = g
	}
	return nil
}

// appendGroup appends a group as a JSON object of its present fields.
func appendGroup(b []byte, n *pqNode, g *pqGroup) []byte {
	b = append(b, '{')
	first := true
	for i, k := range n.kids {
		if g.fields[i] == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, k.key...)
		b = append(b, ':')
		b = appendField(b, k, g.fields[i])
	}
	return append(b, '}')
}

// appendField appends the value of node n held in its parent's slot.
func appendField(b []byte, n *pqNode, val any) []byte {
	if n.repeated {
		l, _ := val.(*pqList)
		b = append(b, '[')
		if l != nil {
			for i, it := range l.items {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendItem(b, n, it)
			}
		}
		return append(b, ']')
	}
	return appendItem(b, n, val)
}

// appendItem appends one value of n (an element, when n is repeated).
func appendItem(b []byte, n *pqNode, val any) []byte {
	switch v := val.(type) {
	case nil:
		return append(b, "null"...)
	case *parquet.Value:
		return n.conv(b, *v)
	case *pqGroup:
		switch n.kind {
		case pqListKind:
			return appendList(b, n, v)
		case pqMap:
			return appendMap(b, n, v)
		}
		return appendGroup(b, n, v)
	}
	return append(b, "null"...)
}

func appendList(b []byte, n *pqNode, g *pqGroup) []byte {
	rep := n.kids[0]
	l, _ := g.fields[0].(*pqList)
	b = append(b, '[')
	if l != nil {
		for i, it := range l.items {
			if i > 0 {
				b = append(b, ',')
			}
			if n.elemField {
				eg, _ := it.(*pqGroup)
				if eg == nil {
					b = append(b, "null"...)
					continue
				}
				b = appendField(b, rep.kids[0], eg.fields[0])
				continue
			}
			b = appendItem(b, rep, it)
		}
	}
	return append(b, ']')
}

func appendMap(b []byte, n *pqNode, g *pqGroup) []byte {
	kv := n.kids[0]
	l, _ := g.fields[0].(*pqList)
	b = append(b, '{')
	first := true
	if l != nil {
		for _, it := range l.items {
			e, _ := it.(*pqGroup)
			if e == nil || e.fields[0] == nil {
				continue
			}
			kn := kv.kids[0]
			var key string
			if kval, ok := e.fields[0].(*parquet.Value); ok && kn.kind == pqLeaf {
				key = mapKey(kn, *kval)
			} else {
				key = string(appendItem(nil, kn, e.fields[0]))
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = jsonString(b, key)
			b = append(b, ':')
			if len(kv.kids) < 2 || e.fields[1] == nil {
				b = append(b, "null"...)
				continue
			}
			b = appendField(b, kv.kids[1], e.fields[1])
		}
	}
	return append(b, '}')
}

// mapKey is a map key as a JSON member name: the text of a string key,
// the JSON of any other.
func mapKey(n *pqNode, v parquet.Value) string {
	out := n.conv(nil, v)
	if len(out) > 0 && out[0] == '"' {
		var s string
		if json.Unmarshal(out, &s) == nil {
			return s
		}
	}
	return string(out)
}

// leafConv appends a leaf value as JSON.
type leafConv func(b []byte, v parquet.Value) []byte

func leafConvOf(c *parquet.Column) leafConv {
	t := c.Type()
	lt := t.LogicalType()
	var ltv any
	if lt != nil {
		ltv = lt.Value
	}
	switch l := ltv.(type) {
	case *format.DateType:
		return func(b []byte, v parquet.Value) []byte {
			if v.IsNull() {
				return append(b, "null"...)
			}
			return jsonString(b, time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly))
		}
	case *format.TimestampType:
		unit := timeUnit(&l.Unit)
		return func(b []byte, v parquet.Value) []byte {
			if v.IsNull() {
				return append(b, "null"...)
			}
			return appendTime(b, v.Int64(), unit)
		}
	case *format.TimeType:
		unit := timeUnit(&l.Unit)
		return func(b []byte, v parquet.Value) []byte {
			if v.IsNull() {
				return append(b, "null"...)
			}
			n := v.Int64()
			if t.Kind() == parquet.Int32 {
				n = int64(v.Int32())
			}
			d := time.Duration(n) * unit
			return jsonString(b, time.Unix(0, 0).UTC().Add(d).Format("15:04:05.999999999"))
		}
	case *format.DecimalType:
		scale := int(l.Scale)
		return func(b []byte, v parquet.Value) []byte {
			if v.IsNull() {
				return append(b, "null"...)
			}
			var u big.Int
			switch v.Kind() {
			case parquet.Int32:
				u.SetInt64(int64(v.Int32()))
			case parquet.Int64:
				u.SetInt64(v.Int64())
			default:
				twosComplement(&u, v.ByteArray())
			}
			return appendDecimal(b, &u, scale)
		}
	case *format.IntType:
		if !l.IsSigned {
			return func(b []byte, v parquet.Value) []byte {
				switch {
				case v.IsNull():
					return append(b, "null"...)
				case v.Kind() == parquet.Int32:
					return strconv.AppendUint(b, uint64(v.Uint32()), 10)
				}
				return strconv.AppendUint(b, v.Uint64(), 10)
			}
		}
	case *format.JsonType:
		return func(b []byte, v parquet.Value) []byte {
			if v.IsNull() {
				return append(b, "null"...)
			}
			if raw := v.ByteArray(); json.Valid(raw) {
				return append(b, raw...)
			}
			return jsonString(b, string(v.ByteArray()))
		}
	case *format.UUIDType:
		return func(b []byte, v parquet.Value) []byte {
			if v.IsNull() {
				return append(b, "null"...)
			}
			u := v.ByteArray()
			if len(u) != 16 {
				return jsonString(b, base64.StdEncoding.EncodeToString(u))
			}
			return jsonString(b, fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
		}
	case *format.Float16Type:
		return func(b []byte, v parquet.Value) []byte {
			if v.IsNull() {
				return append(b, "null"...)
			}
			u := v.ByteArray()
			if len(u) != 2 {
				return append(b, "null"...)
			}
			return appendFloat(b, float64(float16(binary.LittleEndian.Uint16(u))), 32)
		}
	case *format.StringType, *format.EnumType:
		return func(b []byte, v parquet.Value) []byte {
			if v.IsNull() {
				return append(b, "null"...)
			}
			return jsonString(b, string(v.ByteArray()))
		}
	}
	return plainConv
}

// plainConv converts a value by its physical type alone.
func plainConv(b []byte, v parquet.Value) []byte {
	switch v.Kind() {
	case parquet.Boolean:
		return strconv.AppendBool(b, v.Boolean())
	case parquet.Int32:
		return strconv.AppendInt(b, int64(v.Int32()), 10)
	case parquet.Int64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case parquet.Int96:
		// Nanoseconds of the day, then the Julian day (Impala's and
		// Spark's timestamp).
		i := v.Int96()
		nanos := int64(uint64(i[1])<<32 | uint64(i[0]))
		days := int64(i[2]) - 2440588 // Julian day of 1970-01-01
		return appendTime(b, days*86400*int64(time.Second)+nanos, time.Nanosecond)
	case parquet.Float:
		return appendFloat(b, float64(v.Float()), 32)
	case parquet.Double:
		return appendFloat(b, v.Double(), 64)
	case parquet.ByteArray, parquet.FixedLenByteArray:
		raw := v.ByteArray()
		if utf8.Valid(raw) {
			return jsonString(b, string(raw))
		}
		return jsonString(b, base64.StdEncoding.EncodeToString(raw))
	}
	return append(b, "null"...)
}

func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		// Not a JSON number: a string the validator refuses for a
		// number field.
		return jsonString(b, strconv.FormatFloat(f, 'g', -1, bits))
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

func timeUnit(u *format.TimeUnit) time.Duration {
	switch u.Value.(type) {
	case *format.MilliSeconds:
		return time.Millisecond
	case *format.MicroSeconds:
		return time.Microsecond
	}
	return time.Nanosecond
}

// appendTime appends n units since the Unix epoch as an RFC 3339 string.
func appendTime(b []byte, n int64, unit time.Duration) []byte {
	per := int64(time.Second / unit)
	sec, frac := n/per, n%per
	if frac < 0 {
		sec--
		frac += per
	}
	t := time.Unix(sec, frac*int64(unit)).UTC()
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// twosComplement sets u to the big-endian two's-complement integer raw.
func twosComplement(u *big.Int, raw []byte) {
	u.SetBytes(raw)
	if len(raw) > 0 && raw[0]&0x80 != 0 {
		var m big.Int
		m.Lsh(big.NewInt(1), uint(8*len(raw)))
		u.Sub(u, &m)
	}
}

// appendDecimal appends unscaled×10^-scale as a JSON number.
func appendDecimal(b []byte, u *big.Int, scale int) []byte {
	s := u.String()
	if scale <= 0 {
		b = append(b, s...)
		for range -scale {
			b = append(b, '0')
		}
		return b
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for len(s) <= scale {
		s = "0" + s
	}
	if neg {
		b = append(b, '-')
	}
	b = append(b, s[:len(s)-scale]...)
	b = append(b, '.')
	return append(b, s[len(s)-scale:]...)
}

// float16 converts IEEE 754 half-precision bits.
func float16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0:
		// Subnormal.
		f := float32(mant) / 1024 * float32(math.Pow(2, -14))
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}
