package ingest

import (
	"crypto/md5"
	"encoding/base64"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// kplAggregate wraps an AggregatedRecord's protobuf bytes as the KPL does.
func kplAggregate(pb []byte) []byte {
	sum := md5.Sum(pb)
	return append(append([]byte{0xF3, 0x89, 0x9A, 0xC2}, pb...), sum[:]...)
}

func kplRecord(key uint64, data string, extra bool) []byte {
	var rb []byte
	rb = protowire.AppendTag(rb, 1, protowire.VarintType)
	rb = protowire.AppendVarint(rb, key)
	if extra { // explicit_hash_key_index and a tag, which carry nothing we use
		rb = protowire.AppendTag(rb, 2, protowire.VarintType)
		rb = protowire.AppendVarint(rb, 0)
		rb = protowire.AppendTag(rb, 4, protowire.BytesType)
		rb = protowire.AppendBytes(rb, []byte{0x0A, 0x01, 'k'})
	}
	rb = protowire.AppendTag(rb, 3, protowire.BytesType)
	return protowire.AppendBytes(rb, []byte(data))
}

func TestSplitRecord(t *testing.T) {
	var pb []byte
	pb = protowire.AppendTag(pb, 1, protowire.BytesType)
	pb = protowire.AppendString(pb, "pk")
	pb = protowire.AppendTag(pb, 2, protowire.BytesType)
	pb = protowire.AppendString(pb, "12345")
	for _, d := range []string{`{"a":1}`, `{"b":2}`} {
		pb = protowire.AppendTag(pb, 3, protowire.BytesType)
		pb = protowire.AppendBytes(pb, kplRecord(0, d, true))
	}
	got, err := SplitRecord(kplAggregate(pb))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[1].Data) != `{"b":2}` || got[1].SubSequence != 1 || !got[1].Aggregated || got[0].PartitionKey != "pk" || got[0].Err != nil {
		t.Errorf("got %+v", got)
	}

	plain := []byte(`{"header":{}}`)
	if got, err := SplitRecord(plain); err != nil || len(got) != 1 || got[0].Aggregated || string(got[0].Data) != string(plain) {
		t.Errorf("plain record: %+v %v", got, err)
	}
	// The magic alone, too short for a digest, is not an aggregate.
	if got, err := SplitRecord([]byte{0xF3, 0x89, 0x9A, 0xC2, 1}); err != nil || len(got) != 1 || got[0].Aggregated {
		t.Errorf("short record: %+v %v", got, err)
	}

	truncated := pb[:len(pb)-3]
	noRecords := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "pk")
	badDigest := kplAggregate(pb)
	badDigest[10] ^= 1
	for name, data := range map[string][]byte{
		"truncated protobuf": kplAggregate(truncated),
		"no user record":     kplAggregate(noRecords),
		"digest mismatch":    badDigest,
	} {
		if _, err := SplitRecord(data); err == nil || fault.As(err) == nil || fault.As(err).Code != CodeKPLInvalid {
			t.Errorf("%s: got %v, want %s", name, err, CodeKPLInvalid)
		}
	}
}

func TestBase64OfJSON(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString
	for data, want := range map[string]bool{
		enc([]byte(`{"header":{}}`)):                       true,
		enc([]byte("  [1,2]")):                             true,
		base64.RawStdEncoding.EncodeToString([]byte(`{}`)): true,
		enc([]byte(`{"a":1}`)) + "\n":                      true,
		"hello":                                            false,
		enc([]byte("plain text")):                          false,
		`{"header":{}}`:                                    false,
		"":                                                 false,
	} {
		if got := base64OfJSON([]byte(data)); got != want {
			t.Errorf("base64OfJSON(%q) = %v, want %v", data, got, want)
		}
	}
}
