package ingest

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

func codeOf(err error) string {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return ""
}

func TestDecodeRow(t *testing.T) {
	tests := []struct {
		name, in string
		wantCode string
	}{
		{"object", `{"a":{"b":[1,2]}}`, ""},
		{"surrounding space", "  {\"a\":1}\r", ""},
		{"truncated", `{"a":`, CodeRowJSON},
		{"trailing data", `{"a":1} {"b":2}`, CodeRowJSON},
		{"array", `[1,2]`, CodeRowObject},
		{"scalar", `"x"`, CodeRowObject},
		{"invalid utf-8", "{\"a\":\"\xff\xfe\"}", CodeRowUTF8},
		{"deep nesting", strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000), CodeRowDepth},
		{"brackets inside strings do not count", `{"a":"` + strings.Repeat("{[", 200) + `"}`, ""},
		{"too large", `{"a":"` + strings.Repeat("x", 200) + `"}`, CodeRowTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := DecodeRow([]byte(tt.in), 150)
			if tt.name == "deep nesting" || tt.name == "brackets inside strings do not count" {
				rec, err = DecodeRow([]byte(tt.in), 1<<20)
			}
			if got := codeOf(err); got != tt.wantCode {
				t.Fatalf("code %q (%v), want %q", got, err, tt.wantCode)
			}
			if tt.wantCode == "" && rec == nil {
				t.Errorf("no record decoded")
			}
			if err != nil && fault.KindOf(err) != fault.Invalid {
				t.Errorf("kind %v, want invalid", fault.KindOf(err))
			}
		})
	}
}

type readLine struct {
	N    int
	Data string
	Code string
}

func readAll(t *testing.T, r io.Reader, max int) []readLine {
	t.Helper()
	lr := NewLineReader(r, max)
	var out []readLine
	for {
		l, err := lr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, readLine{l.Number, string(l.Data), codeOf(l.Err)})
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		in   string
		want []readLine
	}{
		{"plain", "a\nb\n", []readLine{{1, "a", ""}, {2, "b", ""}}},
		{"no final newline", "a\nb", []readLine{{1, "a", ""}, {2, "b", ""}}},
		{"blank lines numbered but skipped", "\na\n\r\n  \nb\n\n", []readLine{{2, "a", ""}, {5, "b", ""}}},
		{"crlf", "a\r\nb\r\n", []readLine{{1, "a", ""}, {2, "b", ""}}},
		{"empty", "", nil},
		{"long line is an error, next line read", "a\n" + long + "\nb\n", []readLine{{1, "a", ""}, {2, "", CodeRowTooLarge}, {3, "b", ""}}},
		{"long last line", "a\n" + long, []readLine{{1, "a", ""}, {2, "", CodeRowTooLarge}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, strings.NewReader(tt.in), 50)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			// One byte at a time gives the same lines.
			got = readAll(t, iotest.OneByteReader(strings.NewReader(tt.in)), 50)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines, one byte at a time (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLineReaderHugeLineInConstantMemory(t *testing.T) {
	// A 64 MB line is skipped without being held: the reader is bounded by
	// its max, so this only costs time.
	huge := io.MultiReader(strings.NewReader("{\"a\":1}\n"), io.LimitReader(repeatReader('x'), 64<<20), strings.NewReader("\n{\"b\":2}\n"))
	got := readAll(t, huge, MaxLineBytes)
	want := []readLine{{1, `{"a":1}`, ""}, {2, "", CodeRowTooLarge}, {3, `{"b":2}`, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func FuzzDecodeRow(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"identityMap":{"Email":[{"id":"a@b.c","primary":true}]}}`, `[`, "{\"\xff\":1}", `{"a":"\"{"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := DecodeRow(data, MaxProfileBytes)
		if err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("error kind %v, want invalid", fault.KindOf(err))
			}
			if rec != nil {
				t.Fatalf("record returned with an error")
			}
			return
		}
		if rec == nil {
			t.Fatalf("nil record without an error")
		}
	})
}

func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nb\n"), 4)
	f.Add([]byte("\n\n\r\nxxxxxxxx\n"), 3)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max <= 0 || max > 1<<16 {
			max = 8
		}
		lr := NewLineReader(strings.NewReader(string(data)), max)
		last := 0
		for {
			l, err := lr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Number <= last {
				t.Fatalf("line numbers not increasing: %d after %d", l.Number, last)
			}
			last = l.Number
			if l.Err == nil && (len(l.Data) > max || strings.TrimSpace(string(l.Data)) == "") {
				t.Fatalf("line of %d bytes (max %d) or blank returned", len(l.Data), max)
			}
		}
	})
}

// TestLineReaderByteOrderMark: a UTF-8 byte-order mark at the start of a
// file is not data; a UTF-16 or UTF-32 one refuses the file's first line
// with a code that names the encoding.
func TestLineReaderByteOrderMark(t *testing.T) {
	read := func(data string) []Line {
		t.Helper()
		lr := NewLineReader(strings.NewReader(data), 0)
		var out []Line
		for {
			l, err := lr.Next()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Data = append([]byte(nil), l.Data...)
			out = append(out, l)
		}
	}
	t.Run("UTF-8", func(t *testing.T) {
		lines := read("\xEF\xBB\xBF{\"a\":1}\r\n{\"a\":2}\r\n")
		if len(lines) != 2 || string(lines[0].Data) != `{"a":1}` || lines[0].Number != 1 {
			t.Fatalf("lines %v", lines)
		}
		if _, err := DecodeRow(lines[0].Data, MaxProfileBytes); err != nil {
			t.Errorf("first row: %v", err)
		}
	})
	t.Run("UTF-8 mark later is data", func(t *testing.T) {
		lines := read("{\"a\":1}\n\xEF\xBB\xBF{\"a\":2}\n")
		if len(lines) != 2 || string(lines[1].Data) != "\xEF\xBB\xBF{\"a\":2}" {
			t.Fatalf("lines %v", lines)
		}
	})
	t.Run("only a mark", func(t *testing.T) {
		if lines := read("\xEF\xBB\xBF"); len(lines) != 0 {
			t.Fatalf("lines %v", lines)
		}
	})
	for name, data := range map[string]string{
		"UTF-16 LE": "\xFF\xFE{\x00\"\x00a\x00\"\x00:\x001\x00}\x00\n\x00",
		"UTF-16 BE": "\xFE\xFF\x00{\x00\"\x00a\x00\"\x00:\x001\x00}\x00\n",
	} {
		t.Run(name, func(t *testing.T) {
			lines := read(data)
			if len(lines) == 0 || lines[0].Err == nil {
				t.Fatalf("lines %v, want the first to be refused", lines)
			}
			if code, msg := Describe(lines[0].Err); code != CodeRowEncoding || !strings.Contains(msg, "UTF-16") {
				t.Errorf("refused with %s %q, want %s naming UTF-16", code, msg, CodeRowEncoding)
			}
		})
	}
}
