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
