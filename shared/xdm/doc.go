// Package xdm is Mosaic's schema registry logic: the built-in XDM classes and
// field groups, tenant schemas composed from them (creation, JSON Patch with
// version bumps, Profile enablement), identity descriptors, and the resolver
// and compiler that turn a schema into one JSON Schema and validate rows
// against it. It keeps AEP's resource format ($id, meta:altId, allOf of $refs,
// meta:extends) so AEP clients work unchanged. Storage lives in package store.
//
// Tenant: Mosaic serves one tenant per stack. Its id is TenantID ("mosaic"),
// so tenant schemas are https://ns.adobe.com/mosaic/schemas/<hash> with
// altId _mosaic.schemas.<hash>, and tenant fields belong under "_mosaic".
package xdm

import "strings"

// TenantID is the tenant id of every Mosaic stack (AEP's TENANT_ID). It is a
// constant: ids derived from it are stored, so changing it would orphan them.
const TenantID = "mosaic"

// ImsOrg is the organisation reported on tenant resources.
const ImsOrg = "MOSAIC@AdobeOrg"

// Container ids.
const (
	ContainerGlobal = "global"
	ContainerTenant = "tenant"
)

// Resource types (meta:resourceType).
const (
	ResourceClasses     = "classes"
	ResourceFieldGroups = "mixins"
	ResourceSchemas     = "schemas"
	ResourceUnions      = "unions"
)

// Class and behaviour ids.
const (
	ProfileClass       = "https://ns.adobe.com/xdm/context/profile"
	EventClass         = "https://ns.adobe.com/xdm/context/experienceevent"
	RecordBehavior     = "https://ns.adobe.com/xdm/data/record"
	TimeSeriesBehavior = "https://ns.adobe.com/xdm/data/time-series"
)

// Built-in field group ids.
const (
	PersonalDetailsFieldGroup = "https://ns.adobe.com/xdm/context/profile-personal-details"
	PersonDetailsFieldGroup   = "https://ns.adobe.com/xdm/context/profile-person-details"
	IdentityMapFieldGroup     = "https://ns.adobe.com/xdm/context/identitymap"
	SourceAuditFieldGroup     = "https://ns.adobe.com/xdm/common/external-source-system-audit-details"
	WebFieldGroup             = "https://ns.adobe.com/xdm/context/experienceevent-web"
	CommerceFieldGroup        = "https://ns.adobe.com/xdm/context/experienceevent-commerce"
)

// aliases are older $ids of built-in resources that stored schemas may still
// name; they resolve to the current resource.
var aliases = map[string]string{
	"https://ns.adobe.com/xdm/mixins/external-source-system-audit-details": SourceAuditFieldGroup,
}

// UnionTag in meta:immutableTags enables a schema for Profile.
const UnionTag = "union"

const nsPrefix = "https://ns.adobe.com/"

// AltID is AEP's dotted alternative id of a resource $id:
// https://ns.adobe.com/xdm/context/profile → _xdm.context.profile. It is
// derived, never stored separately, so the two can never disagree.
func AltID(id string) string {
	rest, ok := strings.CutPrefix(id, nsPrefix)
	if !ok || rest == "" {
		return ""
	}
	return "_" + strings.ReplaceAll(rest, "/", ".")
}

// IDFromAltID is the inverse of AltID for altIds of the form
// _<ns>.<kind>.<name>; it returns "" for anything else.
func IDFromAltID(alt string) string {
	rest, ok := strings.CutPrefix(alt, "_")
	if !ok {
		return ""
	}
	parts := strings.SplitN(rest, ".", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return ""
	}
	return nsPrefix + parts[0] + "/" + parts[1] + "/" + parts[2]
}
