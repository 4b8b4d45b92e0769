package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// P2 targets (docs/quality.md): pipeline ≥ 0.7 × the raw ceiling, and
// ≥ 0.8 × linear from 1 to 4 processes.
const (
	P2TargetRatio   = 0.7
	P2TargetScaling = 0.8
)

// rowWorkers is functions/batch-ingest's rowWorkers: rows written at once
// by one process. The raw ceiling runs processes × rowWorkers writers.
const rowWorkers = 16

// P2Run is one P2 measurement at a number of batch-ingest processes.
type P2Run struct {
	Processes      int     `json:"processes"`
	Rows           int     `json:"rows"`
	FileBytes      int64   `json:"fileBytes"`
	Status         string  `json:"status"`
	Seconds        float64 `json:"seconds"` // upload start → batch final and the sample readable
	RowsPerSec     float64 `json:"rowsPerSec"`
	Items          int     `json:"items"` // items in the profile table afterwards
	ItemsPerRow    float64 `json:"itemsPerRow"`
	ItemsPerSec    float64 `json:"itemsPerSec"` // Items ÷ Seconds
	RawWriters     int     `json:"rawWriters"`
	RawSeconds     float64 `json:"rawSeconds"`
	RawItemsPerSec float64 `json:"rawItemsPerSec"`
	Ratio          float64 `json:"ratio"` // ItemsPerSec ÷ RawItemsPerSec
	Pass           bool    `json:"pass"`
}

// P2 is the P2 entry of results.json.
type P2 struct {
	Runs []P2Run `json:"runs"`
	// Scaling is rows/s at the most processes ÷ (that many × rows/s at 1
	// process); 0 when not measured at 1 and more processes.
	Scaling       float64 `json:"scaling"`
	ScalingOf     string  `json:"scalingOf,omitempty"`
	TargetRatio   float64 `json:"targetRatio"`
	TargetScaling float64 `json:"targetScaling"`
	Pass          bool    `json:"pass"`
	How           string  `json:"how"`
	Machine       string  `json:"machine"`
	Date          string  `json:"date"`
}

// ratio is pipeline items/s ÷ raw items/s, rounded to 2 decimals; 0 when
// the ceiling is unknown.
func ratio(items int, seconds float64, rawItems int, rawSeconds float64) float64 {
	if seconds <= 0 || rawSeconds <= 0 || rawItems == 0 {
		return 0
	}
	return round2((float64(items) / seconds) / (float64(rawItems) / rawSeconds))
}

// scaling is how close to linear the throughput grows from 1 process to
// the most measured: rows/s(n) ÷ (n × rows/s(1)).
func scaling(runs []P2Run) (float64, string) {
	var one, top *P2Run
	for i := range runs {
		r := &runs[i]
		if r.Processes == 1 {
			one = r
		}
		if top == nil || r.Processes > top.Processes {
			top = r
		}
	}
	if one == nil || top == nil || top.Processes == 1 || one.RowsPerSec == 0 {
		return 0, ""
	}
	return round2(top.RowsPerSec / (float64(top.Processes) * one.RowsPerSec)),
		fmt.Sprintf("%d processes ÷ (%d × 1 process)", top.Processes, top.Processes)
}

func p2Of(runs []P2Run) P2 {
	p := P2{Runs: runs, TargetRatio: P2TargetRatio, TargetScaling: P2TargetScaling, Pass: len(runs) > 0}
	for _, r := range runs {
		p.Pass = p.Pass && r.Pass
	}
	p.Scaling, p.ScalingOf = scaling(runs)
	if p.ScalingOf != "" {
		p.Pass = p.Pass && p.Scaling >= P2TargetScaling
	}
	return p
}

// runP2 measures P2 at procs batch-ingest processes on a fresh local cloud.
func runP2(ctx context.Context, dist, tmp string, rows, procs int, log io.Writer) (P2Run, error) {
	run := P2Run{Processes: procs, Rows: rows}
	path := filepath.Join(tmp, "p2.json")
	f, err := os.Create(path)
	if err != nil {
		return run, err
	}
	tag := fmt.Sprintf("p2x%d", procs)
	run.FileBytes, err = writeRows(f, rows, func(i int) []byte { return profileRow(tag, i, 0, 0) })
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return run, err
	}
	defer os.Remove(path)

	l, err := startLocal(ctx, dist, procs)
	if err != nil {
		return run, err
	}
	defer l.stop()
	ds, err := l.profileDataset(ctx, "bench "+tag)
	if err != nil {
		return run, err
	}
	var sample []string
	for i := 0; i < rows; i += max(1, rows/20) {
		sample = append(sample, email(tag, i))
	}
	sample = append(sample, email(tag, rows-1))

	fmt.Fprintf(log, "P2 %d process(es): %d rows, %d bytes\n", procs, rows, run.FileBytes)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	start := time.Now()
	if err := l.drop(wctx, ds, "p2.json", path); err != nil {
		return run, err
	}
	// Polling once a second keeps the API calls from taking CPU from the
	// pipeline on a small machine; it adds under 1 s to a run of minutes.
	b, err := l.waitBatch(wctx, ds, time.Second)
	if err != nil {
		return run, err
	}
	run.Status = b.Status
	if b.Status != "success" {
		return run, fmt.Errorf("P2 batch %s ended %s (%d of %d rows failed)", b.ID, b.Status, b.Failed, b.Input)
	}
	if b.Input != int64(rows) || b.Failed != 0 {
		return run, fmt.Errorf("P2 batch %s counted %d records in and %d failed, want exactly %d and 0", b.ID, b.Input, b.Failed, rows)
	}
	if err := l.waitReadable(wctx, sample, 200*time.Millisecond); err != nil {
		return run, err
	}
	run.Seconds = time.Since(start).Seconds()
	run.RowsPerSec = round2(float64(rows) / run.Seconds)

	// The ceiling: the very items the pipeline wrote, read back, written
	// again into an empty table of the same dynalite by raw conditional
	// PutItem at the same concurrency.
	endpoint, err := l.dynamoEndpoint("batch-ingest")
	if err != nil {
		return run, err
	}
	run.RawWriters = procs * rowWorkers
	// The ceiling's client keeps a connection per writer, so that no
	// writer waits on a new connection (the SDK keeps 10 per host).
	db := newDynamoClient(endpoint, func(o *dynamodb.Options) {
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = run.RawWriters
		})
	})
	items, err := scanAll(ctx, db, l.c.Name(topology.ProfileTable))
	if err != nil {
		return run, err
	}
	run.Items = len(items)
	run.ItemsPerRow = round2(float64(len(items)) / float64(rows))
	run.ItemsPerSec = round2(float64(len(items)) / run.Seconds)
	raw := "bench-raw-ceiling"
	if err := createTable(ctx, db, raw); err != nil {
		return run, err
	}
	secs, err := putAll(ctx, db, raw, items, run.RawWriters)
	if err != nil {
		return run, err
	}
	run.RawSeconds = round2(secs)
	run.RawItemsPerSec = round2(float64(len(items)) / secs)
	run.Ratio = ratio(len(items), run.Seconds, len(items), secs)
	run.Seconds = round2(run.Seconds)
	run.Pass = run.Ratio >= P2TargetRatio
	fmt.Fprintf(log, "P2 %d process(es): %.0f rows/s, %.2f items/row, %.0f items/s; raw %.0f items/s at %d writers: %.2f×\n",
		procs, run.RowsPerSec, run.ItemsPerRow, run.ItemsPerSec, run.RawItemsPerSec, run.RawWriters, run.Ratio)
	return run, nil
}

// scanAll reads every item of a table with a parallel scan.
func scanAll(ctx context.Context, db *dynamodb.Client, table string) ([]map[string]types.AttributeValue, error) {
	const segments = 4
	var mu sync.Mutex
	var all []map[string]types.AttributeValue
	errs := make(chan error, segments)
	for s := range segments {
		go func() {
			p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table),
				Segment: aws.Int32(int32(s)), TotalSegments: aws.Int32(segments)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				all = append(all, page.Items...)
				mu.Unlock()
			}
			errs <- nil
		}()
	}
	for range segments {
		if err := <-errs; err != nil {
			return nil, fmt.Errorf("scan %s: %w", table, err)
		}
	}
	return all, nil
}

// putAll writes items with PutItem conditional on the item being new
// (attribute_not_exists(pk), as the link halves are written; a fragment's
// condition passes the same way on a new item) from writers goroutines,
// and returns the seconds it took.
func putAll(ctx context.Context, db *dynamodb.Client, table string, items []map[string]types.AttributeValue, writers int) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(items) {
					return
				}
				if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: items[i],
					ConditionExpression: aws.String("attribute_not_exists(pk)")}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("raw PutItem: %w", err)
	}
	return secs, nil
}
