package records

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"runtime"
	"strconv"
	"testing"
)

// genSource is a stored file whose bytes are generated as they are read:
// a header, then records made by line(i) up to about size decoded bytes,
// then a footer; gzip-compressed on the fly when zipped. Its Size is
// declared (stored bytes, for the expansion limit), not measured.
type genSource struct {
	name       string
	head, tail string
	line       func(i int) string
	size       int64
	zipped     bool
	declared   int64
}

func (g *genSource) Name() string { return g.name }
func (g *genSource) Size() int64  { return g.declared }

func (g *genSource) Open(_ context.Context, off int64) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		var w io.Writer = pw
		var zw *gzip.Writer
		if g.zipped {
			zw, _ = gzip.NewWriterLevel(pw, gzip.BestSpeed)
			w = zw
		}
		var n int64
		buf := []byte(g.head)
		i := 0
		for n < g.size {
			buf = append(buf, g.line(i)...)
			i++
			if len(buf) >= 64<<10 {
				if _, err := w.Write(buf); err != nil {
					pw.CloseWithError(err)
					return
				}
				n += int64(len(buf))
				buf = buf[:0]
			}
		}
		buf = append(buf, g.tail...)
		_, err := w.Write(buf)
		if err == nil && zw != nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	if _, err := io.CopyN(io.Discard, pr, off); err != nil {
		pr.Close()
		return nil, err
	}
	return pr, nil
}

func (g *genSource) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	rc, err := g.Open(ctx, off)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.ReadFull(rc, p)
}

// TestConstantMemory streams large generated files through the readers
// and checks that the heap stays small.
func TestConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams hundreds of megabytes")
	}
	obj := func(i int) string {
		return `{"_id":"` + strconv.Itoa(i) + `","person":{"name":{"firstName":"Name ` + strconv.Itoa(i%977) + `"}},"score":` + strconv.Itoa(i%1000) + "}"
	}
	files := []struct {
		src *genSource
		f   Format
	}{
		{&genSource{name: "big.json.gz", line: func(i int) string { return obj(i) + "\n" }, size: 96 << 20, zipped: true, declared: 2 << 20}, jsonl},
		{&genSource{name: "big.json", head: "[", tail: `{"_id":"last"}]`, line: func(i int) string { return obj(i) + ",\n" }, size: 40 << 20, declared: 40 << 20}, jsonArrayFormat},
		{&genSource{name: "big.csv", head: "_id,person.name.firstName,score\r\n", line: func(i int) string {
			return strconv.Itoa(i) + ",\"Name, " + strconv.Itoa(i%977) + "\"," + strconv.Itoa(i%1000) + "\r\n"
		}, size: 40 << 20, declared: 40 << 20}, csvFormat},
	}
	for _, f := range files {
		t.Run(f.src.name, func(t *testing.T) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			r, err := Open(context.Background(), f.src, f.f, testSchema, Position{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var n int
			var peak uint64
			for {
				rec, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if rec.Err != nil || len(rec.Data) == 0 || rec.Data[0] != '{' || !bytes.Contains(rec.Data, []byte(`"_id"`)) {
					t.Fatalf("record %d: %s %v", rec.Number, short(string(rec.Data)), rec.Err)
				}
				n++
				if n%100000 == 0 {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
			}
			if n < 300000 {
				t.Fatalf("only %d records", n)
			}
			if grown := int64(peak) - int64(base); grown > 24<<20 {
				t.Errorf("heap grew by %d MiB over %d records", grown>>20, n)
			}
			t.Logf("%d records; heap peak %d MiB over a base of %d MiB", n, (peak-min(peak, base))>>20, base>>20)
		})
	}
}
