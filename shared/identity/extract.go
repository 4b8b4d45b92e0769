package identity

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// MaxPerRecord is how many identities are read from one record (docs/rules.md#limits).
const MaxPerRecord = 20

// Field is a record field marked as an identity by a descriptor.
type Field struct {
	// Path is a JSON pointer into the record, e.g. "/personalEmail/address".
	Path      string
	Namespace string
	Primary   bool
}

// Identity is one identity found in a record.
type Identity struct {
	ID                 ID
	Primary            bool
	AuthenticatedState string
	// Type is the identity type of the namespace (TypeEmail, TypeCookie …);
	// it decides whether the identity links (Linkable).
	Type string
}

// Warning is a problem that did not refuse the record: an identity
// dropped, or identities over the per-record limit.
type Warning struct {
	Code    string
	Message string
}

// Extracted is what Extract found in a record: distinct identities, the
// primary first.
type Extracted struct {
	Identities []Identity
	Warnings   []Warning
}

// Primary is the record's primary identity.
func (e Extracted) Primary() ID { return e.Identities[0].ID }

// Extract reads the identities of a record from its descriptor fields and
// its identityMap, normalised and de-duplicated, the primary first.
// Namespaces are matched case-insensitively among the standard ones and
// custom, the tenant's own.
//
// The primary is the descriptor field marked primary, else the identityMap
// entry with primary:true; a record with neither, whose primary value is
// refused, or that names an unknown namespace is refused with a stable
// code (CodeNoPrimary, the value's code, CodeUnknownNamespace). Other
// refused values are dropped with a warning, as are identities past
// MaxPerRecord.
func Extract(record map[string]any, fields []Field, custom []Namespace) (Extracted, error) {
	x := extractor{out: Extracted{Identities: make([]Identity, 0, 4)}}

	descriptorPrimary := false
	for _, f := range fields {
		v, ok := Pointer(record, f.Path)
		if !ok || v == nil {
			continue
		}
		if f.Primary {
			descriptorPrimary = true
		}
		ns, ok := Lookup(f.Namespace, custom)
		if !ok {
			return Extracted{}, unknownNamespace(f.Namespace)
		}
		s, ok := scalarString(v)
		if !ok {
			x.refuse(fault.Errorf(fault.Invalid, CodeValueType, "identity field %s is not a string", f.Path), f.Primary)
			continue
		}
		x.add(ns, s, f.Primary, "")
	}

	if raw, ok := record["identityMap"]; ok && raw != nil {
		im, ok := raw.(map[string]any)
		if !ok {
			return Extracted{}, fault.E(fault.Invalid, CodeValueType, "identityMap must be an object of namespace codes")
		}
		codes := make([]string, 0, len(im))
		for c := range im {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for _, code := range codes {
			ns, ok := Lookup(strings.TrimSpace(code), custom)
			if !ok {
				return Extracted{}, unknownNamespace(code)
			}
			entries, ok := im[code].([]any)
			if !ok {
				x.refuse(fault.Errorf(fault.Invalid, CodeValueType, "identityMap %s entries must be an array", ns.Code), false)
				continue
			}
			for _, e := range entries {
				m, ok := e.(map[string]any)
				if !ok {
					x.refuse(fault.Errorf(fault.Invalid, CodeValueType, "identityMap %s entry must be an object", ns.Code), false)
					continue
				}
				// A descriptor primary outranks identityMap's flag.
				primary := m["primary"] == true && !descriptorPrimary
				s, ok := m["id"].(string)
				if !ok {
					x.refuse(fault.Errorf(fault.Invalid, CodeValueType, "identityMap %s entry id must be a string", ns.Code), primary)
					continue
				}
				state, _ := m["authenticatedState"].(string)
				x.add(ns, s, primary, state)
			}
		}
	}
	return x.finish()
}

type extractor struct {
	out        Extracted
	primaryErr error
}

func (x *extractor) add(ns Namespace, value string, primary bool, state string) {
	id, err := NormalizeValue(ns, value)
	if err != nil {
		x.refuse(err, primary)
		return
	}
	// Records hold a handful of identities: a scan beats a map.
	for i := range x.out.Identities {
		if x.out.Identities[i].ID == id {
			if primary {
				x.out.Identities[i].Primary = true
			}
			return
		}
	}
	x.out.Identities = append(x.out.Identities, Identity{ID: id, Primary: primary, AuthenticatedState: state, Type: ns.IDType})
}

func (x *extractor) refuse(err error, primary bool) {
	if primary && x.primaryErr == nil {
		x.primaryErr = err
	}
	fe := fault.As(err)
	x.out.Warnings = append(x.out.Warnings, Warning{Code: fe.Code, Message: fe.Message})
}

func (x *extractor) finish() (Extracted, error) {
	if x.primaryErr != nil {
		return Extracted{}, x.primaryErr
	}
	out := x.out
	p := -1
	for i, id := range out.Identities {
		if id.Primary {
			if p >= 0 {
				// Several primaries (e.g. two identityMap entries flagged):
				// the first in deterministic order wins.
				out.Identities[i].Primary = false
				continue
			}
			p = i
		}
	}
	if p < 0 {
		return Extracted{}, fault.E(fault.Invalid, CodeNoPrimary, "record has no primary identity: mark a descriptor field xdm:isPrimary or an identityMap entry primary:true")
	}
	if p > 0 {
		prim := out.Identities[p]
		copy(out.Identities[1:p+1], out.Identities[:p])
		out.Identities[0] = prim
	}
	if len(out.Identities) > MaxPerRecord {
		out.Warnings = append(out.Warnings, Warning{Code: CodeTooMany,
			Message: "record has " + strconv.Itoa(len(out.Identities)) + " identities; only the first " + strconv.Itoa(MaxPerRecord) + " are used"})
		out.Identities = out.Identities[:MaxPerRecord]
	}
	return out, nil
}

func scalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	}
	return "", false
}

// Pointer resolves a JSON pointer (RFC 6901) in a decoded JSON value.
func Pointer(doc any, ptr string) (any, bool) {
	if ptr == "" {
		return doc, true
	}
	if ptr[0] != '/' {
		return nil, false
	}
	cur := doc
	rest := ptr[1:]
	for {
		tok, next, more := strings.Cut(rest, "/")
		if strings.IndexByte(tok, '~') >= 0 {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		}
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
		if !more {
			return cur, true
		}
		rest = next
	}
}

// IsRefused reports whether err is an identity refusal (an invalid input,
// not a failure of Mosaic).
func IsRefused(err error) bool {
	var fe *fault.Error
	return errors.As(err, &fe) && fe.Kind == fault.Invalid
}

// TrimFields trims white space around the string values of the descriptor
// identity fields of record, in place, and reports whether it changed any.
// It runs before validation, so that a value's format is checked as it
// will be normalised: a descriptor field then passes or fails exactly as
// the same value in identityMap would (NormalizeValue trims both).
func TrimFields(record map[string]any, fields []Field) bool {
	changed := false
	for _, f := range fields {
		i := strings.LastIndexByte(f.Path, '/')
		if i < 0 {
			continue
		}
		parent, ok := Pointer(record, f.Path[:i])
		if !ok {
			continue
		}
		obj, ok := parent.(map[string]any)
		if !ok {
			continue
		}
		key := f.Path[i+1:]
		if strings.IndexByte(key, '~') >= 0 {
			key = strings.ReplaceAll(strings.ReplaceAll(key, "~1", "/"), "~0", "~")
		}
		s, ok := obj[key].(string)
		if !ok {
			continue
		}
		if t := strings.TrimSpace(s); len(t) != len(s) {
			obj[key] = t
			changed = true
		}
	}
	return changed
}
