package records

import (
	"context"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Open returns a reader of src's records in format f, starting at at.
func Open(ctx context.Context, src Source, f Format, s Schema, at Position) (Reader, error) {
	return nil, fault.Errorf(fault.Invalid, CodeFileFormat, "format %q is not supported", f.Name)
}
