package xdm

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// RegistryMetadata is AEP's meta:registryMetadata.
type RegistryMetadata struct {
	CreatedDate        int64  `json:"repo:createdDate"`
	LastModifiedDate   int64  `json:"repo:lastModifiedDate"`
	CreatedClientID    string `json:"xdm:createdClientId"`
	LastModifiedClient string `json:"xdm:lastModifiedClientId"`
	ETag               string `json:"eTag"`
}

// Schema is a tenant schema in AEP's resource format: one class and field
// groups composed by allOf.
type Schema struct {
	Meta
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Description string   `json:"description,omitempty"`
	AllOf       []Ref    `json:"allOf"`
	Class       string   `json:"meta:class"`
	Extends     []string `json:"meta:extends"`
	Abstract    bool     `json:"meta:abstract"`
	Extensible  bool     `json:"meta:extensible"`
	ContainerID string   `json:"meta:containerId"`
	Tenancy
	ImmutableTags    []string         `json:"meta:immutableTags,omitempty"`
	RegistryMetadata RegistryMetadata `json:"meta:registryMetadata"`
}

// ProfileEnabled reports whether the schema carries the union tag.
func (s Schema) ProfileEnabled() bool { return slices.Contains(s.ImmutableTags, UnionTag) }

// FieldGroups are the schema's field group ids, in allOf order.
func (s Schema) FieldGroups() []string {
	var out []string
	for _, r := range s.AllOf {
		if r.Ref != s.Class {
			out = append(out, r.Ref)
		}
	}
	return out
}

// MajorVersion is the major part of the version, AEP's xdm:sourceVersion.
func (s Schema) MajorVersion() int {
	major, _, _ := strings.Cut(s.Version, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 1
	}
	return n
}

// SchemaInput is the body of POST /tenant/schemas.
type SchemaInput struct {
	Title         string   `json:"title"`
	Description   string   `json:"description,omitempty"`
	Type          string   `json:"type"`
	AllOf         []Ref    `json:"allOf"`
	Class         string   `json:"meta:class,omitempty"`
	Extends       []string `json:"meta:extends,omitempty"`
	ImmutableTags []string `json:"meta:immutableTags,omitempty"`
	Schema        string   `json:"$schema,omitempty"`
}

// NewSchema builds a tenant schema from a create request, checking its
// composition: exactly one class, known field groups that are meant for
// that class, and fields that do not conflict. The caller still checks
// Profile enablement (CheckProfile) when the input asks for the union tag.
//
// tenant are the tenant field groups the schema may name.
func NewSchema(in SchemaInput, sandbox string, now time.Time, tenant ...FieldGroup) (Schema, error) {
	if strings.TrimSpace(in.Title) == "" {
		return Schema{}, fault.E(fault.Invalid, "XDM-TITLE", "title is required")
	}
	if in.Type != "object" {
		return Schema{}, fault.E(fault.Invalid, "XDM-TYPE-OBJECT", `type must be "object"`)
	}
	hash := newHash()
	id := nsPrefix + TenantID + "/schemas/" + hash
	ms := now.UnixMilli()
	s := Schema{
		Meta:          Meta{ID: id, AltID: AltID(id), ResourceType: ResourceSchemas, Version: "1.0"},
		Title:         in.Title,
		Type:          "object",
		Description:   in.Description,
		AllOf:         in.AllOf,
		Extends:       in.Extends,
		ContainerID:   ContainerTenant,
		Tenancy:       newTenancy(sandbox),
		ImmutableTags: in.ImmutableTags,
		RegistryMetadata: RegistryMetadata{
			CreatedDate: ms, LastModifiedDate: ms,
			CreatedClientID: "mosaic", LastModifiedClient: "mosaic",
		},
	}
	if err := s.normalize(tenant); err != nil {
		return Schema{}, err
	}
	if in.Class != "" && canonicalRef(in.Class) != s.Class {
		return Schema{}, fault.E(fault.Invalid, "XDM-CLASS", "meta:class does not match the class in allOf")
	}
	if err := checkTags(s.ImmutableTags); err != nil {
		return Schema{}, err
	}
	s.RegistryMetadata.ETag = s.etag()
	return s, nil
}

// normalize derives meta:class and meta:extends from the allOf (together
// with field groups named only in meta:extends, as AEP's two-op PATCH adds
// them to both) and checks the composition.
func (s *Schema) normalize(tenant []FieldGroup) error {
	var refs []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			refs = append(refs, id)
		}
	}
	for _, r := range s.AllOf {
		if r.Ref == "" {
			return fault.E(fault.Invalid, "XDM-REF", "every allOf entry needs a $ref")
		}
		add(canonicalRef(r.Ref))
	}
	for _, e := range s.Extends {
		if e == RecordBehavior || e == TimeSeriesBehavior {
			continue
		}
		add(canonicalRef(e))
	}
	class := ""
	var groups []string
	byGroup := map[string]Resource{}
	for _, id := range refs {
		r, ok := find(id, tenant)
		if !ok {
			return fault.Errorf(fault.Invalid, "XDM-UNKNOWN-REF", "allOf refers to %q, which is not a known class or field group", id)
		}
		switch r.ResourceType {
		case ResourceClasses:
			if class != "" {
				return fault.E(fault.Invalid, "XDM-CLASS", "a schema has exactly one class; allOf names two")
			}
			class = r.ID
		default:
			groups = append(groups, r.ID)
			byGroup[r.ID] = r
		}
	}
	if class == "" {
		return fault.E(fault.Invalid, "XDM-CLASS", "a schema needs exactly one class in allOf")
	}
	for _, g := range groups {
		r := byGroup[g]
		if len(r.IntendedToExtend) > 0 && !slices.Contains(r.IntendedToExtend, class) && !slices.Contains(r.IntendedToExtend, behaviorOf(class)) {
			return fault.Errorf(fault.Invalid, "XDM-FIELDGROUP-CLASS", "field group %q is not compatible with class %q", g, class)
		}
	}
	s.Class = class
	s.AllOf = []Ref{{Ref: class}}
	s.Extends = []string{class}
	if b := behaviorOf(class); b != "" {
		s.Extends = append(s.Extends, b)
	}
	for _, g := range groups {
		s.AllOf = append(s.AllOf, Ref{Ref: g})
		s.Extends = append(s.Extends, g)
	}
	// Resolving proves the field groups do not redefine a field with
	// another type.
	_, err := Resolve(*s, tenant...)
	return err
}

// canonicalRef accepts an altId where AEP clients send one.
func canonicalRef(ref string) string {
	if strings.HasPrefix(ref, "_") {
		if id := IDFromAltID(ref); id != "" {
			ref = id
		}
	}
	if a, ok := aliases[ref]; ok {
		return a
	}
	return ref
}

func checkTags(tags []string) error {
	for _, t := range tags {
		if t != UnionTag {
			return fault.Errorf(fault.Invalid, "XDM-TAG", "meta:immutableTags accepts only %q", UnionTag)
		}
	}
	return nil
}

// schemaReadOnly are ReadOnly and, for a schema, its type ("object").
var schemaReadOnly = slices.Insert(slices.Clone(ReadOnly), 4, "type")

// Patch applies a JSON Patch (RFC 6902) to the schema and returns the new
// schema with its minor version bumped. Only title, description, allOf,
// meta:extends and meta:immutableTags may change; the union tag cannot be
// removed, the class cannot change, and a Profile-enabled schema accepts
// only additive changes (CheckEvolution). tenant are the tenant field
// groups the schema may name.
func (s Schema) Patch(ops []PatchOp, now time.Time, tenant ...FieldGroup) (Schema, error) {
	var n Schema
	if err := patchInto(s, ops, &n); err != nil {
		return Schema{}, err
	}
	if err := checkReadOnly(s, n, schemaReadOnly); err != nil {
		return Schema{}, err
	}
	// A class change shows up in meta:class or in the allOf.
	if n.Class != s.Class {
		return Schema{}, fault.E(fault.Invalid, "XDM-CLASS", "the class of a schema cannot change")
	}
	return s.next(n, now, tenant)
}

// Replace is PUT: title, description, composition and tags replaced by
// in, under the same rules as Patch.
func (s Schema) Replace(in SchemaInput, now time.Time, tenant ...FieldGroup) (Schema, error) {
	if in.Type != "object" {
		return Schema{}, fault.E(fault.Invalid, "XDM-TYPE-OBJECT", `type must be "object"`)
	}
	n := s
	n.Title, n.Description, n.AllOf, n.Extends, n.ImmutableTags = in.Title, in.Description, in.AllOf, in.Extends, in.ImmutableTags
	if len(n.Extends) == 0 {
		n.Extends = nil
	}
	if in.Class != "" && canonicalRef(in.Class) != s.Class {
		return Schema{}, fault.E(fault.Invalid, "XDM-CLASS", "the class of a schema cannot change")
	}
	return s.next(n, now, tenant)
}

func (s Schema) next(n Schema, now time.Time, tenant []FieldGroup) (Schema, error) {
	if strings.TrimSpace(n.Title) == "" {
		return Schema{}, fault.E(fault.Invalid, "XDM-TITLE", "title is required")
	}
	if err := checkTags(n.ImmutableTags); err != nil {
		return Schema{}, err
	}
	if s.ProfileEnabled() && !n.ProfileEnabled() {
		return Schema{}, fault.E(fault.Invalid, "XDM-UNION-IRREVERSIBLE", "a schema enabled for Profile cannot be disabled: meta:immutableTags cannot be removed")
	}
	if err := n.normalize(tenant); err != nil {
		return Schema{}, err
	}
	if n.Class != s.Class {
		return Schema{}, fault.E(fault.Invalid, "XDM-CLASS", "the class of a schema cannot change")
	}
	if s.ProfileEnabled() {
		if err := s.CheckEvolution(n, tenant, tenant); err != nil {
			return Schema{}, err
		}
	}
	n.ImmutableTags = dedupe(n.ImmutableTags)
	n.Version = bumpMinor(s.Version)
	n.RegistryMetadata.LastModifiedDate = now.UnixMilli()
	n.RegistryMetadata.LastModifiedClient = "mosaic"
	n.RegistryMetadata.ETag = n.etag()
	return n, nil
}

// CheckEvolution resolves the schema before (with the tenant groups
// before) and after (with the groups after) and refuses breaking changes.
func (s Schema) CheckEvolution(after Schema, groupsBefore, groupsAfter []FieldGroup) error {
	rb, err := Resolve(s, groupsBefore...)
	if err != nil {
		return err
	}
	ra, err := Resolve(after, groupsAfter...)
	if err != nil {
		return err
	}
	return CheckEvolution(rb, ra)
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func bumpMinor(v string) string {
	major, minor, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(minor)
	if err != nil {
		n = 0
	}
	if major == "" {
		major = "1"
	}
	return major + "." + strconv.Itoa(n+1)
}

func (s Schema) etag() string {
	s.RegistryMetadata.ETag = ""
	b, _ := json.Marshal(s)
	return shortHash(b)
}

func toDoc(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "XDM-ENCODE", "resource could not be encoded")
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "XDM-ENCODE", "resource could not be encoded")
	}
	return doc, nil
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func newHash() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
