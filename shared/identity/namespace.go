// Package identity normalises identities, extracts them from records and
// knows the identity namespaces: AEP's standard ones and the tenant's own.
package identity

import "strings"

// Identity types, AEP's names.
const (
	TypeCookie      = "COOKIE"
	TypeDevice      = "DEVICE"
	TypeCrossDevice = "CROSS_DEVICE"
	TypeEmail       = "EMAIL"
	TypePhone       = "PHONE"
	TypeNonPeople   = "NON_PEOPLE"
)

// Namespace is an identity namespace.
type Namespace struct {
	ID          int    `json:"id"`
	Code        string `json:"code"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	IDType      string `json:"idType"`
	Custom      bool   `json:"custom"`
	Status      string `json:"status"`
	// Unique namespaces hold at most one value per cluster (PRODUCT §5).
	Unique bool `json:"unique,omitempty"`
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
