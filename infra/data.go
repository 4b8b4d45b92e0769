package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Data holds the stateful resources, keyed by their topology ID.
type Data struct {
	Tables  map[string]awsdynamodb.Table
	Buckets map[string]awss3.Bucket
	Streams map[string]awskinesis.Stream
}

// NewData creates every table, bucket and stream of the topology. Their
// CloudFormation logical IDs are pinned to the topology IDs so that moving
// a construct in the tree can never make CloudFormation replace (and empty)
// a table or a bucket.
func NewData(scope constructs.Construct, id string, cfg Config) *Data {
	c := constructs.NewConstruct(scope, jsii.String(id))
	d := &Data{
		Tables:  map[string]awsdynamodb.Table{},
		Buckets: map[string]awss3.Bucket{},
		Streams: map[string]awskinesis.Stream{},
	}
	for _, t := range topology.Tables {
		props := &awsdynamodb.TableProps{
			PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(t.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
			SortKey:      &awsdynamodb.Attribute{Name: jsii.String(t.SortKey), Type: awsdynamodb.AttributeType_STRING},
			BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: jsii.Bool(true),
			},
			// An AWS managed key: encrypted at rest with KMS, and grants need
			// no key policy changes, so the app stack never has to reach
			// back into this one.
			Encryption:    awsdynamodb.TableEncryption_AWS_MANAGED,
			RemovalPolicy: cfg.RemovalPolicy,
			// Deletion protection makes a prod table survive even a console
			// delete; dev and staging must be disposable.
			DeletionProtection: jsii.Bool(cfg.RemovalPolicy == awscdk.RemovalPolicy_RETAIN),
		}
		if t.TTLAttribute != "" {
			props.TimeToLiveAttribute = jsii.String(t.TTLAttribute)
		}
		table := awsdynamodb.NewTable(c, jsii.String(t.ID), props)
		pinLogicalID(table, t.ID)
		d.Tables[t.ID] = table
	}
	for _, b := range topology.Buckets {
		bucket := awss3.NewBucket(c, jsii.String(b.ID), &awss3.BucketProps{
			BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
			EnforceSSL:        jsii.Bool(true),
			Encryption:        awss3.BucketEncryption_S3_MANAGED,
			ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
			// No AutoDeleteObjects: it needs a Node.js custom resource. A
			// non-empty dev bucket therefore stays behind on 'cdk destroy'
			// (CloudFormation reports it) and must be emptied by hand.
			RemovalPolicy:  cfg.RemovalPolicy,
			LifecycleRules: landingLifecycle(),
		})
		pinLogicalID(bucket, b.ID)
		d.Buckets[b.ID] = bucket
	}
	for _, s := range topology.Streams {
		shards := s.ShardCount
		if cfg.ShardCount > 0 {
			shards = cfg.ShardCount
		}
		stream := awskinesis.NewStream(c, jsii.String(s.ID), &awskinesis.StreamProps{
			StreamMode: awskinesis.StreamMode_PROVISIONED,
			ShardCount: jsii.Number(float64(shards)),
			// The AWS managed key (alias/aws/kinesis) keeps grants free of
			// key policies, as for the tables.
			Encryption:      awskinesis.StreamEncryption_MANAGED,
			RetentionPeriod: awscdk.Duration_Hours(jsii.Number(cfg.StreamRetention.Hours())),
			RemovalPolicy:   cfg.RemovalPolicy,
		})
		pinLogicalID(stream, s.ID)
		d.Streams[s.ID] = stream
	}
	return d
}

// Name returns the physical name of the resource with the topology ID id,
// which functions receive through their environment.
func (d *Data) Name(id string) (*string, error) {
	if t, ok := d.Tables[id]; ok {
		return t.TableName(), nil
	}
	if b, ok := d.Buckets[id]; ok {
		return b.BucketName(), nil
	}
	if s, ok := d.Streams[id]; ok {
		return s.StreamName(), nil
	}
	return nil, fmt.Errorf("unknown resource %q", id)
}

// pinLogicalID overrides the logical ID of a construct's CloudFormation
// resource.
func pinLogicalID(c constructs.IConstruct, id string) {
	c.Node().DefaultChild().(awscdk.CfnResource).OverrideLogicalId(jsii.String(id))
}

// landingLifecycle expires what the batch API, the ingest engine and
// profile jobs leave in the landing bucket: manifests and task objects of
// API batches (ingest/_batches/) and the task objects of profile jobs
// (jobs/; a job's state is its catalog item, its tasks only start its
// steps) after 7 days, staged uploads (staging/) and row
// diagnostics (diagnostics/, AEP keeps them 30 days) after 30 days, and
// multipart uploads never completed after 7 days (they are billed until
// aborted).
func landingLifecycle() *[]*awss3.LifecycleRule {
	return &[]*awss3.LifecycleRule{
		{Id: jsii.String("expire-batch-manifests"), Prefix: jsii.String(topology.IngestPrefix + "_batches/"), Expiration: awscdk.Duration_Days(jsii.Number(7))},
		{Id: jsii.String("expire-job-tasks"), Prefix: jsii.String(topology.JobsPrefix), Expiration: awscdk.Duration_Days(jsii.Number(7))},
		{Id: jsii.String("expire-diagnostics"), Prefix: jsii.String("diagnostics/"), Expiration: awscdk.Duration_Days(jsii.Number(30))},
		{Id: jsii.String("expire-staging"), Prefix: jsii.String("staging/"), Expiration: awscdk.Duration_Days(jsii.Number(30))},
		{Id: jsii.String("abort-incomplete-uploads"), AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7))},
	}
}
