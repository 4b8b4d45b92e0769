package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// reportMargin is the time kept before the invocation deadline to answer
// with the records left for a retry.
const reportMargin = 3 * time.Second

type specSource interface {
	Spec(ctx context.Context, datasetID string) (*catalog.IngestSpec, error)
}

type rowProcessor interface {
	Process(ctx context.Context, spec *catalog.IngestSpec, row ingest.Row) (ingest.Outcome, error)
}

type handler struct {
	specs    specSource
	pipeline rowProcessor
	failed   catalog.FailedWriter
	now      func() time.Time
}

func newHandler(ctx context.Context, getenv awsenv.Getenv) (*handler, error) {
	env, err := awsenv.Require(getenv, topology.EnvCatalogTable, topology.EnvProfileTable)
	if err != nil {
		return nil, err
	}
	c, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	skew, err := ingest.ParseClockSkew(getenv(topology.EnvMaxClockSkew))
	if err != nil {
		return nil, err
	}
	cat := store.NewCatalog(c.DynamoDB, env[topology.EnvCatalogTable])
	prof := store.NewProfiles(c.DynamoDB, env[topology.EnvProfileTable])
	specs := catalog.NewSpecLoader(cat)
	return &handler{
		specs:    specs,
		pipeline: &ingest.Pipeline{Fragments: prof, Links: prof, Events: prof, Namespaces: specs, MaxClockSkew: skew},
		failed:   store.NewFailedRecords(c.DynamoDB, env[topology.EnvCatalogTable]),
		now:      time.Now,
	}, nil
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
	stopAt := time.Time{}
	if dl, ok := ctx.Deadline(); ok {
		stopAt = dl.Add(-reportMargin)
	}
	specs := map[string]*catalog.IngestSpec{}
	done, failed := 0, 0
	for i, rec := range ev.Records {
		var err error
		if ctx.Err() != nil || (!stopAt.IsZero() && h.now().After(stopAt)) {
			err = ctx.Err()
			if err == nil {
				err = context.DeadlineExceeded
			}
		} else {
			var n int
			n, err = h.record(ctx, rec, specs)
			failed += n
		}
		if err != nil {
			slog.WarnContext(ctx, "stream records left for retry", "records", len(ev.Records)-i, "err", err)
			for _, r := range ev.Records[i:] {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: r.Kinesis.SequenceNumber})
			}
			break
		}
		done++
	}
	slog.InfoContext(ctx, "stream batch done", "records", done, "failed", failed, "retry", len(resp.BatchItemFailures))
	return resp, nil
}

// record ingests one Kinesis record, or each user record of a KPL
// aggregate, and returns how many messages were refused, or a transient
// error (which leaves the whole Kinesis record for a retry: the writes of
// its user records are idempotent).
func (h *handler) record(ctx context.Context, rec events.KinesisEventRecord, specs map[string]*catalog.IngestSpec) (int, error) {
	k := rec.Kinesis
	shard := shardOf(rec)
	var refused []catalog.FailedRecord
	refuse := func(sub, index int, dataset string, err error) {
		code, msg := ingest.Describe(err)
		refused = append(refused, catalog.FailedRecord{
			Batch: catalog.StreamBatch, Dataset: dataset, Shard: shard, Seq: k.SequenceNumber, SubSequence: sub, Index: index,
			Code: code, Message: msg, At: h.now().UnixMilli(),
		})
	}
	users, err := ingest.SplitRecord(k.Data)
	if err != nil {
		refuse(0, 0, "", err)
	}
	for _, u := range users {
		if u.Err != nil {
			refuse(u.SubSequence, 0, "", u.Err)
			continue
		}
		// Position of the user record: sequence number, then the
		// sub-sequence within an aggregate, zero-padded so that sources
		// compare in stream order.
		src := fmt.Sprintf("kinesis:%s:%s", shard, k.SequenceNumber)
		if u.Aggregated {
			src = fmt.Sprintf("%s:%05d", src, u.SubSequence)
		}
		if err := h.userRecord(ctx, k, u, src, specs, refuse); err != nil {
			return 0, err
		}
	}
	if len(refused) > 0 {
		if err := h.failed.PutFailed(ctx, refused); err != nil {
			return 0, err
		}
	}
	return len(refused), nil
}

// userRecord ingests the messages of one user record.
func (h *handler) userRecord(ctx context.Context, k events.KinesisRecord, u ingest.UserRecord, base string, specs map[string]*catalog.IngestSpec,
	refuse func(sub, index int, dataset string, err error)) error {
	msgs, err := ingest.ParseMessages(u.Data)
	if err != nil {
		refuse(u.SubSequence, 0, "", err)
	}
	for _, m := range msgs {
		if m.Err != nil {
			refuse(u.SubSequence, m.Index, m.DatasetID, m.Err)
			continue
		}
		spec, ok := specs[m.DatasetID]
		if !ok {
			spec, err = h.specs.Spec(ctx, m.DatasetID)
			if err != nil {
				if ingest.Transient(err) {
					return err
				}
				refuse(u.SubSequence, m.Index, m.DatasetID, err)
				continue
			}
			specs[m.DatasetID] = spec
		}
		if m.SchemaID != "" && spec.SchemaID != "" && m.SchemaID != spec.SchemaID {
			refuse(u.SubSequence, m.Index, m.DatasetID, schemaMismatch)
			continue
		}
		src := base
		if len(msgs) > 1 {
			src = fmt.Sprintf("%s#%04d", src, m.Index)
		}
		out, err := h.pipeline.Process(ctx, spec, ingest.Row{
			Data: m.Entity, Received: k.ApproximateArrivalTimestamp.Time, Src: src, Batch: src, Op: m.Op,
		})
		if err != nil {
			if ingest.Transient(err) {
				return err
			}
			refuse(u.SubSequence, m.Index, m.DatasetID, err)
			continue
		}
		for _, w := range out.Warnings {
			// The code only: a warning's message may name a value.
			slog.WarnContext(ctx, "record ingested with a warning", "code", w.Code, "datasetId", m.DatasetID)
		}
	}
	return nil
}

var schemaMismatch = fault.E(fault.Invalid, "STREAM-SCHEMA-MISMATCH", "the message's schemaRef is not the dataset's schema")
