package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHandleWritesOneEMFDocument: an invocation writes one Embedded Metric
// Format document whose directive declares every metric it carries, with
// the invocation's exact counts and ages, and no message content.
func TestHandleWritesOneEMFDocument(t *testing.T) {
	h, _, _ := newTestHandler()
	ev := kinesisEvent(message("a@x.com", "A", ""), "not json", message("c@x.com", "C", ""))
	lastArrival := ev.Records[2].Kinesis.ApproximateArrivalTimestamp.Time
	firstArrival := ev.Records[0].Kinesis.ApproximateArrivalTimestamp.Time
	clock := []time.Time{lastArrival.Add(1500 * time.Millisecond)}
	h.run.Now = func() time.Time {
		now := clock[len(clock)-1]
		clock = append(clock, now.Add(10*time.Millisecond))
		return now
	}
	var out bytes.Buffer
	saved := metricsOut
	metricsOut = &out
	defer func() { metricsOut = saved }()
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "mosaic-dev-streamingest")
	if _, err := h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d documents, want 1:\n%s", len(lines), out.String())
	}
	if strings.Contains(lines[0], "a@x.com") {
		t.Fatal("the metrics carry a message value")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &doc); err != nil {
		t.Fatal(err)
	}
	aws := doc["_aws"].(map[string]any)
	dirs := aws["CloudWatchMetrics"].([]any)
	if len(dirs) != 1 {
		t.Fatalf("directives %v", dirs)
	}
	d := dirs[0].(map[string]any)
	if d["Namespace"] != MetricsNamespace || doc["FunctionName"] != "mosaic-dev-streamingest" {
		t.Errorf("namespace %v, function %v", d["Namespace"], doc["FunctionName"])
	}
	if diff := cmp.Diff([]any{[]any{"FunctionName"}}, d["Dimensions"]); diff != "" {
		t.Errorf("dimensions: %s", diff)
	}
	got := map[string]float64{}
	for _, m := range d["Metrics"].([]any) {
		name := m.(map[string]any)["Name"].(string)
		v, ok := doc[name].(float64)
		if !ok {
			t.Errorf("metric %s declared without a numeric value", name)
		}
		got[name] = v
	}
	end := clock[len(clock)-2] // the invocation's last reading of the clock
	want := map[string]float64{
		MetricRecordsIn: 3, MetricIngested: 2, MetricFailed: 1, MetricRetried: 0,
		MetricIteratorAge: 1500,
		MetricOrderingLag: float64(end.Sub(firstArrival).Milliseconds()),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if ts, _ := aws["Timestamp"].(float64); int64(ts) != end.UnixMilli() {
		t.Errorf("timestamp %v, want %d", aws["Timestamp"], end.UnixMilli())
	}
}
