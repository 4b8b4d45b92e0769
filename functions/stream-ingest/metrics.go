package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// MetricsNamespace is the CloudWatch namespace of Mosaic's metrics.
const MetricsNamespace = "Mosaic"

// Metric names of an invocation's summary (docs/streaming.md, "Observability").
const (
	MetricRecordsIn   = "RecordsIn"        // Kinesis records in the event
	MetricIngested    = "MessagesIngested" // messages written to profiles or events
	MetricFailed      = "MessagesFailed"   // messages refused: a failed record each
	MetricRetried     = "RecordsRetried"   // Kinesis records left for the retry (batchItemFailures)
	MetricIteratorAge = "IteratorAge"      // ms from the last record's arrival to the invocation's start
	MetricOrderingLag = "OrderingLag"      // ms from the first record's arrival to the end of its processing
)

// summary is what one invocation of Handle did.
type summary struct {
	records, ingested, failed, retried int
	// iteratorAge: how old the batch's last record was when the
	// invocation started, from its ApproximateArrivalTimestamp (Lambda's
	// own IteratorAge measures the same record).
	iteratorAge time.Duration
	// orderingLag: how long the batch's first record waited, from its
	// arrival to the end of this invocation, behind the records of its
	// shard before it and their retries (order is kept per shard).
	orderingLag time.Duration
}

// summarize measures ev's ages against start (the invocation's start) and
// end (its end).
func summarize(ev events.KinesisEvent, start, end time.Time) summary {
	s := summary{records: len(ev.Records)}
	if n := len(ev.Records); n > 0 {
		if first := ev.Records[0].Kinesis.ApproximateArrivalTimestamp.Time; !first.IsZero() {
			s.orderingLag = max(end.Sub(first), 0)
		}
		if last := ev.Records[n-1].Kinesis.ApproximateArrivalTimestamp.Time; !last.IsZero() {
			s.iteratorAge = max(start.Sub(last), 0)
		}
	}
	return s
}

// metricsOut is where the Embedded Metric Format documents go: standard
// output, one line each, which Lambda sends to CloudWatch Logs, where they
// become metrics.
var (
	metricsMu  sync.Mutex
	metricsOut io.Writer = os.Stdout
)

// report writes the invocation's one summary log line (counts and ages
// only: no identity, attribute or payload) and its metrics as one
// CloudWatch Embedded Metric Format document.
func report(ctx context.Context, s summary, at time.Time) {
	slog.InfoContext(ctx, "stream batch done", "records", s.records, "ingested", s.ingested, "failed", s.failed,
		"retried", s.retried, "iteratorAgeMs", s.iteratorAge.Milliseconds(), "orderingLagMs", s.orderingLag.Milliseconds())
	doc, err := emfDocument(s, at, os.Getenv("AWS_LAMBDA_FUNCTION_NAME"))
	if err != nil {
		slog.ErrorContext(ctx, "metrics not written", "err", err)
		return
	}
	metricsMu.Lock()
	defer metricsMu.Unlock()
	metricsOut.Write(append(doc, '\n'))
}

// emfDocument is one Embedded Metric Format document
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
// a JSON object whose "_aws" member holds the Timestamp (epoch ms) and one
// CloudWatchMetrics directive — the Namespace, the dimension set
// [["FunctionName"]] and each metric's Name and Unit — and whose root
// members hold the dimension's value (a string) and each metric's value (a
// number).
func emfDocument(s summary, at time.Time, function string) ([]byte, error) {
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	type directive struct {
		Namespace  string     `json:"Namespace"`
		Dimensions [][]string `json:"Dimensions"`
		Metrics    []metric   `json:"Metrics"`
	}
	if function == "" {
		function = "stream-ingest"
	}
	values := []struct {
		name, unit string
		v          int64
	}{
		{MetricRecordsIn, "Count", int64(s.records)},
		{MetricIngested, "Count", int64(s.ingested)},
		{MetricFailed, "Count", int64(s.failed)},
		{MetricRetried, "Count", int64(s.retried)},
		{MetricIteratorAge, "Milliseconds", s.iteratorAge.Milliseconds()},
		{MetricOrderingLag, "Milliseconds", s.orderingLag.Milliseconds()},
	}
	d := directive{Namespace: MetricsNamespace, Dimensions: [][]string{{"FunctionName"}}}
	doc := map[string]any{"FunctionName": function}
	for _, v := range values {
		d.Metrics = append(d.Metrics, metric{Name: v.name, Unit: v.unit})
		doc[v.name] = v.v
	}
	doc["_aws"] = map[string]any{"Timestamp": at.UnixMilli(), "CloudWatchMetrics": []directive{d}}
	return json.Marshal(doc)
}
