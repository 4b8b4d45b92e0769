package xdm

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
)

// Ref is one entry of an allOf: {"$ref": "<$id or #/definitions/name>"}.
type Ref struct {
	Ref string `json:"$ref"`
}

// Resource is a built-in class or field group in AEP's resource format.
// Definitions hold JSON Schema fragments; AllOf points into them.
type Resource struct {
	Meta
	Title            string         `json:"title"`
	Type             string         `json:"type"`
	Description      string         `json:"description,omitempty"`
	Abstract         bool           `json:"meta:abstract"`
	Extensible       bool           `json:"meta:extensible"`
	ContainerID      string         `json:"meta:containerId"`
	Extends          []string       `json:"meta:extends,omitempty"`
	IntendedToExtend []string       `json:"meta:intendedToExtend,omitempty"`
	Definitions      map[string]any `json:"definitions"`
	AllOf            []Ref          `json:"allOf"`
}

//go:embed resources/*.json
var resourceFS embed.FS

var (
	classes     []Resource
	fieldGroups []Resource
	byID        = map[string]*Resource{}
	dataTypes   map[string]any
)

func init() {
	names := []string{
		"profile.json", "experienceevent.json",
		"profile-personal-details.json", "profile-person-details.json",
		"identitymap.json", "external-source-system-audit-details.json",
		"experienceevent-web.json", "experienceevent-commerce.json",
	}
	for _, n := range names {
		var r Resource
		mustDecode(n, &r)
		if AltID(r.ID) != r.AltID {
			panic(fmt.Sprintf("xdm: %s: altId %q does not match $id", n, r.AltID))
		}
		switch r.ResourceType {
		case ResourceClasses:
			classes = append(classes, r)
		case ResourceFieldGroups:
			fieldGroups = append(fieldGroups, r)
		}
	}
	for i := range classes {
		byID[classes[i].ID] = &classes[i]
	}
	for i := range fieldGroups {
		byID[fieldGroups[i].ID] = &fieldGroups[i]
	}
	mustDecode("datatypes.json", &dataTypes)
}

func mustDecode(name string, v any) {
	b, err := resourceFS.ReadFile("resources/" + name)
	if err != nil {
		panic(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		panic(fmt.Sprintf("xdm: %s: %v", name, err))
	}
}

// Classes lists the built-in classes, ordered by $id.
func Classes() []Resource { return sorted(classes) }

// FieldGroups lists the built-in field groups, ordered by $id.
func FieldGroups() []Resource { return sorted(fieldGroups) }

func sorted(rs []Resource) []Resource {
	out := append([]Resource(nil), rs...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup finds a built-in class or field group by $id or meta:altId.
func Lookup(id string) (Resource, bool) {
	if a, ok := aliases[id]; ok {
		id = a
	} else if a, ok := aliases[IDFromAltID(id)]; ok {
		id = a
	}
	if r, ok := byID[id]; ok {
		return *r, true
	}
	if full := IDFromAltID(id); full != "" {
		if r, ok := byID[full]; ok {
			return *r, true
		}
	}
	return Resource{}, false
}

// LookupClass finds a built-in class by $id or altId.
func LookupClass(id string) (Resource, bool) {
	r, ok := Lookup(id)
	return r, ok && r.ResourceType == ResourceClasses
}

// LookupFieldGroup finds a built-in field group by $id or altId.
func LookupFieldGroup(id string) (Resource, bool) {
	r, ok := Lookup(id)
	return r, ok && r.ResourceType == ResourceFieldGroups
}

// behaviorOf is the behaviour a class extends.
func behaviorOf(class string) string {
	if r, ok := byID[class]; ok && len(r.Extends) > 0 {
		return r.Extends[0]
	}
	return ""
}
