// Command collection-api serves AEP's HTTP streaming endpoint (Data
// Collection Core Service: POST /collection/{inletId} and
// /collection/batch/{inletId}), which puts messages on the ingest stream,
// and Flow Service's streaming connections, whose ids are inlet ids.
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
	lambda.Start(h.Handle)
}
