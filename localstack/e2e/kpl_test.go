//go:build e2e

package e2e

import (
	"crypto/md5"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestKPLAggregatedRecord puts one record aggregated as the Kinesis
// Producer Library does (magic, protobuf AggregatedRecord, MD5 digest) on
// the stream with the AWS CLI: each of its user records becomes a profile.
func TestKPLAggregatedRecord(t *testing.T) {
	ds := createDataset(t, "Aggregated", createProfileSchema(t, fmt.Sprintf("Aggregated %d", time.Now().UnixNano())))
	stamp := time.Now().UnixNano()
	people := map[string]string{}
	var pb []byte
	for i, name := range []string{"Ada", "Bo", "Cy"} {
		email := fmt.Sprintf("kpl%d-%d@example.com", stamp, i)
		people[email] = name
		pb = protowire.AppendTag(pb, 1, protowire.BytesType)
		pb = protowire.AppendString(pb, email)
		msg, _ := json.Marshal(map[string]any{
			"header": map[string]any{"datasetId": ds},
			"body": map[string]any{"xdmEntity": map[string]any{
				"_id": fmt.Sprintf("kpl-%d", i), "personalEmail": map[string]any{"address": email},
				"person": map[string]any{"name": map[string]any{"firstName": name}},
			}},
		})
		var rec []byte
		rec = protowire.AppendTag(rec, 1, protowire.VarintType)
		rec = protowire.AppendVarint(rec, uint64(i))
		rec = protowire.AppendTag(rec, 3, protowire.BytesType)
		rec = protowire.AppendBytes(rec, msg)
		pb = protowire.AppendTag(pb, 3, protowire.BytesType)
		pb = protowire.AppendBytes(pb, rec)
	}
	sum := md5.Sum(pb)
	data := append(append([]byte{0xF3, 0x89, 0x9A, 0xC2}, pb...), sum[:]...)
	file := writeFile(t, "aggregate.bin", string(data))
	// fileb:// sends the file's bytes as they are, with either CLI version.
	awsCLI(t, "kinesis", "put-record", "--stream-name", tgt.Stream, "--partition-key", "aggregate", "--data", "fileb://"+file)

	for email, name := range people {
		eventually(t, 60*time.Second, "the user record of "+name+" became a profile", func() error {
			status, p := lookup(t, "Email", email)
			if !found(status, p) {
				return errorf("no profile data yet (lookup status %d)", status)
			}
			if got := dig(p, "entity", "person", "name", "firstName"); got != name {
				return errorf("firstName = %v", got)
			}
			return nil
		})
	}
}
