package records

import (
	"context"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

func openParquet(ctx context.Context, src Source, s Schema, at Position) (Reader, error) {
	return nil, fault.Errorf(fault.Invalid, CodeFileFormat, "format %q is not supported yet", "parquet")
}
