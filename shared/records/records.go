// Package records reads the records of a batch file in any of the formats
// the Batch Ingestion API accepts (AEP's inputFormat): JSON Lines, one
// top-level JSON array (isMultiLineJson), CSV with a header row of dotted
// XDM paths, and Parquet, each optionally gzip-compressed. Every reader
// streams in constant memory, hands each record on as one JSON object, and
// can be opened again at the Position of any record it returned, so that a
// file can be split into parts and a part resumed.
//
// Two kinds of failure are told apart: a record that cannot be read is a
// Record with Err set (the file goes on); a file that cannot be read at all
// (empty, not gzip despite its name, a gzip bomb, a corrupt Parquet file, a
// CSV file without a header) makes Next or Open return a fault.Invalid
// error with one of the File* codes; read errors of the source come back as
// they are, for the caller to retry.
package records

import (
	"context"
	"io"
)

// File-level error codes (fault.Invalid): the whole file, and so its
// batch, fails.
const (
	CodeFileEmpty     = "FILE-EMPTY"
	CodeFileGzip      = "FILE-GZIP"
	CodeFileExpansion = "FILE-EXPANSION"
	CodeFileParquet   = "FILE-PARQUET"
	CodeFileColumns   = "FILE-COLUMNS"
	CodeFileCSVHeader = "FILE-CSV-HEADER"
	CodeFileJSONArray = "FILE-JSON-ARRAY"
	CodeFileFormat    = "FILE-FORMAT"
	// CodeFileRecordTooLarge: one JSON array element or CSV row is over
	// MaxRecordSpan bytes.
	CodeFileRecordTooLarge = "FILE-RECORD-TOO-LARGE"
)

// Format says how a file's bytes hold records.
type Format struct {
	// Name is "json", "csv" or "parquet" (AEP's inputFormat.format).
	Name string
	// MultiLine is AEP's isMultiLineJson: the JSON file is one top-level
	// array of objects.
	MultiLine bool
}

// Schema tells the readers of typed formats (CSV, Parquet) the XDM type of
// a field; catalog.IngestSpec.FieldType implements it.
type Schema interface {
	// FieldType returns the XDM type of the field at a dotted path
	// ("person.name.firstName"; array elements as "[0]", map keys as path
	// segments): "string", "number", "integer", "long", "int", "short",
	// "byte", "boolean", "date", "date-time", "object", "array" or "map";
	// false when the schema has no such field.
	FieldType(path string) (string, bool)
}

// Record is one record of a file.
type Record struct {
	// Number counts records from 1 in file order: the line of a JSON
	// Lines file (blank lines counted, as an editor shows them), the
	// element of a JSON array, the data row of a CSV file (the header is
	// not counted), the row of a Parquet file.
	Number int
	// Data is the record as one JSON object, valid until the next call of
	// Next. Nil when Err is set.
	Data []byte
	// Raw is the record as the file spells it, for row diagnostics
	// (AEP's _corrupt_record), at most MaxRawBytes; valid until the next
	// call of Next.
	Raw []byte
	// Err refuses this record (fault.Invalid, a ROW-* code); the file
	// goes on.
	Err error
}

// MaxRawBytes bounds Record.Raw.
const MaxRawBytes = 1 << 20

// Position is where a record starts: Offset is a byte offset into the
// file's decoded (decompressed) bytes, or a row index for Parquet; Number
// is the count of records before it (for JSON Lines the count of lines,
// blank ones included, so that Record.Number goes on from it). The zero
// Position is the start.
type Position struct {
	Offset int64 `json:"offset"`
	Number int   `json:"number"`
}

// Reader reads records in file order.
type Reader interface {
	// Next returns the next record, or io.EOF after the last.
	Next() (Record, error)
	// Position is where the record after the last one returned starts:
	// Open at it continues with exactly that record.
	Position() Position
	Close() error
}

// Source is a stored file.
type Source interface {
	// Name is the file's name; a ".gz" suffix marks it gzip-compressed
	// (as do the gzip magic bytes).
	Name() string
	// Size is the stored size in bytes.
	Size() int64
	// Open returns the stored bytes from off to the end.
	Open(ctx context.Context, off int64) (io.ReadCloser, error)
	// ReadAt reads stored bytes at off, as io.ReaderAt.
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
}

// sticky makes a reader's first failure final: once read returns an error
// other than io.EOF, every later Next returns that error again, so that a
// caller retrying Next never reads past a broken stream.
type sticky struct{ err error }

func (s *sticky) next(read func() (Record, error)) (Record, error) {
	if s.err != nil {
		return Record{}, s.err
	}
	rec, err := read()
	if err != nil && err != io.EOF {
		s.err = err
	}
	return rec, err
}
