package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/eventsample"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

// rows makes n rows of dataset ds, of batches b0, b1, … in turn, mixed
// with rows of another dataset.
func rows(ds string, n, batches int) []row {
	var out []row
	for i := range n {
		out = append(out, row{ds, fmt.Sprintf("b%d", i%batches)}, row{"other", "b0"})
	}
	return out
}

func metricsOf(t *testing.T, j jobs.Job) jobs.Metrics {
	t.Helper()
	var m jobs.Metrics
	if err := json.Unmarshal([]byte(j.Metrics), &m); err != nil {
		t.Fatalf("metrics %q are not AEP's JSON string: %v", j.Metrics, err)
	}
	return m
}

// A dataset delete with tiny steps runs across many invocations, each
// one step handed on by a task object, and ends COMPLETED with every row
// of the dataset gone and the others kept.
func TestDatasetDeleteAcrossInvocations(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 40, 1)
	j := f.start(t, jobs.NewDatasetDelete("ds1"))

	invocations := f.drive(t)

	got := f.jobs.get(t, j.ID)
	if got.Status != jobs.StatusCompleted || got.Error != "" {
		t.Fatalf("job %+v, want COMPLETED", got)
	}
	if left := f.profiles.left("ds1", ""); left != 0 {
		t.Errorf("%d rows of the dataset left", left)
	}
	if left := f.profiles.left("other", ""); left != 40 {
		t.Errorf("%d rows of another dataset left, want 40", left)
	}
	// 80 rows, 3 per call: 27 calls of 10 ms, 3 per 25 ms step.
	if got.Step != 9 || got.Step != invocations {
		t.Errorf("%d steps in %d invocations, want 9, one per invocation", got.Step, invocations)
	}
	for i, key := range f.objects.puts {
		if want := jobs.TaskKey(j.ID, i); key != want {
			t.Fatalf("task %d is %s, want %s", i, key, want)
		}
	}
	m := metricsOf(t, got)
	elapsed := f.clock.Now().Sub(testStart)
	if m.RecordsProcessed != 40 || m.TimeTakenInSec != int64(elapsed/time.Second) {
		t.Errorf("metrics %+v, want 40 records in %d s", m, int64(elapsed/time.Second))
	}
	if got.CreateEpoch != testStart.Unix() || got.UpdateEpoch != f.clock.Now().Unix() {
		t.Errorf("epochs %d %d", got.CreateEpoch, got.UpdateEpoch)
	}
}

// A batch delete removes that batch's rows only.
func TestBatchDelete(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 30, 3)
	j := f.start(t, jobs.NewBatchDelete("ds1", "b1"))
	f.drive(t)
	if got := f.jobs.get(t, j.ID); got.Status != jobs.StatusCompleted || got.Records != 10 {
		t.Errorf("job %+v, want COMPLETED with 10 records", got)
	}
	if left, all := f.profiles.left("ds1", "b1"), f.profiles.left("ds1", ""); left != 0 || all != 20 {
		t.Errorf("%d rows of the batch and %d of the dataset left, want 0 and 20", left, all)
	}
}

// Without a step time a step works until the invocation's deadline less
// the margin: one invocation does it all.
func TestStepRunsUntilTheDeadline(t *testing.T) {
	f := newFixture(t)
	f.h.stepTime = 0
	f.profiles.rows = rows("ds1", 40, 1)
	j := f.start(t, jobs.NewDatasetDelete("ds1"))
	if n := f.drive(t); n != 1 {
		t.Errorf("%d invocations, want 1", n)
	}
	if got := f.jobs.get(t, j.ID); got.Status != jobs.StatusCompleted || got.Step != 1 {
		t.Errorf("job %+v", got)
	}
}

// A task delivered again once its step was saved changes nothing and
// writes no task: the job, the store and the bucket stay as they are.
func TestRedeliveredTaskIsNoOp(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 40, 1)
	j := f.start(t, jobs.NewDatasetDelete("ds1"))
	for range 3 {
		key, _ := f.objects.next()
		if err := f.deliver(key); err != nil {
			t.Fatal(err)
		}
	}
	before := f.jobs.get(t, j.ID)
	calls, puts, saves := len(f.profiles.datasetCalls), len(f.objects.puts), f.jobs.saves
	for step := range 3 {
		if err := f.deliver(jobs.TaskKey(j.ID, step)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(before, f.jobs.get(t, j.ID)); diff != "" {
		t.Errorf("job changed (-before +after):\n%s", diff)
	}
	if len(f.profiles.datasetCalls) != calls || len(f.objects.puts) != puts || f.jobs.saves != saves {
		t.Errorf("store calls %d→%d, puts %d→%d, saves %d→%d: want none", calls, len(f.profiles.datasetCalls), puts, len(f.objects.puts), saves, f.jobs.saves)
	}
	// A finished job ignores every task.
	f.drive(t)
	done := f.jobs.get(t, j.ID)
	if err := f.deliver(jobs.TaskKey(j.ID, 0)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(done, f.jobs.get(t, j.ID)); diff != "" {
		t.Errorf("finished job changed:\n%s", diff)
	}
}

// Two invocations of one step at once (S3 delivered the event twice):
// the first to save wins, the other saves nothing and hands nothing on,
// so the chain of tasks never forks.
func TestDuplicateStepDoesNotFork(t *testing.T) {
	f := newFixture(t)
	f.h.stepTime = 0
	f.profiles.rows = rows("ds1", 4, 1)
	j := f.start(t, jobs.NewDatasetDelete("ds1"))
	key, _ := f.objects.next()
	var inner error
	f.profiles.during = func() { inner = f.deliver(key) }
	if err := f.deliver(key); err != nil {
		t.Fatal(err)
	}
	if inner != nil {
		t.Fatal(inner)
	}
	got := f.jobs.get(t, j.ID)
	if got.Status != jobs.StatusCompleted || got.Step != 1 || got.Records != 4 {
		t.Errorf("job %+v, want COMPLETED in one step with 4 records", got)
	}
	if len(f.objects.pending) != 0 {
		t.Errorf("tasks handed on: %v", f.objects.pending)
	}
}

// A step whose next task cannot be written fails; Lambda's retry of the
// same task finds the step saved and writes the missing task, once.
func TestHandOnWriteFailureIsRetried(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 20, 1)
	j := f.start(t, jobs.NewDatasetDelete("ds1"))
	key, _ := f.objects.next()
	f.objects.failPuts = 1
	err := f.deliver(key)
	if fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("first delivery: %v, want the task write's Unavailable error", err)
	}
	if got := f.jobs.get(t, j.ID); got.Step != 1 {
		t.Fatalf("step %d, want the step saved", got.Step)
	}
	calls := len(f.profiles.datasetCalls)
	if err := f.deliver(key); err != nil {
		t.Fatal(err)
	}
	if err := f.deliver(key); err != nil {
		t.Fatal(err)
	}
	if len(f.profiles.datasetCalls) != calls {
		t.Error("the retry deleted again")
	}
	if n := strings.Count(strings.Join(f.objects.puts, " "), jobs.TaskKey(j.ID, 1)); n != 1 {
		t.Errorf("task of step 1 written %d times, want 1", n)
	}
	f.drive(t)
	if got := f.jobs.get(t, j.ID); got.Status != jobs.StatusCompleted || got.Records != 20 {
		t.Errorf("job %+v", got)
	}
}

// A transient failure before any progress fails the invocation, and
// Lambda's retry runs the step again from the saved cursor; after some
// progress the step keeps it and hands on without an error.
func TestTransientFailures(t *testing.T) {
	throttled := fault.E(fault.Throttled, "STORE-THROTTLED", "throttled")
	t.Run("before progress: retried", func(t *testing.T) {
		f := newFixture(t)
		f.profiles.rows = rows("ds1", 20, 1)
		f.profiles.errs = []error{throttled}
		j := f.start(t, jobs.NewDatasetDelete("ds1"))
		key, _ := f.objects.next()
		if err := f.deliver(key); fault.KindOf(err) != fault.Throttled {
			t.Fatalf("delivery: %v, want Throttled", err)
		}
		if got := f.jobs.get(t, j.ID); got.Step != 0 || got.Status != jobs.StatusProcessing {
			t.Fatalf("job %+v, want PROCESSING at step 0", got)
		}
		f.objects.pending = append([]string{key}, f.objects.pending...)
		f.drive(t)
		if got := f.jobs.get(t, j.ID); got.Status != jobs.StatusCompleted || got.Records != 20 {
			t.Errorf("job %+v", got)
		}
	})
	t.Run("after progress: kept and handed on", func(t *testing.T) {
		f := newFixture(t)
		f.h.stepTime = time.Second
		f.profiles.rows = rows("ds1", 20, 1)
		f.profiles.errs = []error{nil, nil, throttled}
		j := f.start(t, jobs.NewDatasetDelete("ds1"))
		key, _ := f.objects.next()
		if err := f.deliver(key); err != nil {
			t.Fatalf("delivery: %v, want the progress kept", err)
		}
		got := f.jobs.get(t, j.ID)
		if got.Step != 1 || got.Cursor != "6" || got.Records != 3 {
			t.Fatalf("job %+v, want step 1 saved at cursor 6", got)
		}
		f.drive(t)
		if got := f.jobs.get(t, j.ID); got.Status != jobs.StatusCompleted || got.Records != 20 {
			t.Errorf("job %+v", got)
		}
	})
}

// An error that no retry cures ends the job in ERROR at once, with a
// message that holds no internals.
func TestPermanentFailureEndsJob(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 20, 1)
	f.profiles.errs = []error{fault.Wrap(fmt.Errorf("table mosaic-prof: boom"), fault.Internal, "NOT-BUILT", "delete dataset")}
	j := f.start(t, jobs.NewDatasetDelete("ds1"))
	f.drive(t)
	got := f.jobs.get(t, j.ID)
	if got.Status != jobs.StatusError || !strings.Contains(got.Error, "internal error") || strings.Contains(got.Error, "mosaic-prof") {
		t.Errorf("job %+v, want ERROR with a safe message", got)
	}
	if got.Metrics == "" || got.UpdateEpoch == 0 {
		t.Errorf("metrics %q", got.Metrics)
	}
}

// DELETE /system/jobs/{id} of a running job: its next save finds no job,
// and the job stops there.
func TestDeletedJobStops(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 40, 1)
	j := f.start(t, jobs.NewDatasetDelete("ds1"))
	key, _ := f.objects.next()
	if err := f.deliver(key); err != nil {
		t.Fatal(err)
	}
	f.profiles.during = func() { f.jobs.remove(j.ID) }
	f.drive(t)
	if _, err := f.jobs.GetJob(context.Background(), j.ID); fault.KindOf(err) != fault.NotFound {
		t.Errorf("job came back: %v", err)
	}
	if n := len(f.objects.puts); n != 2 {
		t.Errorf("%d tasks written, want the first two only", n)
	}
}

// A job whose store steps never move ends in ERROR after MaxIdleSteps
// instead of invoking itself for ever.
func TestIdleJobEnds(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 20, 1)
	f.profiles.perCall = 0
	j := f.start(t, jobs.NewDatasetDelete("ds1"))
	f.drive(t)
	got := f.jobs.get(t, j.ID)
	// The first step moves the cursor from "" to the first page.
	if got.Status != jobs.StatusError || got.Step != jobs.MaxIdleSteps+1 || !strings.Contains(got.Error, "no progress") {
		t.Errorf("job %+v, want ERROR after %d idle steps", got, jobs.MaxIdleSteps)
	}
}

// A deleted dataset's job waits until NotBefore, within the invocation
// when it can, and starts deleting only then.
func TestNotBeforeIsWaitedFor(t *testing.T) {
	f := newFixture(t)
	f.profiles.rows = rows("ds1", 2, 1)
	j := jobs.NewDatasetDelete("ds1")
	j.NotBefore = testStart.Add(jobs.DatasetSettle).UnixMilli()
	j = f.start(t, j)
	f.drive(t)
	if len(f.sleeps) != 1 || f.sleeps[0] != jobs.DatasetSettle {
		t.Errorf("slept %v, want %v once", f.sleeps, jobs.DatasetSettle)
	}
	if got := f.jobs.get(t, j.ID); got.Status != jobs.StatusCompleted || got.Records != 2 {
		t.Errorf("job %+v", got)
	}

	t.Run("past the invocation: handed on", func(t *testing.T) {
		f := newFixture(t)
		f.profiles.rows = rows("ds1", 2, 1)
		j := jobs.NewDatasetDelete("ds1")
		j.NotBefore = testStart.Add(time.Hour).UnixMilli()
		j = f.start(t, j)
		key, _ := f.objects.next()
		if err := f.deliver(key); err != nil {
			t.Fatal(err)
		}
		got := f.jobs.get(t, j.ID)
		if len(f.sleeps) != 0 || len(f.profiles.datasetCalls) != 0 || got.Step != 1 || got.Idle != 0 {
			t.Errorf("slept %v, %d store calls, job %+v: want a hand-on without work", f.sleeps, len(f.profiles.datasetCalls), got)
		}
	})
}

func entityJob(graph string) jobs.Job {
	return jobs.NewEntityDelete(jobs.Entity{EntityID: "a@example.com", EntityIDNS: "Email", IdentityGraph: graph}, "Email#a@example.com")
}

func ids(keys ...string) []identity.ID {
	var out []identity.ID
	for _, k := range keys {
		id, _ := identity.ParseKey(k)
		out = append(out, id)
	}
	return out
}

// A profile delete resolves the cluster once, at its first step, keeps
// the members, and deletes each one's data across invocations, with the
// job's creation time and id as the tombstones' clock.
func TestProfileDeleteOfCluster(t *testing.T) {
	f := newFixture(t)
	f.profiles.cluster = merge.Candidates{Found: true, Members: ids("Email#a@example.com", "ECID#123", "CRMID#C1")}
	f.profiles.identities = map[string]int{"Email#a@example.com": 4, "ECID#123": 7, "CRMID#C1": 1, "Email#other@example.com": 5}
	j := f.start(t, entityJob(merge.GraphPDG))
	invocations := f.drive(t)

	got := f.jobs.get(t, j.ID)
	// 12 items, 3 per call: 6 calls, 3 per step.
	if got.Status != jobs.StatusCompleted || got.Records != 12 || invocations != 2 {
		t.Errorf("job %+v in %d invocations, want COMPLETED with 12 records over several", got, invocations)
	}
	if diff := cmp.Diff([]clusterCall{{"Email#a@example.com", true, 50}}, f.profiles.clusterCalls); diff != "" {
		t.Errorf("cluster reads (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Email#a@example.com", "ECID#123", "CRMID#C1"}, got.Members); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	for _, c := range f.profiles.identityCalls {
		if c.At != j.Created || c.Src != "delete:"+j.ID {
			t.Fatalf("delete call %+v, want at %d by delete:%s", c, j.Created, j.ID)
		}
	}
	for k, left := range f.profiles.identities {
		if want := map[bool]int{true: 5, false: 0}[k == "Email#other@example.com"]; left != want {
			t.Errorf("%s has %d items left, want %d", k, left, want)
		}
	}
}

// Under a policy without stitching only the asked identity goes; an
// identity the graph does not know still has its partition cleared.
func TestProfileDeleteOfIdentity(t *testing.T) {
	for _, found := range []bool{true, false} {
		t.Run(fmt.Sprint("found ", found), func(t *testing.T) {
			f := newFixture(t)
			f.profiles.cluster = merge.Candidates{Found: found}
			f.profiles.identities = map[string]int{"Email#a@example.com": 2, "ECID#123": 3}
			j := f.start(t, entityJob(merge.GraphNone))
			f.drive(t)
			got := f.jobs.get(t, j.ID)
			if got.Status != jobs.StatusCompleted || got.Records != 2 || len(got.Members) != 1 {
				t.Errorf("job %+v", got)
			}
			if len(f.profiles.clusterCalls) != 1 || f.profiles.clusterCalls[0].Stitch {
				t.Errorf("cluster reads %+v, want one without stitching", f.profiles.clusterCalls)
			}
			if f.profiles.identities["ECID#123"] != 3 {
				t.Error("another identity lost data")
			}
		})
	}
}

// A cluster over the cap is refused whole: ERROR, nothing deleted.
func TestProfileDeleteOverCap(t *testing.T) {
	f := newFixture(t)
	f.h.clusterCap = 2
	f.profiles.cluster = merge.Candidates{Found: true, Truncated: true, Members: ids("Email#a@example.com", "ECID#1")}
	f.profiles.identities = map[string]int{"Email#a@example.com": 2}
	j := f.start(t, entityJob(merge.GraphPDG))
	f.drive(t)
	got := f.jobs.get(t, j.ID)
	if got.Status != jobs.StatusError || !strings.Contains(got.Error, "more than 2 identities") || !strings.Contains(got.Error, "nothing was deleted") {
		t.Errorf("job %+v, want ERROR naming the cap", got)
	}
	if len(f.profiles.identityCalls) != 0 {
		t.Errorf("deleted %+v", f.profiles.identityCalls)
	}
	if f.profiles.clusterCalls[0].Limit != 2 {
		t.Errorf("cluster read with limit %d, want the cap", f.profiles.clusterCalls[0].Limit)
	}
}

// The sample S3 event of a task object runs that step.
func TestSampleTaskEvent(t *testing.T) {
	var ev events.S3Event
	eventsample.Decode(t, "profile-jobs-s3-task.json", &ev)
	f := newFixture(t)
	id, step, ok := taskOf(ev.Records[0])
	if !ok || step != 0 {
		t.Fatalf("sample task: %q %d %v", id, step, ok)
	}
	f.jobs.put(jobs.Job{ID: id, DataSetID: "ds1", Status: jobs.StatusNew, JobType: jobs.TypeDelete})
	f.profiles.rows = rows("ds1", 2, 1)
	raw, _ := json.Marshal(ev)
	if _, err := f.h.Invoke(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	if got := f.jobs.get(t, id); got.Status == jobs.StatusNew || got.Step != 1 {
		t.Errorf("job %+v after the sample event", got)
	}
}

func TestConfig(t *testing.T) {
	if d, err := parseStepTime(""); d != 0 || err != nil {
		t.Errorf("empty step time: %v %v", d, err)
	}
	if d, err := parseStepTime("200ms"); d != 200*time.Millisecond || err != nil {
		t.Errorf("200ms: %v %v", d, err)
	}
	for _, bad := range []string{"0s", "-1s", "fast"} {
		if _, err := parseStepTime(bad); err == nil {
			t.Errorf("step time %q accepted", bad)
		}
	}
	env := map[string]string{"MOSAIC_CATALOG_TABLE": "c", "MOSAIC_PROFILE_TABLE": "p", "MOSAIC_LANDING_BUCKET": "b", "MOSAIC_JOB_STEP_TIME": "nope", "AWS_REGION": "us-east-1"}
	if _, err := newHandler(context.Background(), func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "MOSAIC_JOB_STEP_TIME") {
		t.Errorf("newHandler with a bad step time: %v", err)
	}
	env["MOSAIC_JOB_STEP_TIME"], env["MOSAIC_CLUSTER_CAP"] = "", "x"
	if _, err := newHandler(context.Background(), func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "MOSAIC_CLUSTER_CAP") {
		t.Errorf("newHandler with a bad cluster cap: %v", err)
	}
}
