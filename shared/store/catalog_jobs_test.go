package store

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

var jobTestTime = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// testJob is a NEW dataset delete created i seconds after jobTestTime.
func testJob(i int) jobs.Job {
	at := jobTestTime.Add(time.Duration(i) * time.Second)
	return jobs.Job{
		ID: jobs.NewID(at), ImsOrgID: xdm.ImsOrg, DataSetID: "ds1", JobType: jobs.TypeDelete, Status: jobs.StatusNew,
		CreateEpoch: at.Unix(), UpdateEpoch: at.Unix(), Created: at.UnixMilli(),
	}
}

// A job moves through its steps by SaveJob, which succeeds only from the
// stored step and never after the job ended or was deleted.
func TestCatalogJobs(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		j := testJob(0)
		if err := c.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		catWantFault(t, c.CreateJob(ctx, j), fault.Conflict, "JOB-EXISTS")
		got, err := c.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(j, got); diff != "" {
			t.Errorf("read back (-want +got):\n%s", diff)
		}
		_, err = c.GetJob(ctx, "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b")
		catWantFault(t, err, fault.NotFound, CodeJobNotFound)

		// Step 0 starts: PROCESSING at the same step, then hands on.
		j.Status, j.Started = jobs.StatusProcessing, j.Created+1000
		if err := c.SaveJob(ctx, j, 0); err != nil {
			t.Fatalf("mark processing: %v", err)
		}
		j.Step, j.Cursor, j.Records = 1, "cursor-1", 40
		j.SetMetrics(jobTestTime.Add(3 * time.Second))
		if err := c.SaveJob(ctx, j, 0); err != nil {
			t.Fatalf("hand on: %v", err)
		}
		// A redelivered step 0 saves nothing.
		stale := j
		stale.Step, stale.Cursor, stale.Records = 1, "other", 99
		catWantFault(t, c.SaveJob(ctx, stale, 0), fault.Conflict, CodeJobStepChanged)
		got, _ = c.GetJob(ctx, j.ID)
		if got.Cursor != "cursor-1" || got.Records != 40 || got.Metrics != `{"recordsProcessed":40,"timeTakenInSec":2}` {
			t.Errorf("after a stale save: %+v", got)
		}
		j.Step, j.Status, j.Cursor = 2, jobs.StatusCompleted, ""
		if err := c.SaveJob(ctx, j, 1); err != nil {
			t.Fatalf("complete: %v", err)
		}
		late := j
		late.Status = jobs.StatusError
		catWantFault(t, c.SaveJob(ctx, late, 2), fault.Conflict, CodeJobFinal)

		if err := c.DeleteJob(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		catWantFault(t, c.DeleteJob(ctx, j.ID), fault.NotFound, CodeJobNotFound)
		_, err = c.GetJob(ctx, j.ID)
		catWantFault(t, err, fault.NotFound, CodeJobNotFound)
	})
}

// A deleted running job is never written again: its next save is
// NotFound, so the runner stops there.
func TestCatalogSaveDeletedJob(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		j := testJob(0)
		if err := c.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteJob(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		j.Step = 1
		catWantFault(t, c.SaveJob(ctx, j, 0), fault.NotFound, CodeJobNotFound)
		if _, err := c.GetJob(ctx, j.ID); fault.KindOf(err) != fault.NotFound {
			t.Errorf("a save recreated the deleted job: %v", err)
		}
	})
}

// Of concurrent saves from one step exactly one wins.
func TestCatalogSaveJobConcurrently(t *testing.T) {
	onEachDynamoDB(t, testSaveJobConcurrently)
}

func testSaveJobConcurrently(t *testing.T) {
	ctx := context.Background()
	c := catTestCatalog(t)
	j := testJob(0)
	if err := c.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			mine := j
			mine.Step, mine.Records = 1, int64(i)
			errs[i] = c.SaveJob(ctx, mine, 0)
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("saves %d and %d both won", won, i)
		case err == nil:
			won = i
		default:
			catWantFault(t, err, fault.Conflict, CodeJobStepChanged)
		}
	}
	got, _ := c.GetJob(ctx, j.ID)
	if won < 0 || got.Records != int64(won) || got.Step != 1 {
		t.Errorf("stored %+v, winner %d", got, won)
	}
}

// Jobs list by creation time, paged by the next job's id, oldest first
// unless newest is asked.
func TestCatalogListJobs(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		const n = 7
		var ids []string
		created := make([]jobs.Job, n)
		for i := range n {
			created[i] = testJob(i)
			ids = append(ids, created[i].ID)
		}
		for _, i := range rand.Perm(n) {
			if err := c.CreateJob(ctx, created[i]); err != nil {
				t.Fatal(err)
			}
		}
		all, err := c.ListJobs(ctx, JobQuery{})
		if err != nil || len(all.Jobs) != n || all.Next != "" {
			t.Fatalf("list all: %d jobs, next %q, %v", len(all.Jobs), all.Next, err)
		}
		for i, j := range all.Jobs {
			if j.CreateEpoch != jobTestTime.Unix()+int64(i) {
				t.Errorf("job %d created at %d, want oldest first", i, j.CreateEpoch)
			}
		}
		reversed := make([]string, n)
		for i, id := range ids {
			reversed[n-1-i] = id
		}
		for _, tc := range []struct {
			name string
			q    JobQuery
			want []string
		}{
			{"oldest first", JobQuery{Limit: 3}, ids},
			{"newest first", JobQuery{Limit: 3, Newest: true}, reversed},
			{"one per page", JobQuery{Limit: 1}, ids},
			{"skip", JobQuery{Limit: 2, Skip: 5}, ids[5:]},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got []string
				q := tc.q
				for pages := 0; ; pages++ {
					if pages > n {
						t.Fatal("paging does not end")
					}
					p, err := c.ListJobs(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if len(p.Jobs) > q.Limit {
						t.Errorf("page of %d, limit %d", len(p.Jobs), q.Limit)
					}
					for _, j := range p.Jobs {
						got = append(got, j.ID)
					}
					if p.Next == "" {
						break
					}
					q.Start, q.Skip = p.Next, 0
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("ids (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestCatalogDeleteDataset(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		d, err := catalog.NewDataset(catalog.DatasetInput{Name: "CRM", SchemaRef: &catalog.SchemaRef{ID: "https://ns.adobe.com/mosaic/schemas/a"}}, xdm.ImsOrg, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CreateDataset(ctx, d); err != nil {
			t.Fatal(err)
		}
		if gone, err := c.DatasetDeleted(ctx, d.ID); gone || err != nil {
			t.Errorf("a live dataset reads as deleted: %v %v", gone, err)
		}
		if err := c.DeleteDataset(ctx, d.ID, 1000); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetDataset(ctx, d.ID)
		catWantFault(t, err, fault.NotFound, "DATASET-NOT-FOUND")
		catWantFault(t, c.DeleteDataset(ctx, d.ID, 2000), fault.NotFound, "DATASET-NOT-FOUND")
		if gone, err := c.DatasetDeleted(ctx, d.ID); !gone || err != nil {
			t.Errorf("the deleted dataset is not recorded as deleted: %v %v", gone, err)
		}
		if gone, _ := c.DatasetDeleted(ctx, "never"); gone {
			t.Error("an unknown id reads as a deleted dataset")
		}
		list, err := c.ListDatasets(ctx)
		if err != nil || len(list) != 0 {
			t.Errorf("datasets after delete: %v %v", list, err)
		}
	})
}
