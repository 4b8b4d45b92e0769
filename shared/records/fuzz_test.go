package records

import (
	"encoding/json"
	"strings"
	"testing"
)

// fuzzSchema types a column by its last letter, so that the fuzzer
// reaches every kind of cell.
var fuzzSchema = SchemaFunc(func(p string) (string, bool) {
	switch {
	case strings.HasSuffix(p, "n"):
		return "number", true
	case strings.HasSuffix(p, "b"):
		return "boolean", true
	case strings.HasSuffix(p, "o"):
		return "object", true
	case strings.HasSuffix(p, "a"):
		return "array", true
	case strings.HasSuffix(p, "x"):
		return "", false
	}
	return "string", true
})

// checkRecords reads every record and checks each one: Data a JSON
// object, or Err a row error; Raw bounded; numbers rising.
func checkRecords(t *testing.T, data []byte, f Format, s Schema) {
	for _, name := range []string{"f", "f.gz"} {
		file := data
		if name == "f.gz" {
			file = gz(t, data)
		}
		recs, pos, err := openAll(t, src(name, file), f, s, Position{})
		if err != nil && codeOf(err) == "" {
			t.Fatalf("error without a code: %v", err)
		}
		last := 0
		for i, r := range recs {
			if r.Number <= last {
				t.Fatalf("record numbers %d then %d", last, r.Number)
			}
			last = r.Number
			if len(r.Raw) > MaxRawBytes {
				t.Fatalf("record %d: raw is %d bytes", r.Number, len(r.Raw))
			}
			if r.Err != nil {
				if codeOf(r.Err) == "" || r.Data != nil {
					t.Fatalf("record %d: %v, data %q", r.Number, r.Err, r.Data)
				}
				continue
			}
			if len(r.Data) == 0 || r.Data[0] != '{' || !json.Valid(r.Data) {
				t.Fatalf("record %d is not a JSON object: %q", r.Number, r.Data)
			}
			if pos[i].Number != i+1 {
				t.Fatalf("position %+v after record %d", pos[i], i+1)
			}
		}
		if len(recs) == 0 {
			continue
		}
		// Resuming after the first record gives the rest.
		rest, _, rerr := openAll(t, src(name, file), f, s, pos[0])
		if (rerr == nil) != (err == nil) || len(rest) != len(recs)-1 {
			t.Fatalf("resumed: %d records, %v; full read: %d records, %v", len(rest), rerr, len(recs), err)
		}
		sameRecords(t, rest, recs[1:])
	}
}

func FuzzCSV(f *testing.F) {
	for _, seed := range []string{
		sameCSV,
		"a,b.n,c.b\n1,2,true\n",
		"\xEF\xBB\xBFa[0].n,a[1].n,o.o,l.a\r\n1,x,\"{\"\"k\"\":1}\",\"[1,2]\"\r\n",
		"a,b\n\"x,\ny\",\"\"\"\"\n1\n1,2,3\na\"b,c\n\"open,x\n",
		"x\n1\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRecords(t, data, csvFormat, fuzzSchema)
	})
}

func FuzzJSONArray(f *testing.F) {
	for _, seed := range []string{
		`[{"a":1},{"b":[1,2,{"c":null}]}]`,
		"\xEF\xBB\xBF [ {\"a\":\"\\u00e9\"} , 1, \"s\", [] ]",
		`[{"a":1},{"a"`,
		`[]`,
		`{"a":1}`,
		`[{"a":1}] x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRecords(t, data, jsonArrayFormat, nil)
	})
}
