package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3notifications"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Ingest holds the on-failure queues of the stream triggers, keyed by
// function name, and the topology's queues (on-failure destinations of
// asynchronous invocations), keyed by queue ID.
type Ingest struct {
	FailureQueues map[string]awssqs.Queue
	Queues        map[string]awssqs.Queue
}

// NewIngest wires the topology's triggers: S3 object creation under a
// prefix, and Kinesis event source mappings with partial batch responses,
// bisection, bounded retries, concurrent batches per shard
// (ParallelizationFactor) and an on-failure queue.
func NewIngest(scope constructs.Construct, id string, cfg Config, data *Data, fns *Functions) (*Ingest, error) {
	c := constructs.NewConstruct(scope, jsii.String(id))
	in := &Ingest{FailureQueues: map[string]awssqs.Queue{}, Queues: map[string]awssqs.Queue{}}
	for _, q := range topology.Queues {
		in.Queues[q.ID] = awssqs.NewQueue(c, jsii.String(q.ID), &awssqs.QueueProps{
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			RetentionPeriod:   awscdk.Duration_Seconds(jsii.Number(cfg.FailureRetention.Seconds())),
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(q.VisibilityTimeout.Seconds())),
			RemovalPolicy:     cfg.RemovalPolicy,
		})
	}
	for _, f := range topology.Functions {
		fn := fns.ByName[f.Name]
		if t := f.S3; t != nil {
			if err := s3Trigger(c, f, t, data, fn); err != nil {
				return nil, err
			}
		}
		if t := f.Stream; t != nil {
			q, err := streamTrigger(f, t, data, in.Queues, fn)
			if err != nil {
				return nil, err
			}
			in.FailureQueues[f.Name] = q
		}
		if err := asyncFailures(f, in.Queues, fn); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// asyncFailures gives a function its asynchronous retries and on-failure
// destination, and makes it consume the queue it drains. The destination
// lets the function's role send to the queue (Lambda sends with it); the
// event source lets it receive and delete, on that queue only.
func asyncFailures(f topology.Function, queues map[string]awssqs.Queue, fn awslambda.Function) error {
	if a := f.Async; a != nil {
		q, ok := queues[a.OnFailure]
		if !ok {
			return fmt.Errorf("function %s: on-failure destination is unknown queue %q", f.Name, a.OnFailure)
		}
		fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
			RetryAttempts: jsii.Number(float64(a.MaxRetries)),
			OnFailure:     awslambdadestinations.NewSqsDestination(q),
		})
	}
	if t := f.Queue; t != nil {
		q, ok := queues[t.Queue]
		if !ok {
			return fmt.Errorf("function %s: queue trigger on unknown queue %q", f.Name, t.Queue)
		}
		fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(q, &awslambdaeventsources.SqsEventSourceProps{
			BatchSize:               jsii.Number(float64(t.BatchSize)),
			ReportBatchItemFailures: jsii.Bool(true),
		}))
	}
	return nil
}

func s3Trigger(c constructs.Construct, f topology.Function, t *topology.S3Trigger, data *Data, fn awslambda.Function) error {
	bucket, ok := data.Buckets[t.Bucket]
	if !ok {
		return fmt.Errorf("function %s: S3 trigger on unknown bucket %q", f.Name, t.Bucket)
	}
	// The notification is attached to an imported view of the bucket so that
	// its custom resource lives in this stack. Attached to the bucket itself
	// it would sit in the data stack and need the function's ARN, and the two
	// stacks would depend on each other.
	imported := awss3.Bucket_FromBucketName(c, jsii.String(f.ID+t.Bucket), bucket.BucketName())
	imported.AddEventNotification(awss3.EventType_OBJECT_CREATED,
		awss3notifications.NewLambdaDestination(fn),
		&awss3.NotificationKeyFilter{Prefix: jsii.String(t.Prefix)})
	return nil
}

func streamTrigger(f topology.Function, t *topology.StreamTrigger, data *Data, queues map[string]awssqs.Queue, fn awslambda.Function) (awssqs.Queue, error) {
	stream, ok := data.Streams[t.Stream]
	if !ok {
		return nil, fmt.Errorf("function %s: stream trigger on unknown stream %q", f.Name, t.Stream)
	}
	// Lambda sends the failed batch's shard and sequence range here (not the
	// records) once retries are exhausted; the records are still in the
	// stream for the retention period. The function drains the queue itself
	// (its queue trigger) and reports each record as a failed record.
	failures, ok := queues[t.OnFailure]
	if !ok {
		return nil, fmt.Errorf("function %s: stream on-failure destination is unknown queue %q", f.Name, t.OnFailure)
	}
	// Lambda takes 1 to 10 concurrent batches per shard, keeping each
	// partition key's records in order ("Using AWS Lambda with Amazon
	// Kinesis", AWS Lambda Developer Guide).
	if t.ParallelizationFactor < 1 || t.ParallelizationFactor > 10 {
		return nil, fmt.Errorf("function %s: ParallelizationFactor %d, want 1 to 10", f.Name, t.ParallelizationFactor)
	}
	props := &awslambdaeventsources.KinesisEventSourceProps{
		// Nothing written before the mapping existed is skipped.
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(float64(t.BatchSize)),
		ReportBatchItemFailures: jsii.Bool(true),
		BisectBatchOnError:      jsii.Bool(t.Bisect),
		ParallelizationFactor:   jsii.Number(float64(t.ParallelizationFactor)),
		RetryAttempts:           jsii.Number(float64(t.MaxRetries)),
		OnFailure:               awslambdaeventsources.NewSqsDlq(failures),
	}
	if t.MaxBatchingWindow > 0 {
		props.MaxBatchingWindow = awscdk.Duration_Seconds(jsii.Number(t.MaxBatchingWindow.Seconds()))
	}
	fn.AddEventSource(awslambdaeventsources.NewKinesisEventSource(stream, props))
	return failures, nil
}
