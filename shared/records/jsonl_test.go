package records

import (
	"bytes"
	"compress/gzip"
	"context"
	"strconv"
	"strings"
	"testing"
)

var jsonl = Format{Name: "json"}

func TestJSONLines(t *testing.T) {
	big := `{"a":"` + strings.Repeat("x", 10<<20) + `"}`
	tests := []struct {
		name string
		file string
		data string
		// want is "number:data" of each record, or "number!CODE" for a
		// refused one.
		want []string
		code string // file-level error after the records
		// some: records may come before the error.
		some bool
	}{
		{name: "lines", data: "{\"a\":1}\n{\"a\":2}\n", want: []string{`1:{"a":1}`, `2:{"a":2}`}},
		{name: "no final newline", data: "{\"a\":1}\n{\"a\":2}", want: []string{`1:{"a":1}`, `2:{"a":2}`}},
		{name: "CRLF", data: "{\"a\":1}\r\n{\"a\":2}\r\n", want: []string{`1:{"a":1}`, `2:{"a":2}`}},
		{name: "blank lines counted", data: "\n{\"a\":1}\n  \n\r\n{\"a\":2}\n\n", want: []string{`2:{"a":1}`, `5:{"a":2}`}},
		{name: "UTF-8 BOM", data: "\xEF\xBB\xBF{\"a\":1}\n", want: []string{`1:{"a":1}`}},
		{name: "UTF-16 LE BOM", data: "\xFF\xFE{\x00}\x00\n\x00{\x00}\x00", want: []string{`1!ROW-ENCODING`}},
		{name: "UTF-32 BE BOM", data: "\x00\x00\xFE\xFF\x00\x00\x00{", want: []string{`1!ROW-ENCODING`}},
		// The pipeline's decoder refuses these lines; the reader hands
		// them on as they are.
		{name: "truncated JSON", data: "{\"a\":1}\n{\"a\":\n{\"a\":3}\n", want: []string{`1:{"a":1}`, `2:{"a":`, `3:{"a":3}`}},
		{name: "invalid UTF-8", data: "{\"a\":\"\xff\"}\n", want: []string{"1:{\"a\":\"\xff\"}"}},
		{name: "10 MB line", data: "{\"a\":1}\n" + big + "\n{\"a\":3}\n", want: []string{`1:{"a":1}`, `2!ROW-TOO-LARGE`, `3:{"a":3}`}},
		{name: "10 MB last line", data: "{\"a\":1}\n" + big, want: []string{`1:{"a":1}`, `2!ROW-TOO-LARGE`}},
		{name: "line at the limit", data: strings.Repeat(" ", MaxLineBytes-2) + "{}\n", want: []string{"1:" + strings.Repeat(" ", MaxLineBytes-2) + "{}"}},
		{name: "line over the limit", data: strings.Repeat(" ", MaxLineBytes-1) + "{}\n{}", want: []string{"1!ROW-TOO-LARGE", "2:{}"}},
		{name: "empty", data: "", code: CodeFileEmpty},
		{name: "blank only", data: "\n \r\n\n", code: CodeFileEmpty},
		{name: "BOM only", data: "\xEF\xBB\xBF", code: CodeFileEmpty},
		{name: "gzip", file: "a.json.gz", data: string(gz(t, []byte("{\"a\":1}\n{\"a\":2}\n"))), want: []string{`1:{"a":1}`, `2:{"a":2}`}},
		{name: "gzip by magic", file: "a.json", data: string(gz(t, []byte("{\"a\":1}\n"))), want: []string{`1:{"a":1}`}},
		{name: "gzip of nothing", file: "a.json.gz", data: string(gz(t, nil)), code: CodeFileEmpty},
		{name: "empty .gz", file: "a.json.gz", data: "", code: CodeFileEmpty},
		{name: ".gz not gzip", file: "a.json.gz", data: "{\"a\":1}\n", code: CodeFileGzip},
		{name: "truncated gzip", file: "a.json.gz", data: string(gz(t, []byte(strings.Repeat("{\"a\":1}\n", 1000))))[:40], code: CodeFileGzip, some: true},
		{name: "gzip bomb", file: "bomb.json.gz", data: string(gzRepeat(t, "", strings.Repeat(" ", 1<<12)+"\n", 1<<8, 128)), code: CodeFileExpansion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.file
			if name == "" {
				name = "f.json"
			}
			recs, _, err := openAll(t, src(name, []byte(tt.data)), jsonl, nil, Position{})
			var got []string
			for _, r := range recs {
				if r.Err != nil {
					got = append(got, strconv.Itoa(r.Number)+"!"+codeOf(r.Err))
					if r.Data != nil || len(r.Raw) > MaxRawBytes {
						t.Errorf("refused record %d: data %d bytes, raw %d bytes", r.Number, len(r.Data), len(r.Raw))
					}
					continue
				}
				got = append(got, strconv.Itoa(r.Number)+":"+string(r.Data))
				if !bytes.Equal(r.Raw, r.Data) {
					t.Errorf("record %d: raw %q, data %q", r.Number, r.Raw, r.Data)
				}
			}
			if !tt.some && strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("records:\n%s\nwant:\n%s", short(strings.Join(got, "\n")), short(strings.Join(tt.want, "\n")))
			}
			if tt.code == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			wantFault(t, err, tt.code)
		})
	}
}

// TestJSONLinesEmptyFirst: an empty file says so at the first Next, and
// keeps saying it.
func TestJSONLinesEmptyFirst(t *testing.T) {
	r, err := Open(context.Background(), src("e.json", nil), jsonl, nil, Position{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 2 {
		_, err := r.Next()
		wantFault(t, err, CodeFileEmpty)
	}
}

func TestJSONLinesResume(t *testing.T) {
	var b strings.Builder
	b.WriteString("\xEF\xBB\xBF\n")
	for i := range 50 {
		if i%7 == 3 {
			b.WriteString("\r\n \n")
		}
		if i == 20 {
			b.WriteString("{\"big\":\"" + strings.Repeat("y", 2<<20) + "\"}\n")
		}
		b.WriteString(`{"i":` + strconv.Itoa(i) + "}\n")
	}
	plain := []byte(b.String())
	for _, s := range []*memSource{src("r.json", plain), src("r.json.gz", gz(t, plain))} {
		t.Run(s.name, func(t *testing.T) {
			full, pos, err := openAll(t, s, jsonl, nil, Position{})
			if err != nil || len(full) != 51 {
				t.Fatalf("full read: %d records, %v", len(full), err)
			}
			for k := range full {
				rest, _, err := openAll(t, s, jsonl, nil, pos[k])
				if err != nil {
					t.Fatalf("at %+v: %v", pos[k], err)
				}
				sameRecords(t, rest, full[k+1:])
			}
		})
	}
}

func sameRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Number != w.Number || !bytes.Equal(g.Data, w.Data) || !bytes.Equal(g.Raw, w.Raw) || codeOf(g.Err) != codeOf(w.Err) {
			t.Fatalf("record %d: got %d %s %s, want %d %s %s", i, g.Number, short(string(g.Data)), codeOf(g.Err), w.Number, short(string(w.Data)), codeOf(w.Err))
		}
	}
}

func TestGzipMidStreamCorruption(t *testing.T) {
	data := gz(t, []byte(strings.Repeat("{\"a\":1}\n", 100000)))
	data[len(data)/2] ^= 0xff
	_, _, err := openAll(t, src("c.json.gz", data), jsonl, nil, Position{})
	wantFault(t, err, CodeFileGzip)
}

func TestExpansionLimit(t *testing.T) {
	if got := ExpansionLimit(1 << 20); got != 64<<20+200<<20 {
		t.Fatalf("ExpansionLimit(1 MiB) = %d", got)
	}
}

// gzRepeat returns a gzip file that decompresses to prefix and n copies
// of chunk×reps: one compressed member of chunk×reps repeated n times
// (RFC 1952 §2.2 lets a file hold several members), cheap to build.
func gzRepeat(t testing.TB, prefix, chunk string, reps, n int) []byte {
	t.Helper()
	out := gz(t, []byte(prefix))
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(strings.Repeat(chunk, reps))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return append(out, bytes.Repeat(b.Bytes(), n)...)
}

func short(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
