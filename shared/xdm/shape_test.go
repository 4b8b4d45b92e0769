package xdm

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// shapeValues are one of each resource type with every member set, and
// each empty: the JSON encoding/json writes of them is pinned below, key
// order included, because ETags hash these bytes.
func shapeValues() []any {
	at := time.UnixMilli(1_700_000_000_000).UTC()
	s, err := NewSchema(SchemaInput{Title: "t", Description: "d", Type: "object",
		AllOf: []Ref{{Ref: ProfileClass}, {Ref: PersonDetailsFieldGroup}}, ImmutableTags: []string{UnionTag}}, "prod", at)
	if err != nil {
		panic(err)
	}
	s.ID, s.AltID = "https://ns.adobe.com/mosaic/schemas/s1", "_mosaic.schemas.s1"
	s.RegistryMetadata.ETag = s.etag()
	g := FieldGroup{}
	g.ID, g.AltID, g.ResourceType, g.Version = "https://ns.adobe.com/mosaic/mixins/g1", "_mosaic.mixins.g1", ResourceFieldGroups, "1.2"
	g.Title, g.Type, g.Description = "g", "object", "gd"
	g.Abstract, g.Extensible, g.ContainerID = true, true, ContainerTenant
	g.IntendedToExtend = []string{ProfileClass}
	g.Definitions = map[string]any{"d": map[string]any{"properties": map[string]any{}}}
	g.AllOf = []Ref{{Ref: "#/definitions/d"}}
	g.TenantNamespace, g.ImsOrg, g.SandboxID, g.SandboxType = TenantObject, ImsOrg, "prod", "development"
	g.RegistryMetadata = RegistryMetadata{CreatedDate: 1, LastModifiedDate: 2, CreatedClientID: "a", LastModifiedClient: "b", ETag: "e"}
	c, _ := LookupClass(ProfileClass)
	c.Definitions, c.AllOf = nil, nil
	return []any{s, Schema{}, g, FieldGroup{}, g.Resource(), c, Resource{}}
}

// TestResourceJSONShape pins the JSON of each resource type byte for byte:
// the member names, their order and which members are omitted when empty.
// The schema's eTag is in it, so the ETag hash is pinned too.
func TestResourceJSONShape(t *testing.T) {
	want := []string{
		// schema
		`{"$id":"https://ns.adobe.com/mosaic/schemas/s1","meta:altId":"_mosaic.schemas.s1","meta:resourceType":"schemas","version":"1.0","title":"t","type":"object","description":"d","allOf":[{"$ref":"https://ns.adobe.com/xdm/context/profile"},{"$ref":"https://ns.adobe.com/xdm/context/profile-person-details"}],"meta:class":"https://ns.adobe.com/xdm/context/profile","meta:extends":["https://ns.adobe.com/xdm/context/profile","https://ns.adobe.com/xdm/data/record","https://ns.adobe.com/xdm/context/profile-person-details"],"meta:abstract":false,"meta:extensible":false,"meta:containerId":"tenant","meta:tenantNamespace":"_mosaic","imsOrg":"MOSAIC@AdobeOrg","meta:sandboxId":"prod","meta:sandboxType":"development","meta:immutableTags":["union"],"meta:registryMetadata":{"repo:createdDate":1700000000000,"repo:lastModifiedDate":1700000000000,"xdm:createdClientId":"mosaic","xdm:lastModifiedClientId":"mosaic","eTag":"886468eebb2577e8e0b50f5831ceadd5"}}`,
		// empty schema
		`{"$id":"","meta:altId":"","meta:resourceType":"","version":"","title":"","type":"","allOf":null,"meta:class":"","meta:extends":null,"meta:abstract":false,"meta:extensible":false,"meta:containerId":"","meta:tenantNamespace":"","imsOrg":"","meta:registryMetadata":{"repo:createdDate":0,"repo:lastModifiedDate":0,"xdm:createdClientId":"","xdm:lastModifiedClientId":"","eTag":""}}`,
		// field group
		`{"$id":"https://ns.adobe.com/mosaic/mixins/g1","meta:altId":"_mosaic.mixins.g1","meta:resourceType":"mixins","version":"1.2","title":"g","type":"object","description":"gd","meta:abstract":true,"meta:extensible":true,"meta:containerId":"tenant","meta:intendedToExtend":["https://ns.adobe.com/xdm/context/profile"],"definitions":{"d":{"properties":{}}},"allOf":[{"$ref":"#/definitions/d"}],"meta:tenantNamespace":"_mosaic","imsOrg":"MOSAIC@AdobeOrg","meta:sandboxId":"prod","meta:sandboxType":"development","meta:registryMetadata":{"repo:createdDate":1,"repo:lastModifiedDate":2,"xdm:createdClientId":"a","xdm:lastModifiedClientId":"b","eTag":"e"}}`,
		// empty field group
		`{"$id":"","meta:altId":"","meta:resourceType":"","version":"","title":"","type":"","meta:abstract":false,"meta:extensible":false,"meta:containerId":"","meta:intendedToExtend":null,"definitions":null,"allOf":null,"meta:tenantNamespace":"","imsOrg":"","meta:registryMetadata":{"repo:createdDate":0,"repo:lastModifiedDate":0,"xdm:createdClientId":"","xdm:lastModifiedClientId":"","eTag":""}}`,
		// field group as resource
		`{"$id":"https://ns.adobe.com/mosaic/mixins/g1","meta:altId":"_mosaic.mixins.g1","meta:resourceType":"mixins","version":"1.2","title":"g","type":"object","description":"gd","meta:abstract":true,"meta:extensible":true,"meta:containerId":"tenant","meta:intendedToExtend":["https://ns.adobe.com/xdm/context/profile"],"definitions":{"d":{"properties":{}}},"allOf":[{"$ref":"#/definitions/d"}]}`,
		// built-in class
		`{"$id":"https://ns.adobe.com/xdm/context/profile","meta:altId":"_xdm.context.profile","meta:resourceType":"classes","version":"1.0","title":"XDM Individual Profile","type":"object","description":"A singular representation of the attributes and interests of both identified and partially identified individuals.","meta:abstract":true,"meta:extensible":true,"meta:containerId":"global","meta:extends":["https://ns.adobe.com/xdm/data/record"],"definitions":null,"allOf":null}`,
		// empty resource
		`{"$id":"","meta:altId":"","meta:resourceType":"","version":"","title":"","type":"","meta:abstract":false,"meta:extensible":false,"meta:containerId":"","definitions":null,"allOf":null}`,
	}
	got := shapeValues()
	if len(got) != len(want) {
		t.Fatalf("%d values, %d wanted shapes", len(got), len(want))
	}
	for i, v := range got {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != want[i] {
			t.Errorf("value %d (%T) encodes as\n%s\nwant\n%s", i, v, b, want[i])
		}
	}
}

// TestPatchRefusesReadOnlyMembers: a patch that changes any member the
// registry assigns fails, naming that member, for schemas and field groups.
func TestPatchRefusesReadOnlyMembers(t *testing.T) {
	vals := shapeValues()
	s, g := vals[0].(Schema), vals[2].(FieldGroup)
	// value is a new JSON value for member m of a resource where the
	// booleans meta:abstract and meta:extensible are b.
	value := func(m string, b bool) string {
		switch m {
		case "meta:registryMetadata":
			return `{"repo:createdDate":9}`
		case "meta:abstract", "meta:extensible":
			if b {
				return "false"
			}
			return "true"
		}
		return `"changed"`
	}
	for _, m := range schemaReadOnly {
		_, err := s.Patch(ops(t, `[{"op":"replace","path":"/`+m+`","value":`+value(m, s.Abstract)+`}]`), time.Now())
		if k, c := kindCode(err); k != fault.Invalid || c != "XDM-READONLY" || !strings.Contains(err.Error(), m+" is read-only") {
			t.Errorf("schema: changing %s: got %v, want XDM-READONLY naming it", m, err)
		}
		if m == "type" {
			continue
		}
		_, err = g.Patch(ops(t, `[{"op":"replace","path":"/`+m+`","value":`+value(m, g.Abstract)+`}]`), time.Now())
		if k, c := kindCode(err); k != fault.Invalid || c != "XDM-READONLY" || !strings.Contains(err.Error(), m+" is read-only") {
			t.Errorf("field group: changing %s: got %v, want XDM-READONLY naming it", m, err)
		}
	}
}
