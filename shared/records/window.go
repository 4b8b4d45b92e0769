package records

import (
	"io"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// MaxRecordSpan bounds the bytes of one JSON array element or CSV row
// that a parser may hold. Records over MaxLineBytes are ROW-TOO-LARGE row
// errors; one over MaxRecordSpan cannot be skipped without holding it
// (encoding/json and encoding/csv read a value whole), so the file fails
// with CodeFileRecordTooLarge instead.
const MaxRecordSpan = 16 << 20

// window passes a decoded stream on to a parser and keeps the bytes read
// since a mark, so that the raw bytes of a record can be cut out of it
// (encoding/csv does not give them) and a record too long to hold stops
// the read. Offsets are decoded offsets into the file.
type window struct {
	r    io.Reader
	base int64  // offset of buf[head]
	buf  []byte // bytes read; those before head are released
	head int
	what string // "row" or "element", for the error
	num  func() int
	err  error
}

func newWindow(r io.Reader, base int64, what string, num func() int) *window {
	return &window{r: r, base: base, what: what, num: num}
}

func (w *window) Read(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if len(w.buf)-w.head > MaxRecordSpan {
		w.err = fault.Errorf(fault.Invalid, CodeFileRecordTooLarge,
			"%s %d is over %d bytes; it cannot be skipped, so the file is refused", w.what, w.num(), MaxRecordSpan)
		return 0, w.err
	}
	if len(p) > readBufferSize {
		// Small reads keep what the parser holds ahead of the
		// record it is on small.
		p = p[:readBufferSize]
	}
	n, err := w.r.Read(p)
	w.buf = append(w.buf, p[:n]...)
	return n, err
}

// release drops the bytes before offset off.
func (w *window) release(off int64) {
	k := off - w.base
	if k <= 0 {
		return
	}
	if k > int64(len(w.buf)-w.head) {
		k = int64(len(w.buf) - w.head)
	}
	w.head += int(k)
	w.base += k
	switch {
	case w.head == len(w.buf):
		w.buf, w.head = w.buf[:0], 0
	case w.head >= readBufferSize && 2*w.head >= len(w.buf):
		// Copy what is kept down, at most as many bytes as were
		// dropped since the last copy.
		n := copy(w.buf, w.buf[w.head:])
		w.buf, w.head = w.buf[:n], 0
	}
	if cap(w.buf) > 4*MaxLineBytes && len(w.buf)-w.head < readBufferSize {
		// Give back what a long record grew.
		w.buf = append(make([]byte, 0, 2*readBufferSize), w.buf[w.head:]...)
		w.head = 0
	}
}

// slice returns the bytes from offset from to offset to, as far as they
// are kept; at most MaxRawBytes of them.
func (w *window) slice(from, to int64) []byte {
	i, j := from-w.base, to-w.base
	if i < 0 {
		i = 0
	}
	if kept := int64(len(w.buf) - w.head); j > kept {
		j = kept
	}
	if i >= j {
		return nil
	}
	if j-i > MaxRawBytes {
		j = i + MaxRawBytes
	}
	return w.buf[w.head+int(i) : w.head+int(j)]
}
