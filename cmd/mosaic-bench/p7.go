package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// P7Target is docs/quality.md's bar: peak RSS of batch-ingest ≤ 256 MB
// over a 1 GB JSON Lines file, flat in file size.
const P7Target = 256

// p7RowPad is the address text added to each P7 row, so that a row is
// about 3 KB and 1 GB is a few hundred thousand rows.
const p7RowPad = 2600

// P7Run is one P7 measurement: one file on a fresh local cloud.
type P7Run struct {
	FileMB     float64   `json:"fileMB"`
	Rows       int       `json:"rows"`
	Processes  int       `json:"processes"`
	Status     string    `json:"status"`
	Seconds    float64   `json:"seconds"`   // upload start → batch final
	PeakRSSMB  float64   `json:"peakRssMB"` // max VmHWM over the batch-ingest bootstraps
	PerProcess []float64 `json:"perProcessMB"`
	Pass       bool      `json:"pass"`
}

// P7 is the P7 entry of results.json.
type P7 struct {
	Runs []P7Run `json:"runs"`
	// Growth is the peak over the largest file ÷ the peak over the
	// smallest (1 is flat); 0 with one file.
	Growth  float64 `json:"growth"`
	Target  float64 `json:"targetMB"`
	Pass    bool    `json:"pass"`
	How     string  `json:"how"`
	Machine string  `json:"machine"`
	Date    string  `json:"date"`
}

func p7Of(runs []P7Run) P7 {
	p := P7{Runs: runs, Target: P7Target, Pass: len(runs) > 0}
	var small, large *P7Run
	for i, r := range runs {
		p.Pass = p.Pass && r.Pass
		if small == nil || r.FileMB < small.FileMB {
			small = &runs[i]
		}
		if large == nil || r.FileMB > large.FileMB {
			large = &runs[i]
		}
	}
	if small != large && small.PeakRSSMB > 0 {
		p.Growth = round2(large.PeakRSSMB / small.PeakRSSMB)
	}
	return p
}

// runP7 ingests a generated JSON Lines file of about mb megabytes on a
// fresh local cloud with procs batch-ingest processes and samples the
// VmHWM of every batch-ingest bootstrap every 200 ms until the batch ends.
func runP7(ctx context.Context, dist, tmp string, mb, procs int, log io.Writer) (P7Run, error) {
	rowBytes := len(profileRow("p7", 0, 0, p7RowPad)) + 1
	rows := mb << 20 / rowBytes
	run := P7Run{Rows: rows, Processes: procs}
	path := filepath.Join(tmp, "p7.json")
	f, err := os.Create(path)
	if err != nil {
		return run, err
	}
	tag := fmt.Sprintf("p7m%d", mb)
	size, err := writeRows(f, rows, func(i int) []byte { return profileRow(tag, i, 0, p7RowPad) })
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return run, err
	}
	defer os.Remove(path)
	run.FileMB = round2(float64(size) / (1 << 20))

	l, err := startLocal(ctx, dist, procs)
	if err != nil {
		return run, err
	}
	defer l.stop()
	ds, err := l.profileDataset(ctx, "bench "+tag)
	if err != nil {
		return run, err
	}
	fmt.Fprintf(log, "P7 %.0f MB: %d rows of %d bytes\n", run.FileMB, rows, rowBytes)
	wctx, cancel := context.WithTimeout(ctx, 90*time.Minute)
	defer cancel()
	peaks := map[int]int64{}
	sample := func() {
		pids, _ := l.bootstraps("batch-ingest")
		for _, pid := range pids {
			if kb, err := statusKB(pid, "VmHWM"); err == nil {
				peaks[pid] = max(peaks[pid], kb)
			}
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				sample()
			}
		}
	}()
	start := time.Now()
	err = l.drop(wctx, ds, "p7.json", path)
	var b batchResult
	if err == nil {
		b, err = l.waitBatch(wctx, ds, time.Second)
	}
	run.Seconds = round2(time.Since(start).Seconds())
	cancel()
	<-done
	sample()
	if err != nil {
		return run, err
	}
	run.Status = b.Status
	for _, kb := range peaks {
		mbv := round2(float64(kb) / 1024)
		run.PerProcess = append(run.PerProcess, mbv)
		run.PeakRSSMB = max(run.PeakRSSMB, mbv)
	}
	if b.Status != "success" {
		return run, fmt.Errorf("P7 batch %s ended %s (%d of %d rows failed)", b.ID, b.Status, b.Failed, b.Input)
	}
	if b.Input != int64(rows) || b.Failed != 0 {
		return run, fmt.Errorf("P7 batch %s counted %d records in and %d failed, want exactly %d and 0", b.ID, b.Input, b.Failed, rows)
	}
	if len(peaks) == 0 {
		return run, fmt.Errorf("P7: no batch-ingest bootstrap process was seen")
	}
	run.Pass = b.Status == "success" && run.PeakRSSMB <= P7Target
	fmt.Fprintf(log, "P7 %.0f MB: batch %s in %.1f s, peak RSS %.1f MB\n", run.FileMB, b.Status, run.Seconds, run.PeakRSSMB)
	return run, nil
}
