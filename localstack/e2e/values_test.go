//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// TestValuesAsValidated drives the value rules through the deployed path:
// a file exported with a byte-order mark keeps its first row; values are
// read back as the schema's types (a string birth year as a number); a
// newer fragment's empty first name does not hide the filled one of another
// dataset; an e-mail with a literal '+' is looked up as written; a Kinesis
// record holding base64 text is refused with a code that says so.
func TestValuesAsValidated(t *testing.T) {
	n := time.Now().UnixNano()
	schemaID := createProfileSchema(t, fmt.Sprintf("Values %d", n))
	crm := createDataset(t, "CRM values", schemaID)
	loyalty := createDataset(t, "Loyalty values", schemaID)
	email := fmt.Sprintf("jane+tag%d@example.com", n)

	// A JSON Lines file as Windows tools write it: a UTF-8 BOM first.
	row := fmt.Sprintf(`{"_id":"c1","personalEmail":{"address":%q},"person":{"name":{"firstName":"Jane"},"birthYear":"1985"}}`, email)
	file := filepath.Join(t.TempDir(), "crm.json")
	if err := os.WriteFile(file, []byte("\ufeff"+row+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	awsCLI(t, "s3", "cp", file, fmt.Sprintf("s3://%s/ingest/%s/crm.json", tgt.Bucket, crm))
	batch := finishedBatch(t, crm, 60*time.Second)
	if batch["status"] != "success" || dig(batch, "metrics", "outputRecordCount") != 1.0 {
		t.Fatalf("batch of the file with a BOM = %v %v %v, want success with its one row", batch["status"], batch["metrics"], batch["errors"])
	}

	// A row with more identities than a record may hold is kept, and the
	// batch says so in its warnings.
	many := createDataset(t, "Many identities", schemaID)
	ids := make([]map[string]any, 21)
	for i := range ids {
		ids[i] = map[string]any{"id": fmt.Sprintf("CRM-%d-%d", n, i)}
	}
	wide, _ := json.Marshal(map[string]any{"_id": "m1", "personalEmail": map[string]any{"address": "many" + email},
		"identityMap": map[string]any{"CRMID": ids}})
	wideFile := filepath.Join(t.TempDir(), "many.json")
	if err := os.WriteFile(wideFile, append(wide, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	awsCLI(t, "s3", "cp", wideFile, fmt.Sprintf("s3://%s/ingest/%s/many.json", tgt.Bucket, many))
	wb := finishedBatch(t, many, 60*time.Second)
	warnings, _ := wb["warnings"].([]any)
	if wb["status"] != "success" || len(warnings) != 1 || dig(warnings[0], "code") != "IDENTITY-TOO-MANY" || dig(warnings[0], "recordCount") != 1.0 {
		t.Errorf("batch of a row with 22 identities = %v, warnings %v; want success with one IDENTITY-TOO-MANY warning", wb["status"], wb["warnings"])
	}

	// A newer fragment (received later) of another dataset with an empty
	// first name.
	streamProfile(t, schemaID, loyalty, email, map[string]any{
		"_id": "l1", "personalEmail": map[string]any{"address": email},
		"person":      map[string]any{"name": map[string]any{"firstName": ""}},
		"homeAddress": map[string]any{"city": "Lisbon"},
	})

	eventually(t, 30*time.Second, "the merged profile", func() error {
		status, v := lookup(t, "Email", email) // '+' sent as %2B, as SDKs encode it
		if !found(status, v) {
			return errorf("no profile data yet (lookup status %d)", status)
		}
		if dig(v, "entity", "homeAddress", "city") != "Lisbon" {
			return errorf("the streamed fragment is not merged yet")
		}
		if got := dig(v, "entity", "person", "name", "firstName"); got != "Jane" {
			t.Errorf("firstName = %#v, want \"Jane\": an empty value must not win", got)
		}
		if got := dig(v, "entity", "person", "birthYear"); got != 1985.0 {
			t.Errorf("birthYear = %#v, want the number 1985", got)
		}
		if got := dig(v, "entity", "personalEmail", "address"); got != email {
			t.Errorf("personalEmail.address = %#v, want %q", got, email)
		}
		return nil
	})
	// A client that writes the query with a literal '+' and '@' and signs
	// its canonical form (RFC 3986: '+' is a plus sign, %2B in the
	// signature): the function must see the plus, not a space.
	encoded := url.Values{"entityId": {email}, "entityIdNS": {"Email"}, "schema.name": {"_xdm.context.profile"}}.Encode()
	req, err := http.NewRequest("GET", tgt.APIURL+"/data/core/ups/access/entities?"+encoded, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-sandbox-name", tgt.Sandbox)
	sum := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: tgt.AccessID, SecretAccessKey: tgt.Secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", tgt.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	req.URL.RawQuery = "entityId=" + email + "&entityIdNS=Email&schema.name=_xdm.context.profile"
	if r := send(t, req); r.Status != http.StatusOK {
		t.Errorf("lookup with a literal '+' in the query = %d %s, want 200", r.Status, r.Body)
	}

	// A record whose data is base64 text of a message.
	ref := map[string]any{"id": schemaID, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
	msg, _ := json.Marshal(map[string]any{
		"header": map[string]any{"schemaRef": ref, "datasetId": loyalty},
		"body":   map[string]any{"xdmMeta": map[string]any{"schemaRef": ref}, "xdmEntity": map[string]any{"_id": "l2", "personalEmail": map[string]any{"address": email}}},
	})
	args := []string{"kinesis", "put-record", "--stream-name", tgt.Stream, "--partition-key", email,
		"--data", base64.StdEncoding.EncodeToString(msg)}
	if cliV2(t) {
		args = append(args, "--cli-binary-format", "raw-in-base64-out")
	}
	var put struct{ SequenceNumber string }
	if err := json.Unmarshal([]byte(awsCLI(t, args...)), &put); err != nil || put.SequenceNumber == "" {
		t.Fatalf("put-record answer: %v", err)
	}
	eventually(t, 30*time.Second, "the base64 record's failed record", func() error {
		for _, rec := range allFailedRecords(t, streamFailedPK) {
			if rec["sequenceNumber"] == put.SequenceNumber {
				if rec["code"] != "ROW-BASE64" {
					t.Errorf("failed record code = %v, want ROW-BASE64", rec["code"])
				}
				return nil
			}
		}
		return errorf("no failed record for sequence number %s yet", put.SequenceNumber)
	})
}

// streamFailedPK given to allFailedRecords reads the failed records of
// every streaming batch (partitions "FAILED#stream-<dataset>-<window>").
const streamFailedPK = "FAILED#stream"

// allFailedRecords reads every failed record of one partition.
func allFailedRecords(t *testing.T, pk string) []map[string]any {
	t.Helper()
	table := tableName(t, topology.CatalogTable, topology.OutputCatalogTable)
	var out struct {
		Items []map[string]map[string]any
	}
	var raw string
	if pk == streamFailedPK {
		// Every streaming batch's partition: a scan, which a test can
		// afford.
		values, _ := json.Marshal(map[string]any{":pk": map[string]string{"S": streamFailedPK + "-"}})
		raw = awsCLI(t, "dynamodb", "scan", "--table-name", table,
			"--filter-expression", "begins_with("+topology.PartitionKey+", :pk) AND attribute_exists(rec)", "--expression-attribute-values", string(values))
	} else {
		values, _ := json.Marshal(map[string]any{":pk": map[string]string{"S": pk}})
		raw = awsCLI(t, "dynamodb", "query", "--table-name", table,
			"--key-condition-expression", topology.PartitionKey+" = :pk", "--expression-attribute-values", string(values))
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, item := range out.Items {
		s, _ := item["rec"]["S"].(string)
		if s == "" {
			continue // a streaming batch's count item
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(s), &rec); err != nil {
			t.Fatalf("failed record %v: %v", item, err)
		}
		recs = append(recs, rec)
	}
	return recs
}
