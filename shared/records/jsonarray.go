package records

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// jsonArray reads a file that is one top-level JSON array of objects
// (AEP's isMultiLineJson, RFC 8259 §5) with encoding/json's streaming
// Decoder, holding one element at a time. Each element is a record: one
// that is not an object is a CodeRowObject row error, one over
// MaxLineBytes a CodeRowTooLarge one; a syntax error, a truncated file or
// anything after the array is CodeFileJSONArray, which names the element.
//
// Its Position.Offset is the decoded offset just past the last element
// returned (the file's start before the first): a reader opened there
// skips white space and the separating comma, and reads on from the next
// element as if the array began there.
type jsonArray struct {
	name      string
	rc        io.ReadCloser
	w         *window
	dec       *json.Decoder
	decBase   int64 // file offset of the decoder's input offset 0
	n         int   // elements read
	off       int64 // just past the last element
	opened    bool  // the '[' was read
	ended     bool
	fromStart bool
	sticky
}

func openJSONArray(ctx context.Context, src Source, at Position) (Reader, error) {
	rc, err := openDecoded(ctx, src, at.Offset)
	if err != nil {
		return nil, err
	}
	r := &jsonArray{name: src.Name(), rc: rc, n: at.Number, off: at.Offset, fromStart: at == Position{}}
	br := bufio.NewReaderSize(rc, readBufferSize)
	base := at.Offset
	var in io.Reader
	if at.Offset == 0 {
		if head, _ := br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
			_, _ = br.Discard(len(utf8BOM))
			base += int64(len(utf8BOM))
		}
		r.w = newWindow(br, base, "element", r.next)
		r.decBase = base
		in = r.w
	} else {
		// Between two elements: white space, then a comma or the
		// closing bracket.
		for {
			c, err := br.ReadByte()
			if err != nil {
				rc.Close()
				if errors.Is(err, io.EOF) {
					return nil, r.fileError(nil, "position %d is not between two elements of the array", at.Offset)
				}
				return nil, err
			}
			base++
			if isJSONSpace(c) {
				continue
			}
			switch c {
			case ',':
			case ']':
				_ = br.UnreadByte()
				base--
			default:
				rc.Close()
				return nil, r.fileError(nil, "position %d is not between two elements of the array", at.Offset)
			}
			break
		}
		r.w = newWindow(br, base, "element", r.next)
		r.decBase = base - 1 // for the '[' put in front
		in = io.MultiReader(strings.NewReader("["), r.w)
	}
	r.dec = json.NewDecoder(in)
	return r, nil
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// next is the number of the element being read.
func (r *jsonArray) next() int { return r.n + 1 }

func (r *jsonArray) fileError(cause error, format string, args ...any) error {
	e := fault.Errorf(fault.Invalid, CodeFileJSONArray, "file %q is not one JSON array of objects: "+format, append([]any{r.name}, args...)...)
	e.Err = cause
	return e
}

// decodeError names what went wrong in element n: JSON errors are the
// file's, other errors (the source's, gzip's, the window's) pass as they are.
func (r *jsonArray) decodeError(err error, what string) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return r.fileError(err, "%s: syntax error at byte %d", what, r.decBase+syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return r.fileError(err, "%s: the file ends inside it (truncated)", what)
	}
	return err
}

func (r *jsonArray) Next() (Record, error) { return r.sticky.next(r.read) }

func (r *jsonArray) read() (Record, error) {
	if r.ended {
		return Record{}, io.EOF
	}
	if !r.opened {
		tok, err := r.dec.Token()
		if errors.Is(err, io.EOF) && r.fromStart {
			return Record{}, emptyFile(r.name)
		}
		if err != nil {
			return Record{}, r.decodeError(err, "the start")
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return Record{}, r.fileError(nil, "it does not start with '['")
		}
		r.opened = true
	}
	if !r.dec.More() {
		return Record{}, r.end()
	}
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		return Record{}, r.decodeError(err, "element "+strconv.Itoa(r.n+1))
	}
	r.n++
	r.off = r.decBase + r.dec.InputOffset()
	r.w.release(r.off)
	switch {
	case len(raw) > MaxLineBytes:
		return Record{Number: r.n, Raw: raw[:MaxRawBytes], Err: fault.Errorf(fault.Invalid, CodeRowTooLarge,
			"element is %d bytes, over the %d-byte limit", len(raw), MaxLineBytes)}, nil
	case raw[0] != '{':
		return Record{Number: r.n, Raw: raw, Err: fault.E(fault.Invalid, CodeRowObject, "element is not a JSON object")}, nil
	}
	return Record{Number: r.n, Data: raw, Raw: raw}, nil
}

// end reads the closing bracket and makes sure nothing but white space
// follows it.
func (r *jsonArray) end() error {
	tok, err := r.dec.Token()
	if err != nil {
		return r.decodeError(err, "after element "+strconv.Itoa(r.n))
	}
	if d, ok := tok.(json.Delim); !ok || d != ']' {
		return r.fileError(nil, "after element %d: ']' expected", r.n)
	}
	if _, err := r.dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil && fault.KindOf(err) != fault.Internal {
			return err
		}
		return r.fileError(err, "there is data after the array")
	}
	r.ended = true
	if r.fromStart && r.n == 0 {
		return emptyFile(r.name)
	}
	return io.EOF
}

func (r *jsonArray) Position() Position { return Position{Offset: r.off, Number: r.n} }

func (r *jsonArray) Close() error { return r.rc.Close() }
