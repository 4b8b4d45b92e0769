//go:build e2e

package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// person is one record of the format tests, as every format spells it.
type person struct {
	first, last, city, birthDate string
	birthYear                    int
}

var people = []person{
	{"Ann", "Lee", "Lyon", "1980-03-14", 1980},
	{"Bo", "Smith, Jr.", "New\nYork", "1975-12-01", 1975},
	{"Cy", `O"Neil`, "Oslo", "2001-07-30", 2001},
}

func email(p person, domain string) string {
	return strings.ToLower(p.first) + "@" + domain + ".example.com"
}

func jsonRecord(p person, domain string) map[string]any {
	return map[string]any{
		"personalEmail": map[string]any{"address": email(p, domain)},
		"person": map[string]any{
			"name":      map[string]any{"firstName": p.first, "lastName": p.last},
			"birthDate": p.birthDate, "birthYear": p.birthYear,
		},
		"homeAddress": map[string]any{"city": p.city},
	}
}

func jsonLinesOf(domain string) []byte {
	var b bytes.Buffer
	for _, p := range people {
		line, _ := json.Marshal(jsonRecord(p, domain))
		b.Write(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func jsonArrayOf(domain string) []byte {
	var recs []any
	for _, p := range people {
		recs = append(recs, jsonRecord(p, domain))
	}
	b, _ := json.MarshalIndent(recs, "", "  ")
	return b
}

// csvOf writes RFC 4180 by hand (not with the reader's library): a BOM,
// CRLF, quoted commas, quotes and newlines.
func csvOf(domain string) []byte {
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	var b strings.Builder
	b.WriteString("\xEF\xBB\xBFpersonalEmail.address,person.name.firstName,person.name.lastName,person.birthDate,person.birthYear,homeAddress.city\r\n")
	for _, p := range people {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%d,%s\r\n", email(p, domain), p.first, q(p.last), p.birthDate, p.birthYear, q(p.city))
	}
	return []byte(b.String())
}

type pqName struct {
	FirstName string `parquet:"firstName"`
	LastName  string `parquet:"lastName"`
}
type pqPerson struct {
	Name      pqName `parquet:"name"`
	BirthDate string `parquet:"birthDate"`
	BirthYear int32  `parquet:"birthYear"`
}
type pqRow struct {
	PersonalEmail struct {
		Address string `parquet:"address"`
	} `parquet:"personalEmail"`
	Person      pqPerson `parquet:"person"`
	HomeAddress struct {
		City string `parquet:"city"`
	} `parquet:"homeAddress"`
}

func parquetOf(t *testing.T, domain string) []byte {
	var rows []pqRow
	for _, p := range people {
		var r pqRow
		r.PersonalEmail.Address = email(p, domain)
		r.Person = pqPerson{Name: pqName{p.first, p.last}, BirthDate: p.birthDate, BirthYear: int32(p.birthYear)}
		r.HomeAddress.City = p.city
		rows = append(rows, r)
	}
	var b bytes.Buffer
	if err := parquet.Write(&b, rows); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipOf(t *testing.T, data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// apiBatch runs AEP's batch tutorial: create a batch for ds with format,
// PUT each file, COMPLETE, and wait for the batch to finish; it returns
// the batch as the Catalog shows it.
func apiBatch(t *testing.T, ds string, format map[string]any, files map[string][]byte) map[string]any {
	t.Helper()
	_, b := apiBatchID(t, ds, format, files)
	return b
}

// waitBatch polls GET /catalog/batches/{id} until the batch is final.
func waitBatch(t *testing.T, id string, within time.Duration) map[string]any {
	t.Helper()
	var got map[string]any
	eventually(t, within, "batch "+id+" finished", func() error {
		var m map[string]map[string]any
		r := call(t, "GET", catalogP+"/batches/"+id, nil, "")
		if r.Status != http.StatusOK {
			return errorf("status %d", r.Status)
		}
		r.decode(t, &m)
		got = m[id]
		if !isFinal(got) {
			return errorf("batch is %v", got["status"])
		}
		return nil
	})
	return got
}

// TestFormatsGiveIdenticalProfiles ingests the same three people as JSON
// Lines and as one JSON array (dropped into S3 with the AWS CLI), and as
// CSV, Parquet and gzipped JSON Lines (through the Batch Ingestion API),
// each into its own dataset under its own e-mail domain; every format gives
// the same profiles, and every batch counts three records in, three out.
func TestFormatsGiveIdenticalProfiles(t *testing.T) {
	schema := createProfileSchema(t, fmt.Sprintf("Formats %d", time.Now().UnixNano()))
	type run struct {
		domain string
		ingest func(ds string) map[string]any
	}
	dropIn := func(name string, body []byte) func(ds string) map[string]any {
		return func(ds string) map[string]any {
			awsCLI(t, "s3", "cp", writeFile(t, name, string(body)), fmt.Sprintf("s3://%s/ingest/%s/%s", tgt.Bucket, ds, name))
			return finishedBatch(t, ds, 2*time.Minute)
		}
	}
	runs := []run{
		{"jsonl", dropIn("people.json", jsonLinesOf("jsonl"))},
		{"array", dropIn("people.json", jsonArrayOf("array"))},
		{"csv", func(ds string) map[string]any {
			return apiBatch(t, ds, map[string]any{"format": "csv"}, map[string][]byte{"people.csv": csvOf("csv")})
		}},
		{"parquet", func(ds string) map[string]any {
			return apiBatch(t, ds, map[string]any{"format": "parquet"}, map[string][]byte{"part=1/people.parquet": parquetOf(t, "parquet")})
		}},
		{"gzip", func(ds string) map[string]any {
			return apiBatch(t, ds, map[string]any{"format": "json"}, map[string][]byte{"people.json.gz": gzipOf(t, jsonLinesOf("gzip"))})
		}},
	}
	var want []string
	for _, r := range runs {
		ds := createDataset(t, "Format "+r.domain, schema)
		b := r.ingest(ds)
		m, _ := b["metrics"].(map[string]any)
		if b["status"] != "success" || m["inputRecordCount"] != 3.0 || m["outputRecordCount"] != 3.0 || m["failedRecordCount"] != 0.0 {
			t.Fatalf("%s: batch %v", r.domain, b)
		}
		var got []string
		for _, p := range people {
			status, e := lookup(t, "Email", email(p, r.domain))
			if !found(status, e) {
				t.Fatalf("%s: lookup of %s: %d", r.domain, p.first, status)
			}
			entity, _ := json.Marshal(e["entity"])
			got = append(got, strings.ReplaceAll(string(entity), r.domain+".example.com", "DOMAIN"))
		}
		if want == nil {
			want = got
			if !strings.Contains(got[1], `"New\nYork"`) || !strings.Contains(got[2], `"birthYear":2001`) {
				t.Fatalf("%s: unexpected profile %s", r.domain, got)
			}
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s gives %s for %s, JSON Lines gives %s", r.domain, got[i], people[i].first, want[i])
			}
		}
	}
}
