package records

import (
	"strconv"
	"strings"
	"testing"
)

var csvFormat = Format{Name: "csv"}

// testSchema knows a few profile fields; a hand-written stand-in for a
// dataset's schema (TestCatalogSchema uses a real one).
var testSchema = SchemaFunc(func(p string) (string, bool) {
	t, ok := map[string]string{
		"person.name.firstName": "string",
		"person.name.lastName":  "string",
		"person.birthYear":      "integer",
		"person.birthDate":      "date",
		"score":                 "number",
		"active":                "boolean",
		"tags":                  "array",
		"tags[0]":               "string",
		"tags[1]":               "string",
		"attrs":                 "map",
		"_id":                   "string",
	}[p]
	return t, ok
})

func TestCSV(t *testing.T) {
	const header = "_id,person.name.firstName,person.birthYear,score,active,identityMap.Email[0].id,identityMap.Email[0].primary\n"
	tests := []struct {
		name, file, data string
		want             []string // "number:data" or "number!CODE"
		raws             []string // Raw of each record, when given
		code             string
		openCode         string // error from Open
	}{
		{name: "typed values", data: header +
			"1,Ann,1980,2.5,true,a@x.org,TRUE\n" +
			"2,Bob,007,-1e3,False,,\n" +
			"3,,abc,+4,yes,b@x.org,no\n",
			want: []string{
				`1:{"_id":"1","person":{"name":{"firstName":"Ann"},"birthYear":1980},"score":2.5,"active":true,"identityMap":{"Email":[{"id":"a@x.org","primary":true}]}}`,
				`2:{"_id":"2","person":{"name":{"firstName":"Bob"},"birthYear":7},"score":-1e3,"active":false}`,
				`3:{"_id":"3","person":{"birthYear":"abc"},"score":4,"active":"yes","identityMap":{"Email":[{"id":"b@x.org","primary":"no"}]}}`,
			},
			raws: []string{"1,Ann,1980,2.5,true,a@x.org,TRUE", "2,Bob,007,-1e3,False,,", "3,,abc,+4,yes,b@x.org,no"},
		},
		{name: "BOM and CRLF", data: "\xEF\xBB\xBF_id,score\r\n1,2\r\n\r\n3,4\r\n", want: []string{`1:{"_id":"1","score":2}`, `2:{"_id":"3","score":4}`}},
		{name: "quotes, commas and newlines", data: "_id,person.name.firstName\n\"1\",\"Smith, \"\"Jo\"\"\"\n2,\"two\r\nlines\"\n",
			want: []string{`1:{"_id":"1","person":{"name":{"firstName":"Smith, \"Jo\""}}}`, `2:{"_id":"2","person":{"name":{"firstName":"two\nlines"}}}`},
			raws: []string{`"1","Smith, ""Jo"""`, "2,\"two\r\nlines\""}},
		{name: "empty cells", data: "_id,person.name.firstName,person.name.lastName\n,,\n1,,\n", want: []string{`1:{}`, `2:{"_id":"1"}`}},
		{name: "array indexes", data: "identityMap.Email[1].id,identityMap.Email[0].id,tags[1],tags[0]\nb,a,y,x\nb,,,x\n",
			want: []string{`1:{"identityMap":{"Email":[{"id":"a"},{"id":"b"}]},"tags":["x","y"]}`, `2:{"identityMap":{"Email":[{"id":"b"}]},"tags":["x"]}`}},
		{name: "JSON cells", data: "tags,attrs\n\"[\"\"a\"\"]\",\"{\"\"k\"\":1}\"\nnot json,[1]\n",
			want: []string{`1:{"tags":["a"],"attrs":{"k":1}}`, `2:{"tags":"not json","attrs":"[1]"}`}},
		{name: "control characters and invalid UTF-8", data: "_id\n\"a\tb\x01\xff\"\n", want: []string{"1:{\"_id\":\"a\\tb\\u0001\xff\"}"}},
		{name: "ragged rows", data: "_id,score\n1,2\n3\n4,5,6\n7,8\n", want: []string{`1:{"_id":"1","score":2}`, `2!ROW-CSV-RAGGED`, `3!ROW-CSV-RAGGED`, `4:{"_id":"7","score":8}`},
			raws: []string{"1,2", "3", "4,5,6", "7,8"}},
		{name: "bare quote", data: "_id,score\n1,2\na\"b,3\n4,5\n", want: []string{`1:{"_id":"1","score":2}`, `2!ROW-CSV`, `3:{"_id":"4","score":5}`}, raws: []string{"1,2", "a\"b,3", "4,5"}},
		{name: "quote in quoted field", data: "_id,score\n\"a\"b\",3\n4,5\n", want: []string{`1!ROW-CSV`, `2:{"_id":"4","score":5}`}},
		{name: "unclosed quote", data: "_id,score\n1,2\n\"a,3\n4,5\n", want: []string{`1:{"_id":"1","score":2}`, `2!ROW-CSV`}},
		{name: "10 MB row", data: "_id,score\n1,2\n" + strings.Repeat("x", 10<<20) + ",3\n4,5\n", want: []string{`1:{"_id":"1","score":2}`, `2!ROW-TOO-LARGE`, `3:{"_id":"4","score":5}`}},
		{name: "20 MB row", data: "_id,score\n1,2\n" + strings.Repeat("x", 20<<20) + ",3\n4,5\n", want: []string{`1:{"_id":"1","score":2}`}, code: CodeFileRecordTooLarge},
		{name: "empty", data: "", code: CodeFileEmpty},
		{name: "blank lines", data: "\n\r\n", code: CodeFileEmpty},
		{name: "BOM only", data: "\xEF\xBB\xBF", code: CodeFileEmpty},
		{name: "header only", data: "_id,score\n", code: CodeFileEmpty},
		{name: "empty header", data: ",\n1,2\n", openCode: CodeFileCSVHeader},
		{name: "one empty column", data: "_id,,score\n1,2,3\n", openCode: CodeFileCSVHeader},
		{name: "unknown column", data: "_id,person.name.nickName\n1,2\n", openCode: CodeFileCSVHeader},
		{name: "not a path", data: "_id,tags[x]\n1,2\n", openCode: CodeFileCSVHeader},
		{name: "twice", data: "_id,score,_id\n1,2,3\n", openCode: CodeFileCSVHeader},
		{name: "conflict", data: "person.name.firstName,person.name\n1,2\n", openCode: CodeFileCSVHeader},
		{name: "array and object", data: "tags[0],tags.x\n1,2\n", openCode: CodeFileCSVHeader},
		{name: "quote error in header", data: "_id,\"score\n1,2\n", openCode: CodeFileCSVHeader},
		{name: "gzip", file: "a.csv.gz", data: string(gz(t, []byte("_id,score\n1,2\n"))), want: []string{`1:{"_id":"1","score":2}`}},
		{name: ".gz not gzip", file: "a.csv.gz", data: "_id,score\n1,2\n", openCode: CodeFileGzip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.file
			if name == "" {
				name = "f.csv"
			}
			recs, _, err := openAll(t, src(name, []byte(tt.data)), csvFormat, testSchema, Position{})
			if tt.openCode != "" {
				wantFault(t, err, tt.openCode)
				return
			}
			got := describe(t, recs)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("records:\n%s\nwant:\n%s", short(strings.Join(got, "\n")), short(strings.Join(tt.want, "\n")))
			}
			for i, raw := range tt.raws {
				if i < len(recs) && string(recs[i].Raw) != raw {
					t.Errorf("record %d raw %q, want %q", i+1, recs[i].Raw, raw)
				}
			}
			for _, r := range recs {
				if r.Err == nil && normal(t, r.Data) == "" {
					t.Errorf("record %d is not JSON", r.Number)
				}
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

func TestCSVNilSchema(t *testing.T) {
	recs, _, err := openAll(t, src("a.csv", []byte("anything.goes,n,identityMap.ECID[0].primary\n1,2,true\n")), csvFormat, nil, Position{})
	if err != nil || len(recs) != 1 || string(recs[0].Data) != `{"anything":{"goes":"1"},"n":"2","identityMap":{"ECID":[{"primary":true}]}}` {
		t.Fatalf("%v %q", err, describe(t, recs))
	}
}

func TestCSVResume(t *testing.T) {
	var b strings.Builder
	b.WriteString("\xEF\xBB\xBF_id,person.name.firstName,score\r\n")
	for i := range 60 {
		switch {
		case i == 7:
			b.WriteString("bad\"quote,x,1\r\n")
		case i == 13:
			b.WriteString("ragged\r\n")
		case i == 21:
			b.WriteString("\r\n") // skipped, not a row
			b.WriteString(strconv.Itoa(i) + ",\"multi\r\nline, \"\"quoted\"\"\"," + strconv.Itoa(i) + "\r\n")
		case i == 30:
			b.WriteString(strconv.Itoa(i) + "," + strings.Repeat("z", MaxLineBytes) + ",1\r\n")
		default:
			b.WriteString(strconv.Itoa(i) + ",name" + strconv.Itoa(i) + "," + strconv.Itoa(i) + ".5\r\n")
		}
	}
	plain := []byte(b.String())
	for _, s := range []*memSource{src("r.csv", plain), src("r.csv.gz", gz(t, plain))} {
		t.Run(s.name, func(t *testing.T) {
			full, pos, err := openAll(t, s, csvFormat, testSchema, Position{})
			if err != nil || len(full) != 60 {
				t.Fatalf("full read: %d records, %v", len(full), err)
			}
			for k := range full {
				rest, _, err := openAll(t, s, csvFormat, testSchema, pos[k])
				if err != nil {
					t.Fatalf("at %+v: %v", pos[k], err)
				}
				sameRecords(t, rest, full[k+1:])
			}
		})
	}
}

// TestCSVRaggedRowMessageCountsInWords: a ragged row's message says "1
// field" for one and "n fields" otherwise, and names the header's count.
func TestCSVRaggedRowMessageCountsInWords(t *testing.T) {
	recs, _, err := openAll(t, src("a.csv", []byte("a,b,c\n1\n1,2\n")), csvFormat, nil, Position{})
	if err != nil || len(recs) != 2 {
		t.Fatalf("%v %q", err, describe(t, recs))
	}
	for i, want := range []string{"row has 1 field, the header has 3", "row has 2 fields, the header has 3"} {
		if recs[i].Err == nil || !strings.Contains(recs[i].Err.Error(), want) {
			t.Errorf("record %d: error %v, want %q", i+1, recs[i].Err, want)
		}
	}
}
