package xdm

import (
	"strconv"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// Descriptor types.
const DescriptorIdentity = "xdm:descriptorIdentity"

// Descriptor is an identity descriptor in AEP's format.
type Descriptor struct {
	ID             string `json:"@id,omitempty"`
	Type           string `json:"@type"`
	SourceSchema   string `json:"xdm:sourceSchema"`
	SourceVersion  int    `json:"xdm:sourceVersion"`
	SourceProperty string `json:"xdm:sourceProperty"`
	Namespace      string `json:"xdm:namespace"`
	Property       string `json:"xdm:property"`
	IsPrimary      bool   `json:"xdm:isPrimary"`
	ContainerID    string `json:"meta:containerId,omitempty"`
	ImsOrg         string `json:"imsOrg,omitempty"`
	Version        string `json:"version,omitempty"`
	Created        int64  `json:"created,omitempty"`
}

// NewDescriptor checks a descriptor create request against its schema
// (resolved) and the schema's existing descriptors, and fills in what the
// registry assigns: @id, the canonical namespace code, version and container.
//
// Namespaces are matched case-insensitively against the standard
// namespaces; xdm:property "xdm:id" takes a numeric namespace id instead of
// a code; custom are the tenant's custom namespaces. A second primary
// identity on one schema is a conflict (409).
func NewDescriptor(d Descriptor, s Schema, res *Resolved, existing []Descriptor, now time.Time, custom ...identity.Namespace) (Descriptor, error) {
	d, err := checkDescriptor(d, s, res, existing, custom)
	if err != nil {
		return Descriptor{}, err
	}
	d.ID = newHash() + newHash()[:8]
	d.ContainerID = ContainerTenant
	d.ImsOrg = ImsOrg
	d.Version = "1"
	d.Created = now.UnixMilli()
	return d, nil
}

// ReplaceDescriptor is PUT: d replaces prev under the same checks, keeping
// its @id and creation time.
func ReplaceDescriptor(prev, d Descriptor, s Schema, res *Resolved, existing []Descriptor, custom ...identity.Namespace) (Descriptor, error) {
	if d.ID != "" && d.ID != prev.ID {
		return Descriptor{}, fault.E(fault.Invalid, "XDM-READONLY", "@id is read-only")
	}
	others := make([]Descriptor, 0, len(existing))
	for _, e := range existing {
		if e.ID != prev.ID {
			others = append(others, e)
		}
	}
	d, err := checkDescriptor(d, s, res, others, custom)
	if err != nil {
		return Descriptor{}, err
	}
	d.ID, d.ContainerID, d.ImsOrg, d.Created = prev.ID, ContainerTenant, ImsOrg, prev.Created
	d.Version = bumpMajorInt(prev.Version)
	return d, nil
}

func bumpMajorInt(v string) string {
	n, err := strconv.Atoi(v)
	if err != nil {
		n = 1
	}
	return strconv.Itoa(n + 1)
}

func checkDescriptor(d Descriptor, s Schema, res *Resolved, existing []Descriptor, custom []identity.Namespace) (Descriptor, error) {
	if d.Type != DescriptorIdentity {
		return Descriptor{}, fault.Errorf(fault.Invalid, "XDM-DESCRIPTOR-TYPE", "@type must be %q", DescriptorIdentity)
	}
	if d.SourceSchema != s.ID {
		return Descriptor{}, fault.E(fault.Invalid, "XDM-DESCRIPTOR-SCHEMA", "xdm:sourceSchema must be the $id of an existing schema")
	}
	if d.SourceVersion == 0 {
		d.SourceVersion = s.MajorVersion()
	}
	if d.SourceVersion < 1 || d.SourceVersion > s.MajorVersion() {
		return Descriptor{}, fault.E(fault.Invalid, "XDM-DESCRIPTOR-VERSION", "xdm:sourceVersion must be the major version of the schema")
	}
	if _, ok := fieldPath(d.SourceProperty); !ok {
		return Descriptor{}, fault.E(fault.Invalid, "XDM-DESCRIPTOR-PROPERTY", `xdm:sourceProperty must be a path such as "/personalEmail/address": starting with /, without a trailing / or "properties" segments`)
	}
	field, ok := res.Field(d.SourceProperty)
	if !ok {
		return Descriptor{}, fault.Errorf(fault.Invalid, "XDM-DESCRIPTOR-PROPERTY", "xdm:sourceProperty %q is not a field of the schema", d.SourceProperty)
	}
	if field["type"] != "string" {
		return Descriptor{}, fault.Errorf(fault.Invalid, "XDM-DESCRIPTOR-PROPERTY", "identity field %q must be of type string", d.SourceProperty)
	}
	if d.Property == "" {
		d.Property = "xdm:code"
	}
	ns, err := lookupNamespace(d.Namespace, d.Property, custom)
	if err != nil {
		return Descriptor{}, err
	}
	d.Namespace = ns.Code
	d.Property = "xdm:code"
	for _, e := range existing {
		if e.Type != DescriptorIdentity || e.SourceSchema != s.ID {
			continue
		}
		if e.SourceProperty == d.SourceProperty {
			return Descriptor{}, fault.Errorf(fault.Conflict, "XDM-DESCRIPTOR-EXISTS", "field %q already has an identity descriptor", d.SourceProperty)
		}
		if d.IsPrimary && e.IsPrimary {
			return Descriptor{}, fault.E(fault.Conflict, "XDM-PRIMARY-EXISTS", "the schema already has a primary identity")
		}
	}
	return d, nil
}

func lookupNamespace(v, property string, custom []identity.Namespace) (identity.Namespace, error) {
	switch property {
	case "xdm:code":
		if ns, ok := identity.Lookup(v, custom); ok {
			return ns, nil
		}
	case "xdm:id":
		if id, err := strconv.Atoi(v); err == nil {
			if ns, ok := identity.LookupID(id, custom); ok {
				return ns, nil
			}
		}
	default:
		return identity.Namespace{}, fault.E(fault.Invalid, "XDM-DESCRIPTOR-NAMESPACE", `xdm:property must be "xdm:code" or "xdm:id"`)
	}
	return identity.Namespace{}, fault.Errorf(fault.Invalid, "XDM-DESCRIPTOR-NAMESPACE", "xdm:namespace %q is not a known identity namespace", v)
}

// PrimaryIdentity returns the primary identity descriptor among ds for
// schemaID, if any.
func PrimaryIdentity(schemaID string, ds []Descriptor) (Descriptor, bool) {
	for _, d := range ds {
		if d.Type == DescriptorIdentity && d.SourceSchema == schemaID && d.IsPrimary {
			return d, true
		}
	}
	return Descriptor{}, false
}

// CheckProfile refuses to enable a schema for Profile (union tag) unless it
// has a primary identity: a primary identity descriptor or an identityMap.
func CheckProfile(s Schema, res *Resolved, ds []Descriptor) error {
	if !s.ProfileEnabled() {
		return nil
	}
	if _, ok := PrimaryIdentity(s.ID, ds); ok || res.HasIdentityMap() {
		return nil
	}
	return fault.E(fault.Invalid, "XDM-UNION-PRIMARY", "a schema enabled for Profile needs a primary identity: add a primary identity descriptor or the identityMap field group first")
}
