package ingest

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/storetest"
)

var runnerSpec = &catalog.IngestSpec{
	DatasetID: "crm", Class: catalog.ProfileClass, ProfileEnabled: true, IdentityEnabled: true,
	Identities: []catalog.IdentityField{{Path: "/personalEmail/address", Namespace: "Email", Primary: true}},
}

func newTestRunner(workers int) (*Runner, *storetest.Profiles, *storetest.Failed) {
	prof, failed := storetest.NewProfiles(), storetest.NewFailed()
	return &Runner{
		Pipeline: &Pipeline{Fragments: prof, Links: prof, Events: prof},
		Failed:   failed, Workers: workers, Margin: time.Second,
		Now: func() time.Time { return time.UnixMilli(7000) },
	}, prof, failed
}

// rowsOf feeds rows as the lines of file "f" of batch "b1", numbered from 1.
func rowsOf(rows ...string) func() (Item, error) {
	i := 0
	return func() (Item, error) {
		if i == len(rows) {
			return Item{}, io.EOF
		}
		i++
		return Item{
			Row:  Row{Data: []byte(rows[i-1]), Received: time.UnixMilli(1000), Src: fmt.Sprintf("s3:f#e:%010d", i), Batch: "b1"},
			Spec: runnerSpec,
			At:   catalog.FailedRecord{Batch: "b1", Dataset: "crm", File: "f", Row: i},
		}, nil
	}
}

func person(email string) string {
	return fmt.Sprintf(`{"personalEmail":{"address":%q}}`, email)
}

func TestRunCountsOutcomesByCodeAndWritesRefusals(t *testing.T) {
	for _, workers := range []int{1, 16} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			r, prof, failed := newTestRunner(workers)
			future := `{"personalEmail":{"address":"w@example.com"},"extSourceSystemAudit":{"lastUpdatedDate":"2999-01-01T00:00:00Z"}}`
			tally := r.NewTally()
			err := r.Run(context.Background(), tally, rowsOf(person("a@example.com"), `{"x":`, `{"person":{}}`, future, `{"y":`))
			if err != nil {
				t.Fatal(err)
			}
			if tally.Rows() != 5 || tally.Refused() != 3 || len(prof.Frags) != 2 {
				t.Errorf("%d rows, %d refused, %d fragments; want 5, 3, 2", tally.Rows(), tally.Refused(), len(prof.Frags))
			}
			var errs, warns []string
			for _, e := range tally.Errors() {
				errs = append(errs, fmt.Sprintf("%s×%d", e.Code, e.Rows))
			}
			for _, w := range tally.Warnings() {
				warns = append(warns, fmt.Sprintf("%s×%d", w.Code, w.Rows))
			}
			if diff := cmp.Diff([]string{identity.CodeNoPrimary + "×1", CodeRowJSON + "×2"}, errs); diff != "" {
				t.Errorf("errors by code (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{CodeOrderingTimeClamped + "×1"}, warns); diff != "" {
				t.Errorf("warnings by code (-want +got):\n%s", diff)
			}
			want := map[string]string{"b1|2": CodeRowJSON, "b1|3": identity.CodeNoPrimary, "b1|5": CodeRowJSON}
			got := map[string]string{}
			for k, rec := range failed.Recs {
				got[k] = rec.Code
				if rec.File != "f" || rec.Dataset != "crm" || rec.At != 7000 || rec.Message == "" {
					t.Errorf("failed record %+v lacks its location, time or message", rec)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("failed records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunRefusesItemsWithAnError(t *testing.T) {
	r, prof, failed := newTestRunner(4)
	tally := r.NewTally()
	done := false
	err := r.Run(context.Background(), tally, func() (Item, error) {
		if done {
			return Item{}, io.EOF
		}
		done = true
		return Item{At: catalog.FailedRecord{Batch: "b1", Row: 9}, Err: fault.E(fault.Invalid, CodeRowTooLarge, "too large")}, nil
	})
	if err != nil || tally.Rows() != 1 || tally.Refused() != 1 || len(prof.Frags) != 0 {
		t.Fatalf("err %v, %d rows, %d refused, %d fragments; want nil, 1, 1, 0", err, tally.Rows(), tally.Refused(), len(prof.Frags))
	}
	if rec := failed.Recs["b1|9"]; rec.Code != CodeRowTooLarge {
		t.Errorf("failed record %+v, want %s for row 9", rec, CodeRowTooLarge)
	}
}

// In order (one worker), a transient failure stops the run before any
// later row is written, and the refusals of the run are not written: the
// whole source is retried.
func TestRunStopsAtTransientFailureInOrder(t *testing.T) {
	r, prof, failed := newTestRunner(1)
	prof.FailAt = 2
	err := r.Run(context.Background(), r.NewTally(), rowsOf(`{"x":`, person("a@example.com"), person("b@example.com"), person("c@example.com")))
	if fault.KindOf(err) != fault.Throttled {
		t.Fatalf("got %v, want the throttled write's error", err)
	}
	if prof.Writes != 2 || len(prof.Frags) != 1 {
		t.Errorf("%d writes, %d fragments; want 2 and 1: nothing after the failure", prof.Writes, len(prof.Frags))
	}
	if len(failed.Recs) != 0 {
		t.Errorf("%d failed records written, want none before the retry", len(failed.Recs))
	}
}

func TestRunAnErrorOfTheSourceIsReturned(t *testing.T) {
	r, _, _ := newTestRunner(2)
	broken := fault.E(fault.Unavailable, "S3-READ", "read the file")
	err := r.Run(context.Background(), r.NewTally(), func() (Item, error) { return Item{}, broken })
	if err != broken {
		t.Fatalf("got %v, want the source's error", err)
	}
}

func TestRunFlushesRefusalsAsItGoes(t *testing.T) {
	r, _, _ := newTestRunner(1)
	var writes []int
	r.Failed = failedFunc(func(recs []catalog.FailedRecord) { writes = append(writes, len(recs)) })
	rows := make([]string, FlushEvery+5)
	for i := range rows {
		rows[i] = `{"person":{}}`
	}
	if err := r.Run(context.Background(), r.NewTally(), rowsOf(rows...)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{FlushEvery, 5}, writes); diff != "" {
		t.Errorf("failed-record writes (-want +got):\n%s", diff)
	}
}

type failedFunc func([]catalog.FailedRecord)

func (f failedFunc) PutFailed(_ context.Context, recs []catalog.FailedRecord) error {
	f(recs)
	return nil
}

// The run stops Margin before the invocation deadline, with an error a
// retry cures, so that the caller has time to report.
func TestRunStopsBeforeTheDeadline(t *testing.T) {
	r, prof, _ := newTestRunner(4)
	// The clock says half the margin is left before the deadline.
	deadline := time.UnixMilli(7000).Add(r.Margin / 2)
	dctx := deadlineCtx{Context: context.Background(), at: deadline}
	err := r.Run(dctx, r.NewTally(), rowsOf(person("a@example.com")))
	if e := fault.As(err); e.Code != "BATCH-DEADLINE" || !Transient(err) {
		t.Fatalf("got %v, want a transient BATCH-DEADLINE", err)
	}
	if len(prof.Frags) != 0 {
		t.Errorf("%d fragments written after the stop", len(prof.Frags))
	}
	if got := r.StopAt(dctx); !got.Equal(deadline.Add(-r.Margin)) {
		t.Errorf("StopAt %v, want the deadline less the margin", got)
	}
	if !r.StopAt(context.Background()).IsZero() {
		t.Error("StopAt without a deadline is not zero")
	}
}

// deadlineCtx has a deadline that the fake clock reads, without being
// cancelled by the real one.
type deadlineCtx struct {
	context.Context
	at time.Time
}

func (c deadlineCtx) Deadline() (time.Time, bool) { return c.at, true }

// Items refused before the pipeline (a line too long, a message that
// cannot be read) are written as they come too, not all at the end.
func TestRunFlushesItemsRefusedBeforeThePipeline(t *testing.T) {
	r, _, _ := newTestRunner(1)
	var writes []int
	r.Failed = failedFunc(func(recs []catalog.FailedRecord) { writes = append(writes, len(recs)) })
	n := 0
	err := r.Run(context.Background(), r.NewTally(), func() (Item, error) {
		if n == FlushEvery+5 {
			return Item{}, io.EOF
		}
		n++
		return Item{At: catalog.FailedRecord{Batch: "b1", Row: n}, Err: fault.E(fault.Invalid, CodeRowTooLarge, "too large")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{FlushEvery, 5}, writes); diff != "" {
		t.Errorf("failed-record writes (-want +got):\n%s", diff)
	}
}
