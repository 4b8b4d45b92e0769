package ingest

import (
	"bytes"
	"crypto/md5"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// CodeKPLInvalid refuses a record that starts with the Kinesis Producer
// Library's aggregation magic but whose digest or content is broken, or one
// user record of an aggregate that cannot be read.
const CodeKPLInvalid = "STREAM-KPL-INVALID"

// kplMagic starts a record aggregated by the Kinesis Producer Library; a
// protobuf AggregatedRecord and the 16-byte MD5 digest of it follow
// (awslabs/amazon-kinesis-producer, aggregation-format.md).
var kplMagic = []byte{0xF3, 0x89, 0x9A, 0xC2}

// maxUserRecords bounds the user records taken from one aggregate: a
// record is at most 1 MB, so a larger count can only come from a hostile
// or broken producer.
const maxUserRecords = 1 << 16

// UserRecord is one record a producer put: a plain Kinesis record, or one
// user record of a KPL aggregate.
type UserRecord struct {
	// SubSequence is the user record's position within its aggregate
	// (the KCL's subSequenceNumber); 0 for a plain record.
	SubSequence int
	// Aggregated is true for a user record of a KPL aggregate.
	Aggregated   bool
	PartitionKey string
	Data         []byte
	// Err refuses this user record only (its siblings are unaffected).
	Err error
}

// SplitRecord returns the user records of one Kinesis record's data: the
// data itself when it is not a KPL aggregate, else each user record of the
// aggregate in order. An error (CodeKPLInvalid) refuses the whole record:
// its digest does not match or its AggregatedRecord cannot be decoded.
//
// The Go module of awslabs/kinesis-aggregation is not served by the Go
// module proxy, so the AggregatedRecord message (partition_key_table = 1,
// explicit_hash_key_table = 2, records = 3; Record: partition_key_index = 1,
// explicit_hash_key_index = 2, data = 3, tags = 4) is read with protowire.
func SplitRecord(data []byte) ([]UserRecord, error) {
	if len(data) < len(kplMagic)+md5.Size || !bytes.HasPrefix(data, kplMagic) {
		return []UserRecord{{Data: data}}, nil
	}
	body := data[len(kplMagic) : len(data)-md5.Size]
	sum := md5.Sum(body)
	if !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
		return nil, fault.E(fault.Invalid, CodeKPLInvalid, "the record starts as a KPL aggregate but its MD5 digest does not match its content")
	}
	var keys []string
	var recs [][]byte
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return nil, kplBroken("AggregatedRecord", n)
		}
		body = body[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(body)
			if n < 0 {
				return nil, kplBroken("partition_key_table", n)
			}
			keys = append(keys, string(v))
			body = body[n:]
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(body)
			if n < 0 {
				return nil, kplBroken("records", n)
			}
			if len(recs) == maxUserRecords {
				return nil, fault.Errorf(fault.Invalid, CodeKPLInvalid, "the KPL aggregate holds more than %d user records", maxUserRecords)
			}
			recs = append(recs, v)
			body = body[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, body)
			if n < 0 {
				return nil, kplBroken("AggregatedRecord", n)
			}
			body = body[n:]
		}
	}
	if len(recs) == 0 {
		return nil, fault.E(fault.Invalid, CodeKPLInvalid, "the KPL aggregate holds no user record")
	}
	out := make([]UserRecord, len(recs))
	for i, raw := range recs {
		out[i] = userRecord(raw, keys)
		out[i].SubSequence = i
		out[i].Aggregated = true
	}
	return out, nil
}

// userRecord decodes one Record of an aggregate.
func userRecord(b []byte, keys []string) UserRecord {
	var u UserRecord
	keyIndex, haveKey, haveData := uint64(0), false, false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			u.Err = kplBroken("Record", n)
			return u
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				u.Err = kplBroken("partition_key_index", n)
				return u
			}
			keyIndex, haveKey = v, true
			b = b[n:]
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				u.Err = kplBroken("data", n)
				return u
			}
			u.Data, haveData = v, true
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				u.Err = kplBroken("Record", n)
				return u
			}
			b = b[n:]
		}
	}
	switch {
	case !haveData:
		u.Err = fault.E(fault.Invalid, CodeKPLInvalid, "a user record of the KPL aggregate has no data")
	case !haveKey || keyIndex >= uint64(len(keys)):
		u.Err = fault.E(fault.Invalid, CodeKPLInvalid, "a user record of the KPL aggregate names a partition key the aggregate does not hold")
	default:
		u.PartitionKey = keys[keyIndex]
	}
	return u
}

func kplBroken(field string, n int) error {
	return fault.Wrap(protowire.ParseError(n), fault.Invalid, CodeKPLInvalid, fmt.Sprintf("the KPL aggregate's %s cannot be decoded", field))
}
