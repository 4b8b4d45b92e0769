// Package merge assembles one profile from the fragments of an identity or
// of its cluster at read time, under a merge policy (docs/rules.md#merging), and holds
// the data types read and written on the profile path: fragments, events
// and the candidates of a lookup.
package merge

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Identity graph types.
const (
	GraphNone = "none"
	GraphPDG  = "pdg"
)

// Attribute merge types.
const (
	TimestampOrdered  = "timestampOrdered"
	DataSetPrecedence = "dataSetPrecedence"
)

// Schema names of the classes, as merge policies name them.
const (
	ProfileSchema = "_xdm.context.profile"
	EventSchema   = "_xdm.context.experienceevent"
)

// Classes are the schema names a merge policy may apply to.
var Classes = []string{ProfileSchema, EventSchema}

// Stable ids of the default policies: every sandbox starts with these.
const (
	DefaultProfilePolicyID = "mosaic-default-profile"
	DefaultEventPolicyID   = "mosaic-default-experienceevent"
)

// Limits of merge policies (docs/identity-and-merge.md, "Merge policies").
const (
	// MaxPoliciesPerClass is AEP's hard limit on merge policies ("Profile
	// guardrails"; the release notes give 5); past it a create is 409.
	MaxPoliciesPerClass = 5
	// MaxOrder is the most datasets a dataSetPrecedence order lists (the
	// limit of AEP's merge policy UI).
	MaxOrder = 50
	// MaxNameRunes is the longest policy name, in characters.
	MaxNameRunes = 100
	// maxDatasetIDBytes bounds one id of an order (AEP's are 24 hex digits).
	maxDatasetIDBytes = 256
)

// SchemaRef names the class a policy applies to.
type SchemaRef struct {
	Name string `json:"name"`
}

// IdentityGraph says which identities' fragments a read takes.
type IdentityGraph struct {
	Type string `json:"type"`
}

// AttributeMerge says which fragment wins an attribute.
type AttributeMerge struct {
	Type  string   `json:"type"`
	Order []string `json:"order,omitempty"`
}

// Policy is a merge policy in AEP's shape.
type Policy struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Schema         SchemaRef      `json:"schema"`
	IdentityGraph  IdentityGraph  `json:"identityGraph"`
	AttributeMerge AttributeMerge `json:"attributeMerge"`
	IsActiveOnEdge bool           `json:"isActiveOnEdge"`
	Default        bool           `json:"default"`
	// Version starts at 1 and goes up by one with every change; UpdateEpoch
	// is the time of the last change, epoch seconds.
	Version     int   `json:"version"`
	UpdateEpoch int64 `json:"updateEpoch"`
}

// eventClass is catalog.EventClass; merge stays below catalog in the
// import graph so that the catalog may hold merge policies.
const eventClass = "https://ns.adobe.com/xdm/context/experienceevent"

// SchemaName maps a class $id to the schema name merge policies use.
func SchemaName(class string) string {
	switch class {
	case eventClass:
		return EventSchema
	default:
		return ProfileSchema
	}
}

// Defaults are the default policies of the two classes: timestampOrdered
// with private-graph stitching, as a new AEP sandbox has. A class holds its
// built-in default until its policies are first changed (see AddPolicy).
func Defaults() []Policy {
	return []Policy{
		{
			ID: DefaultProfilePolicyID, Name: "Default timestamp-ordered",
			Schema:         SchemaRef{Name: ProfileSchema},
			IdentityGraph:  IdentityGraph{Type: GraphPDG},
			AttributeMerge: AttributeMerge{Type: TimestampOrdered},
			Default:        true, Version: 1,
		},
		{
			ID: DefaultEventPolicyID, Name: "Default timestamp-ordered",
			Schema:         SchemaRef{Name: EventSchema},
			IdentityGraph:  IdentityGraph{Type: GraphPDG},
			AttributeMerge: AttributeMerge{Type: TimestampOrdered},
			Default:        true, Version: 1,
		},
	}
}

// Default returns the built-in default policy of a schema name.
func Default(schemaName string) (Policy, bool) {
	for _, p := range Defaults() {
		if p.Schema.Name == schemaName && p.Default {
			return p, true
		}
	}
	return Policy{}, false
}

// Validate checks a policy's merge rules: identityGraph.type is none or
// pdg; attributeMerge.type is timestampOrdered or dataSetPrecedence, and
// dataSetPrecedence has an order of 1 to MaxOrder distinct dataset ids.
// Errors are Invalid: MERGE-POLICY-GRAPH, MERGE-POLICY-TYPE,
// MERGE-POLICY-ORDER.
func (p Policy) Validate() error {
	switch p.IdentityGraph.Type {
	case GraphNone, GraphPDG:
	default:
		return fault.E(fault.Invalid, "MERGE-POLICY-GRAPH", "identityGraph.type must be none or pdg")
	}
	switch p.AttributeMerge.Type {
	case TimestampOrdered:
	case DataSetPrecedence:
		return checkOrder(p.AttributeMerge.Order)
	default:
		return fault.E(fault.Invalid, "MERGE-POLICY-TYPE", "attributeMerge.type must be timestampOrdered or dataSetPrecedence")
	}
	return nil
}

func checkOrder(order []string) error {
	if len(order) == 0 {
		return fault.E(fault.Invalid, "MERGE-POLICY-ORDER", "dataSetPrecedence needs attributeMerge.order: the dataset ids, highest priority first")
	}
	if len(order) > MaxOrder {
		return fault.Errorf(fault.Invalid, "MERGE-POLICY-ORDER", "attributeMerge.order lists %d datasets; at most %d", len(order), MaxOrder)
	}
	seen := make(map[string]bool, len(order))
	for i, id := range order {
		if strings.TrimSpace(id) == "" || id != strings.TrimSpace(id) || len(id) > maxDatasetIDBytes {
			return fault.Errorf(fault.Invalid, "MERGE-POLICY-ORDER", "attributeMerge.order[%d] must be a dataset id (1 to %d bytes, no surrounding spaces)", i, maxDatasetIDBytes)
		}
		if seen[id] {
			return fault.Errorf(fault.Invalid, "MERGE-POLICY-ORDER", "attributeMerge.order lists dataset %.100q twice", id)
		}
		seen[id] = true
	}
	return nil
}

// Check is Validate and what a stored policy needs besides: a name of 1 to
// MaxNameRunes characters (MERGE-POLICY-NAME), a schema.name of Classes
// (MERGE-POLICY-SCHEMA-NAME), and isActiveOnEdge only on the profile class
// (MERGE-POLICY-EDGE-CLASS: edge segmentation reads profiles). All Invalid.
func (p Policy) Check() error {
	if n := utf8.RuneCountInString(p.Name); strings.TrimSpace(p.Name) == "" || n > MaxNameRunes {
		return fault.Errorf(fault.Invalid, "MERGE-POLICY-NAME", "name must have 1 to %d characters", MaxNameRunes)
	}
	if !slices.Contains(Classes, p.Schema.Name) {
		return fault.Errorf(fault.Invalid, "MERGE-POLICY-SCHEMA-NAME", "schema.name must be %s or %s", ProfileSchema, EventSchema)
	}
	if p.IsActiveOnEdge && p.Schema.Name != ProfileSchema {
		return fault.Errorf(fault.Invalid, "MERGE-POLICY-EDGE-CLASS", "only a policy of %s can be active on edge", ProfileSchema)
	}
	return p.Validate()
}

// normalized trims the name and drops an order that timestampOrdered does
// not use, so that a PATCH of /attributeMerge.type alone (AEP's form) can
// leave dataSetPrecedence.
func (p Policy) normalized() Policy {
	p.Name = strings.TrimSpace(p.Name)
	if p.AttributeMerge.Type == TimestampOrdered {
		p.AttributeMerge.Order = nil
	}
	return p
}

// CheckClass checks the rules that hold across the policies of one class:
// at most MaxPoliciesPerClass (Conflict MERGE-POLICY-LIMIT), at most one
// default and at most one active on edge (Conflict MERGE-POLICY-DEFAULT,
// MERGE-POLICY-EDGE), every policy of the class and no id twice
// (Invalid MERGE-POLICY-SCHEMA, Conflict MERGE-POLICY-EXISTS). AddPolicy,
// ReplacePolicy and RemovePolicy keep them; the store checks them again
// before it writes.
func CheckClass(schemaName string, list []Policy) error {
	if len(list) > MaxPoliciesPerClass {
		return fault.Errorf(fault.Conflict, "MERGE-POLICY-LIMIT", "%s has %d merge policies; at most %d (delete one first)", schemaName, MaxPoliciesPerClass, MaxPoliciesPerClass)
	}
	defaults, edge := 0, 0
	ids := make(map[string]bool, len(list))
	for _, p := range list {
		if p.Schema.Name != schemaName {
			return fault.Errorf(fault.Invalid, "MERGE-POLICY-SCHEMA", "merge policy %s is not a policy of %s", p.ID, schemaName)
		}
		if ids[p.ID] {
			return fault.Errorf(fault.Conflict, "MERGE-POLICY-EXISTS", "merge policy %s exists", p.ID)
		}
		ids[p.ID] = true
		if p.Default {
			defaults++
		}
		if p.IsActiveOnEdge {
			edge++
		}
	}
	if defaults > 1 {
		return fault.Errorf(fault.Conflict, "MERGE-POLICY-DEFAULT", "%s has %d default merge policies; at most one", schemaName, defaults)
	}
	if edge > 1 {
		return fault.E(fault.Conflict, "MERGE-POLICY-EDGE", "at most one merge policy is active on edge")
	}
	return nil
}

// AddPolicy returns the policies of p's class (list) with p added, as
// version 1 at now. When p is the default, the class's previous default
// stops being one (its version goes up), as on AEP. Errors: Check's, and
// Conflict MERGE-POLICY-LIMIT (the class has MaxPoliciesPerClass),
// MERGE-POLICY-EDGE (another policy is active on edge), MERGE-POLICY-EXISTS
// (the id is taken). list is not modified.
func AddPolicy(list []Policy, p Policy, now time.Time) ([]Policy, error) {
	p = p.normalized()
	if err := p.Check(); err != nil {
		return nil, err
	}
	if len(list) >= MaxPoliciesPerClass {
		return nil, fault.Errorf(fault.Conflict, "MERGE-POLICY-LIMIT", "%s has %d merge policies, the most a class may have: delete one first", p.Schema.Name, MaxPoliciesPerClass)
	}
	p.Version, p.UpdateEpoch = 1, now.Unix()
	out, err := settle(list, p, now)
	if err != nil {
		return nil, err
	}
	out = append(out, p)
	return out, CheckClass(p.Schema.Name, out)
}

// ReplacePolicy returns list with the policy of p's id replaced by p, one
// version up, at now; a new default clears the previous one as AddPolicy
// does. A policy keeps its class: another schema.name is Invalid
// MERGE-POLICY-SCHEMA-CHANGE. Errors also: Check's, NotFound
// MERGE-POLICY-NOT-FOUND, Conflict MERGE-POLICY-EDGE.
func ReplacePolicy(list []Policy, p Policy, now time.Time) ([]Policy, error) {
	i := slices.IndexFunc(list, func(o Policy) bool { return o.ID == p.ID })
	if i < 0 {
		return nil, PolicyNotFound(p.ID)
	}
	old := list[i]
	p = p.normalized()
	if p.Schema.Name != old.Schema.Name {
		return nil, fault.Errorf(fault.Invalid, "MERGE-POLICY-SCHEMA-CHANGE", "a merge policy keeps its class (%s): create a policy for %.100q instead", old.Schema.Name, p.Schema.Name)
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	p.Version, p.UpdateEpoch = old.Version+1, now.Unix()
	rest := slices.Delete(slices.Clone(list), i, i+1)
	out, err := settle(rest, p, now)
	if err != nil {
		return nil, err
	}
	out = slices.Insert(out, min(i, len(out)), p)
	return out, CheckClass(p.Schema.Name, out)
}

// UpdatePolicy returns list with the policy id replaced by change(that
// policy) under ReplacePolicy's rules, and the policy as replaced. Errors:
// NotFound MERGE-POLICY-NOT-FOUND, change's and ReplacePolicy's.
func UpdatePolicy(list []Policy, id string, change func(Policy) (Policy, error), now time.Time) ([]Policy, Policy, error) {
	i := slices.IndexFunc(list, func(p Policy) bool { return p.ID == id })
	if i < 0 {
		return nil, Policy{}, PolicyNotFound(id)
	}
	p, err := change(list[i])
	if err != nil {
		return nil, Policy{}, err
	}
	p.ID = id
	out, err := ReplacePolicy(list, p, now)
	if err != nil {
		return nil, Policy{}, err
	}
	return out, out[slices.IndexFunc(out, func(p Policy) bool { return p.ID == id })], nil
}

// settle returns a copy of the other policies of p's class as p's arrival
// leaves them: not default when p is (one version up). It refuses p active
// on edge when another is (Conflict MERGE-POLICY-EDGE): un-flagging that
// one is the caller's choice, since edge audiences depend on it.
func settle(others []Policy, p Policy, now time.Time) ([]Policy, error) {
	out := slices.Clone(others)
	for i, o := range out {
		if p.IsActiveOnEdge && o.IsActiveOnEdge {
			return nil, fault.Errorf(fault.Conflict, "MERGE-POLICY-EDGE", "merge policy %s is active on edge; at most one is: set its isActiveOnEdge to false first", o.ID)
		}
		if p.Default && o.Default {
			o.Default = false
			o.Version++
			o.UpdateEpoch = now.Unix()
			out[i] = o
		}
	}
	return out, nil
}

// RemovePolicy returns list without the policy id. A policy active on edge
// cannot be deleted (Conflict MERGE-POLICY-EDGE-ACTIVE: un-flag it first, as
// on AEP). Deleting the default leaves the class without one: reads of the
// class that name no policy then answer 422 MERGE-POLICY-NO-DEFAULT.
func RemovePolicy(list []Policy, id string) ([]Policy, error) {
	i := slices.IndexFunc(list, func(o Policy) bool { return o.ID == id })
	if i < 0 {
		return nil, PolicyNotFound(id)
	}
	if list[i].IsActiveOnEdge {
		return nil, fault.Errorf(fault.Conflict, "MERGE-POLICY-EDGE-ACTIVE", "merge policy %s is active on edge: set its isActiveOnEdge to false before deleting it", id)
	}
	return slices.Delete(slices.Clone(list), i, i+1), nil
}

// PolicyNotFound is the error of an unknown policy id (NotFound
// MERGE-POLICY-NOT-FOUND).
func PolicyNotFound(id string) error {
	return fault.Errorf(fault.NotFound, "MERGE-POLICY-NOT-FOUND", "merge policy %.100q does not exist", id)
}

// PolicyInput is the body of POST and PUT .../config/mergePolicies: AEP's
// policy object. default and isActiveOnEdge may be booleans or the strings
// "true" and "false". What Mosaic sets (id, version, updateEpoch) and AEP's
// tenancy members (imsOrgId, sandbox) are accepted, since AEP's PUT example
// sends a policy back as read, and ignored; a PUT checks that an id given
// is the policy's.
type PolicyInput struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	ImsOrgID       string          `json:"imsOrgId"`
	Sandbox        json.RawMessage `json:"sandbox"`
	Schema         SchemaRef       `json:"schema"`
	Version        json.RawMessage `json:"version"`
	IdentityGraph  IdentityGraph   `json:"identityGraph"`
	AttributeMerge AttributeMerge  `json:"attributeMerge"`
	IsActiveOnEdge Bool            `json:"isActiveOnEdge"`
	Default        Bool            `json:"default"`
	UpdateEpoch    json.RawMessage `json:"updateEpoch"`
}

// Policy is the policy the input describes, without id or version.
func (in PolicyInput) Policy() Policy {
	return Policy{
		Name: in.Name, Schema: in.Schema, IdentityGraph: in.IdentityGraph,
		AttributeMerge: in.AttributeMerge, IsActiveOnEdge: bool(in.IsActiveOnEdge), Default: bool(in.Default),
	}
}

// Bool is a JSON boolean that may also be written as the string "true" or
// "false", as AEP's merge policy examples write it.
type Bool bool

// UnmarshalJSON reads true, false, "true" or "false" (any case); null
// leaves b as it is, as encoding/json does for a bool.
func (b *Bool) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	v, ok := parseBool(data)
	if !ok {
		return &json.UnmarshalTypeError{Value: "non-boolean", Type: reflect.TypeFor[bool]()}
	}
	*b = Bool(v)
	return nil
}

func parseBool(data []byte) (v, ok bool) {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		data = []byte(strings.ToLower(strings.TrimSpace(s)))
	}
	switch string(bytes.TrimSpace(data)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}
