package ingest

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// checkSameAsEncodingJSON asserts that decodeObject takes exactly the
// objects encoding/json takes, and decodes them to the same values.
func checkSameAsEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	if !utf8.Valid(data) {
		return // DecodeRow refuses these before either decoder runs
	}
	var want map[string]any
	wantErr := json.Unmarshal(data, &want)
	got, ok := decodeObject(data)
	switch {
	case ok && wantErr != nil:
		t.Fatalf("fast decoder took %q, which encoding/json refuses (%v)", data, wantErr)
	case ok:
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("decoding %q (-encoding/json +fast):\n%s", data, diff)
		}
	case wantErr == nil && want != nil && depthOK(data):
		// Giving up is always safe (the slow path runs), but a fast
		// path that gives up on plain valid rows is no fast path.
		if !strings.ContainsAny(string(data), "\\") && !strings.Contains(string(data), "e400") {
			t.Fatalf("fast decoder gave up on valid %q", data)
		}
	}
}

func depthOK(data []byte) bool { return checkDepth(data) == nil }

func TestDecodeObjectMatchesEncodingJSON(t *testing.T) {
	for _, tt := range []struct{ name, in string }{
		{"nested values", `{"a":{"b":[1,2.5,-3e2,0,true,false,null,"x"]},"c":{}}`},
		{"whitespace everywhere", " {\n\t\"a\" : [ 1 , { } , [ ] ] ,\r\"b\":\"\" } \n"},
		{"escapes", `{"a\"b":"line\nbreak \u00e9 \ud83d\ude00 \/ \\","lone":"\ud800"}`},
		{"duplicate keys keep the last", `{"a":1,"a":2}`},
		{"unicode text", `{"name":"Zoë 山田"}`},
		{"numbers", `{"a":-0,"b":1.0e+3,"c":1E-2,"d":123456789012345678901234567890}`},
		{"number out of range", `{"a":1e400}`},
		{"leading zero", `{"a":01}`},
		{"bare minus", `{"a":-}`},
		{"dot without digits", `{"a":1.}`},
		{"exponent without digits", `{"a":1e}`},
		{"trailing comma", `{"a":1,}`},
		{"array trailing comma", `{"a":[1,]}`},
		{"missing colon", `{"a" 1}`},
		{"unquoted key", `{a:1}`},
		{"control character in string", "{\"a\":\"x\ty\"}"},
		{"bad literal", `{"a":tru}`},
		{"truncated", `{"a":"x`},
		{"trailing data", `{"a":1}x`},
		{"two objects", `{"a":1}{"b":2}`},
		{"bad escape", `{"a":"\q"}`},
		{"escape at end", `{"a":"\`},
		{"not an object", `[1]`},
		{"empty", ``},
	} {
		t.Run(tt.name, func(t *testing.T) { checkSameAsEncodingJSON(t, []byte(tt.in)) })
	}
	t.Run("nesting over the limit is refused", func(t *testing.T) {
		in := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
		if _, err := DecodeRow([]byte(in), 1<<20); codeOf(err) != CodeRowDepth {
			t.Errorf("%d levels: got %v, want %s (at most %d)", MaxDepth+1, err, CodeRowDepth, MaxDepth)
		}
		in = strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth)
		if _, err := DecodeRow([]byte(in), 1<<20); err != nil {
			t.Errorf("%d levels refused: %v", MaxDepth, err)
		}
	})
	t.Run("benchmark rows", func(t *testing.T) {
		checkSameAsEncodingJSON(t, p1ProfileRow)
		checkSameAsEncodingJSON(t, p1EventRow)
	})
}

func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":[1,{"b":"c\n"}],"d":-1.5e3}`, `{"a":"\ud800"}`, `{"a":1e400}`, string(p1ProfileRow)} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkSameAsEncodingJSON)
}
