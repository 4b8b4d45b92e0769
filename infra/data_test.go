package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

func TestDataStackResources(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		if got, want := *s.stacks.Data.StackName(), topology.DataStackName(s.cfg.Name); got != want {
			t.Errorf("data stack name = %s; want %s", got, want)
		}
		s.data.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(float64(len(topology.Tables))))
		s.data.ResourceCountIs(jsii.String("AWS::S3::Bucket"), jsii.Number(float64(len(topology.Buckets))))
		s.data.ResourceCountIs(jsii.String("AWS::Kinesis::Stream"), jsii.Number(float64(len(topology.Streams))))
		// Nothing stateless (and no custom-resource Lambda) in the data stack.
		s.data.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(0))
		s.data.ResourceCountIs(jsii.String("AWS::IAM::Role"), jsii.Number(0))
	})
}

// Stable logical IDs: renaming or moving constructs must never make
// CloudFormation replace a table, the bucket or the stream.
func TestStatefulLogicalIDsArePinned(t *testing.T) {
	want := map[string]string{}
	for _, tb := range topology.Tables {
		want[tb.ID] = "AWS::DynamoDB::Table"
	}
	for _, b := range topology.Buckets {
		want[b.ID] = "AWS::S3::Bucket"
	}
	for _, st := range topology.Streams {
		want[st.ID] = "AWS::Kinesis::Stream"
	}
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		res := resources(s.dataJSON)
		for id, typ := range want {
			r, ok := res[id]
			if !ok {
				t.Errorf("no resource with logical ID %s", id)
				continue
			}
			if r["Type"] != typ {
				t.Errorf("%s: type %v; want %s", id, r["Type"], typ)
			}
		}
	})
}

func TestTables(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		res := resources(s.dataJSON)
		for _, tb := range topology.Tables {
			p := props(res[tb.ID])
			if p == nil {
				t.Fatalf("table %s missing", tb.ID)
			}
			if got := mustJSON(p["PointInTimeRecoverySpecification"]); got != `{"PointInTimeRecoveryEnabled":true}` {
				t.Errorf("%s: PITR = %s; want enabled", tb.ID, got)
			}
			if got := mustJSON(p["SSESpecification"]); got != `{"SSEEnabled":true}` {
				t.Errorf("%s: SSE = %s; want SSEEnabled (AWS managed key)", tb.ID, got)
			}
			if p["BillingMode"] != "PAY_PER_REQUEST" {
				t.Errorf("%s: billing %v; want PAY_PER_REQUEST", tb.ID, p["BillingMode"])
			}
			wantKeys := `[{"AttributeName":"` + tb.PartitionKey + `","KeyType":"HASH"},{"AttributeName":"` + tb.SortKey + `","KeyType":"RANGE"}]`
			if got := mustJSON(p["KeySchema"]); got != wantKeys {
				t.Errorf("%s: keys %s; want %s", tb.ID, got, wantKeys)
			}
			ttl, hasTTL := p["TimeToLiveSpecification"]
			switch {
			case tb.TTLAttribute == "" && hasTTL:
				t.Errorf("%s: unexpected TTL %s", tb.ID, mustJSON(ttl))
			case tb.TTLAttribute != "":
				want := `{"AttributeName":"` + tb.TTLAttribute + `","Enabled":true}`
				if got := mustJSON(ttl); got != want {
					t.Errorf("%s: TTL %s; want %s", tb.ID, got, want)
				}
			}
			if _, named := p["TableName"]; named {
				t.Errorf("%s: has a fixed TableName; names must be generated", tb.ID)
			}
		}
	})
}

// Prod keeps its data when a stack or resource is deleted; dev and staging
// clean up.
func TestRemovalPolicy(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		want := "Delete"
		if s.cfg.RemovalPolicy == awscdk.RemovalPolicy_RETAIN {
			want = "Retain"
		}
		if s.cfg.Name == "prod" && want != "Retain" {
			t.Fatalf("prod must retain its data")
		}
		for _, id := range resourceIDs() {
			r := resources(s.dataJSON)[id]
			if r["DeletionPolicy"] != want || r["UpdateReplacePolicy"] != want {
				t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v; want %s", id, r["DeletionPolicy"], r["UpdateReplacePolicy"], want)
			}
		}
		for _, typ := range []string{"AWS::Logs::LogGroup", "AWS::SQS::Queue"} {
			for id, r := range ofType(s.appJSON, typ) {
				if r["DeletionPolicy"] != want {
					t.Errorf("%s: DeletionPolicy %v; want %s", id, r["DeletionPolicy"], want)
				}
			}
		}
		for _, tb := range topology.Tables {
			if got := props(resources(s.dataJSON)[tb.ID])["DeletionProtectionEnabled"]; got != (want == "Retain") {
				t.Errorf("%s: DeletionProtectionEnabled %v", tb.ID, got)
			}
		}
		if got := *s.stacks.Data.TerminationProtection() && *s.stacks.App.TerminationProtection(); got != s.cfg.TerminationProtection {
			t.Errorf("termination protection %v; want %v", got, s.cfg.TerminationProtection)
		}
	})
}

func TestBucketSecurity(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		for _, b := range topology.Buckets {
			s.data.HasResource(jsii.String("AWS::S3::Bucket"), map[string]any{
				"Properties": map[string]any{
					"PublicAccessBlockConfiguration": map[string]any{
						"BlockPublicAcls": true, "BlockPublicPolicy": true,
						"IgnorePublicAcls": true, "RestrictPublicBuckets": true,
					},
					"BucketEncryption": map[string]any{
						"ServerSideEncryptionConfiguration": []any{
							map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
						},
					},
				},
			})
			s.data.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
				"Bucket": map[string]any{"Ref": b.ID},
				"PolicyDocument": map[string]any{
					"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
						"Effect":    "Deny",
						"Action":    "s3:*",
						"Principal": map[string]any{"AWS": "*"},
						"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
					})}),
				},
			})
			p := props(resources(s.dataJSON)[b.ID])
			for _, forbidden := range []string{"BucketName", "WebsiteConfiguration", "AccessControl"} {
				if _, ok := p[forbidden]; ok {
					t.Errorf("%s: has %s", b.ID, forbidden)
				}
			}
		}
		// No AutoDeleteObjects custom resource (it would need a Node.js Lambda).
		s.data.ResourceCountIs(jsii.String("Custom::S3AutoDeleteObjects"), jsii.Number(0))
	})
}

func TestStream(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		for _, st := range topology.Streams {
			shards := st.ShardCount
			if s.cfg.ShardCount > 0 {
				shards = s.cfg.ShardCount
			}
			p := props(resources(s.dataJSON)[st.ID])
			if got := mustJSON(p["StreamEncryption"]); got != `{"EncryptionType":"KMS","KeyId":"alias/aws/kinesis"}` {
				t.Errorf("%s: encryption %s", st.ID, got)
			}
			if got, ok := p["ShardCount"].(float64); !ok || int(got) != shards {
				t.Errorf("%s: ShardCount %v; want %d", st.ID, p["ShardCount"], shards)
			}
			if got, ok := p["RetentionPeriodHours"].(float64); !ok || got != s.cfg.StreamRetention.Hours() {
				t.Errorf("%s: retention %v; want %v h", st.ID, p["RetentionPeriodHours"], s.cfg.StreamRetention.Hours())
			}
		}
	})
}

func TestDataOutputs(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		for _, id := range resourceIDs() {
			s.data.HasOutput(jsii.String(dataOutputs[id]), map[string]any{"Value": map[string]any{"Ref": id}})
		}
	})
}

// The landing bucket expires what batches and profile jobs leave behind
// and aborts multipart uploads nobody completed.
func TestLandingLifecycle(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		s.data.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"LifecycleConfiguration": map[string]any{
				"Rules": []any{
					map[string]any{"Id": "expire-batch-manifests", "Prefix": "ingest/_batches/", "ExpirationInDays": 7, "Status": "Enabled"},
					map[string]any{"Id": "expire-job-tasks", "Prefix": "jobs/", "ExpirationInDays": 7, "Status": "Enabled"},
					map[string]any{"Id": "expire-diagnostics", "Prefix": "diagnostics/", "ExpirationInDays": 30, "Status": "Enabled"},
					map[string]any{"Id": "expire-staging", "Prefix": "staging/", "ExpirationInDays": 30, "Status": "Enabled"},
					map[string]any{"Id": "abort-incomplete-uploads", "AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 7}, "Status": "Enabled"},
				},
			},
		})
	})
}
