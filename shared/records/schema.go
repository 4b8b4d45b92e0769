package records

// SchemaFunc adapts a function to Schema; catalog.IngestSpec.FieldType is
// one: records.SchemaFunc(spec.FieldType).
type SchemaFunc func(path string) (string, bool)

// FieldType calls f; a nil SchemaFunc knows no field.
func (f SchemaFunc) FieldType(path string) (string, bool) {
	if f == nil {
		return "", false
	}
	return f(path)
}
