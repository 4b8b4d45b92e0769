package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
	"github.com/mosaic-cdp/mosaic/shared/lambdaevent"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// reportMargin is the time kept before the invocation deadline to save a
// step's progress and write the next task.
const reportMargin = 10 * time.Second

// noDeadline is how long a step may run when its context has no deadline
// (never in Lambda).
const noDeadline = 5 * time.Minute

// jobStore keeps the job items (store.Catalog).
type jobStore interface {
	GetJob(ctx context.Context, id string) (jobs.Job, error)
	// SaveJob writes j while the stored job is at step from and not
	// final, else Conflict (or NotFound when the job is gone).
	SaveJob(ctx context.Context, j jobs.Job, from int) error
}

// profileStore reads clusters and deletes profile data (store.Profiles).
// Each delete step works until deadline and returns where to go on from
// ("" when done) and how many items it removed.
type profileStore interface {
	Cluster(ctx context.Context, start identity.ID, stitch bool, limit int) (merge.Candidates, error)
	DeleteIdentityStep(ctx context.Context, id identity.ID, at int64, src, cursor string, deadline time.Time) (next string, removed int, err error)
	DeleteDatasetStep(ctx context.Context, dataset, batch, cursor string, deadline time.Time) (next string, removed int, err error)
}

type handler struct {
	store    jobStore
	profiles profileStore
	objects  jobs.TaskObjects
	bucket   string // the landing bucket, where task objects are written
	// stepTime bounds how long a step works (0: until reportMargin before
	// the invocation's deadline).
	stepTime   time.Duration
	clusterCap int
	now        func() time.Time
	// sleep waits d unless ctx ends first.
	sleep func(ctx context.Context, d time.Duration) error
}

func newHandler(ctx context.Context, getenv awsenv.Getenv) (*handler, error) {
	env, err := awsenv.Require(getenv, topology.EnvCatalogTable, topology.EnvProfileTable, topology.EnvLandingBucket)
	if err != nil {
		return nil, err
	}
	stepTime, err := parseStepTime(getenv(topology.EnvJobStepTime))
	if err != nil {
		return nil, err
	}
	clusterCap, err := store.ParseClusterCap(getenv(topology.EnvClusterCap))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", topology.EnvClusterCap, err)
	}
	c, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return &handler{
		store:    store.NewCatalog(c.DynamoDB, env[topology.EnvCatalogTable]),
		profiles: store.NewProfiles(c.DynamoDB, env[topology.EnvProfileTable]),
		objects:  c.S3, bucket: env[topology.EnvLandingBucket],
		stepTime: stepTime, clusterCap: clusterCap, now: time.Now, sleep: sleep,
	}, nil
}

// parseStepTime reads MOSAIC_JOB_STEP_TIME: a positive Go duration, or
// empty for none.
func parseStepTime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q is not a positive duration such as 30s or 200ms", topology.EnvJobStepTime, s)
	}
	return d, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Invoke is the function's entry point: S3 events of task objects run
// steps (Handle); SQS events of the on-failure queue end the jobs whose
// steps Lambda gave up on (Drain).
func (h *handler) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	return lambdaevent.S3OrSQS(ctx, raw, h.Handle, h.Drain)
}

// taskOf returns the job and step of an S3 event record of a task object.
func taskOf(r events.S3EventRecord) (jobID string, step int, ok bool) {
	if !strings.HasPrefix(strings.TrimPrefix(r.EventName, "s3:"), "ObjectCreated:") {
		return "", 0, false
	}
	key, err := url.QueryUnescape(r.S3.Object.Key)
	if err != nil {
		return "", 0, false
	}
	return jobs.ParseTaskKey(key)
}

// Handle runs the step of every task object the event announces. An error
// (transient: the step could neither finish nor save any progress) makes
// Lambda deliver the event again; a step whose attempts are exhausted ends
// its job in ERROR through the on-failure queue.
func (h *handler) Handle(ctx context.Context, ev events.S3Event) error {
	for _, r := range ev.Records {
		id, step, ok := taskOf(r)
		if !ok {
			slog.WarnContext(ctx, "object is not a job task; ignored", "key", r.S3.Object.Key)
			continue
		}
		if err := h.runStep(ctx, id, step); err != nil {
			slog.WarnContext(ctx, "job step failed; Lambda retries it", "jobId", id, "step", step, "err", err)
			return err
		}
	}
	return nil
}

// runStep runs step n of job id, which is a no-op unless the stored job is
// at step n and not final (a redelivered or duplicated task). When the
// job's step was saved as n+1 but this invocation's hand-on may not have
// been written, the next task is written if missing.
func (h *handler) runStep(ctx context.Context, id string, n int) error {
	j, err := h.store.GetJob(ctx, id)
	if fault.KindOf(err) == fault.NotFound {
		slog.InfoContext(ctx, "task of a deleted job ignored", "jobId", id, "step", n)
		return nil
	}
	if err != nil {
		return err
	}
	if jobs.Final(j.Status) {
		return nil
	}
	if j.Step == n+1 {
		return jobs.EnsureTask(ctx, h.objects, h.bucket, id, n+1)
	}
	if j.Step != n {
		slog.InfoContext(ctx, "task of another step ignored", "jobId", id, "step", n, "jobStep", j.Step)
		return nil
	}

	now := h.now()
	if j.Status == jobs.StatusNew {
		j.Status, j.Started = jobs.StatusProcessing, now.UnixMilli()
		j.SetMetrics(now)
		if ok, err := h.save(ctx, j, n); !ok {
			return err
		}
	}
	end := h.invocationEnd(ctx, now)
	if j.NotBefore > now.UnixMilli() {
		at := time.UnixMilli(j.NotBefore)
		if !at.Before(end) {
			// No time to wait here: the next invocation waits on.
			return h.handOn(ctx, j, n, false)
		}
		if err := h.sleep(ctx, at.Sub(now)); err != nil {
			return err
		}
		now = h.now()
	}
	deadline := end
	if h.stepTime > 0 && now.Add(h.stepTime).Before(end) {
		deadline = now.Add(h.stepTime)
	}
	done, progressed, err := h.work(ctx, &j, deadline)
	switch {
	case err == nil:
	case fault.KindOf(err).Transient() && progressed:
		// Keep what was done; the next step goes on from there.
		slog.WarnContext(ctx, "job step cut short; its progress is kept", "jobId", id, "step", n, "err", err)
	case fault.KindOf(err).Transient():
		return err
	default:
		return h.fail(ctx, j, n, err)
	}
	if done {
		j.Step = n + 1
		j.Status, j.Cursor, j.Idle = jobs.StatusCompleted, "", 0
		j.SetMetrics(h.now())
		if ok, err := h.save(ctx, j, n); !ok {
			return err
		}
		slog.InfoContext(ctx, "job completed", "jobId", id, "kind", j.Kind(), "steps", j.Step, "records", j.Records)
		return nil
	}
	return h.handOn(ctx, j, n, progressed)
}

// handOn saves j as having done step n and writes the task of step n+1;
// a job whose steps keep making no progress ends in ERROR instead.
func (h *handler) handOn(ctx context.Context, j jobs.Job, n int, progressed bool) error {
	j.Step = n + 1
	waiting := j.NotBefore > h.now().UnixMilli()
	switch {
	case progressed || waiting:
		j.Idle = 0
	default:
		j.Idle++
	}
	j.SetMetrics(h.now())
	if j.Idle >= jobs.MaxIdleSteps {
		j.Status = jobs.StatusError
		j.Error = fmt.Sprintf("the job made no progress in %d steps in a row and was stopped; create it again", j.Idle)
		if ok, err := h.save(ctx, j, n); !ok {
			return err
		}
		slog.ErrorContext(ctx, "job stopped: no progress", "jobId", j.ID, "steps", j.Step)
		return nil
	}
	if ok, err := h.save(ctx, j, n); !ok {
		return err
	}
	return jobs.PutTask(ctx, h.objects, h.bucket, j.ID, j.Step)
}

// fail ends j in ERROR at step n with what the caller may be told of err.
func (h *handler) fail(ctx context.Context, j jobs.Job, n int, err error) error {
	code, msg := fault.Public(err)
	if code == fault.InternalCode {
		msg = fmt.Sprintf("step %d failed with an internal error; the profile-jobs logs of job %s say why", n, j.ID)
	}
	j.Status, j.Error = jobs.StatusError, msg
	j.SetMetrics(h.now())
	if ok, serr := h.save(ctx, j, n); !ok {
		return serr
	}
	if code == fault.InternalCode {
		slog.ErrorContext(ctx, "job failed", "jobId", j.ID, "step", n, "err", err)
	} else {
		slog.WarnContext(ctx, "job refused", "jobId", j.ID, "step", n, "code", code)
	}
	return nil
}

// save writes j from step n. ok is false when it was not written: err is
// then nil when the job moved on, ended or was deleted meanwhile (another
// invocation's work, or DELETE /system/jobs/{id}: this one stops), else
// the error to retry on.
func (h *handler) save(ctx context.Context, j jobs.Job, n int) (ok bool, err error) {
	err = h.store.SaveJob(ctx, j, n)
	switch k := fault.KindOf(err); {
	case err == nil:
		return true, nil
	case k == fault.Conflict || k == fault.NotFound:
		slog.InfoContext(ctx, "job step not saved: the job changed meanwhile", "jobId", j.ID, "step", n, "code", fault.As(err).Code)
		return false, nil
	default:
		return false, err
	}
}

// invocationEnd is when a step must stop working: reportMargin before the
// invocation's deadline, measured from now on h's clock.
func (h *handler) invocationEnd(ctx context.Context, now time.Time) time.Time {
	left := noDeadline
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	return now.Add(left - reportMargin)
}
