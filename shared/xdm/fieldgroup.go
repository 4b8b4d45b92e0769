package xdm

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// FieldGroup is a tenant field group in AEP's resource format. Its fields
// sit under TenantObject; it extends the classes in IntendedToExtend.
type FieldGroup struct {
	Meta
	Title            string         `json:"title"`
	Type             string         `json:"type"`
	Description      string         `json:"description,omitempty"`
	Abstract         bool           `json:"meta:abstract"`
	Extensible       bool           `json:"meta:extensible"`
	ContainerID      string         `json:"meta:containerId"`
	IntendedToExtend []string       `json:"meta:intendedToExtend"`
	Definitions      map[string]any `json:"definitions"`
	AllOf            []Ref          `json:"allOf"`
	Tenancy
	RegistryMetadata RegistryMetadata `json:"meta:registryMetadata"`
}

// FieldGroupInput is the body of POST and PUT /tenant/fieldgroups.
type FieldGroupInput struct {
	Title            string         `json:"title"`
	Description      string         `json:"description,omitempty"`
	Type             string         `json:"type"`
	IntendedToExtend []string       `json:"meta:intendedToExtend"`
	Definitions      map[string]any `json:"definitions"`
	AllOf            []Ref          `json:"allOf"`
	Schema           string         `json:"$schema,omitempty"`
}

// Resource is the field group as a resolvable resource.
func (g FieldGroup) Resource() Resource {
	return Resource{
		Meta:  Meta{ID: g.ID, AltID: g.AltID, ResourceType: ResourceFieldGroups, Version: g.Version},
		Title: g.Title, Type: g.Type, Description: g.Description, Abstract: true, Extensible: true, ContainerID: ContainerTenant,
		IntendedToExtend: g.IntendedToExtend, Definitions: g.Definitions, AllOf: g.AllOf,
	}
}

// NewFieldGroup builds a tenant field group from a create request.
func NewFieldGroup(in FieldGroupInput, sandbox string, now time.Time) (FieldGroup, error) {
	id := nsPrefix + TenantID + "/mixins/" + newHash()
	ms := now.UnixMilli()
	g := FieldGroup{
		Meta:     Meta{ID: id, AltID: AltID(id), ResourceType: ResourceFieldGroups, Version: "1.0"},
		Abstract: true, Extensible: true, ContainerID: ContainerTenant,
		Tenancy:          newTenancy(sandbox),
		RegistryMetadata: RegistryMetadata{CreatedDate: ms, LastModifiedDate: ms, CreatedClientID: "mosaic", LastModifiedClient: "mosaic"},
	}
	g.setInput(in)
	if err := g.check(); err != nil {
		return FieldGroup{}, err
	}
	g.RegistryMetadata.ETag = etagOf(g)
	return g, nil
}

func (g *FieldGroup) setInput(in FieldGroupInput) {
	g.Title, g.Description, g.Type = in.Title, in.Description, in.Type
	g.IntendedToExtend, g.Definitions, g.AllOf = in.IntendedToExtend, in.Definitions, in.AllOf
}

// Replace is PUT: the editable parts of the group replaced, the version
// bumped. Evolution rules are the caller's (they depend on the schemas
// using the group).
func (g FieldGroup) Replace(in FieldGroupInput, now time.Time) (FieldGroup, error) {
	n := g
	n.setInput(in)
	return n.updated(g, now)
}

// Patch applies a JSON Patch to the field group; read-only members cannot
// change.
func (g FieldGroup) Patch(ops []PatchOp, now time.Time) (FieldGroup, error) {
	var n FieldGroup
	if err := patchInto(g, ops, &n); err != nil {
		return FieldGroup{}, err
	}
	if err := checkReadOnly(g, n, ReadOnly); err != nil {
		return FieldGroup{}, err
	}
	return n.updated(g, now)
}

func (n FieldGroup) updated(prev FieldGroup, now time.Time) (FieldGroup, error) {
	if err := n.check(); err != nil {
		return FieldGroup{}, err
	}
	n.Version = bumpMinor(prev.Version)
	n.RegistryMetadata.LastModifiedDate = now.UnixMilli()
	n.RegistryMetadata.LastModifiedClient = "mosaic"
	n.RegistryMetadata.ETag = ""
	n.RegistryMetadata.ETag = etagOf(n)
	return n, nil
}

// check enforces AEP's rules for tenant field groups: a title, type
// object, meta:intendedToExtend naming known classes, an allOf of local
// definitions, every field under the tenant object, and field schemas that
// resolve and compile.
func (g FieldGroup) check() error {
	if strings.TrimSpace(g.Title) == "" {
		return fault.E(fault.Invalid, "XDM-TITLE", "title is required")
	}
	if g.Type != "object" {
		return fault.E(fault.Invalid, "XDM-TYPE-OBJECT", `type must be "object"`)
	}
	if len(g.IntendedToExtend) == 0 {
		return fault.E(fault.Invalid, "XDM-INTENDED", "meta:intendedToExtend is required: list the $ids of the classes the field group extends")
	}
	for _, c := range g.IntendedToExtend {
		if _, ok := LookupClass(c); !ok && c != RecordBehavior && c != TimeSeriesBehavior {
			return fault.Errorf(fault.Invalid, "XDM-INTENDED", "meta:intendedToExtend names %q, which is not a known class", c)
		}
	}
	if len(g.AllOf) == 0 {
		return fault.E(fault.Invalid, "XDM-REF", `allOf is required: [{"$ref": "#/definitions/<name>"}]`)
	}
	for _, r := range g.AllOf {
		name, ok := strings.CutPrefix(r.Ref, "#/definitions/")
		if !ok {
			return fault.Errorf(fault.Invalid, "XDM-REF", "allOf of a field group may only refer to its own definitions; %q does not", r.Ref)
		}
		def, _ := g.Definitions[name].(map[string]any)
		if def == nil {
			return fault.Errorf(fault.Invalid, "XDM-REF", "allOf refers to definition %q, which does not exist", name)
		}
		props, _ := def["properties"].(map[string]any)
		for k, v := range props {
			if k != TenantObject {
				return fault.Errorf(fault.Invalid, "XDM-TENANT-FIELD", "field /%s must sit under the tenant object %s (e.g. /%s/%s)", k, TenantObject, TenantObject, k)
			}
			m, _ := v.(map[string]any)
			if m == nil || m["type"] != "object" {
				return fault.Errorf(fault.Invalid, "XDM-TENANT-FIELD", "field /%s must be of type object", TenantObject)
			}
		}
	}
	res, err := resolveResources(ProfileClass, []Resource{g.Resource()})
	if err != nil {
		return err
	}
	if err := checkFields(res.JSON, ""); err != nil {
		return err
	}
	if _, err := Compile(res); err != nil {
		return fault.E(fault.Invalid, "XDM-COMPILE", "the field group's fields are not a valid JSON Schema")
	}
	return nil
}

var fieldTypes = []string{"string", "integer", "number", "boolean", "object", "array"}

// checkFields makes sure every field has a known type, arrays have items
// and objects are well formed, naming the first bad field.
func checkFields(sch map[string]any, at string) error {
	props, _ := sch["properties"].(map[string]any)
	for k, v := range props {
		p := at + "/" + k
		fs, _ := v.(map[string]any)
		if fs == nil {
			return fault.Errorf(fault.Invalid, "XDM-FIELD", "field %s must be an object", p)
		}
		if err := checkField(fs, p); err != nil {
			return err
		}
	}
	return nil
}

func checkField(fs map[string]any, p string) error {
	t, _ := fs["type"].(string)
	if !slices.Contains(fieldTypes, t) {
		return fault.Errorf(fault.Invalid, "XDM-FIELD", "field %s needs a type: one of %s", p, strings.Join(fieldTypes, ", "))
	}
	switch t {
	case "array":
		items, _ := fs["items"].(map[string]any)
		if items == nil {
			return fault.Errorf(fault.Invalid, "XDM-FIELD", "array field %s needs items", p)
		}
		return checkField(items, p+"/items")
	case "object":
		if addl, ok := fs["additionalProperties"].(map[string]any); ok {
			if err := checkField(addl, p+"/additionalProperties"); err != nil {
				return err
			}
		}
		return checkFields(fs, p)
	}
	return nil
}

// patchInto applies ops to v's JSON form and decodes the result strictly
// into out.
func patchInto(v any, ops []PatchOp, out any) error {
	doc, err := toDoc(v)
	if err != nil {
		return err
	}
	patched, err := ApplyPatch(doc, ops)
	if err != nil {
		return err
	}
	b, err := json.Marshal(patched)
	if err != nil {
		return fault.Wrap(err, fault.Internal, "XDM-PATCH", "patch result could not be encoded")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fault.Wrap(err, fault.Invalid, "XDM-PATCH", "patch result is not a valid resource (unknown field or wrong type)")
	}
	return nil
}

func etagOf(v any) string {
	b, _ := json.Marshal(v)
	return shortHash(b)
}
