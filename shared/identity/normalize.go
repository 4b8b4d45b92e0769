package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// MaxValueLength is the longest identity value accepted (PRODUCT §5).
const MaxValueLength = 1024

// Stable codes of refused identities.
const (
	CodeUnknownNamespace = "IDENTITY-UNKNOWN-NAMESPACE"
	CodeEmptyValue       = "IDENTITY-VALUE-EMPTY"
	CodeBlockedValue     = "IDENTITY-VALUE-BLOCKED"
	CodeValueTooLong     = "IDENTITY-VALUE-TOO-LONG"
	CodeValueEncoding    = "IDENTITY-VALUE-ENCODING"
	CodeValueFormat      = "IDENTITY-VALUE-FORMAT"
	CodeValueType        = "IDENTITY-VALUE-TYPE"
	CodeNoPrimary        = "IDENTITY-NO-PRIMARY"
	CodeTooMany          = "IDENTITY-TOO-MANY"
	CodeBadKey           = "IDENTITY-KEY"
)

// ID is a normalised identity: a namespace's canonical code and a value
// normalised for that namespace. Two IDs are the same node of the graph
// exactly when they are equal.
type ID struct {
	Namespace string
	Value     string
}

// Key is the ID's storage form, "<NS>#<value>": the partition key of its
// node in the profile table.
func (id ID) Key() string { return id.Namespace + "#" + id.Value }

// String is the key form; it holds the value, so never log it.
func (id ID) String() string { return id.Key() }

// ParseKey is the inverse of Key. Namespace codes never hold '#', so the
// first '#' separates the two parts.
func ParseKey(key string) (ID, error) {
	ns, v, ok := strings.Cut(key, "#")
	if !ok || ns == "" || v == "" {
		return ID{}, fault.E(fault.Invalid, CodeBadKey, "identity key is not of the form <namespace>#<value>")
	}
	return ID{Namespace: ns, Value: v}, nil
}

// blocked are values that AEP refuses as identities (compared
// case-insensitively).
var blocked = [...]string{"null", "anonymous", "invalid", "undefined"}

func isBlocked(v string) bool {
	if len(v) > len("undefined") {
		return false
	}
	for _, b := range blocked {
		if strings.EqualFold(v, b) {
			return true
		}
	}
	return false
}

// Normalize turns a standard namespace code (any case) and a raw value into
// an ID, or refuses it with a stable code. Messages never echo the value.
func Normalize(namespace, value string) (ID, error) {
	return NormalizeIn(namespace, value, nil)
}

// NormalizeIn is Normalize among the standard namespaces and the tenant's
// custom ones.
func NormalizeIn(namespace, value string, custom []Namespace) (ID, error) {
	ns, ok := Lookup(strings.TrimSpace(namespace), custom)
	if !ok {
		return ID{}, unknownNamespace(namespace)
	}
	return NormalizeValue(ns, value)
}

// unknownNamespace names the code (a namespace code is not personal data),
// cut short so that a hostile key cannot flood the error.
func unknownNamespace(code string) error {
	if len(code) > 64 {
		code = code[:64] + "…"
	}
	return fault.Errorf(fault.Invalid, CodeUnknownNamespace, "identity namespace %q is neither a standard nor a custom namespace of this organization", code)
}

// NormalizeValue normalises a value of a known namespace (PRODUCT §5):
// values that are empty, whitespace, a placeholder (null, anonymous,
// invalid, undefined) or over MaxValueLength characters are refused; emails
// are trimmed and lower-cased, phones lose spaces and punctuation, an ECID
// must be exactly 38 digits.
func NormalizeValue(ns Namespace, value string) (ID, error) {
	if !utf8.ValidString(value) {
		return ID{}, fault.Errorf(fault.Invalid, CodeValueEncoding, "%s identity value is not valid UTF-8", ns.Code)
	}
	v := strings.TrimSpace(value)
	switch {
	case v == "":
		return ID{}, fault.Errorf(fault.Invalid, CodeEmptyValue, "%s identity value is empty", ns.Code)
	case len(v) > MaxValueLength && utf8.RuneCountInString(v) > MaxValueLength:
		return ID{}, fault.Errorf(fault.Invalid, CodeValueTooLong, "%s identity value is over %d characters", ns.Code, MaxValueLength)
	case isBlocked(v):
		return ID{}, fault.Errorf(fault.Invalid, CodeBlockedValue, "%s identity value is a placeholder (null, anonymous, invalid, undefined)", ns.Code)
	}
	switch ns.Code {
	case "Email", "Email_LC_SHA256", "Phone_SHA256":
		v = lower(v)
	case "Phone", "Phone_E.164":
		v = normalizePhone(v)
		if v == "" || v == "+" {
			return ID{}, fault.Errorf(fault.Invalid, CodeValueFormat, "%s identity value has no digits", ns.Code)
		}
	case "ECID":
		if len(v) != 38 || strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			return ID{}, fault.E(fault.Invalid, CodeValueFormat, "ECID identity value must be exactly 38 digits")
		}
	}
	return ID{Namespace: ns.Code, Value: v}, nil
}

// lower is strings.ToLower without its allocation when v is already lower
// case, the common case for emails.
func lower(v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.ToLower(v)
		}
	}
	return v
}

// normalizePhone drops spaces and punctuation, keeping a leading '+'.
func normalizePhone(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for i, r := range v {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case unicode.IsSpace(r), unicode.IsPunct(r), unicode.IsSymbol(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
