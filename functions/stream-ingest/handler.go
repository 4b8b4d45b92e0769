package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/ingest/ingestenv"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// reportMargin is the time kept before the invocation deadline to answer
// with the records left for a retry.
const reportMargin = 3 * time.Second

// recordWorkers is 1: the messages of a shard are written in order, and a
// transient failure stops before any later message is written.
const recordWorkers = 1

type handler struct {
	specs ingest.SpecSource
	run   *ingest.Runner
	// batches and counts make every streamed message part of its
	// streaming batch (catalog.StreamBatchID); either nil skips that.
	batches batchCreator
	counts  streamCounter
	created map[string]bool
	kin     kinesisReader // reads discarded ranges back (Drain)
}

func newHandler(ctx context.Context, getenv awsenv.Getenv) (*handler, error) {
	env, err := ingestenv.Load(ctx, getenv, recordWorkers, reportMargin)
	if err != nil {
		return nil, err
	}
	h := &handler{specs: env.Specs, run: env.Runner, batches: env.Catalog, kin: env.Clients.Kinesis}
	if f, ok := env.Runner.Failed.(*store.FailedRecords); ok {
		h.counts = f
	}
	return h, nil
}

// shardOf reads the shard id from a Kinesis event id "<shardId>:<sequence>".
func shardOf(r events.KinesisEventRecord) string {
	shard, _, _ := strings.Cut(r.EventID, ":")
	return shard
}

// Handle processes the records in order. Invalid records go to the
// failed-record store and count as done. At the first transient failure
// it stops, and reports that record and every later one as failed, so that
// the retry starts there and no identity's records are reordered.
func (h *handler) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	var resp events.KinesisEventResponse
	start := h.run.Now()
	stopAt := h.run.StopAt(ctx)
	specs := map[string]*catalog.IngestSpec{}
	failed, ingested := 0, 0
	counted := streamCounts{}
	for i, rec := range ev.Records {
		var err error
		if ctx.Err() != nil || h.run.Late(stopAt) {
			err = ctx.Err()
			if err == nil {
				err = context.DeadlineExceeded
			}
		} else {
			var n, in int
			var perBatch map[string]int
			n, in, perBatch, err = h.record(ctx, rec, specs)
			failed += n
			ingested += in
			if err == nil {
				counted.add(rec, perBatch)
			}
		}
		if err != nil {
			slog.WarnContext(ctx, "stream records left for retry", "records", len(ev.Records)-i, "err", err)
			for _, r := range ev.Records[i:] {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: r.Kinesis.SequenceNumber})
			}
			break
		}
	}
	if err := h.count(ctx, counted); err != nil {
		// The records are written (idempotently) but not counted: all of
		// them are retried, so that the batch metrics stay exact.
		slog.WarnContext(ctx, "stream records left for retry: counts not written", "records", len(ev.Records), "err", err)
		resp.BatchItemFailures = resp.BatchItemFailures[:0]
		for _, r := range ev.Records {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: r.Kinesis.SequenceNumber})
		}
	}
	end := h.run.Now()
	s := summarize(ev, start, end)
	s.ingested, s.failed, s.retried = ingested, failed, len(resp.BatchItemFailures)
	report(ctx, s, end)
	return resp, nil
}

// record ingests one Kinesis record, or each user record of a KPL
// aggregate, and returns how many messages were refused and how many
// ingested, and how many messages each streaming batch holds, or a
// transient error (which leaves the whole Kinesis record for a retry: the
// writes of its user records are idempotent). A message belongs to the
// batch of its dataset and of the record's arrival time; what cannot name
// a dataset that exists (not JSON, no header, an unknown dataset) to the
// batch of catalog.StreamUnknownDataset.
func (h *handler) record(ctx context.Context, rec events.KinesisEventRecord, specs map[string]*catalog.IngestSpec) (int, int, map[string]int, error) {
	k := rec.Kinesis
	arrived := k.ApproximateArrivalTimestamp.Time
	unknown := catalog.StreamBatchID(catalog.StreamUnknownDataset, arrived)
	perBatch := map[string]int{}
	at := catalog.FailedRecord{Batch: unknown, Shard: shardOf(rec), Seq: k.SequenceNumber}
	t := h.run.NewTally()
	var msgs []queued
	users, err := ingest.SplitRecord(k.Data)
	if err != nil {
		t.Refuse(at, err)
		perBatch[unknown]++
	}
	for _, u := range users {
		uat := at
		uat.SubSequence = u.SubSequence
		if u.Err != nil {
			t.Refuse(uat, u.Err)
			perBatch[unknown]++
			continue
		}
		// Position of the user record: sequence number, then the
		// sub-sequence within an aggregate, zero-padded so that sources
		// compare in stream order.
		src := fmt.Sprintf("kinesis:%s:%s", at.Shard, k.SequenceNumber)
		if u.Aggregated {
			src = fmt.Sprintf("%s:%05d", src, u.SubSequence)
		}
		ms, err := ingest.ParseMessages(u.Data)
		if err != nil {
			t.Refuse(uat, err)
			perBatch[unknown]++
		}
		for _, m := range ms {
			mat := uat
			mat.Index, mat.Dataset = m.Index, m.DatasetID
			if m.DatasetID != "" {
				mat.Batch = catalog.StreamBatchID(m.DatasetID, arrived)
			}
			msrc := src
			if len(ms) > 1 {
				msrc = fmt.Sprintf("%s#%04d", src, m.Index)
			}
			msgs = append(msgs, queued{schemaID: m.SchemaID, Item: ingest.Item{
				Row: ingest.Row{Data: m.Entity, Received: k.ApproximateArrivalTimestamp.Time, Src: msrc, Batch: msrc, Op: m.Op,
					IdentityDataset: m.IdentityDatasetID},
				At:  mat,
				Err: m.Err,
			}})
		}
	}
	next, before := 0, t.Refused() // refused before running: not rows
	err = h.run.Run(ctx, t, func() (ingest.Item, error) {
		if next == len(msgs) {
			return ingest.Item{}, io.EOF
		}
		m := msgs[next]
		next++
		if m.Err != nil {
			if m.At.Dataset != "" {
				// The message names a dataset but cannot be read: it is in
				// that dataset's batch only if the dataset exists.
				if _, err := h.spec(ctx, m.At.Dataset, specs); err != nil {
					if ingest.Transient(err) {
						return m.Item, err
					}
					if fault.As(err).Code == datasetNotFound {
						m.At.Batch = unknown
					}
				}
			}
			perBatch[m.At.Batch]++
			return m.Item, nil
		}
		it, err := h.withSpec(ctx, m, specs)
		if err == nil {
			if it.Err != nil && fault.As(it.Err).Code == datasetNotFound {
				it.At.Batch = unknown
			}
			perBatch[it.At.Batch]++
		}
		return it, err
	})
	if err != nil {
		return 0, 0, nil, err
	}
	for _, w := range t.Warnings() {
		// The code only: a warning's message may name a value.
		slog.WarnContext(ctx, "records ingested with a warning", "code", w.Code, "records", w.Rows)
	}
	return t.Refused(), t.Rows() - (t.Refused() - before), perBatch, nil
}

// queued is one streaming message to ingest and the schema it names.
type queued struct {
	ingest.Item
	schemaID string
}

// withSpec gives m the spec of its dataset, read once per invocation, or
// refuses it when the dataset is unknown or has another schema, or when
// its identity dataset (header.operations.identityDatasetId) does not
// exist, has another schema than the dataset or is not enabled for
// Identity (ingest.CodeMessageIdentityDataset). A transient failure to
// read a spec is returned.
func (h *handler) withSpec(ctx context.Context, m queued, specs map[string]*catalog.IngestSpec) (ingest.Item, error) {
	it := m.Item
	spec, err := h.spec(ctx, it.At.Dataset, specs)
	if err != nil {
		if ingest.Transient(err) {
			return it, err
		}
		it.Err = err
		return it, nil
	}
	if m.schemaID != "" && spec.SchemaID != "" && m.schemaID != spec.SchemaID {
		it.Err = schemaMismatch
		return it, nil
	}
	if id := it.Row.IdentityDataset; id != "" {
		ids, err := h.spec(ctx, id, specs)
		if err := ingest.IdentityDatasetError(spec, ids, err); err != nil {
			if ingest.Transient(err) {
				return it, err
			}
			it.Err = err
			return it, nil
		}
	}
	it.Spec = spec
	return it, nil
}

// spec returns the spec of a dataset, read once per invocation.
func (h *handler) spec(ctx context.Context, id string, specs map[string]*catalog.IngestSpec) (*catalog.IngestSpec, error) {
	if spec, ok := specs[id]; ok {
		return spec, nil
	}
	spec, err := h.specs.Spec(ctx, id)
	if err != nil {
		return nil, err
	}
	specs[id] = spec
	return spec, nil
}

// datasetNotFound is the code of catalog.SpecSource for an unknown dataset.
const datasetNotFound = ingest.CodeDatasetNotFound

var schemaMismatch = fault.E(fault.Invalid, "STREAM-SCHEMA-MISMATCH", "the message's schemaRef is not the dataset's schema")
