package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"unicode/utf8"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// MaxMessageBytes bounds one streaming message (or one batch of them).
const MaxMessageBytes = 1 << 20

// Operations of a streaming message (AEP's header.operations.data).
const (
	OpCreate = merge.OpCreate
	OpMerge  = merge.OpMerge
	OpDelete = merge.OpDelete
)

// identityCreate is the one value of AEP's header.operations.identity:
// write the message's identity links with operations.identityDatasetId as
// their source.
const identityCreate = "create"

// Streaming message error codes.
const (
	CodeMessageTooLarge = "STREAM-MESSAGE-TOO-LARGE"
	CodeMessageJSON     = "STREAM-MESSAGE-JSON"
	CodeMessageDataset  = "STREAM-DATASET-MISSING"
	CodeMessageBody     = "STREAM-BODY-MISSING"
	CodeMessageSchema   = "STREAM-SCHEMA-MISMATCH"
	CodeMessageOp       = "STREAM-OPERATION"
	// CodeMessageIdentityDataset: header.operations.identityDatasetId
	// names a dataset that does not exist, has another schema than the
	// message's dataset, or is not enabled for Identity.
	CodeMessageIdentityDataset = "STREAM-IDENTITY-DATASET"
	// CodeRowBase64 refuses a record whose data is the base64 text of a
	// JSON message rather than the message: what the AWS CLI v2 puts when
	// --data is given without --cli-binary-format raw-in-base64-out (it
	// reads blob arguments as base64 by default; AWS CLI v2 migration guide).
	CodeRowBase64 = "ROW-BASE64"
)

// base64Message is CodeRowBase64's message.
const base64Message = "the record's data is base64 text; send raw bytes (AWS CLI v2: --cli-binary-format raw-in-base64-out)"

// Message is one AEP streaming message, parsed.
type Message struct {
	// Index is the message's position in a {"messages":[…]} batch, 0 otherwise.
	Index     int
	DatasetID string
	SchemaID  string
	Op        string
	// IdentityDatasetID is header.operations.identityDatasetId, given with
	// operations.identity "create": the dataset the message's identity
	// links are written with as their source. Whether it exists, has the
	// message dataset's schema and is enabled for Identity is for the
	// caller to check (CodeMessageIdentityDataset).
	IdentityDatasetID string
	// Entity is the raw xdmEntity (or the body itself, for Data Prep style
	// messages), decoded later by the pipeline.
	Entity json.RawMessage
	// Err is set when this message of a batch is malformed; siblings are
	// unaffected.
	Err error
}

type schemaRef struct {
	ID string `json:"id"`
}

type wireMessage struct {
	Header *struct {
		SchemaRef *schemaRef `json:"schemaRef"`
		DatasetID string     `json:"datasetId"`
		// Operations is read by parseOperations, strictly: a typo must
		// not turn a merge into a create that replaces the fragment.
		Operations json.RawMessage `json:"operations"`
	} `json:"header"`
	Body     json.RawMessage   `json:"body"`
	Messages []json.RawMessage `json:"messages"`
}

type wireBody struct {
	XDMMeta *struct {
		SchemaRef *schemaRef `json:"schemaRef"`
	} `json:"xdmMeta"`
	XDMEntity json.RawMessage `json:"xdmEntity"`
}

// ParseMessages parses one Kinesis record's data: a single streaming
// message or a {"messages":[…]} batch. An error means the whole record is
// unusable; a malformed message of a batch carries its own Err.
func ParseMessages(data []byte) ([]Message, error) {
	if len(data) > MaxMessageBytes {
		return nil, fault.Errorf(fault.Invalid, CodeMessageTooLarge, "streaming message is %d bytes, over the 1 MB limit", len(data))
	}
	if !utf8.Valid(data) {
		return nil, fault.E(fault.Invalid, CodeRowUTF8, "streaming message is not valid UTF-8")
	}
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		if base64OfJSON(data) {
			return nil, fault.E(fault.Invalid, CodeRowBase64, base64Message)
		}
		return nil, fault.Wrap(err, fault.Invalid, CodeMessageJSON, "streaming message is not valid JSON: "+jsonProblem(err, len(data)))
	}
	if w.Messages != nil && len(w.Messages) == 0 {
		return nil, fault.E(fault.Invalid, CodeMessageBody, `streaming record holds {"messages": []}: no message`)
	}
	if w.Messages != nil {
		out := make([]Message, len(w.Messages))
		for i, raw := range w.Messages {
			var m wireMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				out[i] = Message{Index: i, Err: fault.Wrap(err, fault.Invalid, CodeMessageJSON, "streaming message is not valid JSON: "+jsonProblem(err, len(raw)))}
				continue
			}
			out[i] = parseOne(m)
			out[i].Index = i
		}
		return out, nil
	}
	return []Message{parseOne(w)}, nil
}

func parseOne(w wireMessage) Message {
	var m Message
	if w.Header == nil || w.Header.DatasetID == "" {
		m.Err = fault.E(fault.Invalid, CodeMessageDataset, "streaming message has no header.datasetId")
		return m
	}
	m.DatasetID = w.Header.DatasetID
	if w.Header.SchemaRef != nil {
		m.SchemaID = w.Header.SchemaRef.ID
	}
	op, idDataset, err := parseOperations(w.Header.Operations)
	if err != nil {
		m.Err = err
		return m
	}
	m.Op, m.IdentityDatasetID = op, idDataset
	body := bytes.TrimSpace(w.Body)
	if len(body) == 0 || body[0] != '{' {
		m.Err = fault.E(fault.Invalid, CodeMessageBody, "streaming message has no body object")
		return m
	}
	var b wireBody
	if err := json.Unmarshal(body, &b); err != nil {
		m.Err = fault.Wrap(err, fault.Invalid, CodeMessageJSON, "streaming message body is not valid JSON: "+jsonProblem(err, len(body)))
		return m
	}
	if b.XDMMeta != nil && b.XDMMeta.SchemaRef != nil && b.XDMMeta.SchemaRef.ID != "" {
		if m.SchemaID != "" && m.SchemaID != b.XDMMeta.SchemaRef.ID {
			m.Err = fault.E(fault.Invalid, CodeMessageSchema, "header.schemaRef and body.xdmMeta.schemaRef differ")
			return m
		}
		m.SchemaID = b.XDMMeta.SchemaRef.ID
	}
	entity := bytes.TrimSpace(b.XDMEntity)
	switch {
	case len(entity) > 0 && entity[0] != '{':
		m.Err = fault.E(fault.Invalid, CodeMessageBody, "streaming message's body.xdmEntity is not an object")
	case len(entity) > 0:
		m.Entity = b.XDMEntity
	case b.XDMMeta != nil:
		m.Err = fault.E(fault.Invalid, CodeMessageBody, "streaming message has no body.xdmEntity")
	case emptyObject(body):
		m.Err = fault.E(fault.Invalid, CodeMessageBody, "streaming message has an empty body: send the record in body.xdmEntity")
	default:
		// Data Prep style (AEP's streaming upserts): the body is the record.
		m.Entity = body
	}
	return m
}

// emptyObject reports whether data is a JSON object without members.
func emptyObject(data []byte) bool {
	var members map[string]json.RawMessage
	return json.Unmarshal(data, &members) == nil && len(members) == 0
}

// operationFields are the members of header.operations (AEP's streaming
// upserts: data, and identity with identityDatasetId).
var operationFields = []string{"data", "identity", "identityDatasetId"}

// parseOperations reads header.operations: absent means create. Present,
// it must be an object whose members are among operationFields, spelled
// exactly, each a string: data one of create, merge and delete; identity
// "create" and identityDatasetId given together, and not with a delete
// (which writes no links). Anything else is refused with CodeMessageOp,
// so that a misspelt or empty operation is never taken for a create.
func parseOperations(raw json.RawMessage) (op, identityDataset string, err error) {
	if len(raw) == 0 {
		return OpCreate, "", nil
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil || members == nil {
		return "", "", fault.E(fault.Invalid, CodeMessageOp, "header.operations must be an object")
	}
	values := map[string]string{}
	for k, v := range members {
		if !slices.Contains(operationFields, k) {
			return "", "", fault.Errorf(fault.Invalid, CodeMessageOp, "header.operations has an unknown member %q; its members are data, identity and identityDatasetId", xdm.Truncate(k, maxOpInError))
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", "", fault.Errorf(fault.Invalid, CodeMessageOp, "header.operations.%s must be a string", k)
		}
		values[k] = s
	}
	op = OpCreate
	if d, ok := values["data"]; ok {
		op = d
	}
	switch op {
	case OpCreate, OpMerge, OpDelete:
	default:
		return "", "", fault.E(fault.Invalid, CodeMessageOp, "header.operations.data must be create, merge or delete")
	}
	identity, idDataset := values["identity"], values["identityDatasetId"]
	switch {
	case identity != "" && identity != identityCreate:
		return "", "", fault.E(fault.Invalid, CodeMessageOp, "header.operations.identity must be create")
	case (identity == "") != (idDataset == ""):
		return "", "", fault.E(fault.Invalid, CodeMessageOp, "header.operations.identity and header.operations.identityDatasetId go together: give both or neither")
	case identity != "" && op == OpDelete:
		return "", "", fault.E(fault.Invalid, CodeMessageOp, "header.operations.identity create does not go with a delete, which writes no identity links")
	}
	return op, idDataset, nil
}

// base64OfJSON reports whether data is base64 text (standard alphabet,
// padded or not) of UTF-8 text that starts, after white space, with '{' or
// '[': a JSON message sent encoded once too often.
func base64OfJSON(data []byte) bool {
	text := bytes.TrimSpace(data)
	if len(text) < 2 {
		return false
	}
	for _, c := range text {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	dec, err := base64.StdEncoding.DecodeString(string(text))
	if err != nil {
		if dec, err = base64.RawStdEncoding.DecodeString(string(bytes.TrimRight(text, "="))); err != nil {
			return false
		}
	}
	dec = bytes.TrimSpace(dec)
	return len(dec) > 0 && (dec[0] == '{' || dec[0] == '[') && utf8.Valid(dec)
}

// CodeDatasetNotFound is the code of the catalog's refusal of a dataset id
// that names no dataset.
const CodeDatasetNotFound = "DATASET-NOT-FOUND"

// IdentityDatasetError checks the identity dataset of a message
// (header.operations.identityDatasetId) against the message's dataset,
// from what reading its spec gave (idSpec, err): it must exist, have the
// message dataset's schema and be enabled for Identity. A refusal is
// Invalid with CodeMessageIdentityDataset; a transient err is returned as
// it is; nil means the dataset may be used. stream-ingest records the
// refusal as a failed record; the HTTP endpoint answers it at once when
// asked to validate.
func IdentityDatasetError(spec, idSpec *catalog.IngestSpec, err error) error {
	switch {
	case err != nil && Transient(err):
		return err
	case err != nil && fault.As(err).Code == CodeDatasetNotFound:
		return fault.Wrap(err, fault.Invalid, CodeMessageIdentityDataset, "header.operations.identityDatasetId names a dataset that does not exist")
	case err != nil && (fault.KindOf(err) == fault.NotFound || fault.KindOf(err) == fault.Invalid):
		// Its schema is gone, or does not compile.
		_, msg := fault.Public(err)
		return fault.Wrap(err, fault.Invalid, CodeMessageIdentityDataset, "header.operations.identityDatasetId names a dataset that cannot be used: "+msg)
	case err != nil:
		return err
	case idSpec.SchemaID != spec.SchemaID:
		return fault.E(fault.Invalid, CodeMessageIdentityDataset, "header.operations.identityDatasetId names a dataset of another schema than the message's dataset")
	case !idSpec.IdentityEnabled:
		return fault.E(fault.Invalid, CodeMessageIdentityDataset, "header.operations.identityDatasetId names a dataset that is not enabled for Identity")
	}
	return nil
}
