package catalog

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Tag values, AEP's spellings.
const (
	TagEnabledTrue  = "enabled:true"
	TagEnabledFalse = "enabled:false"
	TagUpsertTrue   = "isUpsert:true"
)

// DefaultSchemaContentType is the schemaRef content type AEP examples use.
const DefaultSchemaContentType = "application/vnd.adobe.xed-full+json;version=1"

// schemaContentType matches the schemaRef content types AEP's Catalog API
// documents: the Schema Registry's representations of a schema
// (application/vnd.adobe.xed[-full][-notext][-desc]+json, optionally with
// "; version=<n>", spaces and case as clients send them).
var schemaContentType = regexp.MustCompile(`^application/vnd\.adobe\.xed(-full)?(-notext)?(-desc)?\+json(\s*;\s*version\s*=\s*[0-9.]+)?$`)

// SchemaRef points a dataset at its schema.
type SchemaRef struct {
	ID          string `json:"id"`
	ContentType string `json:"contentType"`
}

// Dataset is a catalog dataset in AEP's shape.
type Dataset struct {
	ID              string              `json:"id"`
	Name            string              `json:"name"`
	Description     string              `json:"description,omitempty"`
	ImsOrg          string              `json:"imsOrg"`
	SandboxID       string              `json:"sandboxId,omitempty"`
	Tags            map[string][]string `json:"tags"`
	Version         string              `json:"version"`
	Created         int64               `json:"created"`
	Updated         int64               `json:"updated"`
	CreatedClient   string              `json:"createdClient"`
	CreatedUser     string              `json:"createdUser"`
	UpdatedUser     string              `json:"updatedUser"`
	Files           string              `json:"files"`
	SchemaRef       SchemaRef           `json:"schemaRef"`
	FileDescription map[string]any      `json:"fileDescription,omitempty"`
	// ProfileEnabledAt and IdentityEnabledAt (epoch ms) are when the
	// unifiedProfile and unifiedIdentity tags last became enabled:true, 0
	// while disabled. As on AEP, enabling does not backfill: rows ingested
	// before that time are not in Profile or the identity graph until they
	// are ingested again.
	ProfileEnabledAt  int64 `json:"profileEnabledAt,omitempty"`
	IdentityEnabledAt int64 `json:"identityEnabledAt,omitempty"`
	// Extensions holds the row expiration of an experience event
	// dataset (see RowExpiration); nil when none is set.
	Extensions *DatasetExtensions `json:"extensions,omitempty"`
}

// DatasetInput is the body of POST /dataSets.
type DatasetInput struct {
	Name            string              `json:"name"`
	Description     string              `json:"description,omitempty"`
	SchemaRef       *SchemaRef          `json:"schemaRef"`
	Tags            map[string][]string `json:"tags,omitempty"`
	FileDescription map[string]any      `json:"fileDescription,omitempty"`
	// Extensions is AEP's extensions object; see decodeExtensions.
	Extensions json.RawMessage `json:"extensions,omitempty"`
}

// Flags are what a dataset's tags say about the profile path.
type Flags struct {
	ProfileEnabled  bool
	IdentityEnabled bool
	Upsert          bool
}

// ParseTags reads the unifiedProfile and unifiedIdentity tags. Values match
// without regard to spaces or case ("enabled:true", "enabled: true").
func ParseTags(tags map[string][]string) Flags {
	var f Flags
	for _, v := range tags[TagUnifiedProfile] {
		switch normTag(v) {
		case "enabled:true":
			f.ProfileEnabled = true
		case "isupsert:true":
			f.Upsert = true
		}
	}
	for _, v := range tags[TagUnifiedIdentity] {
		if normTag(v) == "enabled:true" {
			f.IdentityEnabled = true
		}
	}
	return f
}

func normTag(v string) string {
	return strings.ToLower(strings.Join(strings.Fields(v), ""))
}

// checkTags refuses a tag value other than the ones allowed, and a tag
// that gives one setting two values (["enabled:true", "enabled:false"]):
// which one would win is not obvious, so neither does.
func checkTags(tags map[string][]string) error {
	allowed := map[string][]string{
		TagUnifiedProfile:  {"enabled:true", "enabled:false", "isupsert:true", "isupsert:false"},
		TagUnifiedIdentity: {"enabled:true", "enabled:false"},
	}
	for tag, ok := range allowed {
		said := map[string]string{} // setting → the value a tag gave it
		for _, v := range tags[tag] {
			n := normTag(v)
			if !slices.Contains(ok, n) {
				return fault.Errorf(fault.Invalid, "CATALOG-TAG", "tag %s does not accept the value %q", tag, v)
			}
			setting, value, _ := strings.Cut(n, ":")
			if prev, seen := said[setting]; seen && prev != value {
				return fault.Errorf(fault.Invalid, "CATALOG-TAG", "tag %s says both %s:true and %s:false", tag, setting, setting)
			}
			said[setting] = value
		}
	}
	return nil
}

// NewDataset builds a dataset from a create request. The caller checks that
// the schema exists. A request without a name (AEP's Catalog API does not
// require one) gets "Dataset <id>"; schemaRef.contentType, when given, must
// be one of the Schema Registry's schema representations. extensions may
// set a row expiration (see decodeExtensions; the caller checks the
// schema's class with CheckRowExpirationClass).
func NewDataset(in DatasetInput, imsOrg, sandbox string, now time.Time) (Dataset, error) {
	if in.SchemaRef == nil || in.SchemaRef.ID == "" {
		return Dataset{}, fault.E(fault.Invalid, "CATALOG-SCHEMAREF", "schemaRef.id is required")
	}
	if err := checkTags(in.Tags); err != nil {
		return Dataset{}, err
	}
	ext, err := decodeExtensions(in.Extensions, nil, now)
	if err != nil {
		return Dataset{}, err
	}
	ref := *in.SchemaRef
	if ref.ContentType == "" {
		ref.ContentType = DefaultSchemaContentType
	}
	if !schemaContentType.MatchString(strings.ToLower(strings.TrimSpace(ref.ContentType))) {
		return Dataset{}, fault.E(fault.Invalid, "CATALOG-SCHEMAREF", "schemaRef.contentType must be a schema representation such as application/vnd.adobe.xed-full+json;version=1")
	}
	tags := in.Tags
	if tags == nil {
		tags = map[string][]string{}
	}
	id := newDatasetID()
	ms := now.UnixMilli()
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = "Dataset " + id
	}
	flags := ParseTags(tags)
	var profileAt, identityAt int64
	if flags.ProfileEnabled {
		profileAt = ms
	}
	if flags.IdentityEnabled {
		identityAt = ms
	}
	return Dataset{
		ProfileEnabledAt:  profileAt,
		IdentityEnabledAt: identityAt,
		ID:                id,
		Name:              name,
		Description:       in.Description,
		ImsOrg:            imsOrg,
		SandboxID:         sandbox,
		Tags:              tags,
		Version:           "1.0.0",
		Created:           ms,
		Updated:           ms,
		CreatedClient:     "mosaic",
		CreatedUser:       "mosaic",
		UpdatedUser:       "mosaic",
		Files:             "@/dataSetFiles?dataSetId=" + id,
		SchemaRef:         ref,
		FileDescription:   in.FileDescription,
		Extensions:        ext,
	}, nil
}

// newDatasetID returns a 24-hex-digit id, the form of AEP's dataset ids.
func newDatasetID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
