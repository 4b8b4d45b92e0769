package records

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

var parquetFormat = Format{Name: "parquet"}

// sameRows are the records of TestSameRecords in Arrow's JSON form.
const sameRows = `[
 {"_id":"1","person":{"name":{"firstName":"Ann","lastName":"Lee"},"birthDate":"1980-02-03"},"score":2.5,"active":true,
  "identityMap":[{"key":"Email","value":[{"id":"a@x.org","primary":true}]}],"tags":["x","y, \"z\""]},
 {"_id":"2","person":{"name":{"firstName":"Bob","lastName":null},"birthDate":null},"score":-3,"active":false,
  "identityMap":[{"key":"ECID","value":[{"id":"123","primary":null}]}],"tags":null},
 {"_id":"3","person":null,"score":null,"active":null,"identityMap":null,"tags":["only"]}
]`

func TestParquetSmoke(t *testing.T) {
	data := writeParquet(t, sameSchema, sameRows, 0, false)
	recs, _, err := openAll(t, src("a.parquet", data), parquetFormat, nil, Position{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(strings.Join(describe(t, recs), "\n"))
	_ = arrow.BinaryTypes
}
