package ingest

import (
	"context"
	"io"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// FlushEvery is how many failed records a Tally buffers before the runner
// writes them.
const FlushEvery = 100

// SpecSource gives the ingest spec of a dataset; catalog.SpecLoader
// implements it, with a cache.
type SpecSource interface {
	Spec(ctx context.Context, datasetID string) (*catalog.IngestSpec, error)
}

// RowProcessor ingests one row; Pipeline implements it.
type RowProcessor interface {
	Process(ctx context.Context, spec *catalog.IngestSpec, row Row) (Outcome, error)
}

// Runner drives the rows of one source (the lines of an S3 file, the
// messages of a Kinesis record) through a pipeline, Workers rows at once,
// counts their outcomes on a Tally and writes the refused ones as failed
// records.
type Runner struct {
	Pipeline RowProcessor
	// Failed stores the failed records of refused rows; nil counts them
	// on the Tally only (the batch engine, whose refusals are its row
	// diagnostics in S3).
	Failed catalog.FailedWriter
	// Workers is how many rows are processed at once; 1 (or less) keeps
	// the source's order, which a stream needs: a transient failure stops
	// the run before any later row is written.
	Workers int
	// Margin is the time kept before the invocation deadline to report
	// what was done: Run stops when less is left.
	Margin time.Duration
	Now    func() time.Time
}

// Item is one row to run and where it came from.
type Item struct {
	Row  Row
	Spec *catalog.IngestSpec
	// At locates the row in its failed record, if it is refused: batch,
	// dataset, file and row, or shard, sequence number and index.
	At catalog.FailedRecord
	// Err, when set, refuses the row without processing it (a line over
	// its bound, a message that cannot be read).
	Err error
	// Done, when set, is called once the row is finished: written, or
	// refused and counted (its failed record may still be buffered). It is
	// not called for a row whose processing failed transiently. Rows finish
	// in any order when Workers > 1; a caller keeping a watermark tracks
	// them (the batch engine's checkpoints).
	Done func()
}

// StopAt is when a run must stop so that Margin is left before ctx's
// deadline; zero when ctx has none.
func (r *Runner) StopAt(ctx context.Context) time.Time {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	return dl.Add(-r.Margin)
}

// Late reports whether stopAt (from StopAt) has passed.
func (r *Runner) Late(stopAt time.Time) bool {
	return !stopAt.IsZero() && r.Now().After(stopAt)
}

// NewTally returns an empty tally whose refusals are dated by r.Now.
func (r *Runner) NewTally() *Tally {
	return &Tally{now: r.Now, codes: map[string]*catalog.BatchError{}, warns: map[string]*catalog.BatchError{}}
}

// Run processes the items next returns until it returns io.EOF, and then
// writes the failed records t holds. It returns an error only for what a
// retry may cure: a transient failure of the pipeline or of next (as next
// returned it), the deadline (BATCH-DEADLINE, Unavailable) or the
// cancellation of ctx (BATCH-CANCELLED, Unavailable). Rows that were
// processed stay written; processing them again is idempotent.
func (r *Runner) Run(ctx context.Context, t *Tally, next func() (Item, error)) error {
	stopAt := r.StopAt(ctx)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(r.Workers, 1))
	for gctx.Err() == nil {
		if r.Late(stopAt) {
			g.Wait()
			return fault.E(fault.Unavailable, "BATCH-DEADLINE", "the rows did not finish before the invocation deadline")
		}
		it, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			g.Wait()
			return err
		}
		t.row()
		if it.Err != nil {
			t.Refuse(it.At, it.Err)
			if it.Done != nil {
				it.Done()
			}
			if err := r.flush(gctx, t, false); err != nil {
				g.Wait()
				return err
			}
			continue
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil // a row before this one failed
			}
			out, err := r.Pipeline.Process(gctx, it.Spec, it.Row)
			if err != nil {
				if Transient(err) {
					return err
				}
				t.Refuse(it.At, err)
				if it.Done != nil {
					it.Done()
				}
				return r.flush(gctx, t, false)
			}
			t.Warn(out.Warnings)
			if it.Done != nil {
				it.Done()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fault.Wrap(err, fault.Unavailable, "BATCH-CANCELLED", "processing was cancelled")
	}
	return r.flush(ctx, t, true)
}

// flush writes the failed records t buffers: all of them when force,
// else only once FlushEvery are buffered.
func (r *Runner) flush(ctx context.Context, t *Tally, force bool) error {
	t.mu.Lock()
	if len(t.buf) == 0 || (!force && len(t.buf) < FlushEvery) {
		t.mu.Unlock()
		return nil
	}
	buf := t.buf
	t.buf = nil
	t.mu.Unlock()
	if r.Failed == nil {
		return nil
	}
	return r.Failed.PutFailed(ctx, buf)
}

// Tally counts the outcomes of a run: rows, refusals by code (with their
// failed records until they are written) and warnings of ingested rows by
// code. It is safe for concurrent use.
type Tally struct {
	now     func() time.Time
	mu      sync.Mutex
	rows    int
	refused int
	codes   map[string]*catalog.BatchError
	warns   map[string]*catalog.BatchError
	buf     []catalog.FailedRecord
}

func (t *Tally) row() {
	t.mu.Lock()
	t.rows++
	t.mu.Unlock()
}

// Refuse counts a refused row and buffers its failed record: at, with the
// code and message Describe gives err, dated now.
func (t *Tally) Refuse(at catalog.FailedRecord, err error) {
	at.Code, at.Message = Describe(err)
	at.At = t.now().UnixMilli()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refused++
	count(t.codes, at.Code, at.Message)
	t.buf = append(t.buf, at)
}

// Warn counts the warnings of an ingested row, e.g. identities dropped
// past the 20th or an ordering time clamped.
func (t *Tally) Warn(ws []identity.Warning) {
	if len(ws) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range ws {
		count(t.warns, w.Code, w.Message)
	}
}

func count(m map[string]*catalog.BatchError, code, msg string) {
	e := m[code]
	if e == nil {
		e = &catalog.BatchError{Code: code, Description: msg}
		m[code] = e
	}
	e.Rows++
}

// Rows is how many rows the runs counted, refused ones included.
func (t *Tally) Rows() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rows
}

// Refused is how many rows were refused.
func (t *Tally) Refused() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refused
}

// Errors are the refusals by code, sorted by code, each with the message
// of its first row and its number of rows.
func (t *Tally) Errors() []catalog.BatchError { return t.sorted(t.codes) }

// Warnings are the warnings of ingested rows by code, as Errors.
func (t *Tally) Warnings() []catalog.BatchError { return t.sorted(t.warns) }

func (t *Tally) sorted(m map[string]*catalog.BatchError) []catalog.BatchError {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []catalog.BatchError
	for _, e := range m {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}
