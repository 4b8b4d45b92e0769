package records

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// The records of sameRows, as JSON objects.
var sameJSON = []string{
	`{"_id":"1","person":{"name":{"firstName":"Ann","lastName":"Lee"},"birthDate":"1980-02-03"},"score":2.5,"active":true,"identityMap":{"Email":[{"id":"a@x.org","primary":true}]},"tags":["x","y, \"z\""]}`,
	`{"_id":"2","person":{"name":{"firstName":"Bob"}},"score":-3,"active":false,"identityMap":{"ECID":[{"id":"123"}]}}`,
	`{"_id":"3","tags":["only"]}`,
}

const sameCSV = "_id,person.name.firstName,person.name.lastName,person.birthDate,score,active,identityMap.Email[0].id,identityMap.Email[0].primary,identityMap.ECID[0].id,tags[0],tags[1]\r\n" +
	"1,Ann,Lee,1980-02-03,2.5,true,a@x.org,true,,x,\"y, \"\"z\"\"\"\r\n" +
	"2,Bob,,,-3,false,,,123,,\r\n" +
	"3,,,,,,,,,only,\r\n"

// TestSameRecords: the same records in every format read to the same
// JSON.
func TestSameRecords(t *testing.T) {
	lines := []byte(strings.Join(sameJSON, "\n") + "\n")
	array := []byte("[\n" + strings.Join(sameJSON, ",\n") + "\n]")
	pq := writeParquet(t, sameSchema, sameRows, 2, false)
	files := []struct {
		src *memSource
		f   Format
	}{
		{src("a.json", lines), jsonl},
		{src("a.json.gz", gz(t, lines)), jsonl},
		{src("a.json", array), jsonArrayFormat},
		{src("a.json.gz", gz(t, array)), jsonArrayFormat},
		{src("a.csv", []byte(sameCSV)), csvFormat},
		{src("a.csv.gz", gz(t, []byte(sameCSV))), csvFormat},
		{src("a.parquet", pq), parquetFormat},
		{src("a.parquet.gz", gz(t, pq)), parquetFormat},
	}
	for _, f := range files {
		t.Run(f.src.name+"/"+f.f.Name, func(t *testing.T) {
			recs, _, err := openAll(t, f.src, f.f, testSchema, Position{})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(sameJSON) {
				t.Fatalf("%d records", len(recs))
			}
			for i, r := range recs {
				if r.Err != nil || r.Number != i+1 {
					t.Fatalf("record %d: number %d, %v", i+1, r.Number, r.Err)
				}
				if got, want := normal(t, r.Data), normal(t, []byte(sameJSON[i])); got != want {
					t.Errorf("record %d:\n got %s\nwant %s", i+1, got, want)
				}
			}
		})
	}
}

// TestCatalogSchema reads CSV and Parquet against a dataset's resolved
// schema (catalog.IngestSpec.FieldType), and the records pass its
// validation.
func TestCatalogSchema(t *testing.T) {
	s, err := xdm.NewSchema(xdm.SchemaInput{Title: "CRM", Type: "object", AllOf: []xdm.Ref{
		{Ref: xdm.ProfileClass}, {Ref: xdm.PersonalDetailsFieldGroup}, {Ref: xdm.PersonDetailsFieldGroup}, {Ref: xdm.IdentityMapFieldGroup},
	}}, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	spec, err := catalog.BuildSpec(catalog.Dataset{ID: "ds", SchemaRef: catalog.SchemaRef{ID: s.ID}}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	schema := SchemaFunc(spec.FieldType)
	data := "person.name.firstName,person.birthYear,person.birthDate,personalEmail.address,identityMap.Email[0].id,identityMap.Email[0].primary\n" +
		"Ann,1980,1980-02-03,ann@x.org,ann@x.org,TRUE\n" +
		"Bob,nineteen,,,b@x.org,false\n"
	recs, _, err := openAll(t, src("p.csv", []byte(data)), csvFormat, schema, Position{})
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	want := `{"person":{"name":{"firstName":"Ann"},"birthYear":1980,"birthDate":"1980-02-03"},"personalEmail":{"address":"ann@x.org"},"identityMap":{"Email":[{"id":"ann@x.org","primary":true}]}}`
	if string(recs[0].Data) != want {
		t.Errorf("record 1: %s\nwant %s", recs[0].Data, want)
	}
	for i, r := range recs {
		var row map[string]any
		if err := json.Unmarshal(r.Data, &row); err != nil {
			t.Fatal(err)
		}
		vs := spec.Validate(row)
		// The second row's birth year is not a number: the validator
		// refuses it, as it would in a JSON file.
		if wantBad := i == 1; (len(vs) > 0) != wantBad || wantBad && vs[0].Pointer != "/person/birthYear" {
			t.Errorf("record %d: violations %+v", i+1, vs)
		}
	}
	_, _, err = openAll(t, src("p.csv", []byte("person.name.nickName\nx\n")), csvFormat, schema, Position{})
	wantFault(t, err, CodeFileCSVHeader)
	if !strings.Contains(err.Error(), "person.name.nickName") {
		t.Errorf("%v does not name the column", err)
	}
	// sameSchema's score is no field of this schema.
	_, _, err = openAll(t, src("p.parquet", writeParquet(t, sameSchema, sameRows, 0, false)), parquetFormat, schema, Position{})
	wantFault(t, err, CodeFileColumns)
	if !strings.Contains(err.Error(), `"score"`) {
		t.Errorf("%v does not name the column", err)
	}
}
