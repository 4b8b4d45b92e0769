package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// results are the bars of results.json this command writes; nil when not
// measured yet.
type results struct {
	P1 *P1 `json:"P1"`
	P2 *P2 `json:"P2"`
	P3 *P3 `json:"P3"`
	P4 *P4 `json:"P4"`
	P5 *P5 `json:"P5"`
	P6 *P6 `json:"P6"`
	P7 *P7 `json:"P7"`
}

// writeReport makes dir/REPORT.md from dir/results.json, keeping the
// hand-written notes of the existing report.
func writeReport(dir string) error {
	var r results
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err == nil {
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("results.json: %w", err)
		}
	}
	path := filepath.Join(dir, "REPORT.md")
	notes, err := keptNotes(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(report(r)+notes), 0o644)
}

// report is bench/REPORT.md: a table of the bars, pass or fail, when and
// where each was measured, and a plain-text chart of each ratio against
// its target.
func report(r results) string {
	var b strings.Builder
	b.WriteString("# Mosaic benchmarks\n\n")
	b.WriteString("Made by `make bench` (cmd/mosaic-bench) from bench/results.json; the targets are docs/quality.md's. ")
	b.WriteString("Ratios compare with a ceiling measured in the same run on the same machine.\n\n")
	b.WriteString("| Bar | What | Measured | Target | Result | When, where |\n|---|---|---|---|---|---|\n")
	row := func(bar, what, measured, target string, pass bool, date, machine string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s, %s |\n", bar, what, measured, target, passFail(pass), date, machine)
	}
	missing := func(bar, what string) {
		fmt.Fprintf(&b, "| %s | %s | not yet measured | see docs/quality.md | — | — |\n", bar, what)
	}
	var chart strings.Builder
	if p := r.P1; p != nil {
		when := fmt.Sprintf("%s (%s, `-benchtime %s -count %d`, medians of CPU time per row)", p.Date, p.GoVersion, p.Benchtime, p.Count)
		row("P1 profile", "pipeline CPU per 1 KB profile row ÷ `encoding/json` decode",
			fmt.Sprintf("%.2f× (%.1f µs ÷ %.1f µs)", p.ProfileRatio, p.ProfileNsPerOp/1e3, p.BaselineNsPerOp/1e3),
			fmt.Sprintf("≤ %.1f×", p.Target), p.ProfileRatio <= p.Target, when, p.Machine)
		row("P1 event", "pipeline CPU per 1 KB event row ÷ `encoding/json` decode",
			fmt.Sprintf("%.2f× (%.1f µs ÷ %.1f µs)", p.EventRatio, p.EventNsPerOp/1e3, p.EventBaselineNsPerOp/1e3),
			fmt.Sprintf("≤ %.1f×", p.Target), p.EventRatio <= p.Target, when, p.Machine)
		chart.WriteString(chartLine("P1 profile", p.ProfileRatio, p.Target))
		chart.WriteString(chartLine("P1 event", p.EventRatio, p.Target))
	} else {
		missing("P1", "pipeline CPU per row ÷ plain decode")
	}
	if p := r.P2; p != nil {
		for _, x := range p.Runs {
			row(fmt.Sprintf("P2 ×%d", x.Processes),
				fmt.Sprintf("batch ingest, %d rows, %d batch-ingest process(es): pipeline items/s ÷ raw conditional PutItem items/s (%d writers)", x.Rows, x.Processes, x.RawWriters),
				fmt.Sprintf("%.2f× (%.0f rows/s × %.2f items/row = %.0f items/s ÷ %.0f raw items/s)", x.Ratio, x.RowsPerSec, x.ItemsPerRow, x.ItemsPerSec, x.RawItemsPerSec),
				fmt.Sprintf("≥ %.1f×", p.TargetRatio), x.Pass, p.Date, p.Machine)
			chart.WriteString(chartLine(fmt.Sprintf("P2 ×%d", x.Processes), x.Ratio, p.TargetRatio))
		}
		if p.ScalingOf != "" {
			row("P2 scaling", "rows/s at the most processes ÷ linear from 1 process ("+p.ScalingOf+")",
				fmt.Sprintf("%.2f×", p.Scaling), fmt.Sprintf("≥ %.1f×", p.TargetScaling), p.Scaling >= p.TargetScaling, p.Date, p.Machine)
			chart.WriteString(chartLine("P2 scaling", p.Scaling, p.TargetScaling))
		}
	} else {
		missing("P2", "batch ingest throughput ÷ raw PutItem ceiling")
	}
	if p := r.P3; p != nil {
		for _, x := range p.Runs {
			row(fmt.Sprintf("P3 pf %d", x.Parallelization),
				fmt.Sprintf("stream ingest, %d rows put with PutRecords, ParallelizationFactor %d, batch size %d, %d shards, %d stream-ingest processes: items/s ÷ raw conditional PutItem items/s (%d writers)",
					x.Rows, x.Parallelization, x.BatchSize, x.Shards, x.Processes, x.RawWriters),
				fmt.Sprintf("%.2f× (%.0f rows/s × %.2f items/row = %.0f items/s ÷ %.0f raw items/s; puts took %.1f s of %.1f s)", x.Ratio, x.RowsPerSec, x.ItemsPerRow, x.ItemsPerSec, x.RawItemsPerSec, x.PutSeconds, x.Seconds),
				fmt.Sprintf("≥ %.1f×", p.TargetRatio), x.Pass, p.Date, p.Machine)
			chart.WriteString(chartLine(fmt.Sprintf("P3 pf %d", x.Parallelization), x.Ratio, p.TargetRatio))
		}
	} else {
		missing("P3", "stream ingest throughput ÷ raw ceiling")
	}
	if p := r.P4; p != nil {
		for _, x := range p.Runs {
			what := fmt.Sprintf("freshness, %s → profile readable (poller idle interval %.0f ms, batching window %.0f ms, ParallelizationFactor %d)",
				map[string]string{"kinesis": "Kinesis PutRecord", "http": "POST /collection/{inletId}"}[x.Door], p.PollIntervalMs, p.BatchWindowMs, p.Parallelization)
			if !x.Measured {
				fmt.Fprintf(&b, "| P4 %s | %s | %s | p95 ≤ %.0f ms, p99 ≤ %.0f ms | — | %s, %s |\n", x.Door, what, x.Note, p.TargetP95Ms, p.TargetP99Ms, p.Date, p.Machine)
				continue
			}
			row("P4 "+x.Door, what, fmt.Sprintf("p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms (%d samples)", x.P50Ms, x.P95Ms, x.P99Ms, x.MaxMs, x.Samples),
				fmt.Sprintf("p95 ≤ %.0f ms, p99 ≤ %.0f ms", p.TargetP95Ms, p.TargetP99Ms), x.Pass, p.Date, p.Machine)
		}
	} else {
		missing("P4", "freshness p95")
	}
	if p := r.P5; p != nil {
		for _, c := range p.Cases {
			what := fmt.Sprintf("profile lookup (GET /access/entities through the API) p99 ÷ one raw Query p99 on the same table, %s, %d samples over %d clusters", c.What, c.Samples, c.Clusters)
			measured := fmt.Sprintf("%.2f× (lookup p50 %.1f ms, p99 %.1f ms; Query p50 %.1f ms, p99 %.1f ms); per lookup %.2f Queries, %.1f items, %.2f RCU reported, %.2f RCU by item size",
				c.Ratio, c.LookupP50Ms, c.LookupP99Ms, c.QueryP50Ms, c.QueryP99Ms, c.QueriesPerLookup, c.ItemsPerLookup, c.RCUPerLookup, c.SizeRCUPerLookup)
			if !c.Bar {
				fmt.Fprintf(&b, "| P5 %s | %s | %s | no bar (docs/quality.md sets P5 on the 3-identity cluster) | — | %s, %s |\n", c.Name, what, measured, p.Date, p.Machine)
				continue
			}
			row("P5 "+c.Name, what, measured, fmt.Sprintf("≤ %.1f×", p.Target), c.Pass, p.Date, p.Machine)
			chart.WriteString(chartLine("P5 "+c.Name, c.Ratio, p.Target))
		}
	} else {
		missing("P5", "profile lookup p99 ÷ raw Query p99")
	}
	if p := r.P6; p != nil {
		for _, c := range p.Cases {
			if c.TargetRCU > 0 {
				row("P6 "+c.Name, fmt.Sprintf("WCU and RCU per update, %s (update ≤ %d bytes; the fragment's item afterwards %d bytes: record %d, clocks %d)",
					c.What, c.RowBytes, c.ItemBytes, c.RecordBytes, c.ClockBytes),
					fmt.Sprintf("%.2f WCU + %.2f RCU per update (%.2f writes, %.2f reads per update; %.0f WCU, %.0f RCU over %d updates)",
						c.WCUPerRow, c.RCUPerRow, c.WritesPerRow, c.ReadsPerRow, c.WCU, c.RCU, c.Rows),
					fmt.Sprintf("≤ %.1f WCU, ≤ %.1f RCU", c.Target, c.TargetRCU), c.Pass, p.Date, p.Machine)
				continue
			}
			row("P6 "+c.Name, fmt.Sprintf("WCU per row, %s (rows ≤ %d bytes)", c.What, c.RowBytes),
				fmt.Sprintf("%.2f WCU/row (%.2f writes/row; %.0f WCU over %d rows)", c.WCUPerRow, c.WritesPerRow, c.WCU, c.Rows),
				fmt.Sprintf("≤ %.1f", c.Target), c.Pass, p.Date, p.Machine)
		}
	} else {
		missing("P6", "write capacity per row")
	}
	if p := r.P7; p != nil {
		for _, x := range p.Runs {
			row(fmt.Sprintf("P7 %.0f MB", x.FileMB), fmt.Sprintf("peak RSS of batch-ingest (%d process(es)) over %d rows, batch %s in %.0f s", x.Processes, x.Rows, x.Status, x.Seconds),
				fmt.Sprintf("%.1f MB", x.PeakRSSMB), fmt.Sprintf("≤ %.0f MB, flat", p.Target), x.Pass, p.Date, p.Machine)
		}
		if p.Growth > 0 {
			fmt.Fprintf(&b, "| P7 growth | peak RSS over the largest file ÷ over the smallest | %.2f× | flat (about 1×) | — | %s, %s |\n", p.Growth, p.Date, p.Machine)
		}
	} else {
		missing("P7", "peak RSS over a 1 GB file")
	}
	missing("P8", "$ per million rows and lookups")
	if chart.Len() > 0 {
		b.WriteString("\n```\n" + chart.String() + "```\n\nEach `#` is 0.1×; `|` marks the target (P1, P5: lower is better; P2, P3: higher is better).\n")
	}
	var how []string
	if r.P2 != nil {
		how = append(how, "- P2: "+r.P2.How+".")
	}
	if r.P3 != nil {
		how = append(how, "- P3: "+r.P3.How+".")
	}
	if r.P4 != nil {
		how = append(how, "- P4: "+r.P4.How+".")
	}
	if r.P5 != nil {
		how = append(how, "- P5: "+r.P5.How+".")
	}
	if r.P6 != nil {
		how = append(how, "- P6: "+r.P6.How+"; capacity from "+r.P6.Source+".")
		for _, c := range r.P6.Cases {
			if c.TargetRCU > 0 {
				how = append(how, "- P6 partial updates (upsert-*): by design (docs/rules.md#limits-and-refusals) a partial update costs "+
					"1 strongly consistent read of the fragment's item (1 RCU per started 4 KB) and 1 write of it "+
					"(1 WCU per started KB of the item, its clock document included; DynamoDB charges a replacing PutItem by the larger of "+
					"the item before and after); an update seen before (a replay) "+
					"costs the read and writes nothing.")
				break
			}
		}
	}
	if r.P7 != nil {
		how = append(how, "- P7: "+r.P7.How+".")
	}
	if len(how) > 0 {
		b.WriteString("\nHow:\n\n" + strings.Join(how, "\n") + "\n")
	}
	return b.String()
}
