package records

import (
	"bytes"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// writeParquet writes rows (a JSON array of objects in Arrow's JSON
// form) as a Parquet file with Apache Arrow's Go writer, an
// implementation other than the reader's, in row groups of groupRows
// rows (all in one when 0).
func writeParquet(t testing.TB, schema *arrow.Schema, rows string, groupRows int64, int96 bool) []byte {
	t.Helper()
	mem := memory.NewGoAllocator()
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(rows))
	if err != nil {
		t.Fatalf("arrow record: %v", err)
	}
	defer rec.Release()
	opts := []parquet.WriterProperty{parquet.WithDictionaryDefault(false)}
	if groupRows > 0 {
		opts = append(opts, parquet.WithMaxRowGroupLength(groupRows))
	}
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(opts...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithDeprecatedInt96Timestamps(int96), pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Arrow schemas of the tests.
var (
	nameType   = arrow.StructOf(arrow.Field{Name: "firstName", Type: arrow.BinaryTypes.String, Nullable: true}, arrow.Field{Name: "lastName", Type: arrow.BinaryTypes.String, Nullable: true})
	personType = arrow.StructOf(arrow.Field{Name: "name", Type: nameType, Nullable: true}, arrow.Field{Name: "birthDate", Type: arrow.FixedWidthTypes.Date32, Nullable: true})
	identType  = arrow.StructOf(arrow.Field{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true}, arrow.Field{Name: "primary", Type: arrow.FixedWidthTypes.Boolean, Nullable: true})
	// sameSchema holds the fields of the records every format is read
	// into (TestSameRecords).
	sameSchema = arrow.NewSchema([]arrow.Field{
		{Name: "_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "person", Type: personType, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "active", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "identityMap", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.ListOf(identType)), Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)
)
