// Command batch-ingest ingests batch files into profiles, events and the
// identity graph, in three phases so that a batch that ends failed has no
// effect and a file of any size finishes across invocations:
//
//   - scan: every record of a file is read (shared/records) and checked
//     without writing (ingest.Pipeline.Check), in parts of
//     MOSAIC_BATCH_PART_ROWS records, each stored once with its refusals
//     and row diagnostics (S3, diagnostics/<batchId>/row_errors/…);
//   - decide: once every file is scanned, the parts' sums become the
//     batch's metrics; over partialIngestionPercent the batch ends failed
//     with nothing written;
//   - write: one task per part writes its accepted rows
//     (ingest.Pipeline.Process), keeping a watermark to resume from; the
//     last part written ends the batch success.
//
// Work starts from S3 events on the landing bucket: a file dropped under
// ingest/<datasetId>/ (an implicit batch per upload), an API batch's
// manifest at ingest/_batches/<batchId>/manifest.json, and the task
// objects the function writes itself under ingest/_batches/<batchId>/tasks/
// to fan work out and to go on past an invocation's deadline (tasks.go).
// The function also drains its own on-failure queue: a batch whose event
// Lambda discarded ends failed.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := newHandler(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Invoke)
}
