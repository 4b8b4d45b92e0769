package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// email is the primary identity of person i of a run.
func email(run string, i int) string { return fmt.Sprintf("user%d@%s.bench.example.com", i, run) }

// secondIdentity is person i's other identity: an ECID (38 digits) for
// even i, a CRMID for odd i.
func secondIdentity(run string, i int) (ns, id string) {
	if i%2 == 0 {
		return "ECID", fmt.Sprintf("%038d", i)
	}
	return "CRMID", fmt.Sprintf("crm-%s-%d", run, i)
}

// profileRow is a profile class row of person i: personalEmail.address
// (the primary Email identity by descriptor), ECID or CRMID in identityMap,
// a name and a home address, lastUpdatedDate ordered by version; pad adds
// that many bytes of address text, to make rows of a few KB.
func profileRow(run string, i, version, pad int) []byte {
	ns, id := secondIdentity(run, i)
	street := "1200 North Main Street"
	extra := ""
	if pad > 0 {
		extra = fmt.Sprintf(`,"street2":%q,"region":%q`, strings.Repeat("Building ", pad/18+1)[:pad/2], strings.Repeat("Suite 12 ", pad/18+1)[:pad-pad/2])
	}
	return fmt.Appendf(nil, `{"_id":"%s-%d-%d","personalEmail":{"address":%q,"primary":true,"status":"active"},`+
		`"person":{"name":{"firstName":"First%d","lastName":"Last%d","fullName":"First%d Last%d"},"birthYear":%d},`+
		`"homeAddress":{"street1":%q%s,"city":"Springfield","postalCode":"62701","countryCode":"US"},`+
		`"mobilePhone":{"number":"+1 555 %07d"},`+
		`"identityMap":{%q:[{"id":%q,"authenticatedState":"ambiguous","primary":false}]},`+
		`"extSourceSystemAudit":{"lastUpdatedDate":"2026-01-%02dT10:00:00.000Z"}}`,
		run, i, version, email(run, i), i, i, i, i, 1950+i%50, street, extra, i%10000000, ns, id, 10+version)
}

// writeRows writes n JSON Lines rows made by row.
func writeRows(w io.Writer, n int, row func(i int) []byte) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var total int64
	for i := 0; i < n; i++ {
		b := row(i)
		if _, err := bw.Write(b); err != nil {
			return total, err
		}
		if err := bw.WriteByte('\n'); err != nil {
			return total, err
		}
		total += int64(len(b)) + 1
	}
	return total, bw.Flush()
}
