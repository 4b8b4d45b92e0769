package records

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Limits of the readers. MaxLineBytes is the JSON Lines limit of
// shared/ingest (docs/rules.md#limits); the others are this package's.
const (
	// MaxLineBytes bounds one line of a JSON Lines file and one element
	// of a JSON array; longer records are ROW-TOO-LARGE row errors and are
	// never held in memory whole.
	MaxLineBytes = 1 << 20
	// MaxExpansionBase and MaxExpansionRatio bound what a gzip file may
	// decompress to: MaxExpansionBase + MaxExpansionRatio × its stored
	// size, in bytes. Ordinary JSON and CSV compress 5–20×; a gzip bomb
	// (DEFLATE reaches about 1032×) is refused with CodeFileExpansion
	// before it costs more than that much reading.
	MaxExpansionBase  = 64 << 20
	MaxExpansionRatio = 200
)

// Row error codes (Record.Err, fault.Invalid). ROW-TOO-LARGE, ROW-NOT-OBJECT
// and ROW-ENCODING are the codes shared/ingest gives the same problems.
const (
	CodeRowTooLarge = "ROW-TOO-LARGE"
	CodeRowObject   = "ROW-NOT-OBJECT"
	// CodeRowEncoding: the file starts with a UTF-16 or UTF-32 byte-order
	// mark; JSON Lines are UTF-8 (RFC 8259 §8.1), so the file is refused
	// in one failed record (its first line) and the stream ends.
	CodeRowEncoding = "ROW-ENCODING"
	// CodeRowCSV: a CSV row breaks RFC 4180 quoting.
	CodeRowCSV = "ROW-CSV"
	// CodeRowCSVRagged: a CSV row has another number of fields than the
	// header.
	CodeRowCSVRagged = "ROW-CSV-RAGGED"
)

// Open returns a reader of src's records in format f, starting at at (the
// zero Position, or one a Reader of the same file and format returned).
// Format names: "json" (JSON Lines, or one JSON array when f.MultiLine),
// "csv" and "parquet"; any other is CodeFileFormat. s types CSV cells and
// Parquet columns; it may be nil for JSON. A file that is gzip-compressed
// (a ".gz" name or the gzip magic bytes, RFC 1952 §2.3.1) is decompressed
// on the fly within the expansion limit (MaxExpansionBase,
// MaxExpansionRatio); a Parquet one is first decompressed to a temporary
// file that Close removes.
//
// File-level problems found while opening are fault.Invalid errors with a
// File* code; most are found by the first call of Next instead, which is
// where an empty file (CodeFileEmpty) is reported.
//
// ctx bounds every read of the reader, not only those of Open: the
// reader keeps it for its Source calls. Record.Number and Position of
// each format are described by its reader: JSON Lines count lines (blank
// ones too) and offsets are bytes; a JSON array counts elements and its
// offsets point just past an element; CSV counts data rows and its
// offsets point at a row; Parquet counts rows and its offset is a row
// index.
func Open(ctx context.Context, src Source, f Format, s Schema, at Position) (Reader, error) {
	if at.Offset < 0 || at.Number < 0 {
		return nil, fault.Errorf(fault.Invalid, CodeFileFormat, "position %+v is not one a reader returned", at)
	}
	switch strings.ToLower(f.Name) {
	case "json", "jsonl", "":
		if f.MultiLine {
			return openJSONArray(ctx, src, at)
		}
		return openJSONLines(ctx, src, at)
	case "csv":
		return openCSV(ctx, src, s, at)
	case "parquet":
		return openParquet(ctx, src, s, at)
	}
	return nil, fault.Errorf(fault.Invalid, CodeFileFormat, "format %q is not supported", f.Name)
}

// gzipMagic starts every gzip member (RFC 1952 §2.3.1).
var gzipMagic = []byte{0x1f, 0x8b}

// namedGzip reports whether a file's name marks it gzip-compressed.
func namedGzip(name string) bool {
	return strings.HasSuffix(strings.ToLower(name), ".gz")
}

// isGzip tells whether src is gzip-compressed: a ".gz" name that holds no
// gzip is CodeFileGzip; otherwise the magic bytes decide.
func isGzip(ctx context.Context, src Source) (bool, error) {
	var head [2]byte
	n, err := src.ReadAt(ctx, head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	magic := n == 2 && bytes.Equal(head[:], gzipMagic)
	if namedGzip(src.Name()) && !magic {
		if n == 0 {
			// An empty file holds no record, compressed or not.
			return false, nil
		}
		return false, fault.Errorf(fault.Invalid, CodeFileGzip, "file %q is named .gz but is not gzip-compressed", src.Name())
	}
	return magic, nil
}

// ExpansionLimit is the most bytes a gzip file of stored bytes may
// decompress to.
func ExpansionLimit(stored int64) int64 {
	if stored < 0 {
		stored = 0
	}
	return MaxExpansionBase + MaxExpansionRatio*stored
}

// openDecoded returns src's decoded (decompressed) bytes from decoded
// offset off. A gzip stream is decompressed from its start and the bytes
// before off are discarded. Errors of the gzip stream read later come back
// from Read as CodeFileGzip or CodeFileExpansion faults.
func openDecoded(ctx context.Context, src Source, off int64) (io.ReadCloser, error) {
	gz, err := isGzip(ctx, src)
	if err != nil {
		return nil, err
	}
	if !gz {
		return src.Open(ctx, off)
	}
	rc, err := src.Open(ctx, 0)
	if err != nil {
		return nil, err
	}
	d, err := newGunzip(rc, src.Name(), ExpansionLimit(src.Size()))
	if err != nil {
		rc.Close()
		return nil, err
	}
	if off > 0 {
		if _, err := io.CopyN(io.Discard, d, off); err != nil {
			d.Close()
			if errors.Is(err, io.EOF) {
				return nil, fault.Errorf(fault.Invalid, CodeFileFormat, "position %d is past the end of file %q", off, src.Name())
			}
			return nil, err
		}
	}
	return d, nil
}

// gunzip decompresses a gzip stream (all its members, RFC 1952 §2.2)
// and counts what it gives out against a limit.
type gunzip struct {
	src   io.ReadCloser
	zr    *gzip.Reader
	name  string
	n     int64
	limit int64
	err   error
}

func newGunzip(rc io.ReadCloser, name string, limit int64) (*gunzip, error) {
	zr, err := gzip.NewReader(bufio.NewReaderSize(rc, 64<<10))
	if err != nil {
		if errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fault.Wrap(err, fault.Invalid, CodeFileGzip, "file "+quote(name)+" is not valid gzip")
		}
		return nil, err
	}
	return &gunzip{src: rc, zr: zr, name: name, limit: limit}, nil
}

func (g *gunzip) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if room := g.limit - g.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := g.zr.Read(p)
	g.n += int64(n)
	if g.n > g.limit {
		g.err = fault.Errorf(fault.Invalid, CodeFileExpansion,
			"file %q decompresses to over %d bytes (%d + %d × its stored size); it may be a gzip bomb", g.name, g.limit, int64(MaxExpansionBase), MaxExpansionRatio)
		return 0, g.err
	}
	switch {
	case err == nil, errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		return n, err
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF), isFlateError(err):
		g.err = fault.Wrap(err, fault.Invalid, CodeFileGzip, "file "+quote(g.name)+" is not valid gzip (corrupt or truncated)")
		return n, g.err
	}
	return n, err
}

func (g *gunzip) Close() error {
	g.zr.Close()
	return g.src.Close()
}

// isFlateError tells DEFLATE data errors (compress/flate.CorruptInputError
// and InternalError) from read errors of the source.
func isFlateError(err error) bool {
	var corrupt flate.CorruptInputError
	var internal flate.InternalError
	return errors.As(err, &corrupt) || errors.As(err, &internal)
}

func quote(s string) string { return "\"" + s + "\"" }

// emptyFile is the error of a file with no record.
func emptyFile(name string) error {
	return fault.Errorf(fault.Invalid, CodeFileEmpty, "file %q holds no record", name)
}
