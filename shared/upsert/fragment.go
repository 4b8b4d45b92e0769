package upsert

import (
	"encoding/json"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

// CodeOperation: a fragment write names an operation other than create,
// merge or delete.
const CodeOperation = "FRAGMENT-OPERATION"

// OpOf is the update a fragment write makes: its Op ("" is a create) at
// its clock (TS, Src), with Record, or Raw decoded when only that is set
// (a missing record is {}); a delete has no record. An unknown Op is an
// Invalid error with CodeOperation; Raw that is not JSON an Internal one.
func OpOf(f merge.Fragment) (Op, error) {
	op := Op{Clock: Clock{TS: f.TS, Src: f.Src}}
	switch f.Op {
	case "", merge.OpCreate:
		op.Kind = Create
	case merge.OpMerge:
		op.Kind = Merge
	case merge.OpDelete:
		op.Kind = Delete
		return op, nil
	default:
		return Op{}, fault.Errorf(fault.Invalid, CodeOperation, "write fragment: unknown operation %q", f.Op)
	}
	op.Record = f.Record
	if op.Record == nil && len(f.Raw) > 0 {
		if err := json.Unmarshal(f.Raw, &op.Record); err != nil {
			return Op{}, fault.Wrap(err, fault.Internal, "FRAGMENT-ENCODE", "write fragment: record is not JSON")
		}
	}
	if op.Record == nil {
		op.Record = map[string]any{}
	}
	return op, nil
}
