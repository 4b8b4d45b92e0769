package main

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
)

// userRec is one user record to aggregate: an index into the partition
// key table, and the data.
type userRec struct {
	key  uint64
	data string
}

// aggregate builds a KPL aggregated record by hand: magic, a protobuf
// AggregatedRecord (partition_key_table = 1, records = 3; Record:
// partition_key_index = 1, data = 3) and the MD5 digest of the protobuf.
func aggregate(keys []string, recs ...userRec) []byte {
	var pb []byte
	for _, k := range keys {
		pb = protowire.AppendTag(pb, 1, protowire.BytesType)
		pb = protowire.AppendString(pb, k)
	}
	for _, r := range recs {
		var rb []byte
		rb = protowire.AppendTag(rb, 1, protowire.VarintType)
		rb = protowire.AppendVarint(rb, r.key)
		rb = protowire.AppendTag(rb, 3, protowire.BytesType)
		rb = protowire.AppendBytes(rb, []byte(r.data))
		pb = protowire.AppendTag(pb, 3, protowire.BytesType)
		pb = protowire.AppendBytes(pb, rb)
	}
	sum := md5.Sum(pb)
	out := append([]byte{0xF3, 0x89, 0x9A, 0xC2}, pb...)
	return append(out, sum[:]...)
}

func TestKPLAggregatedRecordsAreEachIngested(t *testing.T) {
	h, prof, failed := newTestHandler()
	recs := []userRec{
		{0, message("ann@example.com", "Ann", "")},
		{1, `{"header":`},
		{1, message("bob@example.com", "Bob", "")},
		{7, message("cat@example.com", "Cat", "")},
	}
	// Eleven versions of one person in one aggregate: the same arrival
	// time, so only the sub-sequence orders them; the last (10) wins.
	for i := 0; i <= 10; i++ {
		recs = append(recs, userRec{0, message("dan@example.com", fmt.Sprintf("Dan%d", i), "")})
	}
	ev := kinesisEvent(string(aggregate([]string{"pk-a", "pk-b"}, recs...)))
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v %+v; want no retry (refused user records are failed records)", err, resp.BatchItemFailures)
	}
	for _, who := range []string{"ann", "bob"} {
		if _, ok := prof.Frags["Email#"+who+"@example.com|"+testDataset]; !ok {
			t.Errorf("user record of %s not ingested", who)
		}
	}
	if _, ok := prof.Frags["Email#cat@example.com|"+testDataset]; ok {
		t.Error("a user record naming a partition key the aggregate lacks was ingested")
	}
	dan := prof.Frags["Email#dan@example.com|"+testDataset]
	if !strings.Contains(dan.Src, ":00014") {
		t.Errorf("dan's fragment comes from %q, want the last user record (sub-sequence 14)", dan.Src)
	}
	got := map[int]string{}
	for _, r := range failed.Recs {
		got[r.SubSequence] = r.Code
		if r.Seq != "0001" || r.Shard != "shardId-000000000001" {
			t.Errorf("failed record %+v lacks its Kinesis position", r)
		}
	}
	if got[1] != "STREAM-MESSAGE-JSON" || got[3] != "STREAM-KPL-INVALID" || len(got) != 2 {
		t.Errorf("failed records by sub-sequence %v, want 1: STREAM-MESSAGE-JSON, 3: STREAM-KPL-INVALID", got)
	}
}

func TestKPLTransientFailureRetriesTheKinesisRecord(t *testing.T) {
	h, prof, _ := newTestHandler()
	prof.FailAt = 2 // the second user record's write is throttled
	agg := aggregate([]string{"k"}, userRec{0, message("a@example.com", "A", "")}, userRec{0, message("b@example.com", "B", "")})
	ev := kinesisEvent(message("first@example.com", "F", ""), string(agg), message("later@example.com", "L", ""))
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	if strings.Join(ids, ",") != "0002,0003" {
		t.Errorf("retry %v, want the aggregated Kinesis record 0002 and the one after it", ids)
	}
}

func TestKPLBrokenDigestRefusesTheRecord(t *testing.T) {
	h, prof, failed := newTestHandler()
	agg := aggregate([]string{"k"}, userRec{0, message("a@example.com", "A", "")})
	agg[len(agg)-1] ^= 0xFF
	resp, err := h.Handle(context.Background(), kinesisEvent(string(agg)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v %+v", err, resp.BatchItemFailures)
	}
	if len(prof.Frags) != 0 || len(failed.Recs) != 1 {
		t.Fatalf("%d fragments, %d failed records; want 0 and 1", len(prof.Frags), len(failed.Recs))
	}
	for _, r := range failed.Recs {
		if r.Code != "STREAM-KPL-INVALID" {
			t.Errorf("code %s, want STREAM-KPL-INVALID", r.Code)
		}
	}
}

func TestBase64DataSaysSo(t *testing.T) {
	h, prof, failed := newTestHandler()
	msg := message("a@example.com", "A", "")
	for _, data := range []string{base64.StdEncoding.EncodeToString([]byte(msg)), base64.StdEncoding.EncodeToString([]byte(msg + "\n"))} {
		failed.Recs = map[string]catalog.FailedRecord{}
		if _, err := h.Handle(context.Background(), kinesisEvent(data)); err != nil {
			t.Fatal(err)
		}
		if len(failed.Recs) != 1 {
			t.Fatalf("%d failed records, want 1", len(failed.Recs))
		}
		for _, r := range failed.Recs {
			if r.Code != "ROW-BASE64" || r.Message != "the record's data is base64 text; send raw bytes (AWS CLI v2: --cli-binary-format raw-in-base64-out)" {
				t.Errorf("got %s %q", r.Code, r.Message)
			}
		}
	}
	if len(prof.Frags) != 0 {
		t.Error("base64 text was ingested")
	}
	// Text that merely uses base64's alphabet is an ordinary JSON error.
	failed.Recs = map[string]catalog.FailedRecord{}
	h.Handle(context.Background(), kinesisEvent("hello"))
	for _, r := range failed.Recs {
		if r.Code == "ROW-BASE64" {
			t.Errorf("plain word called base64: %+v", r)
		}
	}
}
