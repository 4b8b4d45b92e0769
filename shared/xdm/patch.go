package xdm

import (
	"encoding/json"
	"errors"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// PatchOp is one JSON Patch (RFC 6902) operation.
type PatchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// patchOptions follow RFC 6902 strictly: no negative array indices, no
// implicit creation of missing parents, a missing path on remove fails.
var patchOptions = func() *jsonpatch.ApplyOptions {
	o := jsonpatch.NewApplyOptions()
	o.SupportNegativeIndices = false
	o.EnsurePathExistsOnAdd = false
	o.AllowMissingPathOnRemove = false
	return o
}()

// ApplyPatch applies ops to a decoded JSON object or array (maps, slices and
// scalars as encoding/json produces them) and returns the new document. The
// input is not modified. All of add, remove, replace, move, copy and test
// (RFC 6902 §4) are supported; any failing operation fails the whole patch
// with kind Invalid, code "XDM-PATCH" and the message
// "patch operation <i> (<op> <path>): <reason>".
//
// The operations are applied by github.com/evanphx/json-patch/v5; this
// function checks what that library accepts beyond the RFC (array indices
// with leading zeros or a sign, RFC 6901 §4) and turns its errors into ours.
func ApplyPatch(doc any, ops []PatchOp) (any, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "XDM-PATCH", "the document is not JSON")
	}
	cur := deepCopy(doc)
	for i, op := range ops {
		if b, err = applyOp(b, cur, op); err == nil {
			cur = nil
			err = json.Unmarshal(b, &cur)
		}
		if err != nil {
			return nil, fault.Errorf(fault.Invalid, "XDM-PATCH", "patch operation %d (%s %s): %s", i, op.Op, op.Path, patchReason(err))
		}
	}
	return cur, nil
}

// patchError is a reason already worded for the caller.
type patchError string

func (e patchError) Error() string { return string(e) }

// applyOp checks op against cur (the decoded form of doc) and applies it to
// doc.
func applyOp(doc []byte, cur any, op PatchOp) ([]byte, error) {
	needsValue, needsFrom := false, false
	switch op.Op {
	case "add", "replace", "test":
		needsValue = true
	case "move", "copy":
		needsFrom = true
	case "remove":
		if op.Path == "" {
			return nil, patchError("cannot remove the whole document")
		}
	default:
		return nil, patchError(`op must be one of "add", "remove", "replace", "move", "copy", "test"`)
	}
	if needsValue {
		if len(op.Value) == 0 {
			return nil, patchError("value is required")
		}
		if !json.Valid(op.Value) {
			return nil, patchError("value is not valid JSON")
		}
	}
	if err := checkPointer(cur, op.Path, op.Op == "add" || needsFrom); err != nil {
		return nil, err
	}
	raw := func(v any) *json.RawMessage {
		b, _ := json.Marshal(v)
		m := json.RawMessage(b)
		return &m
	}
	o := jsonpatch.Operation{"op": raw(op.Op), "path": raw(op.Path)}
	if needsValue {
		v := op.Value
		o["value"] = &v
	}
	if needsFrom {
		if err := checkPointer(cur, op.From, false); err != nil {
			return nil, err
		}
		// RFC 6902 §4.4: from must not be a proper prefix of path.
		if op.Op == "move" && strings.HasPrefix(op.Path, op.From+"/") {
			return nil, patchError("cannot move a value into itself")
		}
		o["from"] = raw(op.From)
	}
	return jsonpatch.Patch{o}.ApplyWithOptions(doc, patchOptions)
}

// checkPointer rejects what RFC 6901 does not allow and the library
// accepts: a path not starting with "/", a "~" not followed by 0 or 1, and
// an array index other than 0 or a number without a leading zero ("-", the
// end of an array, only where end is allowed, as the last token).
func checkPointer(doc any, p string, end bool) error {
	if p == "" {
		return nil
	}
	if p[0] != '/' {
		return patchError("path must be empty or start with /")
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 >= len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return patchError("path has an invalid ~ escape")
			}
		}
		t = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
		switch c := doc.(type) {
		case map[string]any:
			doc = c[t]
		case []any:
			if t == "-" && end && i == len(toks)-1 {
				return nil
			}
			if !isIndex(t) {
				return patchError("array index is malformed")
			}
			doc = nil
			if n := atoi(t); n < len(c) {
				doc = c[n]
			}
		default:
			return nil // the library reports the missing path
		}
	}
	return nil
}

func isIndex(t string) bool {
	if t == "" || len(t) > 9 || (len(t) > 1 && t[0] == '0') {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return false
		}
	}
	return true
}

func atoi(t string) int {
	n := 0
	for i := 0; i < len(t); i++ {
		n = n*10 + int(t[i]-'0')
	}
	return n
}

// patchReason words an error of applyOp for the caller, without the
// library's own wording.
func patchReason(err error) string {
	var pe patchError
	switch {
	case errors.As(err, &pe):
		return string(pe)
	case errors.Is(err, jsonpatch.ErrTestFailed):
		return "test failed"
	case errors.Is(err, jsonpatch.ErrInvalidIndex):
		return "array index is out of range"
	case errors.Is(err, jsonpatch.ErrMissing):
		return "path does not exist"
	case errors.Is(err, jsonpatch.ErrExpectedObject), errors.Is(err, jsonpatch.ErrUnknownType):
		return "parent of path is not an object or array"
	case errors.Is(err, jsonpatch.ErrInvalid):
		return "the operation cannot apply to the whole document"
	}
	return "path does not exist or the document is not an object or array"
}

// deepCopy copies a decoded JSON value (maps and slices; scalars are
// shared).
func deepCopy(v any) any {
	switch c := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, x := range c {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(c))
		for i, x := range c {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}
