package xdm

// CompilePartial compiles the validator of partial rows of a resolved
// schema: the rows of an upsert dataset and the streamed merges and
// deletes, each of which changes only the attributes it holds (JSON Merge
// Patch, RFC 7386). It is Compile with no field required: every
// "required" of an object reached from the root through properties and
// map values (additionalProperties) is removed, and no descriptor field is
// made required. Everything else is as Compile: the same coercion, the
// same types, formats, enums, constraints and XDM-UNKNOWN-FIELD refusals,
// with the same codes and messages.
//
// Array elements keep their required fields: a patch replaces an array
// whole (RFC 7386 §2), so each element is a whole value (an identityMap
// entry still needs its id). Required fields under combinators (allOf,
// anyOf, oneOf, not, if/then/else) are kept too, since removing them there
// would change which branch matches.
//
// A partial row holds no nulls when validated: nulls are removals, which
// the caller takes out first (coercion would drop them silently).
func CompilePartial(res *Resolved) (*Validator, error) {
	js, _ := deepCopy(res.JSON).(map[string]any)
	unrequire(js)
	return compile(js, res.Class)
}

// unrequire removes, in place, the "required" keyword of the object schema
// sch and of every object schema below it through properties and
// additionalProperties.
func unrequire(sch map[string]any) {
	if sch == nil {
		return
	}
	switch sch["required"].(type) {
	case []any, []string: // a list of field names
		delete(sch, "required")
	}
	if props, ok := sch["properties"].(map[string]any); ok {
		for _, p := range props {
			if m, ok := p.(map[string]any); ok {
				unrequire(m)
			}
		}
	}
	if m, ok := sch["additionalProperties"].(map[string]any); ok {
		unrequire(m)
	}
}
