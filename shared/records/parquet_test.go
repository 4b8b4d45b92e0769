package records

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	pq "github.com/parquet-go/parquet-go"
)

var parquetFormat = Format{Name: "parquet"}

// sameRows are the records of TestSameRecords in Arrow's JSON form.
const sameRows = `[
 {"_id":"1","person":{"name":{"firstName":"Ann","lastName":"Lee"},"birthDate":"1980-02-03"},"score":2.5,"active":true,
  "identityMap":[{"key":"Email","value":[{"id":"a@x.org","primary":true}]}],"tags":["x","y, \"z\""]},
 {"_id":"2","person":{"name":{"firstName":"Bob","lastName":null},"birthDate":null},"score":-3,"active":false,
  "identityMap":[{"key":"ECID","value":[{"id":"123","primary":null}]}],"tags":null},
 {"_id":"3","person":null,"score":null,"active":null,"identityMap":null,"tags":["only"]}
]`

var (
	itemType    = arrow.StructOf(arrow.Field{Name: "sku", Type: arrow.BinaryTypes.String, Nullable: true}, arrow.Field{Name: "qty", Type: arrow.PrimitiveTypes.Int32, Nullable: true})
	typedSchema = arrow.NewSchema([]arrow.Field{
		{Name: "ts_us", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "ts_ms", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
		{Name: "count", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "big", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ratio", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "attrs", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "matrix", Type: arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Int32)), Nullable: true},
		{Name: "items", Type: arrow.ListOf(itemType), Nullable: true},
	}, nil)
	typedFields = SchemaFunc(func(p string) (string, bool) {
		switch p {
		case "ts_us", "ts_ms":
			return "date-time", true
		case "day":
			return "date", true
		case "amount", "ratio":
			return "number", true
		case "count", "big", "matrix[0][0]", "items[0].qty":
			return "integer", true
		case "bin", "items[0].sku":
			return "string", true
		case "attrs":
			return "map", true
		}
		return "", false
	})
)

const typedRows = `[
 {"ts_us":"2024-05-06T07:08:09.123456Z","ts_ms":"1969-12-31T23:59:59.5Z","day":"2024-02-29","amount":"-123.45","count":4000000000,
  "big":9007199254740993,"ratio":0.5,"bin":"/wA=","attrs":[{"key":"a","value":1},{"key":"b","value":null}],
  "matrix":[[1,2],[],[3,null],null],"items":[{"sku":"s1","qty":2},{"sku":"s2","qty":null},null]},
 {"ts_us":null,"ts_ms":null,"day":null,"amount":"0.07","count":null,"big":null,"ratio":null,"bin":null,"attrs":[],"matrix":[],"items":null}
]`

func TestParquetTypes(t *testing.T) {
	want := []string{
		`1:{"ts_us":"2024-05-06T07:08:09.123456Z","ts_ms":"1969-12-31T23:59:59.5Z","day":"2024-02-29","amount":-123.45,"count":4000000000,` +
			`"big":9007199254740993,"ratio":0.5,"bin":"/wA=","attrs":{"a":1,"b":null},"matrix":[[1,2],[],[3,null],null],"items":[{"sku":"s1","qty":2},{"sku":"s2"},null]}`,
		`2:{"amount":0.07,"attrs":{},"matrix":[]}`,
	}
	data := writeParquet(t, typedSchema, typedRows, 0, false)
	recs, _, err := openAll(t, src("t.parquet", data), parquetFormat, typedFields, Position{})
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(t, recs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParquetInt96(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, Nullable: true}}, nil)
	data := writeParquet(t, schema, `[{"ts":"2024-05-06T07:08:09.123456789Z"},{"ts":"1960-01-01T00:00:00Z"},{"ts":null}]`, 0, true)
	if !bytes.Contains(data, []byte("INT96")) && !parquetHasInt96(t, data) {
		t.Fatal("the writer did not write INT96")
	}
	recs, _, err := openAll(t, src("t.parquet", data), parquetFormat, nil, Position{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`1:{"ts":"2024-05-06T07:08:09.123456789Z"}`, `2:{"ts":"1960-01-01T00:00:00Z"}`, `3:{}`}
	if got := describe(t, recs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// parquetHasInt96 reports whether the file's first column is INT96, as
// parquet-go reads its schema.
func parquetHasInt96(t testing.TB, data []byte) bool {
	t.Helper()
	f, err := pq.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return f.Root().Columns()[0].Type().Kind() == pq.Int96
}

// failingSource fails every read after the first fail bytes.
type failingSource struct {
	*memSource
	fail int64
}

var errRead = errors.New("connection reset")

func (f *failingSource) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.fail {
		return 0, errRead
	}
	return f.memSource.ReadAt(ctx, p, off)
}

func TestParquetFileErrors(t *testing.T) {
	good := writeParquet(t, typedSchema, typedRows, 0, false)
	noRows := writeParquet(t, typedSchema, `[]`, 0, false)
	footer := bytes.Clone(good)
	for i := len(footer) - 200; i < len(footer)-8; i++ {
		footer[i] ^= 0x5a
	}
	tests := []struct {
		name, file string
		data       []byte
		schema     Schema
		code       string
		mention    string // in the message
	}{
		{name: "unknown column", data: good, schema: SchemaFunc(func(p string) (string, bool) {
			if p == "items[0].qty" {
				return "", false
			}
			return typedFields(p)
		}), code: CodeFileColumns, mention: "items.list.element.qty"},
		{name: "unknown map", data: good, schema: SchemaFunc(func(p string) (string, bool) {
			if p == "attrs" {
				return "", false
			}
			return typedFields(p)
		}), code: CodeFileColumns, mention: "attrs"},
		{name: "not Parquet", data: []byte("hello, world, this is not parquet"), code: CodeFileParquet},
		{name: "magic only", data: []byte("PAR1PAR1"), code: CodeFileParquet},
		{name: "garbage between magics", data: append(append([]byte("PAR1"), bytes.Repeat([]byte{0xff}, 100)...), "PAR1"...), code: CodeFileParquet},
		{name: "truncated", data: good[:len(good)/2], code: CodeFileParquet},
		{name: "corrupt footer", data: footer, code: CodeFileParquet},
		{name: "empty", data: nil, code: CodeFileEmpty},
		{name: "no rows", data: noRows, code: CodeFileEmpty},
		{name: ".gz not gzip", file: "t.parquet.gz", data: good, code: CodeFileGzip},
		{name: "gzip of garbage", file: "t.parquet.gz", data: gz(t, []byte("garbage")), code: CodeFileParquet},
		{name: "gzip bomb", file: "t.parquet.gz", data: gzRepeat(t, "", "\x00", 1<<20, 128), code: CodeFileExpansion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.file
			if name == "" {
				name = "t.parquet"
			}
			sc := tt.schema
			if sc == nil {
				sc = typedFields
			}
			_, _, err := openAll(t, src(name, tt.data), parquetFormat, sc, Position{})
			wantFault(t, err, tt.code)
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("%v does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestParquetSourceError(t *testing.T) {
	good := writeParquet(t, typedSchema, typedRows, 0, false)
	s := &failingSource{memSource: src("t.parquet", good), fail: 4}
	_, _, err := openAll(t, s, parquetFormat, typedFields, Position{})
	if !errors.Is(err, errRead) {
		t.Fatalf("got %v, want the source's error", err)
	}
}

func TestParquetGzip(t *testing.T) {
	good := writeParquet(t, typedSchema, typedRows, 0, false)
	plain, _, err := openAll(t, src("t.parquet", good), parquetFormat, typedFields, Position{})
	if err != nil {
		t.Fatal(err)
	}
	zipped, _, err := openAll(t, src("t.parquet.gz", gz(t, good)), parquetFormat, typedFields, Position{})
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, zipped, plain)
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "records-*.parquet"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// manyRows generates n rows of the typed schema.
func manyRows(n, binBytes int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"big":` + strconv.Itoa(i) + `,"bin":"` + strings.Repeat("QUJD", binBytes/3) + `","items":[{"sku":"s` + strconv.Itoa(i) + `","qty":` + strconv.Itoa(i%7) + `}]`)
		if i%5 == 0 {
			b.WriteString(`,"matrix":[[` + strconv.Itoa(i) + `],[]]`)
		}
		b.WriteString("}")
	}
	b.WriteString("]")
	return b.String()
}

func TestParquetResume(t *testing.T) {
	data := writeParquet(t, typedSchema, manyRows(2000, 150), 100, false)
	s := src("r.parquet", data)
	full, pos, err := openAll(t, s, parquetFormat, typedFields, Position{})
	if err != nil || len(full) != 2000 {
		t.Fatalf("full read: %d records, %v", len(full), err)
	}
	for k := 0; k < len(full); k += 37 {
		rest, _, err := openAll(t, s, parquetFormat, typedFields, pos[k])
		if err != nil {
			t.Fatalf("at %+v: %v", pos[k], err)
		}
		sameRecords(t, rest, full[k+1:])
	}
	// A position past the end is refused.
	_, _, err = openAll(t, s, parquetFormat, typedFields, Position{Offset: 2001, Number: 2001})
	wantFault(t, err, CodeFileFormat)
}

// TestParquetSkipsRowGroups: opening in the last row group reads little
// of the file.
func TestParquetSkipsRowGroups(t *testing.T) {
	data := writeParquet(t, typedSchema, manyRows(400, 12000), 20, false)
	s := src("r.parquet", data)
	r, err := Open(context.Background(), s, parquetFormat, typedFields, Position{Offset: 390, Number: 390})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.Next()
	if err != nil || rec.Number != 391 || !strings.Contains(string(rec.Data), `"big":390,`) {
		t.Fatalf("record %d %s, %v", rec.Number, short(string(rec.Data)), err)
	}
	if s.readBytes > len(data)/5 {
		t.Errorf("read %d of %d bytes to reach the last row group", s.readBytes, len(data))
	}
	t.Logf("read %d of %d bytes", s.readBytes, len(data))
}

// TestParquetReads: the footer and the column chunks are read in a few
// large reads, not byte by byte.
func TestParquetReads(t *testing.T) {
	data := writeParquet(t, typedSchema, manyRows(2000, 150), 500, false)
	s := src("r.parquet", data)
	if _, _, err := openAll(t, s, parquetFormat, typedFields, Position{}); err != nil {
		t.Fatal(err)
	}
	if max := 2 + len(data)/(64<<10); s.reads > max {
		t.Errorf("%d reads of a %d-byte file, want at most %d", s.reads, len(data), max)
	}
	t.Logf("%d reads of %d bytes", s.reads, len(data))
}
