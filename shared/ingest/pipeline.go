package ingest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

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
)

// FragmentWriter writes a fragment if it is not older than the stored one.
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
	// Op is the streaming operation; empty means create.
	Op string
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
}

// Process ingests one row of the dataset described by spec. An invalid
// row returns an error of an invalid kind with a stable code; a transient
// failure returns an error for which Transient is true. Processing a row
// twice leaves the store as processing it once.
func (p *Pipeline) Process(ctx context.Context, spec *catalog.IngestSpec, row Row) (Outcome, error) {
	out := Outcome{Class: spec.Class}
	limit := MaxProfileBytes
	switch spec.Class {
	case catalog.ProfileClass:
	case catalog.EventClass:
		limit = MaxEventBytes
	default:
		return out, fault.E(fault.Invalid, CodeClass, "the dataset's schema class is not profile or experience event")
	}
	if !spec.ProfileEnabled && !spec.IdentityEnabled {
		return out, fault.E(fault.Invalid, CodeNotEnabled, "the dataset is not enabled for Profile or Identity")
	}
	switch row.Op {
	case "", OpCreate:
	default:
		return out, fault.Errorf(fault.Invalid, CodeOperation, "operation %q is not supported yet", row.Op)
	}
	if len(row.Data) > limit {
		code := CodeProfileTooLarge
		if spec.Class == catalog.EventClass {
			code = CodeEventTooLarge
		}
		return out, fault.Errorf(fault.Invalid, code, "record is %d bytes, over the %d-byte limit", len(row.Data), limit)
	}
	rec, err := DecodeRow(row.Data, limit)
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
	if spec.Validate != nil {
		if vs := spec.Validate(rec); len(vs) > 0 {
			return out, violationError(vs)
		}
	}
	var custom []identity.Namespace
	if p.Namespaces != nil {
		if custom, err = p.Namespaces.Namespaces(ctx); err != nil {
			return out, err
		}
	}
	ids, err := identity.Extract(rec, fieldsOf(spec), custom)
	if err != nil {
		return out, err
	}
	out.Identities = len(ids.Identities)
	out.Warnings = ids.Warnings
	ts := row.Received.UnixMilli()
	if t, ok := merge.LastUpdated(rec); ok {
		ts = t
	}
	primary := ids.Primary().Key()

	if spec.ProfileEnabled {
		switch spec.Class {
		case catalog.ProfileClass:
			err = p.Fragments.PutFragment(ctx, merge.Fragment{
				Identity: primary, Dataset: spec.DatasetID, Record: rec, Raw: row.Data,
				TS: ts, Src: row.Src, Batch: row.Batch,
			})
		case catalog.EventClass:
			var ev merge.Event
			ev, err = eventOf(rec)
			if err != nil {
				return out, err
			}
			ev.Identity, ev.Dataset, ev.Record, ev.Raw, ev.Src, ev.Batch = primary, spec.DatasetID, rec, row.Data, row.Src, row.Batch
			err = p.Events.PutEvent(ctx, ev)
		}
		if err != nil {
			return out, err
		}
	}
	if spec.IdentityEnabled && len(ids.Identities) > 1 {
		links := identity.Links(ids, spec.DatasetID, row.Batch, ts)
		out.Links = len(links)
		if len(links) > 0 {
			if err := p.Links.PutLinks(ctx, links); err != nil {
				return out, err
			}
		}
	}
	return out, nil
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

func eventOf(rec map[string]any) (merge.Event, error) {
	id, _ := rec["_id"].(string)
	if strings.TrimSpace(id) == "" || len(id) > maxEventIDLength {
		return merge.Event{}, fault.E(fault.Invalid, CodeEventID, "experience event needs a non-empty string _id")
	}
	s, _ := rec["timestamp"].(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.UnixMilli() < 0 {
		return merge.Event{}, fault.E(fault.Invalid, CodeEventTimestamp, "experience event needs an ISO-8601 timestamp after 1970")
	}
	return merge.Event{ID: id, Timestamp: t.UnixMilli()}, nil
}

func violationError(vs []catalog.Violation) error {
	var b strings.Builder
	for i, v := range vs {
		if i == maxViolationsInError {
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		if v.Pointer != "" {
			b.WriteString(v.Pointer)
			b.WriteString(": ")
		}
		b.WriteString(v.Message)
	}
	code := vs[0].Code
	if code == "" {
		code = CodeSchemaViolation
	}
	return fault.E(fault.Invalid, code, fmt.Sprintf("record does not match the schema: %s", b.String()))
}
