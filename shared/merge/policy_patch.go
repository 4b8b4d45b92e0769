package merge

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// PATCH of a merge policy (AEP's "Edit individual merge policy fields").
// AEP sends one operation object whose path names a member with a dot,
// {"op":"add","path":"/identityGraph.type","value":"pdg"}, and booleans as
// strings ("value":"true"); Mosaic takes that and RFC 6902's array of
// operations with JSON Pointers (/identityGraph/type), and applies them
// with the RFC's semantics (xdm.ApplyPatch).

// policyMembers are the members a PATCH may change.
var policyMembers = map[string]bool{
	"name": true, "identityGraph": true, "attributeMerge": true, "schema": true,
	"default": true, "isActiveOnEdge": true,
}

// readOnlyMembers are set by Mosaic: a PATCH may only test them (a test of
// /version makes the patch conditional on the version read).
var readOnlyMembers = map[string]bool{"id": true, "version": true, "updateEpoch": true}

// dottedMembers are the objects whose members AEP names with a dot.
var dottedMembers = map[string]bool{"identityGraph": true, "attributeMerge": true, "schema": true}

// boolMembers take "true" and "false" strings for booleans.
var boolMembers = map[string]bool{"/default": true, "/isActiveOnEdge": true}

// ParsePolicyPatch reads the body of PATCH .../mergePolicies/{id}: one
// operation object, as AEP documents it, or an RFC 6902 array of them. Paths
// are rewritten to JSON Pointers ("/identityGraph.type" →
// "/identityGraph/type") and "true"/"false" strings for /default and
// /isActiveOnEdge become booleans. Errors are Invalid MERGE-POLICY-PATCH:
// a body that is neither, no operations, a path outside name,
// identityGraph, attributeMerge, schema, default and isActiveOnEdge, or an
// operation other than test on id, version or updateEpoch.
func ParsePolicyPatch(body []byte) ([]xdm.PatchOp, error) {
	if !utf8.Valid(body) {
		return nil, fault.E(fault.Invalid, "MERGE-POLICY-PATCH", "the patch is not valid UTF-8")
	}
	var ops []xdm.PatchOp
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := decodeStrict(trimmed, &ops); err != nil {
			return nil, err
		}
	case len(trimmed) > 0 && trimmed[0] == '{':
		var op xdm.PatchOp
		if err := decodeStrict(trimmed, &op); err != nil {
			return nil, err
		}
		ops = []xdm.PatchOp{op}
	default:
		return nil, fault.E(fault.Invalid, "MERGE-POLICY-PATCH", `the patch must be an operation object ({"op":"add","path":"/default","value":true}) or an array of them (RFC 6902)`)
	}
	if len(ops) == 0 {
		return nil, fault.E(fault.Invalid, "MERGE-POLICY-PATCH", "the patch has no operations")
	}
	for i := range ops {
		op := &ops[i]
		var err error
		if op.Path, err = policyPointer(op.Path, op.Op == "test"); err != nil {
			return nil, fault.Errorf(fault.Invalid, "MERGE-POLICY-PATCH", "patch operation %d (%.20s %.100s): %v", i, op.Op, op.Path, err)
		}
		if op.Op == "move" || op.Op == "copy" {
			if op.From, err = policyPointer(op.From, op.Op == "copy"); err != nil {
				return nil, fault.Errorf(fault.Invalid, "MERGE-POLICY-PATCH", "patch operation %d (%.20s from %.100s): %v", i, op.Op, op.From, err)
			}
		}
		if boolMembers[op.Path] && len(op.Value) > 0 {
			if v, ok := parseBool(op.Value); ok {
				op.Value = json.RawMessage(map[bool]string{true: "true", false: "false"}[v])
			}
		}
	}
	return ops, nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fault.Wrap(err, fault.Invalid, "MERGE-POLICY-PATCH", "the patch is not a JSON Patch: operations have op, path, from and value only")
	}
	if _, err := dec.Token(); err != io.EOF {
		return fault.E(fault.Invalid, "MERGE-POLICY-PATCH", "the patch has data after the JSON value")
	}
	return nil
}

// policyPointer rewrites AEP's dotted path to a JSON Pointer and checks that
// it names a member a PATCH may change (or, when readable, also one it may
// only test or copy).
func policyPointer(path string, readable bool) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", errors.New("path must start with / and name a member of the policy")
	}
	first, rest, hasRest := strings.Cut(path[1:], "/")
	root := first
	if r, _, ok := strings.Cut(first, "."); ok && dottedMembers[r] {
		root, first = r, strings.ReplaceAll(first, ".", "/")
	}
	switch {
	case policyMembers[root]:
	case readOnlyMembers[root] && readable:
	case readOnlyMembers[root]:
		return "", errors.New("id, version and updateEpoch are set by Mosaic; a patch may only test them")
	default:
		return "", errors.New("a merge policy patch may change /name, /identityGraph, /attributeMerge, /schema, /default and /isActiveOnEdge only")
	}
	if hasRest {
		return "/" + first + "/" + rest, nil
	}
	return "/" + first, nil
}

// PatchPolicy applies ops (from ParsePolicyPatch) to p and returns the
// changed policy; ReplacePolicy then checks it and sets its version. A
// failing operation, a test that does not hold among them, fails the whole
// patch (Invalid MERGE-POLICY-PATCH, naming the operation).
func PatchPolicy(p Policy, ops []xdm.PatchOp) (Policy, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return Policy{}, fault.Wrap(err, fault.Internal, "MERGE-POLICY-ENCODE", "merge policy could not be encoded")
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return Policy{}, fault.Wrap(err, fault.Internal, "MERGE-POLICY-ENCODE", "merge policy could not be decoded")
	}
	patched, err := xdm.ApplyPatch(doc, ops)
	if err != nil {
		_, msg := fault.Public(err)
		return Policy{}, fault.Wrap(err, fault.Invalid, "MERGE-POLICY-PATCH", msg)
	}
	if b, err = json.Marshal(patched); err != nil {
		return Policy{}, fault.Wrap(err, fault.Internal, "MERGE-POLICY-ENCODE", "patched merge policy could not be encoded")
	}
	var out Policy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return Policy{}, fault.Wrap(err, fault.Invalid, "MERGE-POLICY-PATCH", "the patched policy is not a merge policy: name and the types are strings, order an array of dataset ids, default and isActiveOnEdge booleans, and no other members")
	}
	out.ID, out.Version, out.UpdateEpoch = p.ID, p.Version, p.UpdateEpoch
	return out, nil
}
