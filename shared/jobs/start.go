package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Store records new jobs (store.Catalog).
type Store interface {
	// CreateJob stores a new job; an existing id is a Conflict.
	CreateJob(ctx context.Context, j Job) error
	// DeleteJob removes a job (NotFound when there is none).
	DeleteJob(ctx context.Context, id string) error
}

// Objects writes task objects (the S3 client).
type Objects interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Start records j as a NEW job created at now (see prepare) and writes
// the task object of its step 0 to bucket, whose object-created event
// starts the job in profile-jobs. It returns the job as stored. When the
// task cannot be written the job is removed again, so that no job waits
// for ever without a task, and the error is Unavailable S3-UNAVAILABLE
// (the caller may retry the request).
func Start(ctx context.Context, s Store, o Objects, bucket string, j Job, now time.Time) (Job, error) {
	j = prepare(j, now)
	if err := s.CreateJob(ctx, j); err != nil {
		return Job{}, err
	}
	if err := PutTask(ctx, o, bucket, j.ID, 0); err != nil {
		if derr := s.DeleteJob(ctx, j.ID); derr != nil && fault.KindOf(derr) != fault.NotFound {
			slog.WarnContext(ctx, "job without a task left behind", "jobId", j.ID, "err", derr)
		}
		return Job{}, err
	}
	return j, nil
}

// PutTask writes the task object of step step of job jobID. Its body is a
// copy of what the key says, for people; the key is what counts.
func PutTask(ctx context.Context, o Objects, bucket, jobID string, step int) error {
	body, _ := json.Marshal(map[string]any{"jobId": jobID, "step": step})
	_, err := o.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(TaskKey(jobID, step)),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "write the task of a profile job")
	}
	return nil
}

// TaskObjects reads and writes task objects (the S3 client).
type TaskObjects interface {
	Objects
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// EnsureTask writes the task object of step step of job jobID unless it
// exists: a step whose progress was saved but whose next task was not
// written (the invocation failed in between) is handed on once more,
// and a task that exists already, whose event is on its way, is not
// written again.
func EnsureTask(ctx context.Context, o TaskObjects, bucket, jobID string, step int) error {
	_, err := o.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(TaskKey(jobID, step))})
	if err == nil {
		return nil
	}
	var nf *s3types.NotFound
	var nsk *s3types.NoSuchKey
	if !errors.As(err, &nf) && !errors.As(err, &nsk) {
		return fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "read the task of a profile job")
	}
	return PutTask(ctx, o, bucket, jobID, step)
}
