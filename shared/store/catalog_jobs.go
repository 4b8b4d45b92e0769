package store

import (
	"context"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Profile jobs are kept one item per job, pk JOB, sk <job id>: job ids are
// UUIDs v7 (jobs.NewID), which sort by creation time, so the partition
// lists jobs by createEpoch with no index. Beside the document the item
// keeps the job's step (a number) and status, on which SaveJob's
// condition is written.
const catPKJob = "JOB"

// Error codes of the job items.
const (
	CodeJobNotFound = "JOB-NOT-FOUND"
	// CodeJobStepChanged: the stored job is no longer at the step the
	// write started from (another invocation saved that step).
	CodeJobStepChanged = "JOB-STEP-CHANGED"
	// CodeJobFinal: the stored job is COMPLETED or ERROR.
	CodeJobFinal = "JOB-FINAL"
)

// MaxJobPage is the most jobs one ListJobs call returns (AEP lists the
// first 100 jobs).
const MaxJobPage = 100

func catJobItem(j jobs.Job) (map[string]types.AttributeValue, error) {
	if j.ID == "" {
		return nil, fault.E(fault.Invalid, "JOB-ID", "job id is empty")
	}
	item, err := catItem(catPKJob, j.ID, j, map[string]string{"status": j.Status})
	if err != nil {
		return nil, err
	}
	item["step"] = &types.AttributeValueMemberN{Value: strconv.Itoa(j.Step)}
	return item, nil
}

func jobNotFound(id string) error {
	return fault.Errorf(fault.NotFound, CodeJobNotFound, "profile job %q does not exist", id)
}

// CreateJob stores a new job; an existing id is a Conflict "JOB-EXISTS".
func (c *Catalog) CreateJob(ctx context.Context, j jobs.Job) error {
	item, err := catJobItem(j)
	if err != nil {
		return err
	}
	ok, err := c.catCreate(ctx, item, "create profile job")
	if err != nil {
		return err
	}
	if !ok {
		return fault.E(fault.Conflict, "JOB-EXISTS", "a profile job with this id exists")
	}
	return nil
}

// GetJob reads a job, consistently (NotFound CodeJobNotFound).
func (c *Catalog) GetJob(ctx context.Context, id string) (jobs.Job, error) {
	if id == "" {
		return jobs.Job{}, jobNotFound(id)
	}
	item, err := c.catGet(ctx, catPKJob, id, "read profile job")
	if err != nil {
		return jobs.Job{}, err
	}
	if item == nil {
		return jobs.Job{}, jobNotFound(id)
	}
	var j jobs.Job
	return j, catDecode(item, &j)
}

// DeleteJob removes a job record (NotFound CodeJobNotFound). A job
// running meanwhile stops at its next save, which finds no item.
func (c *Catalog) DeleteJob(ctx context.Context, id string) error {
	if id == "" {
		return jobNotFound(id)
	}
	ok, err := c.catDelete(ctx, catPKJob, id, "delete profile job")
	if err != nil {
		return err
	}
	if !ok {
		return jobNotFound(id)
	}
	return nil
}

// SaveJob writes j over the stored job while that job is still at step
// from and not final: one conditional PutItem (optimistic concurrency on
// the step), so that of two invocations of one step only the first to
// save counts, a redelivered task whose step was saved writes nothing,
// and a deleted job is never written again. j.Step is what the caller
// makes it (from to stay, from+1 to hand on). A lost condition is a
// Conflict CodeJobFinal (the job ended) or CodeJobStepChanged, or NotFound
// CodeJobNotFound when the job is gone.
func (c *Catalog) SaveJob(ctx context.Context, j jobs.Job, from int) error {
	item, err := catJobItem(j)
	if err != nil {
		return err
	}
	_, err = c.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(c.table),
		Item:                     item,
		ConditionExpression:      aws.String("#step = :from AND NOT (#status IN (:completed, :error))"),
		ExpressionAttributeNames: map[string]string{"#step": "step", "#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":from":      &types.AttributeValueMemberN{Value: strconv.Itoa(from)},
			":completed": &types.AttributeValueMemberS{Value: jobs.StatusCompleted},
			":error":     &types.AttributeValueMemberS{Value: jobs.StatusError},
		},
	})
	if err == nil {
		return nil
	}
	if !IsConditionFailed(err) {
		return translate(err, "save profile job")
	}
	stored, gerr := c.GetJob(ctx, j.ID)
	if gerr != nil {
		return gerr
	}
	if jobs.Final(stored.Status) {
		return fault.Wrap(err, fault.Conflict, CodeJobFinal, "the profile job has ended")
	}
	return fault.Wrap(err, fault.Conflict, CodeJobStepChanged, "the profile job moved on since it was read")
}

// JobQuery selects a page of jobs for ListJobs.
type JobQuery struct {
	// Start is the id of the first job of the page (a JobPage.Next), ""
	// for the first page.
	Start string
	// Skip leaves out that many jobs from Start on (AEP's numeric start).
	Skip int
	// Limit is 1 to MaxJobPage (MaxJobPage when <= 0 or above it).
	Limit int
	// Newest lists newest first; the default is oldest first, as AEP.
	Newest bool
}

// JobPage is one page of jobs; Next is the Start of the next page, ""
// after the last.
type JobPage struct {
	Jobs []jobs.Job
	Next string
}

// ListJobs lists jobs by creation time (oldest first unless q.Newest),
// from q.Start on, skipping q.Skip of them, at most q.Limit. A page also
// ends before the documents' JSON passes topology.MaxPageBytes (it always
// holds at least one job).
func (c *Catalog) ListJobs(ctx context.Context, q JobQuery) (JobPage, error) {
	if q.Limit <= 0 || q.Limit > MaxJobPage {
		q.Limit = MaxJobPage
	}
	cond := "pk = :pk"
	values := map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: catPKJob}}
	if q.Start != "" {
		cond += " AND sk >= :start"
		if q.Newest {
			cond = "pk = :pk AND sk <= :start"
		}
		values[":start"] = &types.AttributeValueMemberS{Value: q.Start}
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(c.table),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(!q.Newest),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(min(q.Skip+q.Limit+1, 1000))),
	}
	var page JobPage
	skipped, size := 0, 0
	err := queryPages(ctx, c.db, in, "list profile jobs", func(items []map[string]types.AttributeValue) (bool, error) {
		for _, it := range items {
			if skipped < q.Skip {
				skipped++
				continue
			}
			n := len(catAttr(it, "doc"))
			if len(page.Jobs) == q.Limit || (size+n > topology.MaxPageBytes && len(page.Jobs) > 0) {
				page.Next = catAttr(it, topology.SortKey)
				return false, nil
			}
			var j jobs.Job
			if err := catDecode(it, &j); err != nil {
				return false, err
			}
			size += n
			page.Jobs = append(page.Jobs, j)
		}
		return true, nil
	})
	if err != nil {
		return JobPage{}, err
	}
	return page, nil
}
