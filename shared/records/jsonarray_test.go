package records

import (
	"strconv"
	"strings"
	"testing"
)

var jsonArrayFormat = Format{Name: "json", MultiLine: true}

func TestJSONArray(t *testing.T) {
	big := `{"a":"` + strings.Repeat("x", 10<<20) + `"}`
	tests := []struct {
		name, file, data string
		want             []string // "number:data" or "number!CODE"
		code             string
		some             bool // records may come before the error
		slow             bool // skipped under -short
	}{
		{name: "objects", data: `[{"a":1},{"a":2}]`, want: []string{`1:{"a":1}`, `2:{"a":2}`}},
		{name: "spaces and lines", data: "\n [\n  {\"a\": 1} ,\r\n\t{\"a\":2}\n]\n", want: []string{`1:{"a": 1}`, `2:{"a":2}`}},
		{name: "UTF-8 BOM", data: "\xEF\xBB\xBF[{\"a\":1}]", want: []string{`1:{"a":1}`}},
		{name: "not objects", data: `[{"a":1},2,"x",null,[{}],{"a":3}]`, want: []string{`1:{"a":1}`, `2!ROW-NOT-OBJECT`, `3!ROW-NOT-OBJECT`, `4!ROW-NOT-OBJECT`, `5!ROW-NOT-OBJECT`, `6:{"a":3}`}},
		{name: "invalid UTF-8 passes", data: "[{\"a\":\"\xff\"}]", want: []string{"1:{\"a\":\"\xff\"}"}},
		{name: "10 MB element", data: `[{"a":1},` + big + `,{"a":3}]`, want: []string{`1:{"a":1}`, `2!ROW-TOO-LARGE`, `3:{"a":3}`}},
		{name: "20 MB element", data: `[{"a":1},{"a":"` + strings.Repeat("x", 20<<20) + `"}]`, want: []string{`1:{"a":1}`}, code: CodeFileRecordTooLarge},
		{name: "truncated", data: `[{"a":1},{"a":`, want: []string{`1:{"a":1}`}, code: CodeFileJSONArray},
		{name: "truncated after element", data: `[{"a":1},{"a":2}`, want: []string{`1:{"a":1}`, `2:{"a":2}`}, code: CodeFileJSONArray},
		{name: "syntax error", data: `[{"a":1},{"a" 2},{"a":3}]`, want: []string{`1:{"a":1}`}, code: CodeFileJSONArray},
		{name: "missing comma", data: `[{"a":1} {"a":2}]`, want: []string{`1:{"a":1}`}, code: CodeFileJSONArray},
		{name: "trailing comma", data: `[{"a":1},]`, want: []string{`1:{"a":1}`}, code: CodeFileJSONArray},
		{name: "data after the array", data: `[{"a":1}] {"a":2}`, want: []string{`1:{"a":1}`}, code: CodeFileJSONArray},
		{name: "not an array", data: `{"a":1}`, code: CodeFileJSONArray},
		{name: "JSON Lines", data: "{\"a\":1}\n{\"a\":2}\n", code: CodeFileJSONArray},
		{name: "garbage", data: `hello`, code: CodeFileJSONArray},
		{name: "empty", data: "", code: CodeFileEmpty},
		{name: "white space", data: " \n", code: CodeFileEmpty},
		{name: "empty array", data: " [ ] ", code: CodeFileEmpty},
		{name: "gzip", file: "a.json.gz", data: string(gz(t, []byte(`[{"a":1},{"a":2}]`))), want: []string{`1:{"a":1}`, `2:{"a":2}`}},
		{name: ".gz not gzip", file: "a.json.gz", data: `[{"a":1}]`, code: CodeFileGzip},
		{name: "gzip bomb", file: "a.json.gz", data: string(gzRepeat(t, "[", `{"a":"`+strings.Repeat("x", 1<<16)+`"},`, 16, 128)), code: CodeFileExpansion, some: true, slow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.slow && testing.Short() {
				t.Skip("slow")
			}
			name := tt.file
			if name == "" {
				name = "f.json"
			}
			recs, _, err := openAll(t, src(name, []byte(tt.data)), jsonArrayFormat, nil, Position{})
			got := describe(t, recs)
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

// describe renders records as "number:data" or "number!CODE", checking
// what every record must hold.
func describe(t testing.TB, recs []Record) []string {
	t.Helper()
	var got []string
	for _, r := range recs {
		if len(r.Raw) > MaxRawBytes {
			t.Errorf("record %d: raw is %d bytes", r.Number, len(r.Raw))
		}
		if r.Err != nil {
			got = append(got, strconv.Itoa(r.Number)+"!"+codeOf(r.Err))
			if r.Data != nil {
				t.Errorf("refused record %d has data", r.Number)
			}
			continue
		}
		got = append(got, strconv.Itoa(r.Number)+":"+string(r.Data))
	}
	return got
}

func TestJSONArrayResume(t *testing.T) {
	var b strings.Builder
	b.WriteString("\xEF\xBB\xBF [\n")
	for i := range 40 {
		if i > 0 {
			b.WriteString(" ,\n ")
		}
		switch {
		case i == 10:
			b.WriteString(`"not an object"`)
		case i == 20:
			b.WriteString(`{"big":"` + strings.Repeat("y", MaxLineBytes) + `"}`)
		default:
			b.WriteString(`{"i":` + strconv.Itoa(i) + `, "s":"a,]b"}`)
		}
	}
	b.WriteString("\n] \n")
	plain := []byte(b.String())
	for _, s := range []*memSource{src("r.json", plain), src("r.json.gz", gz(t, plain))} {
		t.Run(s.name, func(t *testing.T) {
			full, pos, err := openAll(t, s, jsonArrayFormat, nil, Position{})
			if err != nil || len(full) != 40 {
				t.Fatalf("full read: %d records, %v", len(full), err)
			}
			for k := range full {
				rest, _, err := openAll(t, s, jsonArrayFormat, nil, pos[k])
				if err != nil {
					t.Fatalf("at %+v: %v", pos[k], err)
				}
				sameRecords(t, rest, full[k+1:])
			}
		})
	}
}

func TestJSONArrayBadPosition(t *testing.T) {
	s := src("a.json", []byte(`[{"a":1},{"a":2}]`))
	_, _, err := openAll(t, s, jsonArrayFormat, nil, Position{Offset: 3, Number: 1})
	wantFault(t, err, CodeFileJSONArray)
}
