package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// P3 and P4 targets (docs/quality.md): stream ingest ≥ 0.7 × the raw
// ceiling; freshness p95 ≤ 500 ms and p99 ≤ 1 s.
const (
	P3TargetRatio = 0.7
	P4TargetP95Ms = 500
	P4TargetP99Ms = 1000
)

// P3Run is one P3 measurement at one ParallelizationFactor.
type P3Run struct {
	Parallelization int     `json:"parallelization"`
	BatchSize       int     `json:"batchSize"`
	Shards          int     `json:"shards"`
	Processes       int     `json:"processes"` // stream-ingest processes: shards × parallelization
	Rows            int     `json:"rows"`
	PutSeconds      float64 `json:"putSeconds"` // PutRecords of every row
	Seconds         float64 `json:"seconds"`    // first put → every item in the profile table
	RowsPerSec      float64 `json:"rowsPerSec"`
	Items           int     `json:"items"`
	ItemsPerRow     float64 `json:"itemsPerRow"`
	ItemsPerSec     float64 `json:"itemsPerSec"`
	RawWriters      int     `json:"rawWriters"`
	RawSeconds      float64 `json:"rawSeconds"`
	RawItemsPerSec  float64 `json:"rawItemsPerSec"`
	Ratio           float64 `json:"ratio"`
	Pass            bool    `json:"pass"`
}

// P3 is the P3 entry of results.json.
type P3 struct {
	Runs        []P3Run `json:"runs"`
	TargetRatio float64 `json:"targetRatio"`
	Pass        bool    `json:"pass"`
	How         string  `json:"how"`
	Machine     string  `json:"machine"`
	Date        string  `json:"date"`
}

// P4Run is one freshness measurement: from PutRecord (kinesis) or the
// HTTP streaming endpoint (http) to the profile readable.
type P4Run struct {
	Door     string  `json:"door"` // kinesis, http
	Samples  int     `json:"samples"`
	P50Ms    float64 `json:"p50Ms"`
	P95Ms    float64 `json:"p95Ms"`
	P99Ms    float64 `json:"p99Ms"`
	MaxMs    float64 `json:"maxMs"`
	Pass     bool    `json:"pass"`
	Measured bool    `json:"measured"`
	Note     string  `json:"note,omitempty"` // why not measured
}

// P4 is the P4 entry of results.json.
type P4 struct {
	Runs            []P4Run `json:"runs"`
	PollIntervalMs  float64 `json:"pollIntervalMs"`  // the local poller's wait after an empty GetRecords
	BatchWindowMs   float64 `json:"batchWindowMs"`   // MaxBatchingWindow of the stream trigger
	Parallelization int     `json:"parallelization"` // ParallelizationFactor of the stream trigger
	TargetP95Ms     float64 `json:"targetP95Ms"`
	TargetP99Ms     float64 `json:"targetP99Ms"`
	Pass            bool    `json:"pass"`
	How             string  `json:"how"`
	Machine         string  `json:"machine"`
	Date            string  `json:"date"`
}

const (
	p3How = "a fresh local cloud per ParallelizationFactor n (stream-ingest on shards × n processes); a schema, descriptor and dataset made through the API; " +
		"rows of new people (as P2's) put as streaming messages ({header: {datasetId}, body: {xdmEntity}}) with the SDK's PutRecords, 500 a call from 4 goroutines, " +
		"partition key the Email; seconds from the first put until the profile table holds 3 items per row (fragment and two link halves; counted every second) " +
		"and 21 sample Emails answer GET ups/access/entities; raw = those items PutItem'd with attribute_not_exists(pk) into an empty table of the same dynalite " +
		"by as many goroutines as stream-ingest processes (each invocation writes one record at a time); ratio = (items ÷ stream seconds) ÷ (items ÷ raw seconds)"
	p4How = "on the local cloud of the last P3 run, idle between samples: for each sample a new person's profile row put with PutRecord (partition key the Email), " +
		"or POSTed to /collection/{inletId}; milliseconds from just before the call until GET ups/access/entities answers the profile, asked every 10 ms; " +
		"samples one after the other"
)

func (l *local) kinesis() *kinesis.Client {
	return kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(l.c.EdgeURL()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// streamMessage is a streaming message of row for dataset ds.
func streamMessage(ds string, row []byte) []byte {
	b, _ := json.Marshal(map[string]any{"header": map[string]any{"datasetId": ds},
		"body": map[string]any{"xdmEntity": json.RawMessage(row)}})
	return b
}

// runP3 measures P3 at one ParallelizationFactor and, when p4Samples > 0,
// P4 on the same local cloud afterwards.
func runP3(ctx context.Context, dist string, rows, parallel, p4Samples int, log io.Writer) (P3Run, []P4Run, error) {
	shards := 0
	for _, s := range topology.Streams {
		if s.ID == topology.IngestStream {
			shards = s.ShardCount
		}
	}
	run := P3Run{Parallelization: parallel, Shards: shards, Processes: shards * parallel, Rows: rows}
	l, err := startLocalWith(ctx, dist, map[string]int{"stream-ingest": run.Processes}, func(f *topology.Function) {
		if f.Stream != nil {
			f.Stream.ParallelizationFactor = parallel
			run.BatchSize = f.Stream.BatchSize
		}
	})
	if err != nil {
		return run, nil, err
	}
	defer l.stop()
	tag := fmt.Sprintf("p3x%d", parallel)
	ds, err := l.profileDataset(ctx, "bench "+tag)
	if err != nil {
		return run, nil, err
	}
	kin := l.kinesis()
	stream := l.c.Name(topology.IngestStream)
	// dataset-api has run (it made the dataset); every function has the same DynamoDB.
	endpoint, err := l.dynamoEndpoint("dataset-api")
	if err != nil {
		return run, nil, err
	}
	db := newDynamoClient(endpoint, func(o *dynamodb.Options) {
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = max(run.Processes, 10)
		})
	})
	table := l.c.Name(topology.ProfileTable)
	var sample []string
	for i := 0; i < rows; i += max(1, rows/20) {
		sample = append(sample, email(tag, i))
	}
	sample = append(sample, email(tag, rows-1))

	fmt.Fprintf(log, "P3 ParallelizationFactor %d (%d stream-ingest processes): %d rows\n", parallel, run.Processes, rows)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	start := time.Now()
	if err := putAllRecords(wctx, kin, stream, ds, tag, rows); err != nil {
		return run, nil, err
	}
	run.PutSeconds = round2(time.Since(start).Seconds())
	want := 3 * rows
	for {
		n, err := countItems(wctx, db, table)
		if err != nil {
			return run, nil, err
		}
		if n >= want {
			break
		}
		select {
		case <-wctx.Done():
			return run, nil, fmt.Errorf("P3: %d of %d items after %s", n, want, time.Since(start))
		case <-time.After(time.Second):
		}
	}
	if err := l.waitReadable(wctx, sample, 200*time.Millisecond); err != nil {
		return run, nil, err
	}
	run.Seconds = time.Since(start).Seconds()
	run.RowsPerSec = round2(float64(rows) / run.Seconds)

	var p4 []P4Run
	if p4Samples > 0 {
		p4 = append(p4, freshness(wctx, l, kin, stream, ds, p4Samples, log))
		p4 = append(p4, httpFreshness(wctx, l, ds, p4Samples, log))
	}

	items, err := scanAll(ctx, db, table)
	if err != nil {
		return run, p4, err
	}
	// Rows of the freshness samples are not part of P3's items.
	run.Items = min(len(items), want)
	run.ItemsPerRow = round2(float64(run.Items) / float64(rows))
	run.ItemsPerSec = round2(float64(run.Items) / run.Seconds)
	run.RawWriters = run.Processes
	raw := "bench-raw-ceiling"
	if err := createTable(ctx, db, raw); err != nil {
		return run, p4, err
	}
	secs, err := putAll(ctx, db, raw, items[:run.Items], run.RawWriters)
	if err != nil {
		return run, p4, err
	}
	run.RawSeconds = round2(secs)
	run.RawItemsPerSec = round2(float64(run.Items) / secs)
	run.Ratio = ratio(run.Items, run.Seconds, run.Items, secs)
	run.Seconds = round2(run.Seconds)
	run.Pass = run.Ratio >= P3TargetRatio
	fmt.Fprintf(log, "P3 ParallelizationFactor %d: puts %.1f s, %.0f rows/s end to end, %.0f items/s; raw %.0f items/s at %d writers: %.2f×\n",
		parallel, run.PutSeconds, run.RowsPerSec, run.ItemsPerSec, run.RawItemsPerSec, run.RawWriters, run.Ratio)
	return run, p4, nil
}

// putAllRecords puts rows streaming messages with PutRecords, 500 a call
// (the API's most), from 4 goroutines, retrying records Kinesis refused.
func putAllRecords(ctx context.Context, kin *kinesis.Client, stream, ds, tag string, rows int) error {
	const perCall, putters = 500, 4
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, putters)
	for range putters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				first := int(next.Add(perCall)) - perCall
				if first >= rows {
					return
				}
				var entries []ktypes.PutRecordsRequestEntry
				for i := first; i < min(first+perCall, rows); i++ {
					entries = append(entries, ktypes.PutRecordsRequestEntry{
						Data: streamMessage(ds, profileRow(tag, i, 0, 0)), PartitionKey: aws.String(email(tag, i))})
				}
				for attempt := 0; len(entries) > 0; attempt++ {
					out, err := kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
					if err != nil {
						errs <- fmt.Errorf("PutRecords: %w", err)
						return
					}
					var again []ktypes.PutRecordsRequestEntry
					for i, r := range out.Records {
						if r.ErrorCode != nil {
							again = append(again, entries[i])
						}
					}
					if len(again) > 0 && attempt > 10 {
						errs <- fmt.Errorf("PutRecords: %d records refused 10 times", len(again))
						return
					}
					entries = again
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// countItems counts the items of a table (Scan with Select COUNT).
func countItems(ctx context.Context, db *dynamodb.Client, table string) (int, error) {
	n := 0
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), Select: "COUNT"})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("count %s: %w", table, err)
		}
		n += int(page.Count)
	}
	return n, nil
}

// freshness measures P4 through Kinesis PutRecord.
func freshness(ctx context.Context, l *local, kin *kinesis.Client, stream, ds string, samples int, log io.Writer) P4Run {
	tag := "p4k"
	return sampleFreshness(ctx, l, "kinesis", tag, samples, log, func(i int) error {
		_, err := kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream),
			Data: streamMessage(ds, profileRow(tag, i, 0, 0)), PartitionKey: aws.String(email(tag, i))})
		return err
	})
}

// httpFreshness measures P4 through the HTTP streaming endpoint, when the
// local cloud has it.
func httpFreshness(ctx context.Context, l *local, ds string, samples int, log io.Writer) P4Run {
	absent := P4Run{Door: "http", Note: "not measured: route absent"}
	if !slices.ContainsFunc(l.fns, func(f topology.Function) bool {
		return slices.ContainsFunc(f.Routes, func(r topology.Route) bool { return r.Key() == "POST /collection/{inletId}" })
	}) {
		return absent
	}
	inlet, err := l.inlet(ctx)
	if err != nil {
		absent.Note = "not measured: " + err.Error()
		return absent
	}
	tag := "p4h"
	return sampleFreshness(ctx, l, "http", tag, samples, log, func(i int) error {
		status, err := l.call(ctx, "POST", "/collection/"+inlet, json.RawMessage(streamMessage(ds, profileRow(tag, i, 0, 0))), nil)
		if status == http.StatusNotFound {
			return errRouteAbsent
		}
		return err
	})
}

var errRouteAbsent = errors.New("route absent")

// inlet finds a streaming connection's id (an inlet id) through Flow
// Service's connections route.
func (l *local) inlet(ctx context.Context) (string, error) {
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if _, err := l.call(ctx, "GET", "/data/foundation/flowservice/connections", nil, &page); err != nil {
		return "", fmt.Errorf("no inlet id: %w", err)
	}
	if len(page.Items) == 0 || page.Items[0].ID == "" {
		return "", errors.New("no inlet id: no streaming connection listed")
	}
	return page.Items[0].ID, nil
}

// sampleFreshness times put(i) to the profile of person i readable, for
// samples people one after the other.
func sampleFreshness(ctx context.Context, l *local, door, tag string, samples int, log io.Writer, put func(i int) error) P4Run {
	run := P4Run{Door: door, Samples: samples}
	var ms []float64
	for i := range samples {
		start := time.Now()
		if err := put(i); err != nil {
			if errors.Is(err, errRouteAbsent) {
				return P4Run{Door: door, Note: "not measured: route absent"}
			}
			return P4Run{Door: door, Note: "not measured: " + err.Error()}
		}
		for {
			ok, err := l.readable(ctx, email(tag, i))
			if err != nil {
				return P4Run{Door: door, Note: "not measured: " + err.Error()}
			}
			if ok {
				break
			}
			select {
			case <-ctx.Done():
				return P4Run{Door: door, Note: "not measured: " + ctx.Err().Error()}
			case <-time.After(10 * time.Millisecond):
			}
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
	}
	slices.Sort(ms)
	q := func(p float64) float64 { return round2(ms[min(len(ms)-1, int(p*float64(len(ms))+0.5)-1)]) }
	run.P50Ms, run.P95Ms, run.P99Ms, run.MaxMs = q(0.50), q(0.95), q(0.99), round2(ms[len(ms)-1])
	run.Measured = true
	run.Pass = run.P95Ms <= P4TargetP95Ms && run.P99Ms <= P4TargetP99Ms
	fmt.Fprintf(log, "P4 %s: p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms over %d samples\n", door, run.P50Ms, run.P95Ms, run.P99Ms, run.MaxMs, samples)
	return run
}
