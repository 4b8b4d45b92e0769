package identity

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// MaxPerRecord is how many identities are read from one record (PRODUCT §6).
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
// its identityMap, normalised and de-duplicated, the primary first. The
// primary is the descriptor field marked primary, else the identityMap entry
// with primary:true; a record with neither, or whose primary is refused, is
// refused with a stable code. Other refused identities are dropped with a
// warning, as are those past MaxPerRecord.
func Extract(record map[string]any, fields []Field) (Extracted, error) {
	var (
		out        Extracted
		seen       = map[ID]int{}
		primaryErr error
	)
	add := func(id ID, primary bool, state string) {
		if i, ok := seen[id]; ok {
			if primary {
				out.Identities[i].Primary = true
			}
			return
		}
		seen[id] = len(out.Identities)
		out.Identities = append(out.Identities, Identity{ID: id, Primary: primary, AuthenticatedState: state})
	}
	refuse := func(err error, primary bool) {
		if primary && primaryErr == nil {
			primaryErr = err
		}
		fe := fault.As(err)
		out.Warnings = append(out.Warnings, Warning{Code: fe.Code, Message: fe.Message})
	}

	descriptorPrimary := false
	for _, f := range fields {
		v, ok := Pointer(record, f.Path)
		if !ok || v == nil {
			continue
		}
		if f.Primary {
			descriptorPrimary = true
		}
		s, ok := scalarString(v)
		if !ok {
			refuse(fault.Errorf(fault.Invalid, CodeValueType, "identity field %s is not a string", f.Path), f.Primary)
			continue
		}
		id, err := Normalize(f.Namespace, s)
		if err != nil {
			refuse(err, f.Primary)
			continue
		}
		add(id, f.Primary, "")
	}

	if im, ok := record["identityMap"].(map[string]any); ok {
		codes := make([]string, 0, len(im))
		for c := range im {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for _, code := range codes {
			entries, ok := im[code].([]any)
			if !ok {
				refuse(fault.E(fault.Invalid, CodeValueType, "identityMap entries must be an array"), false)
				continue
			}
			for _, e := range entries {
				m, ok := e.(map[string]any)
				if !ok {
					refuse(fault.E(fault.Invalid, CodeValueType, "identityMap entry must be an object"), false)
					continue
				}
				// A descriptor primary outranks identityMap's flag.
				primary := m["primary"] == true && !descriptorPrimary
				s, ok := m["id"].(string)
				if !ok {
					refuse(fault.E(fault.Invalid, CodeValueType, "identityMap entry id must be a string"), primary)
					continue
				}
				state, _ := m["authenticatedState"].(string)
				id, err := Normalize(code, s)
				if err != nil {
					refuse(err, primary)
					continue
				}
				add(id, primary, state)
			}
		}
	}

	if primaryErr != nil {
		return Extracted{}, primaryErr
	}
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
		return Extracted{}, fault.E(fault.Invalid, CodeNoPrimary, "record has no primary identity (descriptor or identityMap primary:true)")
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
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
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
	}
	return cur, true
}

// IsRefused reports whether err is an identity refusal (an invalid input,
// not a failure of Mosaic).
func IsRefused(err error) bool {
	var fe *fault.Error
	return errors.As(err, &fe) && fe.Kind == fault.Invalid
}
