package ingest

import (
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// Transient reports whether err should be retried rather than recorded as
// a failed record.
func Transient(err error) bool { return fault.KindOf(err).Transient() }

// Size bounds of a failed record's parts, in bytes, so that a failed
// record always fits a DynamoDB item (400 KB:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)
// and a batch's error summary stays small. Longer values are cut at a
// UTF-8 boundary and end in "…".
const (
	MaxCodeBytes         = 64
	MaxPointerBytes      = xdm.MaxPointerBytes
	MaxErrorMessageBytes = xdm.MaxMessageBytes
)

// Describe returns the stable code and the safe message of a row error,
// within MaxCodeBytes and MaxErrorMessageBytes.
func Describe(err error) (code, message string) {
	code, message = fault.Public(err)
	return xdm.Truncate(code, MaxCodeBytes), xdm.Truncate(message, MaxErrorMessageBytes)
}
