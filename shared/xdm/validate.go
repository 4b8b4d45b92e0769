package xdm

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// MaxViolations is the most violations reported for one row.
const MaxViolations = 5

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
)

// Validator validates rows against one compiled schema. It is safe for
// concurrent use.
type Validator struct {
	schema *jsonschema.Schema
}

// Compile compiles a resolved schema. The fields at required (descriptor
// paths such as "/personalEmail/address", e.g. the primary identity) are
// made required, with their parents, as AEP does for identity fields.
func Compile(res *Resolved, required ...string) (*Validator, error) {
	js := res.JSON
	for _, p := range required {
		js = withRequired(js, p)
	}
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
	return &Validator{schema: sch}, nil
}

// Validate checks one decoded row (as encoding/json decodes into
// map[string]any) and returns at most MaxViolations violations, ordered by
// pointer. Messages never hold row values.
func (v *Validator) Validate(row map[string]any) []Violation {
	err := v.schema.Validate(row)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Violation{{Code: CodeInvalid, Message: "row could not be validated"}}
	}
	var out []Violation
	collect(ve, &out)
	if len(out) == 0 {
		out = []Violation{{Pointer: pointer(ve.InstanceLocation), Code: CodeInvalid, Message: "does not match the schema"}}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Pointer != out[j].Pointer {
			return out[i].Pointer < out[j].Pointer
		}
		return out[i].Code < out[j].Code
	})
	out = dedupeViolations(out)
	if len(out) > MaxViolations {
		out = out[:MaxViolations]
	}
	return out
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
