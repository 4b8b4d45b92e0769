package catalog

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Row expiration of a dataset's experience events (AEP: "Experience
// Event dataset retention (TTL)" and "Experience Event expirations";
// docs/identity-and-merge.md, "Event expiry"): a dataset of the
// experience event class may carry
//
//	"extensions": {"adobe_unifiedProfile": {"rowExpiration": {"ttlValue": "P30D"}}}
//
// set at creation or by PATCH. An event ingested into it expires at its
// timestamp plus the TTL; events stored before the setting keep the
// expiry they were written with.

// Bounds of a row expiration: AEP's expiration FAQ gives one day as the
// least; ten years bounds what a typo can mean.
const (
	MinRowExpiration = 24 * time.Hour
	MaxRowExpiration = 10 * 365 * 24 * time.Hour
)

// Codes of the refusals of a dataset's extensions, all Invalid.
const (
	// CodeExtensions: a member of extensions Mosaic does not know.
	CodeExtensions = "CATALOG-EXTENSIONS"
	// CodeTTL: ttlValue is not an ISO 8601 duration from P1D to P10Y.
	CodeTTL = "CATALOG-TTL"
	// CodeTTLClass: a row expiration on a dataset that is not of the
	// experience event class.
	CodeTTLClass = "CATALOG-TTL-CLASS"
)

// DatasetExtensions are the settings of a dataset under "extensions".
type DatasetExtensions struct {
	UnifiedProfile *ProfileExtension `json:"adobe_unifiedProfile,omitempty"`
}

// ProfileExtension is extensions.adobe_unifiedProfile.
type ProfileExtension struct {
	RowExpiration *RowExpiration `json:"rowExpiration,omitempty"`
}

// RowExpiration is AEP's rowExpiration object: TTLValue as set, and what
// AEP's answer echoes: valueStatus "custom", setBy "user", and Updated,
// epoch ms of the last change of TTLValue.
type RowExpiration struct {
	TTLValue    string `json:"ttlValue"`
	ValueStatus string `json:"valueStatus,omitempty"`
	SetBy       string `json:"setBy,omitempty"`
	Updated     int64  `json:"updated,omitempty"`
}

// RowExpiration is how long after its timestamp an event of d expires; 0
// when d sets none (events never expire).
func (d Dataset) RowExpiration() time.Duration {
	if d.Extensions == nil || d.Extensions.UnifiedProfile == nil || d.Extensions.UnifiedProfile.RowExpiration == nil {
		return 0
	}
	ttl, err := ParseTTL(d.Extensions.UnifiedProfile.RowExpiration.TTLValue)
	if err != nil {
		return 0
	}
	return ttl
}

// CheckRowExpirationClass refuses a row expiration on a dataset whose
// schema's class is not the experience event class (AEP: only
// time-series datasets take one).
func CheckRowExpirationClass(d Dataset, class string) error {
	if d.RowExpiration() != 0 && class != EventClass {
		return fault.E(fault.Invalid, CodeTTLClass, "extensions.adobe_unifiedProfile.rowExpiration applies to datasets of the experience event class only")
	}
	return nil
}

// ParseTTL reads a row expiration: an ISO 8601 duration (see
// ParseISODuration) from P1D to P10Y. Errors are Invalid CodeTTL.
func ParseTTL(s string) (time.Duration, error) {
	d, err := ParseISODuration(s)
	if err != nil {
		return 0, err
	}
	if d < MinRowExpiration || d > MaxRowExpiration {
		return 0, fault.Errorf(fault.Invalid, CodeTTL, "rowExpiration.ttlValue %.40q must be from P1D (one day) to P10Y (ten years)", s)
	}
	return d, nil
}

// maxDurationDigits bounds each number of a duration: more cannot be a
// row expiration, and fewer digits cannot overflow.
const maxDurationDigits = 9

// ParseISODuration reads an ISO 8601 duration (ISO 8601-1:2019 §5.5.2.4,
// the grammar of RFC 3339 Appendix A) as a time.Duration: "P", then
// date elements nY, nM, nD in this order (each optional), or nW alone,
// then optionally "T" and time elements nH, nM, nS in this order; at
// least one element, each a non-negative integer of at most 9 digits,
// upper-case designators. Calendar elements have fixed lengths: a year is
// 365 days, a month 30 days, a week 7 days, a day 24 hours. Fractions,
// signs and other forms (P0003-01-00) are refused. Errors are Invalid
// CodeTTL.
func ParseISODuration(s string) (time.Duration, error) {
	bad := func(why string) error {
		return fault.Errorf(fault.Invalid, CodeTTL, "rowExpiration.ttlValue %.40q is not an ISO 8601 duration such as P30D or P12M: %s", s, why)
	}
	if !strings.HasPrefix(s, "P") {
		return 0, bad("it must start with P")
	}
	const day = 24 * time.Hour
	dateUnits := []struct {
		des  byte
		size time.Duration
	}{{'Y', 365 * day}, {'M', 30 * day}, {'W', 7 * day}, {'D', day}}
	timeUnits := []struct {
		des  byte
		size time.Duration
	}{{'H', time.Hour}, {'M', time.Minute}, {'S', time.Second}}
	rest := s[1:]
	var total time.Duration
	elements, next, week := 0, 0, false
	inTime := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, bad("T appears twice")
			}
			inTime, next = true, 0
			rest = rest[1:]
			if rest == "" {
				return 0, bad("T must be followed by hours, minutes or seconds")
			}
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, bad("a number must come before each designator")
		}
		if i > maxDurationDigits {
			return 0, bad("a number is too large")
		}
		if i == len(rest) {
			return 0, bad("the last number has no designator")
		}
		var n int64
		for _, c := range rest[:i] {
			n = n*10 + int64(c-'0')
		}
		des := rest[i]
		rest = rest[i+1:]
		units := dateUnits
		if inTime {
			units = timeUnits
		}
		found := false
		for j := next; j < len(units); j++ {
			if units[j].des == des {
				if des == 'W' {
					week = true
				}
				if n > int64(math.MaxInt64/units[j].size) || total > math.MaxInt64-time.Duration(n)*units[j].size {
					return 0, bad("it is too long")
				}
				total += time.Duration(n) * units[j].size
				next, found = j+1, true
				break
			}
		}
		if !found {
			switch {
			case des == '.' || des == ',':
				return 0, bad("fractions are not accepted")
			case bytes.IndexByte([]byte("YMWDHS"), des) >= 0:
				return 0, bad("designators must be in the order Y M D, then T H M S, each once")
			}
			return 0, bad("unknown designator " + string(rune(des)))
		}
		elements++
	}
	if elements == 0 {
		return 0, bad("it has no elements")
	}
	if week && (elements > 1) {
		return 0, bad("weeks (nW) cannot be combined with other elements")
	}
	return total, nil
}

// decodeExtensions reads the extensions of a create or a patch: only
// adobe_unifiedProfile.rowExpiration is known, and of it only ttlValue is
// set by the caller (valueStatus, setBy and updated, which Mosaic's
// answers echo, are accepted and set anew). prev is the dataset's current
// setting (nil at creation): updated keeps its time unless ttlValue
// changed. null or {} sets nothing. Errors are Invalid CodeExtensions or
// CodeTTL.
func decodeExtensions(raw json.RawMessage, prev *DatasetExtensions, now time.Time) (*DatasetExtensions, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	unknown := func(path string) error {
		return fault.Errorf(fault.Invalid, CodeExtensions, "extensions may hold adobe_unifiedProfile.rowExpiration.ttlValue only; %.80s is not accepted", path)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fault.E(fault.Invalid, CodeExtensions, "extensions must be an object")
	}
	for k := range top {
		if k != "adobe_unifiedProfile" {
			return nil, unknown("extensions." + k)
		}
	}
	up := bytes.TrimSpace(top["adobe_unifiedProfile"])
	if len(up) == 0 || bytes.Equal(up, []byte("null")) {
		return nil, nil
	}
	var prof map[string]json.RawMessage
	if err := json.Unmarshal(up, &prof); err != nil {
		return nil, fault.E(fault.Invalid, CodeExtensions, "extensions.adobe_unifiedProfile must be an object")
	}
	for k := range prof {
		if k != "rowExpiration" {
			return nil, unknown("extensions.adobe_unifiedProfile." + k)
		}
	}
	re := bytes.TrimSpace(prof["rowExpiration"])
	if len(re) == 0 || bytes.Equal(re, []byte("null")) {
		return nil, nil
	}
	var in struct {
		TTLValue    *string `json:"ttlValue"`
		ValueStatus any     `json:"valueStatus"`
		SetBy       any     `json:"setBy"`
		Updated     any     `json:"updated"`
	}
	dec := json.NewDecoder(bytes.NewReader(re))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fault.E(fault.Invalid, CodeExtensions, "extensions.adobe_unifiedProfile.rowExpiration must be an object with a string ttlValue")
	}
	if in.TTLValue == nil {
		return nil, fault.E(fault.Invalid, CodeTTL, "extensions.adobe_unifiedProfile.rowExpiration needs a ttlValue such as \"P30D\"")
	}
	if _, err := ParseTTL(*in.TTLValue); err != nil {
		return nil, err
	}
	out := &RowExpiration{TTLValue: *in.TTLValue, ValueStatus: "custom", SetBy: "user", Updated: now.UnixMilli()}
	if prev != nil && prev.UnifiedProfile != nil && prev.UnifiedProfile.RowExpiration != nil &&
		prev.UnifiedProfile.RowExpiration.TTLValue == out.TTLValue {
		out.Updated = prev.UnifiedProfile.RowExpiration.Updated
	}
	return &DatasetExtensions{UnifiedProfile: &ProfileExtension{RowExpiration: out}}, nil
}
