// Package catalog holds the catalog's domain types — datasets, batches and
// the ingest spec that tells the pipeline how to read a dataset's rows — and
// the services that build them from the stored schema registry.
package catalog

import "time"

// Dataset tags that drive the profile path (AEP's names and values).
const (
	TagUnifiedProfile  = "unifiedProfile"
	TagUnifiedIdentity = "unifiedIdentity"
)

// Batch statuses, AEP's names.
const (
	BatchLoading    = "loading"
	BatchProcessing = "processing"
	BatchSuccess    = "success"
	BatchFailed     = "failed"
	BatchAborted    = "aborted"
)

// Batch origins (Batch.Origin).
const (
	BatchOriginAPI    = "api"
	BatchOriginDropIn = "drop-in"
)

// Input formats (Batch.InputFormat), AEP's inputFormat.format values.
const (
	FormatJSON    = "json"
	FormatCSV     = "csv"
	FormatParquet = "parquet"
)

// BatchFile is one file of a batch: what an upload route or a drop-in
// stored, read back as the concatenation of its objects in order.
type BatchFile struct {
	// Name is the file path given at upload (it may hold '/'), or the
	// drop-in object's key.
	Name    string       `json:"name"`
	Objects []FileObject `json:"objects"`
	// Size is the sum of the objects' sizes, in bytes.
	Size int64 `json:"size"`
	// Complete is false while a chunked upload (INITIALIZE … COMPLETE)
	// or a pre-signed multipart upload is open.
	Complete bool `json:"complete"`
	// UploadID is the S3 multipart upload of a pre-signed multipart file.
	UploadID string `json:"uploadId,omitempty"`
	Created  int64  `json:"created"` // epoch ms
}

// FileObject is one S3 object of a BatchFile: the whole file, or one
// chunk of a chunked upload starting at Offset.
type FileObject struct {
	Key       string `json:"key"`
	VersionID string `json:"versionId,omitempty"`
	Offset    int64  `json:"offset"`
	Size      int64  `json:"size"`
}

// Violation is one reason a row was refused: a JSON pointer into the row, a
// stable code and a readable message that holds no row values.
type Violation struct {
	Pointer string `json:"pointer,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IdentityField is a schema field marked as an identity by a descriptor.
type IdentityField struct {
	// Path is a JSON pointer into the record, e.g. "/personalEmail/address".
	Path      string
	Namespace string
	Primary   bool
}

// IngestSpec is everything the ingest pipeline needs to know about a
// dataset: its schema's class, whether rows feed profiles and the identity
// graph, the compiled validator and the identity fields.
type IngestSpec struct {
	DatasetID     string
	SchemaID      string
	SchemaVersion string
	// Class is the $id of the schema's class: the profile or the
	// experience event class.
	Class string
	// ProfileEnabled is true when the dataset is tagged unifiedProfile
	// enabled:true and its schema is enabled for Profile (union tag).
	ProfileEnabled  bool
	IdentityEnabled bool
	Upsert          bool
	// Validate checks one decoded row (map[string]any from encoding/json)
	// against the resolved schema, returning at most five violations.
	Validate func(row map[string]any) []Violation
	// Check is Validate that also reports whether coercion changed the
	// row (the ingest pipeline then stores the row encoded again rather
	// than the bytes received). Nil when Validate is nil.
	Check func(row map[string]any) (vs []Violation, changed bool)
	// CheckPatch is Check for a partial row (an upsert row, a streamed
	// merge or delete): the schema's required fields, and the identity
	// fields descriptors make required, are not required. The row must
	// hold no nulls (the pipeline takes a patch's nulls out first). Nil
	// when Validate is nil; compiled on first use.
	CheckPatch func(row map[string]any) (vs []Violation, changed bool)
	// FieldType returns the XDM type of the field at a dotted path of the
	// resolved schema ("person.name.firstName"; "[0]" for an array
	// element, "identityMap.Email[0].id"; any key below a map field):
	// meta:xdmType when the schema gives one ("map", "long", "int", …),
	// "date" or "date-time" for strings of those formats, else the JSON
	// Schema type ("string", "number", "integer", "boolean", "object",
	// "array"); false when the schema has no such field. The CSV and
	// Parquet readers type cells and check columns with it
	// (records.SchemaFunc). Nil when Validate is nil.
	FieldType  func(path string) (string, bool)
	Identities []IdentityField
	// RowExpiration is how long after its timestamp an event of the
	// dataset expires (extensions.adobe_unifiedProfile.rowExpiration);
	// 0: never. Set on experience event datasets only.
	RowExpiration time.Duration
}

// Class IDs.
const (
	ProfileClass = "https://ns.adobe.com/xdm/context/profile"
	EventClass   = "https://ns.adobe.com/xdm/context/experienceevent"
)

// BatchMetrics are AEP's batch metrics.
type BatchMetrics struct {
	// InputByteSize is the bytes of the batch's files as stored (before
	// gzip decompression).
	InputByteSize     int64 `json:"inputByteSize"`
	InputFileCount    int   `json:"inputFileCount"`
	InputRecordCount  int   `json:"inputRecordCount"`
	OutputRecordCount int   `json:"outputRecordCount"`
	FailedRecordCount int   `json:"failedRecordCount"`
}

// BatchError summarises one kind of failure within a batch.
type BatchError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	Rows        int    `json:"rows"`
}

// Batch is one unit of batch ingestion into one dataset.
type Batch struct {
	ID        string `json:"id"`
	DatasetID string `json:"datasetId"`
	Status    string `json:"status"`
	Created   int64  `json:"created"` // epoch ms
	Updated   int64  `json:"updated"` // epoch ms
	Completed int64  `json:"completed,omitempty"`
	// Started is when processing began (COMPLETE, or the drop-in's event).
	Started     int64  `json:"started,omitempty"`
	InputFormat string `json:"inputFormat,omitempty"`
	// MultiLineJSON is AEP's inputFormat.isMultiLineJson: each JSON file
	// is one top-level array of records.
	MultiLineJSON          bool `json:"isMultiLineJson,omitempty"`
	EnableErrorDiagnostics bool `json:"enableErrorDiagnostics,omitempty"`
	// Origin is BatchOriginAPI for a batch opened by POST /import/batches,
	// BatchOriginDropIn for the implicit batch of a file dropped under
	// ingest/<datasetId>/.
	Origin                  string `json:"origin,omitempty"`
	PartialIngestionPercent int    `json:"partialIngestionPercent"`
	// Source names where the batch came from: for a dropped file,
	// "s3://bucket/key" and its ETag.
	Source  string       `json:"source,omitempty"`
	ETag    string       `json:"etag,omitempty"`
	Metrics BatchMetrics `json:"metrics"`
	Errors  []BatchError `json:"errors,omitempty"`
	// Warnings count, by code, what was changed or dropped in rows that
	// were ingested (IDENTITY-* for identities dropped past the 20th or
	// refused, ORDERING-TIME-CLAMPED); a Mosaic addition to AEP's batch.
	Warnings []BatchError `json:"warnings,omitempty"`
}
