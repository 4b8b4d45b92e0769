package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
)

// Error codes of the collection routes (besides the envelope codes of
// package ingest, STREAM-*, which stream-ingest records for the same faults).
const (
	codeInletNotFound  = "COLLECTION-INLET-NOT-FOUND"
	codeTooLarge       = "COLLECTION-MESSAGE-TOO-LARGE"
	codeBatchBody      = "COLLECTION-BATCH-BODY"
	codeNotSingle      = "COLLECTION-NOT-SINGLE"
	codeDatasetUnknown = "COLLECTION-DATASET-NOT-FOUND"
	codeSyncBatch      = "COLLECTION-SYNC-VALIDATION-BATCH"
	codeValidation     = "COLLECTION-SYNC-VALIDATION"
	codeUnavailable    = "COLLECTION-STREAM-UNAVAILABLE"
	codeNoMessages     = "COLLECTION-NO-MESSAGES"
	codeParam          = "COLLECTION-PARAM"
)

// Limits of the collection routes.
const (
	// maxMessageBytes is AEP's limit of one message: larger ones are 413
	// ("Streaming ingestion guardrails": 1 MB per record).
	maxMessageBytes = ingest.MaxMessageBytes
	// maxPartitionKey is Kinesis's bound on a partition key: 256 Unicode
	// characters (Kinesis API Reference, PutRecord).
	maxPartitionKey = 256
	// maxRecordsPerCall and maxBytesPerCall are PutRecords' bounds: 500
	// records and 5 MiB of data and partition keys per call (Kinesis API
	// Reference, PutRecords).
	maxRecordsPerCall = 500
	maxBytesPerCall   = 5 << 20
	// putAttempts is how many times an entry PutRecords failed is put;
	// between attempts the handler waits firstBackoff, doubled each time,
	// with full jitter.
	putAttempts  = 4
	firstBackoff = 50 * time.Millisecond
	// putMargin is the time kept before the invocation's deadline to
	// answer: no PutRecords call starts with less left, and the messages
	// not yet put are answered 503, so that the client learns exactly
	// which to send again instead of a gateway timeout after a part of the
	// batch was put.
	putMargin = 2 * time.Second
	// maxSyncViolations is AEP's bound: validation stops after 5 errors
	// per message.
	maxSyncViolations = 5
)

// prepared is a message ready to be put on the stream.
type prepared struct {
	data []byte
	key  string
}

// syncValidation reads ?syncValidation= (or AEP's older spelling,
// synchronousValidation=): true or false in any case, or 1 or 0; absent
// is false. Another value, or the parameter given twice, is 400
// COLLECTION-PARAM rather than a validation silently skipped.
func syncValidation(r *apigw.Request) (bool, error) {
	on := false
	for _, name := range []string{"syncValidation", "synchronousValidation"} {
		vs := r.Query[name]
		if len(vs) == 0 {
			continue
		}
		v, err := strconv.ParseBool(vs[0])
		if len(vs) > 1 || err != nil || !slices.Contains([]string{"true", "false", "1", "0"}, strings.ToLower(vs[0])) {
			return false, fault.Errorf(fault.Invalid, codeParam, "%s must be true or false, given once", name)
		}
		on = on || v
	}
	return on, nil
}

// postMessage is AEP's POST /collection/{inletId}: one message. 200
// {"inletId","xactionId","receivedTimeMs","syncValidation":{"skipped":true}}
// (or {"status":"pass"} with syncValidation=true) once the message is on
// the ingest stream; the problem answer otherwise, nothing put.
func (h *handler) postMessage(ctx context.Context, r *apigw.Request) (int, any, error) {
	received := h.now()
	inletID := r.Param("inletId")
	if st, v, err, done := h.checkInlet(ctx, r, inletID); done {
		return st, v, err
	}
	if len(r.Body) > maxMessageBytes {
		return h.answerError(r, inletID, tooLarge(len(r.Body)))
	}
	if isBatch(r.Body) {
		return h.answerError(r, inletID, fault.E(fault.Invalid, codeNotSingle, "the body holds messages: post a batch to /collection/batch/{inletId}"))
	}
	sync, err := syncValidation(r)
	if err != nil {
		return h.answerError(r, inletID, err)
	}
	p, err := h.prepare(ctx, r.Body, sync, received)
	if err != nil {
		var ve *violationsError
		if errors.As(err, &ve) {
			return http.StatusBadRequest, h.validationProblem(r, inletID, ve), nil
		}
		return h.answerError(r, inletID, err)
	}
	out, err := h.stream.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName: aws.String(h.name), Data: p.data, PartitionKey: aws.String(p.key),
	})
	if err != nil {
		slog.WarnContext(ctx, "put on the ingest stream failed", "err", err)
		return h.answerError(r, inletID, fault.Wrap(err, fault.Unavailable, codeUnavailable, "the message could not be put on the ingest stream; send it again"))
	}
	sv := map[string]any{"skipped": true}
	if sync {
		sv = map[string]any{"status": "pass"}
	}
	return http.StatusOK, map[string]any{
		"inletId":        inletID,
		"xactionId":      xactionID(received, aws.ToString(out.ShardId), aws.ToString(out.SequenceNumber)),
		"receivedTimeMs": received.UnixMilli(),
		"syncValidation": sv,
	}, nil
}

// checkInlet answers 404 for an unknown inlet (done is true then, or when
// the store could not be read).
func (h *handler) checkInlet(ctx context.Context, r *apigw.Request, inletID string) (int, any, error, bool) {
	ok, err := h.inletExists(ctx, inletID)
	if err != nil {
		st, v, err := h.answerError(r, inletID, err)
		return st, v, err, true
	}
	if !ok {
		st, v, err := h.answerError(r, inletID, fault.Errorf(fault.NotFound, codeInletNotFound, "inlet %q does not exist: create one with POST /data/foundation/flowservice/connections", truncate(inletID, 64)))
		return st, v, err, true
	}
	return 0, nil, nil, false
}

// xactionID is a message's transaction id, "<receivedTimeMs>:<shardId>:<sequenceNumber>":
// the stream position at which stream-ingest reads it, which its failed
// record (shard, sequenceNumber) names too.
func xactionID(received time.Time, shard, seq string) string {
	return fmt.Sprintf("%d:%s:%s", received.UnixMilli(), shard, seq)
}

func tooLarge(n int) error {
	return fault.Errorf(fault.TooLarge, codeTooLarge, "message is %d bytes, over the 1 MB limit of a message", n)
}

// isBatch reports whether body is a JSON object with a "messages" member.
func isBatch(body []byte) bool {
	var probe struct {
		Messages json.RawMessage `json:"messages"`
	}
	return json.Unmarshal(body, &probe) == nil && probe.Messages != nil
}

// violationsError is a syncValidation refusal: the pipeline's error and,
// for a record that does not match its schema, the violations.
type violationsError struct {
	err        error
	violations []catalog.Violation
}

func (e *violationsError) Error() string { return e.err.Error() }
func (e *violationsError) Unwrap() error { return e.err }

// prepare reads one message as stream-ingest will: its envelope
// (ingest.ParseMessages), its dataset (which must exist) and schema
// (which must be the dataset's), and with sync the whole record through
// the ingest pipeline's Check, nothing written. It returns the message's
// bytes and partition key, or the refusal: fault Invalid with the
// envelope's code, codeDatasetUnknown, a *violationsError (sync only), or a
// transient fault when the catalog could not be read.
func (h *handler) prepare(ctx context.Context, raw []byte, sync bool, received time.Time) (prepared, error) {
	if len(raw) > maxMessageBytes {
		return prepared{}, tooLarge(len(raw))
	}
	ms, err := ingest.ParseMessages(raw)
	if err != nil {
		return prepared{}, err
	}
	if len(ms) != 1 {
		return prepared{}, fault.E(fault.Invalid, codeNotSingle, "a message of a batch cannot itself hold messages")
	}
	m := ms[0]
	if m.Err != nil {
		return prepared{}, m.Err
	}
	spec, err := h.specs.Spec(ctx, m.DatasetID)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound && fault.As(err).Code == ingest.CodeDatasetNotFound {
			return prepared{}, fault.Errorf(fault.Invalid, codeDatasetUnknown, "header.datasetId %q names no dataset", truncate(m.DatasetID, 64))
		}
		if fault.KindOf(err) == fault.NotFound {
			return prepared{}, fault.Wrap(err, fault.Invalid, codeDatasetUnknown, "the dataset cannot be used: "+fault.As(err).Message)
		}
		return prepared{}, err
	}
	if m.SchemaID != "" && spec.SchemaID != "" && m.SchemaID != spec.SchemaID {
		return prepared{}, fault.E(fault.Invalid, ingest.CodeMessageSchema, "the message's schemaRef is not the dataset's schema")
	}
	if sync && m.IdentityDatasetID != "" {
		ids, err := h.specs.Spec(ctx, m.IdentityDatasetID)
		if err := ingest.IdentityDatasetError(spec, ids, err); err != nil {
			return prepared{}, err
		}
	}
	if sync {
		row := ingest.Row{Data: m.Entity, Received: received, Op: m.Op, IdentityDataset: m.IdentityDatasetID}
		if _, err := h.check.Check(ctx, spec, row); err != nil {
			if ingest.Transient(err) || fault.KindOf(err) == fault.Internal {
				return prepared{}, err
			}
			return prepared{}, &violationsError{err: err, violations: h.violations(spec, m)}
		}
	}
	return prepared{data: raw, key: h.partitionKey(ctx, spec, m, raw)}, nil
}

// violations lists the schema violations of a create message's entity
// (the spec's Check, which the pipeline's Check runs too), for AEP's
// causingExceptions; nil when there are none or the message is a partial
// update (whose refusal is then reported as one cause).
func (h *handler) violations(spec *catalog.IngestSpec, m ingest.Message) []catalog.Violation {
	op := m.Op
	if op == ingest.OpCreate && spec.Check != nil {
		rec, err := ingest.DecodeRow(bytes.TrimPrefix(m.Entity, []byte("\xEF\xBB\xBF")), maxMessageBytes)
		if err != nil {
			return nil
		}
		vs, _ := spec.Check(rec)
		sort.SliceStable(vs, func(i, j int) bool { return vs[i].Pointer < vs[j].Pointer })
		return vs
	}
	return nil
}

// partitionKey is the message's Kinesis partition key: its primary
// identity's key "<namespace>#<value>" (identity.ID.Key, read as the
// pipeline reads it: the dataset's identity descriptors, then identityMap),
// so that one identity's messages go to one shard, in order. A key over
// Kinesis's 256 characters is "sha256:<hex of the key>". A message whose
// primary identity cannot be read (it will be a failed record) takes
// "message:<hex SHA-256 of its bytes>", the same for every retry of it.
func (h *handler) partitionKey(ctx context.Context, spec *catalog.IngestSpec, m ingest.Message, raw []byte) string {
	if key, ok := h.primaryKey(ctx, spec, m); ok {
		if utf8.RuneCountInString(key) > maxPartitionKey {
			sum := sha256.Sum256([]byte(key))
			return "sha256:" + hex.EncodeToString(sum[:])
		}
		return key
	}
	sum := sha256.Sum256(raw)
	return "message:" + hex.EncodeToString(sum[:])
}

func (h *handler) primaryKey(ctx context.Context, spec *catalog.IngestSpec, m ingest.Message) (string, bool) {
	rec, err := ingest.DecodeRow(bytes.TrimPrefix(m.Entity, []byte("\xEF\xBB\xBF")), maxMessageBytes)
	if err != nil {
		return "", false
	}
	fields := make([]identity.Field, len(spec.Identities))
	for i, f := range spec.Identities {
		fields[i] = identity.Field{Path: f.Path, Namespace: f.Namespace, Primary: f.Primary}
	}
	identity.TrimFields(rec, fields)
	custom, err := h.specs.Namespaces(ctx)
	if err != nil {
		return "", false
	}
	ids, err := identity.Extract(rec, fields, custom)
	if err != nil || len(ids.Identities) == 0 {
		return "", false
	}
	return ids.Primary().Key(), true
}

// validationProblem is AEP's 400 of a message that failed syncValidation.
func (h *handler) validationProblem(r *apigw.Request, inletID string, ve *violationsError) problem {
	code, msg := fault.Public(ve.err)
	var causes []validationError
	for _, v := range ve.violations {
		if len(causes) == maxSyncViolations {
			break
		}
		causes = append(causes, validationError{
			SchemaLocation: schemaLocation(v.Pointer), PointerToViolation: "#" + v.Pointer,
			Keyword: v.Code, Message: v.Message, CausingExceptions: []validationError{},
		})
	}
	if len(causes) == 0 {
		causes = []validationError{{SchemaLocation: "#", PointerToViolation: "#", Keyword: code, Message: msg, CausingExceptions: []validationError{}}}
	}
	n := len(ve.violations)
	if n == 0 {
		n = 1
	}
	summary := fmt.Sprintf("%d schema violations found", n)
	if n == 1 {
		summary = "1 schema violation found"
	}
	return problem{
		Type: problemInlet, Status: http.StatusBadRequest, Title: "Invalid XDM Message Format",
		Code: code, Message: msg, RequestID: r.RequestID,
		Report: &report{
			Message: aepMessage(inletID, "Message is invalid"),
			Cause: &cause{StreamingValidation: []validationError{{
				SchemaLocation: "#", PointerToViolation: "#", Message: summary, CausingExceptions: causes,
			}}},
		},
	}
}

// schemaLocation is the JSON Schema location of the field at a JSON
// pointer: "/a/b" → "#/properties/a/properties/b".
func schemaLocation(ptr string) string {
	if ptr == "" {
		return "#"
	}
	var b strings.Builder
	b.WriteString("#")
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("/items")
			continue
		}
		b.WriteString("/properties/")
		b.WriteString(seg)
	}
	return b.String()
}

// batchResponse is one entry of the batch answer's responses: a
// xactionId, or a statusCode and message.
type batchResponse struct {
	XactionID  string `json:"xactionId,omitempty"`
	StatusCode int    `json:"statusCode,omitempty"`
	Message    string `json:"message,omitempty"`
	// Code is Mosaic's stable code of a refusal.
	Code string `json:"code,omitempty"`
}

// postBatch is AEP's POST /collection/batch/{inletId}: {"messages":[…]},
// always 207 with one entry per message in order (a xactionId, or
// statusCode 400/413 for a refused message, 503 for one that could not be
// put: send only those again). syncValidation is 501, as on AEP.
func (h *handler) postBatch(ctx context.Context, r *apigw.Request) (int, any, error) {
	received := h.now()
	inletID := r.Param("inletId")
	if st, v, err, done := h.checkInlet(ctx, r, inletID); done {
		return st, v, err
	}
	sync, err := syncValidation(r)
	if err != nil {
		return h.answerError(r, inletID, err)
	}
	if sync {
		return http.StatusNotImplemented, problem{
			Type: problemInlet, Status: http.StatusNotImplemented, Title: http.StatusText(http.StatusNotImplemented),
			Code: codeSyncBatch, Message: "syncValidation is not available on the batch endpoint: post the message to /collection/{inletId}?syncValidation=true",
			RequestID: r.RequestID,
		}, nil
	}
	var body struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if !utf8.Valid(r.Body) {
		return h.answerError(r, inletID, fault.E(fault.Invalid, codeBatchBody, "the body is not valid UTF-8"))
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return h.answerError(r, inletID, fault.E(fault.Invalid, codeBatchBody, `the body is not {"messages": [...]}`))
	}
	if len(body.Messages) == 0 {
		return h.answerError(r, inletID, fault.E(fault.Invalid, codeNoMessages, `the body's "messages" is empty or absent`))
	}
	responses := make([]batchResponse, len(body.Messages))
	var entries []entry
	for i, raw := range body.Messages {
		p, err := h.prepare(ctx, raw, false, received)
		if err != nil {
			if fault.KindOf(err) == fault.Internal {
				slog.ErrorContext(ctx, "message refused", "index", i, "err", err)
			}
			responses[i] = refusal(inletID, err)
			continue
		}
		entries = append(entries, entry{index: i, prepared: p})
	}
	h.putAll(ctx, entries)
	for _, e := range entries {
		if e.err != nil {
			responses[e.index] = refusal(inletID, e.err)
			continue
		}
		responses[e.index] = batchResponse{XactionID: xactionID(received, e.shard, e.seq)}
	}
	return http.StatusMultiStatus, map[string]any{
		"inletId":        inletID,
		"batchId":        fmt.Sprintf("%d:%s", received.UnixMilli(), r.RequestID),
		"receivedTimeMs": received.UnixMilli(),
		"responses":      responses,
	}, nil
}

// refusal is the batch answer's entry for a refused message.
func refusal(inletID string, err error) batchResponse {
	code, msg := fault.Public(err)
	return batchResponse{StatusCode: statusOf(fault.KindOf(err)), Message: aepMessage(inletID, msg), Code: code}
}

// entry is a message of a batch on its way to the stream.
type entry struct {
	index int
	prepared
	shard, seq string
	err        error
}

// putAll puts the entries on the stream with PutRecords, in rounds: round
// k holds the k-th message of every partition key, so that no call holds
// two messages of one identity and a retried entry never lands after a
// later message of its identity. Each round goes in calls of at most
// maxRecordsPerCall records and maxBytesPerCall bytes; entries a call
// reports failed are put again (putAttempts in all, with backoff). An entry
// that still fails gets err (503), and so do the later messages of its
// partition key, which are not put: the client sends them again, in order.
func (h *handler) putAll(ctx context.Context, entries []entry) {
	failedKey := map[string]bool{}
	seen := map[string]int{}
	rounds := [][]*entry{}
	for i := range entries {
		e := &entries[i]
		k := seen[e.key]
		seen[e.key]++
		if k == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[k] = append(rounds[k], e)
	}
	for _, round := range rounds {
		var todo []*entry
		for _, e := range round {
			if failedKey[e.key] {
				e.err = fault.E(fault.Unavailable, codeUnavailable, "not put: an earlier message of the same identity in this batch could not be put; send both again, in order")
				continue
			}
			todo = append(todo, e)
		}
		for len(todo) > 0 {
			if h.late(ctx) {
				for _, e := range todo {
					e.err = fault.E(fault.Unavailable, codeUnavailable, "not put: the request ran out of time before this message; send it again")
				}
				break
			}
			n, size := 0, 0
			for n < len(todo) && n < maxRecordsPerCall {
				s := len(todo[n].data) + len(todo[n].key)
				if n > 0 && size+s > maxBytesPerCall {
					break
				}
				size += s
				n++
			}
			h.putCall(ctx, todo[:n])
			todo = todo[n:]
		}
		for _, e := range round {
			if e.err != nil {
				failedKey[e.key] = true
			}
		}
	}
}

// late reports whether less than putMargin is left before ctx's
// deadline (never, without one).
func (h *handler) late(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && d.Sub(h.now()) < putMargin
}

// putCall puts one call's entries, retrying the failed ones.
func (h *handler) putCall(ctx context.Context, call []*entry) {
	pending := call
	var lastErr string
	for attempt := 0; attempt < putAttempts && len(pending) > 0; attempt++ {
		if attempt > 0 {
			if h.late(ctx) {
				break
			}
			wait := firstBackoff << (attempt - 1)
			if err := h.sleep(ctx, time.Duration(rand.Int64N(int64(wait))+1)); err != nil {
				break
			}
		}
		in := &kinesis.PutRecordsInput{StreamName: aws.String(h.name), Records: make([]types.PutRecordsRequestEntry, len(pending))}
		for i, e := range pending {
			in.Records[i] = types.PutRecordsRequestEntry{Data: e.data, PartitionKey: aws.String(e.key)}
		}
		out, err := h.stream.PutRecords(ctx, in)
		if err != nil {
			lastErr = err.Error()
			slog.WarnContext(ctx, "PutRecords failed", "records", len(pending), "attempt", attempt+1, "err", err)
			continue
		}
		var again []*entry
		for i, res := range out.Records {
			if i >= len(pending) {
				break
			}
			if res.ErrorCode != nil {
				lastErr = aws.ToString(res.ErrorCode)
				again = append(again, pending[i])
				continue
			}
			pending[i].shard, pending[i].seq = aws.ToString(res.ShardId), aws.ToString(res.SequenceNumber)
		}
		if len(out.Records) < len(pending) {
			again = append(again, pending[len(out.Records):]...)
		}
		if len(again) > 0 {
			slog.WarnContext(ctx, "PutRecords entries failed", "failed", len(again), "records", len(pending), "attempt", attempt+1, "error", lastErr)
		}
		pending = again
	}
	for _, e := range pending {
		e.err = fault.E(fault.Unavailable, codeUnavailable, "the message could not be put on the ingest stream; send it again")
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
