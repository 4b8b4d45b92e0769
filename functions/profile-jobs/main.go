// Command profile-jobs carries out profile jobs (package jobs): AEP's
// profile system jobs, which delete a dataset's or a batch's profile data,
// and profile deletes (DELETE /access/entities). A job runs in steps, each
// started by the S3 event of its task object jobs/<jobId>/<step>.json in
// the landing bucket: a step works until shortly before its invocation's
// deadline (or MOSAIC_JOB_STEP_TIME), saves its progress on the job item
// and, when work remains, writes the task object of the next step
// (handler.go). The function also drains its own on-failure queue: a
// step whose retries Lambda gave up on ends its job in ERROR (drain.go).
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
