package ingest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/upsert"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// utf8BOM is the UTF-8 byte-order mark, which RFC 8259 §8.1 lets a parser
// ignore at the start of a text.
var utf8BOM = []byte("\xEF\xBB\xBF")

// Pipeline error codes.
const (
	CodeNotEnabled       = "DATASET-NOT-ENABLED"
	CodeClass            = "CLASS-UNSUPPORTED"
	CodeOperation        = "OPERATION-UNSUPPORTED"
	CodeEventID          = "EVENT-ID-MISSING"
	CodeEventTimestamp   = "EVENT-TIMESTAMP-INVALID"
	CodeSchemaViolation  = "ROW-SCHEMA"
	CodeEventTooLarge    = "EVENT-TOO-LARGE"
	CodeProfileTooLarge  = "PROFILE-TOO-LARGE"
	CodeArrayTooLong     = "ARRAY-TOO-LONG"
	maxEventIDLength     = 512
	maxViolationsInError = 5
	// CodeOrderingTimeClamped is a warning, not a refusal: the row's
	// extSourceSystemAudit.lastUpdatedDate was more than MaxClockSkew
	// after the row was received, and the receive time was used instead.
	CodeOrderingTimeClamped = "ORDERING-TIME-CLAMPED"
)

// DefaultMaxClockSkew is how far past its receive time a row's
// extSourceSystemAudit.lastUpdatedDate may be before it is clamped, when
// Pipeline.MaxClockSkew is zero. Producers' clocks drift, but a date in the
// far future would otherwise win every later update of the attribute.
const DefaultMaxClockSkew = time.Hour

// ParseClockSkew reads the MOSAIC_MAX_CLOCK_SKEW setting: a Go duration
// ("1h", "90m") greater than zero; empty means DefaultMaxClockSkew.
func ParseClockSkew(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultMaxClockSkew, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return 0, fault.Errorf(fault.Invalid, "CONFIG-CLOCK-SKEW", "clock skew %q is not a positive Go duration such as 1h", s)
	}
	return d, nil
}

// FragmentWriter writes a fragment: by its Op, a create replaces the
// stored fragment unless that one is newer, a merge patches it and a
// delete removes it, whatever the order the writes arrive in (package
// upsert holds the rules).
type FragmentWriter interface {
	PutFragment(ctx context.Context, f merge.Fragment) error
}

// LinkWriter writes identity links on both of their nodes.
type LinkWriter interface {
	PutLinks(ctx context.Context, links []identity.Link) error
}

// EventWriter writes an experience event, idempotently.
type EventWriter interface {
	PutEvent(ctx context.Context, e merge.Event) error
}

// Namespaces lists the tenant's custom identity namespaces;
// catalog.SpecLoader implements it, with a cache.
type Namespaces interface {
	Namespaces(ctx context.Context) ([]identity.Namespace, error)
}

// NamespaceFinder finds one namespace by code, reading the namespaces
// again when its cached list does not know the code, so that a namespace
// created a moment ago is usable at once; catalog.SpecLoader implements it,
// with a bound on how often a miss may force a read.
type NamespaceFinder interface {
	Namespace(ctx context.Context, code string) (identity.Namespace, bool, error)
}

// Row is one record to ingest and where it came from.
type Row struct {
	Data []byte
	// Received is when the source received the row (S3 object creation,
	// Kinesis arrival): the ordering time when the row has no
	// extSourceSystemAudit.lastUpdatedDate.
	Received time.Time
	// Src breaks ordering-time ties: "s3:<key>#<padded sequencer>:<row>"
	// or "kinesis:<shard>:<seq>[:<sub-sequence>]".
	Src string
	// Batch is the batch id, or the stream position.
	Batch string
	// Op is the streaming operation (OpCreate, OpMerge, OpDelete); empty
	// means OpMerge for an upsert dataset and OpCreate otherwise.
	Op string
	// IdentityDataset, when set, is the dataset the row's identity links
	// are written with as their source (AEP's streaming
	// operations.identity "create" with operations.identityDatasetId),
	// whether or not the row's own dataset is enabled for Identity.
	IdentityDataset string
}

// Outcome is what a row became.
type Outcome struct {
	Class      string
	Identities int
	Links      int
	Warnings   []identity.Warning
}

// Pipeline processes rows. Its writers are the profile store.
type Pipeline struct {
	Fragments FragmentWriter
	Links     LinkWriter
	Events    EventWriter
	// Namespaces, when set, adds the tenant's custom namespaces to the
	// standard ones that identities may use.
	Namespaces Namespaces
	// MaxClockSkew bounds how far an ordering time may be after the row's
	// receive time (see DefaultMaxClockSkew, used when zero).
	MaxClockSkew time.Duration
}

// Process ingests one row of the dataset described by spec. An invalid
// row returns an error of an invalid kind with a stable code and a message
// of at most MaxErrorMessageBytes; a transient failure returns an error for
// which Transient is true. Processing a row twice leaves the store as
// processing it once.
//
// What is written is the row after validation's coercions (xdm.Coerce),
// with its descriptor identity fields trimmed and a far-future ordering
// time clamped; the bytes received are passed on (Raw) only when they are
// that row already.
//
// The row's operation (Row.Op; for a row without one, a merge in an
// upsert dataset and a create elsewhere) decides what is written:
//   - create: the fragment (or event) and the links, as above;
//   - merge (profile class only): a fragment with Op merge.OpMerge whose
//     Record is the patch (RFC 7386), nulls included, and the links. The
//     patch is checked with spec.CheckPatch (no field is required) with
//     its nulls taken out; a null inside identityMap is refused with
//     upsert.CodeIdentityRemove, a null at a path the schema does not
//     define with xdm.CodeUnknownField;
//   - delete (profile class only): a fragment with Op merge.OpDelete and
//     no Record, keyed by the row's primary identity (checked with
//     spec.CheckPatch, nulls ignored), and no links.
//
// merge or delete on an experience event dataset, or another operation,
// is refused with CodeOperation. Links are written with Row.IdentityDataset
// as their source when it is set, else with the row's dataset when it is
// enabled for Identity.
func (p *Pipeline) Process(ctx context.Context, spec *catalog.IngestSpec, row Row) (Outcome, error) {
	out, err := p.process(ctx, spec, row, true)
	return out, boundError(err)
}

// Check is Process without writing: the same refusals (same codes and
// messages) and the same Outcome, warnings and link count included, with
// nothing written to the fragment, event or link stores. It reads only what
// Process reads (the tenant's namespaces). The batch engine checks every
// row of a batch with it before writing any, so that a batch that fails
// leaves profiles, events and the identity graph untouched.
func (p *Pipeline) Check(ctx context.Context, spec *catalog.IngestSpec, row Row) (Outcome, error) {
	out, err := p.process(ctx, spec, row, false)
	return out, boundError(err)
}

// process validates row and, when write, writes what it becomes.
func (p *Pipeline) process(ctx context.Context, spec *catalog.IngestSpec, row Row, write bool) (Outcome, error) {
	out := Outcome{Class: spec.Class}
	limit := MaxProfileBytes
	switch spec.Class {
	case catalog.ProfileClass:
	case catalog.EventClass:
		limit = MaxEventBytes
	default:
		return out, fault.E(fault.Invalid, CodeClass, "the dataset's schema class is not profile or experience event")
	}
	op := effectiveOp(spec, row.Op)
	// linkSource is the dataset the row's identity links are written
	// with; none for a delete.
	linkSource := ""
	if op != OpDelete {
		switch {
		case row.IdentityDataset != "":
			linkSource = row.IdentityDataset
		case spec.IdentityEnabled:
			linkSource = spec.DatasetID
		}
	}
	if !spec.ProfileEnabled && !spec.IdentityEnabled && linkSource == "" {
		return out, fault.E(fault.Invalid, CodeNotEnabled, "the dataset is not enabled for Profile or Identity")
	}
	switch op {
	case OpCreate:
	case OpMerge, OpDelete:
		if spec.Class == catalog.EventClass {
			return out, fault.Errorf(fault.Invalid, CodeOperation, "operation %q is not supported on an experience event dataset: events are only ever created", op)
		}
	default:
		return out, fault.Errorf(fault.Invalid, CodeOperation, "operation %q is not create, merge or delete", xdm.Truncate(op, maxOpInError))
	}
	if len(row.Data) > limit {
		code := CodeProfileTooLarge
		if spec.Class == catalog.EventClass {
			code = CodeEventTooLarge
		}
		return out, fault.Errorf(fault.Invalid, code, "record is %d bytes, over the %d-byte limit", len(row.Data), limit)
	}
	data := bytes.TrimPrefix(row.Data, utf8BOM)
	rec, err := DecodeRow(data, limit)
	if err != nil {
		return out, err
	}
	maxArray := MaxProfileArray
	if spec.Class == catalog.EventClass {
		maxArray = MaxEventArray
	}
	if err := checkArrays(rec, maxArray); err != nil {
		return out, err
	}
	// A merge's nulls are removals, not values: they are taken out before
	// validation (whose coercion would drop them) and put back after.
	var nulls [][]string
	var nullViolations []catalog.Violation
	if op == OpMerge {
		nulls = takeNulls(rec, nil, nil)
		if nullViolations, err = checkNulls(spec, nulls); err != nil {
			return out, err
		}
	}
	// changed: rec no longer is what data spells.
	fields := fieldsOf(spec)
	changed := identity.TrimFields(rec, fields)
	check, validate := spec.Check, spec.Validate
	if op != OpCreate {
		// A partial row: a merge patch, or a delete that needs only the
		// primary identity.
		check, validate = spec.CheckPatch, nil
	}
	switch {
	case check != nil:
		vs, c := check(rec)
		if vs = withViolations(nullViolations, vs); len(vs) > 0 {
			return out, violationError(vs)
		}
		changed = changed || c
	case validate != nil:
		if vs := withViolations(nullViolations, validate(rec)); len(vs) > 0 {
			return out, violationError(vs)
		}
		changed = true // unknown: encode the coerced row
	case len(nullViolations) > 0:
		return out, violationError(nullViolations)
	}
	custom, err := p.namespaces(ctx, rec, fields)
	if err != nil {
		return out, err
	}
	ids, err := identity.Extract(rec, fields, custom)
	if err != nil {
		return out, err
	}
	out.Identities = len(ids.Identities)
	out.Warnings = ids.Warnings
	ts := row.Received.UnixMilli()
	if t, ok := merge.LastUpdated(rec); ok {
		ts = t
		skew := p.MaxClockSkew
		if skew <= 0 {
			skew = DefaultMaxClockSkew
		}
		if !row.Received.IsZero() && t > row.Received.Add(skew).UnixMilli() {
			ts = row.Received.UnixMilli()
			merge.SetLastUpdated(rec, row.Received)
			changed = true
			out.Warnings = append(out.Warnings, identity.Warning{Code: CodeOrderingTimeClamped,
				Message: "extSourceSystemAudit.lastUpdatedDate is more than " + skew.String() + " after the row was received; the receive time is used"})
		}
	}
	primary := ids.Primary().Key()
	raw := data
	if changed || op != OpCreate {
		raw = nil // the writer encodes rec
	}
	putNulls(rec, nulls)

	if spec.ProfileEnabled {
		switch spec.Class {
		case catalog.ProfileClass:
			if !write {
				break
			}
			f := merge.Fragment{
				Identity: primary, Dataset: spec.DatasetID, Record: rec, Raw: raw,
				TS: ts, Src: row.Src, Batch: row.Batch,
			}
			switch op {
			case OpMerge:
				f.Op = OpMerge
			case OpDelete:
				f.Op, f.Record = OpDelete, nil
			}
			err = p.Fragments.PutFragment(ctx, f)
		case catalog.EventClass:
			var ev merge.Event
			ev, err = eventOf(rec, spec.RowExpiration)
			if err != nil {
				return out, err
			}
			if !write {
				break
			}
			ev.Identity, ev.Dataset, ev.Record, ev.Raw, ev.Src, ev.Batch = primary, spec.DatasetID, rec, raw, row.Src, row.Batch
			err = p.Events.PutEvent(ctx, ev)
		}
		if err != nil {
			return out, err
		}
	}
	if linkSource != "" && len(ids.Identities) > 1 {
		links := identity.Links(ids, linkSource, linkOrigin(row), row.Src, ts)
		out.Links = len(links)
		if len(links) > 0 && write {
			if err := p.Links.PutLinks(ctx, links); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// linkOrigin is the Source of the links a row makes: its batch id, or
// for a streamed record (whose batch is a time window of its dataset,
// "stream-…" as catalog.StreamBatchID names it, shared by many records)
// its stream position, so that a link names the one record that made it
// (docs/rules.md#identities).
func linkOrigin(row Row) string {
	if strings.HasPrefix(row.Batch, "stream-") {
		return row.Src
	}
	return row.Batch
}

// maxOpInError bounds an unknown operation quoted in a refusal.
const maxOpInError = 32

// effectiveOp is the operation of a row: its own, or for a row without one
// (a batch row) a merge in an upsert dataset and a create elsewhere.
func effectiveOp(spec *catalog.IngestSpec, op string) string {
	if op != "" {
		return op
	}
	if spec.Upsert {
		return OpMerge
	}
	return OpCreate
}

// takeNulls removes from obj, in place, every member whose value is null,
// at any depth through objects (an array is a value: nulls inside it are
// elements), and returns their paths, sorted. at is obj's path.
func takeNulls(obj map[string]any, at []string, out [][]string) [][]string {
	start := len(out)
	for k, v := range obj {
		switch c := v.(type) {
		case nil:
			delete(obj, k)
			out = append(out, append(slices.Clip(at), k))
		case map[string]any:
			out = takeNulls(c, append(slices.Clip(at), k), out)
		}
	}
	if at == nil {
		slices.SortFunc(out[start:], slices.Compare)
	}
	return out
}

// putNulls sets each path of nulls back to null in rec (objects on the
// way are created if validation dropped them).
func putNulls(rec map[string]any, nulls [][]string) {
	for _, path := range nulls {
		obj := rec
		for _, k := range path[:len(path)-1] {
			next, ok := obj[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				obj[k] = next
			}
			obj = next
		}
		obj[path[len(path)-1]] = nil
	}
}

// checkNulls refuses a merge's null inside identityMap (identities can
// only be added by a partial update: upsert.CodeIdentityRemove) and
// returns a violation (xdm.CodeUnknownField, as for a value there) for
// each null at a path the schema does not define, read with
// spec.FieldType; with no FieldType, paths are not checked.
func checkNulls(spec *catalog.IngestSpec, nulls [][]string) ([]catalog.Violation, error) {
	var vs []catalog.Violation
	for _, path := range nulls {
		if path[0] == "identityMap" {
			return nil, fault.Errorf(fault.Invalid, upsert.CodeIdentityRemove,
				"%s is null: a partial update may add identities but never remove them", xdm.Truncate(jsonPointer(path), MaxPointerBytes))
		}
		if spec.FieldType != nil && !fieldDefined(spec.FieldType, path) {
			vs = append(vs, catalog.Violation{Pointer: jsonPointer(path), Code: xdm.CodeUnknownField, Message: "field is not defined by the schema"})
		}
	}
	return vs, nil
}

// fieldDefined reports whether the schema whose field types are ft
// defines the field at path. FieldType reads dotted paths, so a key that
// holds '.', '[' or ']', or is empty, is one no field is named: only a map
// field takes it, as it takes any key.
func fieldDefined(ft func(string) (string, bool), path []string) bool {
	var b strings.Builder
	for i, k := range path {
		if k == "" || strings.ContainsAny(k, ".[]") {
			if typ, ok := ft(b.String()); !ok || typ != "map" {
				return false
			}
			k = "key" // any key of the map: the same schema
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(k)
	}
	_, ok := ft(b.String())
	return ok
}

// jsonPointer spells path as a JSON pointer (RFC 6901).
func jsonPointer(path []string) string {
	var b strings.Builder
	for _, k := range path {
		b.WriteByte('/')
		b.WriteString(pointerToken(k))
	}
	return b.String()
}

// withViolations is a and b in the validator's order: by pointer, code
// and message.
func withViolations(a, b []catalog.Violation) []catalog.Violation {
	if len(a) == 0 {
		return b
	}
	vs := append(slices.Clip(a), b...)
	slices.SortStableFunc(vs, func(x, y catalog.Violation) int {
		if c := strings.Compare(x.Pointer, y.Pointer); c != 0 {
			return c
		}
		if c := strings.Compare(x.Code, y.Code); c != 0 {
			return c
		}
		return strings.Compare(x.Message, y.Message)
	})
	return vs
}

func fieldsOf(spec *catalog.IngestSpec) []identity.Field {
	if len(spec.Identities) == 0 {
		return nil
	}
	fs := make([]identity.Field, len(spec.Identities))
	for i, f := range spec.Identities {
		fs[i] = identity.Field{Path: f.Path, Namespace: f.Namespace, Primary: f.Primary}
	}
	return fs
}

// eventOf reads an event's _id and timestamp, and its expiry: with a row
// expiration ttl (the dataset's; 0: none), the timestamp plus ttl in
// epoch seconds, rounded up so that an event never expires early (AEP:
// "new events get expiry = event timestamp + TTL at ingestion"). An event
// older than ttl is still written, already expired: reads leave it out
// and DynamoDB's TTL deletes it (docs/identity-and-merge.md,
// "Event expiry").
func eventOf(rec map[string]any, ttl time.Duration) (merge.Event, error) {
	id, _ := rec["_id"].(string)
	if strings.TrimSpace(id) == "" || len(id) > maxEventIDLength {
		return merge.Event{}, fault.E(fault.Invalid, CodeEventID, "experience event needs a non-empty string _id")
	}
	s, _ := rec["timestamp"].(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.UnixMilli() < 0 {
		return merge.Event{}, fault.E(fault.Invalid, CodeEventTimestamp, "experience event needs an ISO-8601 timestamp after 1970")
	}
	ev := merge.Event{ID: id, Timestamp: t.UnixMilli()}
	if ttl > 0 {
		ev.ExpiresAt = expiresAt(ev.Timestamp, ttl)
	}
	return ev, nil
}

// expiresAt is the epoch second at which an event of time ts (epoch ms)
// expires under ttl: ceil((ts + ttl) / 1 s).
func expiresAt(ts int64, ttl time.Duration) int64 {
	ms := ts + ttl.Milliseconds()
	return (ms + 999) / 1000
}

// violationError is one refusal for a row's violations: the first's code,
// and their pointers and messages, each cut to its bound, in a message
// of at most MaxErrorMessageBytes.
func violationError(vs []catalog.Violation) error {
	var b strings.Builder
	b.WriteString("record does not match the schema: ")
	for i, v := range vs {
		if i == maxViolationsInError {
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		if v.Pointer != "" {
			b.WriteString(xdm.Truncate(v.Pointer, MaxPointerBytes))
			b.WriteString(": ")
		}
		b.WriteString(xdm.Truncate(v.Message, MaxErrorMessageBytes))
		if b.Len() >= MaxErrorMessageBytes {
			break
		}
	}
	code := vs[0].Code
	if code == "" {
		code = CodeSchemaViolation
	}
	return fault.E(fault.Invalid, xdm.Truncate(code, MaxCodeBytes), xdm.Truncate(b.String(), MaxErrorMessageBytes))
}

// boundError cuts the code and message of a refusal to their bounds, so
// that no failed record outgrows its item, whatever built the error.
func boundError(err error) error {
	if err == nil {
		return nil
	}
	var fe *fault.Error
	if !errors.As(err, &fe) || (len(fe.Message) <= MaxErrorMessageBytes && len(fe.Code) <= MaxCodeBytes) {
		return err
	}
	return &fault.Error{Kind: fe.Kind, Code: xdm.Truncate(fe.Code, MaxCodeBytes), Message: xdm.Truncate(fe.Message, MaxErrorMessageBytes), Err: fe.Err}
}

// namespaces lists the custom namespaces for rec. When rec names a code
// the list does not know and the lister is also a NamespaceFinder, the
// finder is asked for that code (which reads the namespaces again) and the
// list is taken anew; a code still unknown then refuses the row in
// identity.Extract.
func (p *Pipeline) namespaces(ctx context.Context, rec map[string]any, fields []identity.Field) ([]identity.Namespace, error) {
	if p.Namespaces == nil {
		return nil, nil
	}
	custom, err := p.Namespaces.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	finder, ok := p.Namespaces.(NamespaceFinder)
	if !ok {
		return custom, nil
	}
	code, unknown := unknownCode(rec, fields, custom)
	if !unknown {
		return custom, nil
	}
	if _, found, err := finder.Namespace(ctx, code); err != nil || !found {
		return custom, err
	}
	return p.Namespaces.Namespaces(ctx)
}

// unknownCode returns the first namespace code rec uses (a descriptor
// field holding a value, or an identityMap key) that custom and the
// standard namespaces do not know.
func unknownCode(rec map[string]any, fields []identity.Field, custom []identity.Namespace) (string, bool) {
	for _, f := range fields {
		if v, ok := identity.Pointer(rec, f.Path); ok && v != nil {
			if _, known := identity.Lookup(f.Namespace, custom); !known {
				return f.Namespace, true
			}
		}
	}
	if im, ok := rec["identityMap"].(map[string]any); ok {
		for code := range im {
			if _, known := identity.Lookup(code, custom); !known {
				return code, true
			}
		}
	}
	return "", false
}
