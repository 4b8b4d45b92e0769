// Package ingest is the pipeline both ingest functions share (ARCHITECTURE
// §3): decode a row, validate it against its dataset's schema, extract its
// identities, build a fragment (profile class) or an event (event class)
// and write it with its identity links, in an order-safe and idempotent way.
// Row problems come back as invalid errors with stable codes, to be written
// to the failed-record store; transient errors come back as they are, to be
// retried by the caller.
package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Limits (docs/rules.md#limits).
const (
	// MaxLineBytes bounds one line of a JSON Lines file; longer lines are
	// skipped as row errors, never held in memory.
	MaxLineBytes = 1 << 20
	// MaxProfileBytes and MaxEventBytes bound one record.
	MaxProfileBytes = 100 << 10
	MaxEventBytes   = 10 << 10
	// MaxDepth bounds the nesting of a record.
	MaxDepth = 64
	// MaxProfileArray and MaxEventArray bound the elements of any one
	// array in a profile record or an experience event.
	MaxProfileArray = 500
	MaxEventArray   = 10
)

// Row error codes.
const (
	CodeRowTooLarge = "ROW-TOO-LARGE"
	CodeRowUTF8     = "ROW-UTF8"
	CodeRowJSON     = "ROW-JSON"
	CodeRowDepth    = "ROW-DEPTH"
	CodeRowObject   = "ROW-NOT-OBJECT"
	// CodeRowEncoding: the file starts with a UTF-16 or UTF-32 byte-order
	// mark; JSON Lines are UTF-8 (RFC 8259 §8.1), so the file is refused
	// as a whole, in one failed record.
	CodeRowEncoding = "ROW-ENCODING"
)

// DecodeRow decodes one record: valid UTF-8, one JSON object, nested at
// most MaxDepth deep and no larger than limit bytes.
func DecodeRow(data []byte, limit int) (map[string]any, error) {
	if len(data) > limit {
		return nil, fault.Errorf(fault.Invalid, CodeRowTooLarge, "record is %d bytes, over the %d-byte limit", len(data), limit)
	}
	if !utf8.Valid(data) {
		return nil, fault.E(fault.Invalid, CodeRowUTF8, "record is not valid UTF-8")
	}
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	if rec, ok := decodeObject(data); ok {
		return rec, nil
	}
	// The fast decoder refused the row: encoding/json decides and names
	// the problem.
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, fault.E(fault.Invalid, CodeRowObject, "record is not a JSON object")
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fault.Wrap(err, fault.Invalid, CodeRowJSON, "record is not valid JSON: "+jsonProblem(err, len(data)))
	}
	return rec, nil
}

// checkDepth refuses deep nesting before the decoder and the recursive
// merge see it.
func checkDepth(data []byte) error {
	depth, inStr, esc := 0, false, false
	for _, c := range data {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return fault.Errorf(fault.Invalid, CodeRowDepth, "record is nested over %d levels", MaxDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// jsonProblem names a decoding error without echoing the input; n is the
// input's length, so that a syntax error at its very end reads as truncation.
func jsonProblem(err error, n int) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn) && syn.Offset >= int64(n):
		return "truncated JSON"
	case errors.As(err, &syn):
		return "syntax error"
	case errors.As(err, &typ):
		return "wrong type"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return "malformed JSON"
}

// Line is one line of a JSON Lines file.
type Line struct {
	// Number counts lines from 1, blank lines included, so that it matches
	// what an editor shows.
	Number int
	Data   []byte // valid until the next call of Next
	// Err is set instead of Data for a line over MaxLineBytes.
	Err error
}

// LineReader reads JSON Lines in constant memory. A UTF-8 byte-order mark
// at the start of the stream (Windows tools write one) is skipped, as RFC
// 8259 §8.1 lets a parser do; a UTF-16 or UTF-32 one makes the first line
// a CodeRowEncoding error and ends the stream.
type LineReader struct {
	r       *bufio.Reader
	n       int
	max     int
	started bool
	done    bool
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

// start skips a UTF-8 byte-order mark, or refuses another encoding's.
func (lr *LineReader) start() (Line, bool, error) {
	lr.started = true
	head, err := lr.r.Peek(4)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return Line{}, false, err
	}
	if bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")) {
		_, _ = lr.r.Discard(3)
		return Line{}, false, nil
	}
	for _, b := range byteOrderMarks {
		if bytes.HasPrefix(head, []byte(b.mark)) {
			lr.done = true
			return Line{Number: 1, Err: fault.Errorf(fault.Invalid, CodeRowEncoding,
				"file is %s text (byte-order mark); JSON Lines files must be UTF-8", b.name)}, true, nil
		}
	}
	return Line{}, false, nil
}

// NewLineReader reads lines of at most max bytes from r (MaxLineBytes when max ≤ 0).
func NewLineReader(r io.Reader, max int) *LineReader {
	if max <= 0 {
		max = MaxLineBytes
	}
	return &LineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next non-blank line, or io.EOF. Read errors of the
// underlying reader are returned as they are.
func (lr *LineReader) Next() (Line, error) {
	if lr.done {
		return Line{}, io.EOF
	}
	if !lr.started {
		if l, refused, err := lr.start(); err != nil || refused {
			return l, err
		}
	}
	var buf []byte
	for {
		frag, err := lr.r.ReadSlice('\n')
		if len(frag) > 0 || err == nil {
			if len(buf)+len(frag) > lr.max {
				lr.n++
				n := lr.n
				if err == bufio.ErrBufferFull || (err == nil && frag[len(frag)-1] != '\n') {
					if derr := lr.discardLine(); derr != nil && derr != io.EOF {
						return Line{}, derr
					}
				}
				return Line{Number: n, Err: fault.Errorf(fault.Invalid, CodeRowTooLarge, "line is over the %d-byte limit", lr.max)}, nil
			}
			buf = append(buf, frag...)
		}
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil, io.EOF:
			if err == io.EOF && len(buf) == 0 {
				return Line{}, io.EOF
			}
			lr.n++
			line := bytes.TrimRight(buf, "\r\n")
			if len(bytes.TrimSpace(line)) == 0 {
				if err == io.EOF {
					return Line{}, io.EOF
				}
				buf = buf[:0]
				continue
			}
			return Line{Number: lr.n, Data: line}, nil
		default:
			return Line{}, err
		}
	}
}

func (lr *LineReader) discardLine() error {
	for {
		_, err := lr.r.ReadSlice('\n')
		if err != bufio.ErrBufferFull {
			return err
		}
	}
}

// decodeObject decodes a JSON object with github.com/goccy/go-json, into
// the values encoding/json gives an `any` (map[string]any, []any, string,
// float64, bool, nil). It takes the rows encoding/json takes and decodes
// them to the same values (TestDecodeObjectMatchesEncodingJSON and
// FuzzDecodeObject hold it to that); decoding is the largest share of the
// pipeline's CPU, and this keeps it near a plain encoding/json decode
// (P1 in bench/REPORT.md).
// It reports false for anything else, and the caller asks encoding/json
// why.
func decodeObject(data []byte) (map[string]any, bool) {
	var rec map[string]any
	if err := gojson.Unmarshal(data, &rec); err != nil || rec == nil {
		return nil, false
	}
	return rec, true
}
