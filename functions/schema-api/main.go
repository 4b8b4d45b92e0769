// Command schema-api serves the Schema Registry and identity namespace
// routes of AEP's API: built-in classes and field groups, tenant schemas,
// identity descriptors and namespaces.
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
