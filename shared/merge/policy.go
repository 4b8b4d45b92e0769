// Package merge assembles one profile from the fragments of an identity or
// of its cluster at read time, under a merge policy (docs/rules.md#merging), and holds
// the data types read and written on the profile path: fragments, events
// and the candidates of a lookup.
package merge

import "github.com/mosaic-cdp/mosaic/shared/fault"

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

// Stable ids of the default policies: every sandbox starts with these.
const (
	DefaultProfilePolicyID = "mosaic-default-profile"
	DefaultEventPolicyID   = "mosaic-default-experienceevent"
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
	Version        int            `json:"version"`
	UpdateEpoch    int64          `json:"updateEpoch"`
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
// with private-graph stitching, as a new AEP sandbox has.
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

// Default returns the default policy of a schema name.
func Default(schemaName string) (Policy, bool) {
	for _, p := range Defaults() {
		if p.Schema.Name == schemaName && p.Default {
			return p, true
		}
	}
	return Policy{}, false
}

// Validate checks a policy's shape.
func (p Policy) Validate() error {
	switch p.IdentityGraph.Type {
	case GraphNone, GraphPDG:
	default:
		return fault.E(fault.Invalid, "MERGE-POLICY-GRAPH", "identityGraph.type must be none or pdg")
	}
	switch p.AttributeMerge.Type {
	case TimestampOrdered:
	case DataSetPrecedence:
		if len(p.AttributeMerge.Order) == 0 {
			return fault.E(fault.Invalid, "MERGE-POLICY-ORDER", "dataSetPrecedence needs attributeMerge.order")
		}
	default:
		return fault.E(fault.Invalid, "MERGE-POLICY-TYPE", "attributeMerge.type must be timestampOrdered or dataSetPrecedence")
	}
	return nil
}
