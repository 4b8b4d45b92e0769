package records

import (
	"bufio"
	"bytes"
	"context"
	"io"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// readBufferSize is the buffer of the text readers; lines and fields
// longer than it are read in pieces.
const readBufferSize = 64 << 10

// jsonLines reads a JSON Lines file (jsonlines.org): one record a line,
// lines ended by "\n" or "\r\n", blank lines skipped but counted. A UTF-8
// byte-order mark at the start is skipped, as RFC 8259 §8.1 lets a parser
// do; a UTF-16 or UTF-32 one makes the first line a CodeRowEncoding error
// and ends the stream. Record.Data and Raw are the line without its end;
// whether it is a JSON object is for the ingest pipeline's decoder to say
// (shared/ingest.DecodeRow), which refuses it with its row codes.
type jsonLines struct {
	name  string
	rc    io.ReadCloser
	br    *bufio.Reader
	off   int64 // decoded offset of the next unread byte
	line  int   // lines consumed
	first bool  // no Next yet, from the start of the file
	// fromStart: opened at the zero Position, so reaching the end without
	// a record means the file holds none.
	fromStart bool
	seen      bool // a record was returned
	done      bool
	sticky
	buf []byte
}

func openJSONLines(ctx context.Context, src Source, at Position) (Reader, error) {
	rc, err := openDecoded(ctx, src, at.Offset)
	if err != nil {
		return nil, err
	}
	r := &jsonLines{name: src.Name(), rc: rc, br: bufio.NewReaderSize(rc, readBufferSize), off: at.Offset, line: at.Number}
	r.first = at.Offset == 0
	r.fromStart = at == Position{}
	return r, nil
}

// byteOrderMarks are the marks of encodings other than UTF-8, longest
// first (UTF-32 LE starts as UTF-16 LE does).
var byteOrderMarks = []struct {
	mark, name string
}{
	{"\x00\x00\xFE\xFF", "UTF-32 (big-endian)"},
	{"\xFF\xFE\x00\x00", "UTF-32 (little-endian)"},
	{"\xFE\xFF", "UTF-16 (big-endian)"},
	{"\xFF\xFE", "UTF-16 (little-endian)"},
}

var utf8BOM = []byte("\xEF\xBB\xBF")

// foreignBOM returns the name of the non-UTF-8 encoding whose byte-order
// mark head starts with, or "".
func foreignBOM(head []byte) string {
	for _, b := range byteOrderMarks {
		if bytes.HasPrefix(head, []byte(b.mark)) {
			return b.name
		}
	}
	return ""
}

// start looks at the first bytes of the file: it skips a UTF-8 mark and
// refuses another encoding's.
func (r *jsonLines) start() (Record, bool, error) {
	r.first = false
	head, err := r.br.Peek(4)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return Record{}, false, err
	}
	if bytes.HasPrefix(head, utf8BOM) {
		_, _ = r.br.Discard(len(utf8BOM))
		r.off += int64(len(utf8BOM))
		return Record{}, false, nil
	}
	if enc := foreignBOM(head); enc != "" {
		r.done = true
		if r.line > 0 {
			// Opened after the refused first line: nothing follows it.
			return Record{}, false, io.EOF
		}
		r.line = 1
		return Record{Number: 1, Err: fault.Errorf(fault.Invalid, CodeRowEncoding,
			"file is %s text (byte-order mark); JSON Lines files must be UTF-8", enc)}, true, nil
	}
	return Record{}, false, nil
}

func (r *jsonLines) Next() (Record, error) { return r.sticky.next(r.read) }

func (r *jsonLines) read() (Record, error) {
	if r.done {
		return Record{}, io.EOF
	}
	if r.first {
		rec, refused, err := r.start()
		if err != nil || refused {
			return rec, err
		}
	}
	r.buf = r.buf[:0]
	for {
		frag, err := r.br.ReadSlice('\n')
		r.off += int64(len(frag))
		if err == bufio.ErrBufferFull {
			if len(r.buf)+len(frag) > MaxLineBytes {
				return r.tooLarge(frag)
			}
			r.buf = append(r.buf, frag...)
			continue
		}
		if err != nil && err != io.EOF {
			return Record{}, err
		}
		if err == io.EOF && len(r.buf) == 0 && len(frag) == 0 {
			r.done = true
			if r.fromStart && !r.seen {
				return Record{}, emptyFile(r.name)
			}
			return Record{}, io.EOF
		}
		r.buf = append(r.buf, frag...)
		r.line++
		line := bytes.TrimRight(r.buf, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			r.buf = r.buf[:0]
			continue // at the end of the stream, the next read says so
		}
		if len(line) > MaxLineBytes {
			return r.tooLargeRecord(line[:MaxRawBytes]), nil
		}
		r.seen = true
		return Record{Number: r.line, Data: line, Raw: line}, nil
	}
}

// tooLarge refuses the line whose first bytes are r.buf and frag, and
// skips the rest of it without holding it.
func (r *jsonLines) tooLarge(frag []byte) (Record, error) {
	r.line++
	raw := append(r.buf, frag...)
	if len(raw) > MaxRawBytes {
		raw = raw[:MaxRawBytes]
	}
	r.buf = raw
	for {
		frag, err := r.br.ReadSlice('\n')
		r.off += int64(len(frag))
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			return Record{}, err
		}
		break
	}
	return r.tooLargeRecord(raw), nil
}

func (r *jsonLines) tooLargeRecord(raw []byte) Record {
	r.seen = true
	return Record{Number: r.line, Raw: raw, Err: fault.Errorf(fault.Invalid, CodeRowTooLarge, "line is over the %d-byte limit", MaxLineBytes)}
}

func (r *jsonLines) Position() Position { return Position{Offset: r.off, Number: r.line} }

func (r *jsonLines) Close() error { return r.rc.Close() }
