package xdm

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// MaxViolations is the most violations reported for one row.
const MaxViolations = 5

// Size bounds of a violation, in bytes, so that a row with a huge field
// name cannot make a huge failed record (DynamoDB items hold at most
// 400 KB: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
// A longer pointer or message is cut at a UTF-8 boundary and ends in "…".
const (
	MaxPointerBytes = 256
	MaxMessageBytes = 1024
)

// Violation is one reason a row does not fit its schema. It has the same
// shape as catalog.Violation (convert with catalog.Violation(v)); xdm keeps
// its own type so that it does not import the catalog.
type Violation struct {
	Pointer string `json:"pointer,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Violation codes.
const (
	CodeType     = "XDM-TYPE"
	CodeRequired = "XDM-REQUIRED"
	CodeFormat   = "XDM-FORMAT"
	CodeEnum     = "XDM-ENUM"
	CodePattern  = "XDM-PATTERN"
	CodeLength   = "XDM-LENGTH"
	CodeRange    = "XDM-RANGE"
	CodeInvalid  = "XDM-INVALID"
	// CodeUnknownField: the row has a field its schema does not define.
	CodeUnknownField = "XDM-UNKNOWN-FIELD"
	// CodeTimestampFuture: an experience event's timestamp is later than
	// now plus MaxClockSkew.
	CodeTimestampFuture = "XDM-TIMESTAMP-FUTURE"
)

// MaxClockSkew is how far in the future an event timestamp may be: AEP
// wants it in the past, and producers' clocks drift.
const MaxClockSkew = 5 * time.Minute

// Validator validates rows against one compiled schema. It is safe for
// concurrent use.
type Validator struct {
	schema *jsonschema.Schema
	root   map[string]any
	fast   *node // the typed tree of the fast walk (fastpath.go)
	event  bool
	// Now is the clock of the event timestamp check; nil means time.Now.
	// Set it before first use.
	Now func() time.Time
}

// Compile compiles a resolved schema. The fields at required (descriptor
// paths such as "/personalEmail/address", e.g. the primary identity) are
// made required, with their parents, as AEP does for identity fields.
func Compile(res *Resolved, required ...string) (*Validator, error) {
	js := res.JSON
	for _, p := range required {
		js = withRequired(js, p)
	}
	return compile(js, res.Class)
}

// compile compiles the JSON Schema js of a schema of class.
func compile(js map[string]any, class string) (*Validator, error) {
	doc, err := toDoc(js) // numbers as the compiler expects them
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const loc = "mosaic:///schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "XDM-COMPILE", "schema does not compile")
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "XDM-COMPILE", "schema does not compile")
	}
	return &Validator{schema: sch, root: js, fast: compileNode(js, sch), event: class == EventClass}, nil
}

// Validate coerces one decoded row in place (see Coerce: nulls and empty
// strings dropped, strings read as numbers, booleans and dates where the
// schema wants them) and checks it: types, formats, enums, constraints,
// required fields, fields the schema does not define, and for experience
// events a timestamp not in the future. It returns at most MaxViolations
// violations, ordered by pointer, or nil. Messages never hold row values.
// Validating a row a second time gives the same answer.
func (v *Validator) Validate(row map[string]any) []Violation {
	vs, _ := v.ValidateRow(row)
	return vs
}

// ValidateRow is Validate that also reports whether coercion changed the
// row, so that a caller may store the bytes it received when they already
// are the coerced row, and encode the row again only when not.
func (v *Validator) ValidateRow(row map[string]any) (vs []Violation, changed bool) {
	if !v.fast.walk(row, &changed) {
		// A violation or something the walk does not model: the
		// reference path decides and names the violations.
		vs := v.validateLibrary(row, &changed)
		return vs, changed
	}
	if vi, ok := v.futureTimestamp(row); ok {
		return []Violation{vi}, changed
	}
	return nil, changed
}

// validateLibrary is Validate by the reference path: the coercion pass,
// then the library over the whole row. Validate must always answer as it
// does; the differential tests hold it to that.
func (v *Validator) validateLibrary(row map[string]any, changed *bool) []Violation {
	var out []Violation
	coerceObject(row, v.root, nil, &out, changed)
	if err := v.schema.Validate(row); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return []Violation{{Code: CodeInvalid, Message: "row could not be validated"}}
		}
		n := len(out)
		collect(ve, &out)
		if len(out) == n {
			out = append(out, Violation{Pointer: pointer(ve.InstanceLocation), Code: CodeInvalid, Message: "does not match the schema"})
		}
	}
	if vi, ok := v.futureTimestamp(row); ok {
		out = append(out, vi)
	}
	if len(out) == 0 {
		return nil
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Pointer != out[j].Pointer {
			return out[i].Pointer < out[j].Pointer
		}
		if out[i].Code != out[j].Code {
			return out[i].Code < out[j].Code
		}
		return out[i].Message < out[j].Message
	})
	out = dedupeViolations(out)
	if len(out) > MaxViolations {
		out = out[:MaxViolations]
	}
	for i := range out {
		out[i].Pointer = Truncate(out[i].Pointer, MaxPointerBytes)
		out[i].Message = Truncate(out[i].Message, MaxMessageBytes)
	}
	return out
}

// Truncate cuts s to at most max bytes at a UTF-8 boundary; a cut string
// ends in "…" (counted in max).
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…"
	n := max - len(mark)
	if n < 0 {
		return s[:0]
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}

// futureTimestamp reports an experience event whose timestamp is later
// than now plus MaxClockSkew.
func (v *Validator) futureTimestamp(row map[string]any) (Violation, bool) {
	if !v.event {
		return Violation{}, false
	}
	ts, ok := row["timestamp"].(string)
	if !ok {
		return Violation{}, false
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil && t.After(now().Add(MaxClockSkew)) {
		return Violation{Pointer: "/timestamp", Code: CodeTimestampFuture, Message: "must not be in the future"}, true
	}
	return Violation{}, false
}

func dedupeViolations(vs []Violation) []Violation {
	out := vs[:0]
	for i, v := range vs {
		if i > 0 && v == vs[i-1] {
			continue
		}
		out = append(out, v)
	}
	return out
}

func collect(e *jsonschema.ValidationError, out *[]Violation) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, out)
		}
		return
	}
	at := pointer(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, Violation{Pointer: at + "/" + escapeToken(m), Code: CodeRequired, Message: "required field is missing"})
		}
	case *kind.Type:
		*out = append(*out, Violation{Pointer: at, Code: CodeType, Message: fmt.Sprintf("must be %s, got %s", strings.Join(k.Want, " or "), k.Got)})
	case *kind.Format:
		*out = append(*out, Violation{Pointer: at, Code: CodeFormat, Message: "must be a valid " + k.Want})
	case *kind.Enum:
		*out = append(*out, Violation{Pointer: at, Code: CodeEnum, Message: "must be one of the allowed values"})
	case *kind.Const:
		*out = append(*out, Violation{Pointer: at, Code: CodeEnum, Message: "must be the allowed constant value"})
	case *kind.Pattern:
		*out = append(*out, Violation{Pointer: at, Code: CodePattern, Message: "does not match the pattern " + k.Want})
	case *kind.MinLength:
		*out = append(*out, Violation{Pointer: at, Code: CodeLength, Message: fmt.Sprintf("must be at least %d characters long", k.Want)})
	case *kind.MaxLength:
		*out = append(*out, Violation{Pointer: at, Code: CodeLength, Message: fmt.Sprintf("must be at most %d characters long", k.Want)})
	case *kind.Minimum:
		*out = append(*out, Violation{Pointer: at, Code: CodeRange, Message: "must be at least " + k.Want.FloatString(0)})
	case *kind.Maximum:
		*out = append(*out, Violation{Pointer: at, Code: CodeRange, Message: "must be at most " + k.Want.FloatString(0)})
	case *kind.ExclusiveMinimum, *kind.ExclusiveMaximum, *kind.MultipleOf:
		*out = append(*out, Violation{Pointer: at, Code: CodeRange, Message: "is out of the allowed range"})
	case *kind.MinItems, *kind.MaxItems:
		*out = append(*out, Violation{Pointer: at, Code: CodeLength, Message: "has a number of items outside the allowed range"})
	case *kind.AdditionalProperties:
		*out = append(*out, Violation{Pointer: at, Code: CodeInvalid, Message: "has fields the schema does not define"})
	default:
		*out = append(*out, Violation{Pointer: at, Code: CodeInvalid, Message: "does not match the schema"})
	}
}

func pointer(loc []string) string {
	var b strings.Builder
	for _, t := range loc {
		b.WriteByte('/')
		b.WriteString(escapeToken(t))
	}
	return b.String()
}

func escapeToken(t string) string {
	return strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
}
