package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3notifications"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Ingest holds the on-failure queues of the stream triggers, keyed by
// function name.
type Ingest struct {
	FailureQueues map[string]awssqs.Queue
}

// NewIngest wires the topology's triggers: S3 object creation under a
// prefix, and Kinesis event source mappings with partial batch responses,
// bisection, bounded retries and an on-failure queue.
func NewIngest(scope constructs.Construct, id string, cfg Config, data *Data, fns *Functions) (*Ingest, error) {
	c := constructs.NewConstruct(scope, jsii.String(id))
	in := &Ingest{FailureQueues: map[string]awssqs.Queue{}}
	for _, f := range topology.Functions {
		fn := fns.ByName[f.Name]
		if t := f.S3; t != nil {
			if err := s3Trigger(c, f, t, data, fn); err != nil {
				return nil, err
			}
		}
		if t := f.Stream; t != nil {
			q, err := streamTrigger(c, cfg, f, t, data, fn)
			if err != nil {
				return nil, err
			}
			in.FailureQueues[f.Name] = q
		}
	}
	return in, nil
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

func streamTrigger(c constructs.Construct, cfg Config, f topology.Function, t *topology.StreamTrigger, data *Data, fn awslambda.Function) (awssqs.Queue, error) {
	stream, ok := data.Streams[t.Stream]
	if !ok {
		return nil, fmt.Errorf("function %s: stream trigger on unknown stream %q", f.Name, t.Stream)
	}
	// Lambda sends the failed batch's shard and sequence range here (not the
	// records) once retries are exhausted; the records are still in the
	// stream for the retention period, so operators can replay them.
	failures := awssqs.NewQueue(c, jsii.String(f.ID+"Failures"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Seconds(jsii.Number(cfg.FailureRetention.Seconds())),
		RemovalPolicy:   cfg.RemovalPolicy,
	})
	props := &awslambdaeventsources.KinesisEventSourceProps{
		// Nothing written before the mapping existed is skipped.
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(float64(t.BatchSize)),
		ReportBatchItemFailures: jsii.Bool(true),
		BisectBatchOnError:      jsii.Bool(t.Bisect),
		RetryAttempts:           jsii.Number(float64(t.MaxRetries)),
		OnFailure:               awslambdaeventsources.NewSqsDlq(failures),
	}
	if t.MaxBatchingWindow > 0 {
		props.MaxBatchingWindow = awscdk.Duration_Seconds(jsii.Number(t.MaxBatchingWindow.Seconds()))
	}
	fn.AddEventSource(awslambdaeventsources.NewKinesisEventSource(stream, props))
	return failures, nil
}
