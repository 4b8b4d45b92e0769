package xdm

import (
	"bytes"
	"encoding/json"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Meta identifies a registry resource and its revision, in AEP's resource
// format: the $id, its meta:altId form (AltID), the meta:resourceType
// (classes, mixins, schemas, …) and the version ("major.minor"). Every
// resource type embeds it first, so its members open the resource's JSON.
type Meta struct {
	ID           string `json:"$id"`
	AltID        string `json:"meta:altId"`
	ResourceType string `json:"meta:resourceType"`
	Version      string `json:"version"`
}

// Tenancy is what the registry records of a tenant resource's owner: the
// object its fields sit under (meta:tenantNamespace, "_" + TenantID), the
// IMS organisation and the sandbox. Tenant schemas and field groups embed it.
type Tenancy struct {
	TenantNamespace string `json:"meta:tenantNamespace"`
	ImsOrg          string `json:"imsOrg"`
	SandboxID       string `json:"meta:sandboxId,omitempty"`
	SandboxType     string `json:"meta:sandboxType,omitempty"`
}

// newTenancy is the tenancy of a resource created in sandbox, a
// development sandbox of this stack's tenant.
func newTenancy(sandbox string) Tenancy {
	return Tenancy{TenantNamespace: TenantObject, ImsOrg: ImsOrg, SandboxID: sandbox, SandboxType: "development"}
}

// ReadOnly are the members of a tenant resource that the registry assigns.
// A client may send them back as a GET returned them, but cannot change
// them: a PATCH that does fails with XDM-READONLY, and PUT and POST bodies
// drop them before decoding (AEP's Schema Registry API treats them as
// system-generated).
var ReadOnly = []string{"$id", "meta:altId", "meta:resourceType", "version", "meta:containerId", "meta:tenantNamespace",
	"imsOrg", "meta:sandboxId", "meta:sandboxType", "meta:registryMetadata", "meta:abstract", "meta:extensible"}

// checkReadOnly compares the JSON of before and after member by member, in
// the order given, and fails with XDM-READONLY (invalid) naming the first
// member that differs; a member absent from both is equal.
func checkReadOnly(before, after any, members []string) error {
	a, err := membersOf(before)
	if err != nil {
		return err
	}
	b, err := membersOf(after)
	if err != nil {
		return err
	}
	for _, m := range members {
		if !bytes.Equal(a[m], b[m]) {
			return fault.Errorf(fault.Invalid, "XDM-READONLY", "%s is read-only", m)
		}
	}
	return nil
}

func membersOf(v any) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "ENCODE", "resource could not be encoded")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "ENCODE", "resource could not be encoded")
	}
	return m, nil
}
