package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Size bounds of an identity, in UTF-8 bytes as DynamoDB counts them. A
// node's partition key is "<NS>#<value>", at most 64+1+1024 = 1,089 bytes,
// well inside DynamoDB's 2,048-byte partition key limit
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
const (
	// MaxValueBytes is the longest identity value accepted, after
	// trimming (docs/rules.md#limits: over 1,024 bytes is refused).
	MaxValueBytes = 1024
	// MaxNamespaceBytes is the longest namespace code: the limit of a
	// custom namespace code (NewCustom), applied to every namespace a
	// value is normalised in.
	MaxNamespaceBytes = 64
)

// Stable codes of refused identities.
const (
	CodeUnknownNamespace = "IDENTITY-UNKNOWN-NAMESPACE"
	CodeEmptyValue       = "IDENTITY-VALUE-EMPTY"
	CodeBlockedValue     = "IDENTITY-VALUE-BLOCKED"
	CodeValueTooLong     = "IDENTITY-VALUE-TOO-LONG"
	CodeNamespaceTooLong = "IDENTITY-NAMESPACE-TOO-LONG"
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
	if len(code) > MaxNamespaceBytes {
		// No namespace has a code this long: say what is wrong with it.
		return fault.Errorf(fault.Invalid, CodeNamespaceTooLong, "identity namespace %q is over %d bytes", shortCode(code), MaxNamespaceBytes)
	}
	return fault.Errorf(fault.Invalid, CodeUnknownNamespace, "identity namespace %q is neither a standard nor a custom namespace of this organization", shortCode(code))
}

// shortCode cuts a namespace code to MaxNamespaceBytes at a UTF-8 boundary,
// marking the cut with "…".
func shortCode(code string) string {
	if len(code) <= MaxNamespaceBytes {
		return code
	}
	n := MaxNamespaceBytes
	for n > 0 && !utf8.RuneStart(code[n]) {
		n--
	}
	return code[:n] + "…"
}

// NormalizeValue normalises a value of a known namespace
// (docs/rules.md#identities): the value is trimmed of white space first, whatever its
// source; values that are empty, a placeholder (null, anonymous, invalid,
// undefined) or over MaxValueBytes bytes are refused; emails (and the
// lower-case hashes) are lower-cased, phones lose spaces and punctuation,
// an ECID must be exactly 38 digits and is otherwise kept as it is; other
// namespaces keep the value's case. A namespace code over
// MaxNamespaceBytes is refused (CodeNamespaceTooLong), so that every key
// fits DynamoDB's partition key.
func NormalizeValue(ns Namespace, value string) (ID, error) {
	if len(ns.Code) > MaxNamespaceBytes {
		return ID{}, fault.Errorf(fault.Invalid, CodeNamespaceTooLong, "identity namespace %q is over %d bytes", shortCode(ns.Code), MaxNamespaceBytes)
	}
	if !utf8.ValidString(value) {
		return ID{}, fault.Errorf(fault.Invalid, CodeValueEncoding, "%s identity value is not valid UTF-8", ns.Code)
	}
	v := strings.TrimSpace(value)
	switch {
	case v == "":
		return ID{}, fault.Errorf(fault.Invalid, CodeEmptyValue, "%s identity value is empty", ns.Code)
	case len(v) > MaxValueBytes:
		return ID{}, fault.Errorf(fault.Invalid, CodeValueTooLong, "%s identity value is %d bytes, over the %d-byte limit", ns.Code, len(v), MaxValueBytes)
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
	if len(v) > MaxValueBytes { // lower-casing may lengthen a value
		return ID{}, fault.Errorf(fault.Invalid, CodeValueTooLong, "%s identity value is %d bytes, over the %d-byte limit", ns.Code, len(v), MaxValueBytes)
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
