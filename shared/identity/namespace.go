// Package identity normalises identities, extracts them from records and
// knows the identity namespaces: AEP's standard ones and the tenant's own.
package identity

import (
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Identity types, AEP's names.
const (
	TypeCookie      = "COOKIE"
	TypeDevice      = "DEVICE"
	TypeCrossDevice = "CROSS_DEVICE"
	TypeEmail       = "EMAIL"
	TypePhone       = "PHONE"
	TypeNonPeople   = "NON_PEOPLE"
	// TypePartner is AEP's Partner ID type; like non-people identities it
	// builds no graph.
	TypePartner = "PARTNER"
)

// Types are the identity types a namespace may have.
var Types = []string{TypeCookie, TypeDevice, TypeCrossDevice, TypeEmail, TypePhone, TypeNonPeople, TypePartner}

// Namespace is an identity namespace.
type Namespace struct {
	ID          int    `json:"id"`
	Code        string `json:"code"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	IDType      string `json:"idType"`
	Custom      bool   `json:"custom"`
	Status      string `json:"status"`
	// Unique namespaces hold at most one value per cluster (docs/rules.md#identities).
	Unique bool `json:"unique"`
	// CreateTime and UpdateTime are epoch ms (custom namespaces).
	CreateTime int64 `json:"createTime,omitempty"`
	UpdateTime int64 `json:"updateTime,omitempty"`
}

// Standard are AEP's standard namespaces with their ids and types.
var Standard = []Namespace{
	{ID: 4, Code: "ECID", Name: "Experience Cloud ID", IDType: TypeCookie},
	{ID: 6, Code: "Email", Name: "Email", IDType: TypeEmail},
	{ID: 7, Code: "Phone", Name: "Phone", IDType: TypePhone},
	{ID: 8, Code: "Email_LC_SHA256", Name: "Emails (SHA256, lowercased)", IDType: TypeEmail},
	{ID: 9, Code: "Phone_SHA256", Name: "Phone (SHA256)", IDType: TypePhone},
	{ID: 10, Code: "Phone_E.164", Name: "Phone (E.164)", IDType: TypePhone},
	{ID: 20914, Code: "GAID", Name: "Google Ad ID (GAID)", IDType: TypeDevice},
	{ID: 20915, Code: "IDFA", Name: "Apple IDFA (ID for Advertisers)", IDType: TypeDevice},
	{ID: 20919, Code: "AAID", Name: "Adobe Analytics (Legacy ID)", IDType: TypeCookie},
	{ID: 411, Code: "AdCloud", Name: "AdCloud", IDType: TypeCookie},
	{ID: 1, Code: "CORE", Name: "Adobe Audience Manager", IDType: TypeCookie},
	{ID: 16, Code: "WAID", Name: "Windows AID", IDType: TypeDevice},
	{ID: 29, Code: "TNTID", Name: "TNTID", IDType: TypeCookie},
	{ID: 38, Code: "CRMID", Name: "CRM ID", IDType: TypeCrossDevice, Unique: true},
	{ID: 56, Code: "LOYALTYID", Name: "Loyalty ID", IDType: TypeCrossDevice},
}

func init() {
	for i := range Standard {
		Standard[i].Status = "ACTIVE"
		Standard[i].Description = Standard[i].Name
	}
}

// LookupStandard finds a standard namespace by code, case-insensitively.
func LookupStandard(code string) (Namespace, bool) {
	for _, ns := range Standard {
		if strings.EqualFold(ns.Code, code) {
			return ns, true
		}
	}
	return Namespace{}, false
}

// Lookup finds a namespace by code, case-insensitively, among the tenant's
// namespaces (custom, the tenant's custom namespaces and the standard ones
// its settings change, see Overridden) and then the standard ones. A
// custom code never equals a standard one (NewCustom), so a standard
// namespace in custom is that namespace as the tenant set it.
func Lookup(code string, custom []Namespace) (Namespace, bool) {
	for _, ns := range custom {
		if strings.EqualFold(ns.Code, code) {
			return ns, true
		}
	}
	return LookupStandard(code)
}

// LookupID finds a namespace by its numeric id, as Lookup does by code.
func LookupID(id int, custom []Namespace) (Namespace, bool) {
	for _, ns := range custom {
		if ns.ID == id {
			return ns, true
		}
	}
	for _, ns := range Standard {
		if ns.ID == id {
			return ns, true
		}
	}
	return Namespace{}, false
}

// Override is the tenant's setting of a standard namespace: of a standard
// namespace only Unique may change (PUT /data/core/idnamespace/identities/
// {code}; docs/identity-and-merge.md, "Namespace settings"). UpdateTime is
// epoch ms.
type Override struct {
	Code       string `json:"code"`
	Unique     bool   `json:"unique"`
	UpdateTime int64  `json:"updateTime"`
}

// Apply returns ns as o sets it; o of another code changes nothing.
func (o Override) Apply(ns Namespace) Namespace {
	if strings.EqualFold(o.Code, ns.Code) {
		ns.Unique, ns.UpdateTime = o.Unique, o.UpdateTime
	}
	return ns
}

// Overridden returns the standard namespaces that overrides set, as they
// set them, for the list Lookup takes.
func Overridden(overrides []Override) []Namespace {
	var out []Namespace
	for _, o := range overrides {
		if ns, ok := LookupStandard(o.Code); ok {
			out = append(out, o.Apply(ns))
		}
	}
	return out
}

// NamespaceInput is the body of POST /data/core/idnamespace/identities.
type NamespaceInput struct {
	Code        string `json:"code"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	IDType      string `json:"idType"`
}

// Bounds of a custom namespace's name and description, in characters:
// the namespace list is one answer, so that each namespace stays small.
const (
	MaxNamespaceName        = 256
	MaxNamespaceDescription = 2048
)

// CheckNamespaceText checks a namespace's name (required) and
// description against their bounds: Invalid NAMESPACE-NAME or
// NAMESPACE-DESCRIPTION.
func CheckNamespaceText(name, description string) error {
	if strings.TrimSpace(name) == "" {
		return fault.E(fault.Invalid, "NAMESPACE-NAME", "name is required")
	}
	if n := utf8.RuneCountInString(name); n > MaxNamespaceName {
		return fault.Errorf(fault.Invalid, "NAMESPACE-NAME", "name is %d characters, over %d", n, MaxNamespaceName)
	}
	if n := utf8.RuneCountInString(description); n > MaxNamespaceDescription {
		return fault.Errorf(fault.Invalid, "NAMESPACE-DESCRIPTION", "description is %d characters, over %d", n, MaxNamespaceDescription)
	}
	return nil
}

var codePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`)

// NewCustom checks a custom namespace create request and builds the
// namespace. Its id is derived from the lower-cased code, so a code has
// one id everywhere; duplicates of a standard code are a conflict (409).
// The caller refuses duplicates of other custom codes (case-insensitive).
func NewCustom(in NamespaceInput, now time.Time) (Namespace, error) {
	if !codePattern.MatchString(in.Code) {
		return Namespace{}, fault.E(fault.Invalid, "NAMESPACE-CODE", "code is required: 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit")
	}
	if err := CheckNamespaceText(in.Name, in.Description); err != nil {
		return Namespace{}, err
	}
	t := strings.ToUpper(strings.TrimSpace(in.IDType))
	if !slices.Contains(Types, t) {
		return Namespace{}, fault.Errorf(fault.Invalid, "NAMESPACE-TYPE", "idType must be one of %s", strings.Join(Types, ", "))
	}
	if _, ok := LookupStandard(in.Code); ok {
		return Namespace{}, fault.Errorf(fault.Conflict, "NAMESPACE-EXISTS", "identity namespace %q exists (standard namespace)", in.Code)
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(strings.ToLower(in.Code)))
	ms := now.UnixMilli()
	desc := in.Description
	return Namespace{
		ID: 100000000 + int(h.Sum32()%900000000), Code: in.Code, Name: in.Name, Description: desc,
		IDType: t, Custom: true, Status: "ACTIVE", CreateTime: ms, UpdateTime: ms,
	}, nil
}
