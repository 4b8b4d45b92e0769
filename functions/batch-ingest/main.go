// Command batch-ingest ingests files dropped under ingest/<datasetId>/ in
// the landing bucket, one implicit batch per upload, and drains its own
// on-failure queue: a batch whose S3 event Lambda discarded ends failed.
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
