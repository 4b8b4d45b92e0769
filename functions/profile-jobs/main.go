// Command profile-jobs carries out profile jobs one step per invocation
// (see topology's profile-jobs).
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	lambda.Start(func(ctx context.Context, ev any) error { return nil })
}
