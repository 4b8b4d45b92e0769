package records

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// memSource is a stored file held in memory.
type memSource struct {
	name string
	data []byte
	// reads counts ReadAt calls and the bytes they asked for.
	reads, readBytes int
}

func (m *memSource) Name() string { return m.name }
func (m *memSource) Size() int64  { return int64(len(m.data)) }
func (m *memSource) Open(_ context.Context, off int64) (io.ReadCloser, error) {
	if off > int64(len(m.data)) {
		off = int64(len(m.data))
	}
	return io.NopCloser(bytes.NewReader(m.data[off:])), nil
}
func (m *memSource) ReadAt(_ context.Context, p []byte, off int64) (int, error) {
	m.reads++
	m.readBytes += len(p)
	return bytes.NewReader(m.data).ReadAt(p, off)
}

func src(name string, data []byte) *memSource { return &memSource{name: name, data: data} }

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readAll reads every record; it stops at the first error other than
// io.EOF and returns it.
func readAll(t testing.TB, r Reader) ([]Record, []Position, error) {
	t.Helper()
	var recs []Record
	var pos []Position
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs, pos, nil
		}
		if err != nil {
			return recs, pos, err
		}
		rec.Data = bytes.Clone(rec.Data)
		rec.Raw = bytes.Clone(rec.Raw)
		recs = append(recs, rec)
		pos = append(pos, r.Position())
	}
}

func openAll(t testing.TB, s Source, f Format, sc Schema, at Position) ([]Record, []Position, error) {
	t.Helper()
	r, err := Open(context.Background(), s, f, sc, at)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	return readAll(t, r)
}

func codeOf(err error) string {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return ""
}

// wantFault checks err is fault.Invalid with code.
func wantFault(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if fault.KindOf(err) != fault.Invalid || codeOf(err) != code {
		t.Fatalf("got %v (kind %v, code %q), want invalid %s", err, fault.KindOf(err), codeOf(err), code)
	}
}

// normal re-encodes a JSON document with sorted keys and no spaces.
func normal(t testing.TB, data []byte) string {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%q: %v", data, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
