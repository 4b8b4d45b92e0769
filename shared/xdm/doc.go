// Package xdm is Mosaic's schema registry logic: the built-in XDM classes and
// field groups, tenant schemas composed from them (creation, JSON Patch with
// version bumps, Profile enablement), identity descriptors, and the resolver
// and compiler that turn a schema into one JSON Schema and validate rows
// against it. It keeps AEP's resource format ($id, meta:altId, allOf of $refs,
// meta:extends) so AEP clients work unchanged. Storage lives in package store.
//
// Tenant: Mosaic serves one tenant per stack. Its id is TenantID (AEP's
// TENANT_ID, "mosaic" unless configured), so tenant schemas are
// https://ns.adobe.com/<tenant>/schemas/<hash> with altId
// _<tenant>.schemas.<hash>, and tenant fields belong under "_<tenant>".
package xdm

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultTenantID is the tenant id of a stack that configures none.
const DefaultTenantID = "mosaic"

// TenantID is the stack's tenant id (AEP's TENANT_ID) and TenantObject the
// object every tenant field sits under ("_" + TenantID). Both change only
// through SetTenant, once, as a function starts: ids derived from the
// tenant id are stored, so a stack keeps its tenant id for life.
var (
	TenantID     = DefaultTenantID
	TenantObject = "_" + DefaultTenantID
)

// tenantPattern is the form of AEP tenant ids: lower-case letters, digits
// and underscores, as they appear in $ids (https://ns.adobe.com/<tenant>/…)
// and field names (_<tenant>).
var tenantPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_]{0,63}$`)

// SetTenant sets the stack's tenant id; "" keeps DefaultTenantID. An id
// that is not lower-case letters, digits and underscores (at most 64) is
// an error. Call it before serving, never concurrently with readers.
func SetTenant(id string) error {
	if id == "" {
		id = DefaultTenantID
	}
	if err := CheckTenant(id); err != nil {
		return err
	}
	TenantID, TenantObject = id, "_"+id
	return nil
}

// CheckTenant reports whether id is a valid tenant id.
func CheckTenant(id string) error {
	if !tenantPattern.MatchString(id) {
		return fmt.Errorf("tenant id %q must be 1 to 64 lower-case letters, digits or underscores, starting with a letter or digit", id)
	}
	return nil
}

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
