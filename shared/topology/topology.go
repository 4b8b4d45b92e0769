// Package topology declares Mosaic's deployable resources once: the tables,
// the landing bucket, the ingest stream, the functions with their grants,
// triggers and HTTP routes. The CDK app (infra/) and the local cloud
// (localstack/cloud) both build from these definitions, so what runs on a
// laptop cannot drift from what is deployed.
package topology

import (
	"time"
)

// Logical resource IDs. They are also the CloudFormation logical IDs of the
// stateful resources, which must never change once deployed.
const (
	CatalogTable  = "CatalogTable"
	ProfileTable  = "ProfileTable"
	LandingBucket = "LandingBucket"
	IngestStream  = "IngestStream"
)

// Environment variables through which functions learn where their resources are.
const (
	EnvCatalogTable  = "MOSAIC_CATALOG_TABLE"
	EnvProfileTable  = "MOSAIC_PROFILE_TABLE"
	EnvLandingBucket = "MOSAIC_LANDING_BUCKET"
	EnvIngestStream  = "MOSAIC_INGEST_STREAM"
	EnvSandboxName   = "MOSAIC_SANDBOX_NAME"
	// EnvTenantID is the stack's tenant id (AEP's TENANT_ID: tenant $ids are
	// https://ns.adobe.com/<tenant>/…, tenant fields sit under _<tenant>);
	// empty means "mosaic". Set per environment, never changed afterwards.
	EnvTenantID = "MOSAIC_TENANT_ID"
	// EnvMaxClockSkew is how far past its receive time a row's
	// extSourceSystemAudit.lastUpdatedDate may be before ingestion clamps
	// it to the receive time: a Go duration ("1h", "90m"); unset means 1h.
	EnvMaxClockSkew = "MOSAIC_MAX_CLOCK_SKEW"
	// EnvClusterCap is the most identities of an identity cluster (AEP's
	// 50): ingestion keeps every cluster within it by eviction, and a
	// lookup of a larger one is refused (docs/identity-and-merge.md). A
	// whole number from 1 to 10,000; unset means 50.
	EnvClusterCap = "MOSAIC_CLUSTER_CAP"
	// EnvBatchPartRows is how many records of a batch file batch-ingest
	// scans, decides and writes as one part (a positive integer, at most
	// 50,000 so that a part's item stays under DynamoDB's 400 KB).
	EnvBatchPartRows = "MOSAIC_BATCH_PART_ROWS"
	// EnvS3PathStyle switches S3 clients to path-style addressing ("1" or
	// "true"), which the local emulators need and AWS does not.
	EnvS3PathStyle = "MOSAIC_S3_PATH_STYLE"
)

// MaxPageBytes bounds the JSON of the items of one page of any API
// listing. A Lambda function's synchronous response is at most 6 MB
// (AWS Lambda quotas, "Invocation payload"), and the body travels inside the
// response as a JSON string, where escaping can double its size; 2.5 MB of
// items leaves room for both. A page ends where the bytes run out, and its
// next link continues there.
const MaxPageBytes = 2_500_000

// IngestPrefix is the key prefix of the landing bucket whose object
// creations trigger batch ingestion: ingest/<datasetId>/<file>.
const IngestPrefix = "ingest/"

// JobsPrefix is the key prefix of the landing bucket whose object
// creations start a step of a profile job: jobs/<jobId>/<step>.json.
const JobsPrefix = "jobs/"

// EnvJobStepTime is how long one step of a profile job works before it
// saves its progress and hands on to a new invocation: a Go duration
// ("2m", "200ms"); unset means until shortly before the invocation's
// deadline. Tests set it small to make a job take many steps.
const EnvJobStepTime = "MOSAIC_JOB_STEP_TIME"

// Key attribute names shared by both tables.
const (
	PartitionKey = "pk"
	SortKey      = "sk"
	// ExpiryAttribute is the TTL attribute of the profile table (event expiry).
	ExpiryAttribute = "expiresAt"
)

// Table describes a DynamoDB table: string partition and sort keys,
// on-demand billing.
type Table struct {
	ID           string
	PartitionKey string
	SortKey      string
	// TTLAttribute, when set, is enabled as the table's time-to-live attribute
	// at deploy time; the code never relies on expiry having happened.
	TTLAttribute string
}

// Tables are the two tables of docs/architecture.md, "Storage".
var Tables = []Table{
	{ID: CatalogTable, PartitionKey: PartitionKey, SortKey: SortKey, TTLAttribute: ExpiryAttribute},
	{ID: ProfileTable, PartitionKey: PartitionKey, SortKey: SortKey, TTLAttribute: ExpiryAttribute},
}

// Stream describes the ingest Kinesis stream.
type Stream struct {
	ID         string
	ShardCount int
}

// Streams holds the ingest stream.
var Streams = []Stream{{ID: IngestStream, ShardCount: 2}}

// Bucket describes an S3 bucket.
type Bucket struct{ ID string }

// Buckets holds the landing bucket.
var Buckets = []Bucket{{ID: LandingBucket}}

// Access is what a function may do with a resource.
type Access int

const (
	Read Access = iota + 1
	Write
	ReadWrite
)

// Grant gives a function access to one resource, by logical ID.
type Grant struct {
	Resource string
	Access   Access
}

// S3Trigger invokes a function for every object created under Prefix.
type S3Trigger struct {
	Bucket string
	Prefix string
}

// StreamTrigger is a Kinesis event source mapping.
type StreamTrigger struct {
	Stream string
	// BatchSize is the most records given to one invocation.
	BatchSize int
	// MaxRetries bounds the retries of a failing batch before its records
	// go to the on-failure destination.
	MaxRetries int
	// Bisect splits a failing batch in two before retrying it.
	Bisect bool
	// MaxBatchingWindow is how long records are gathered before an invocation.
	MaxBatchingWindow time.Duration
	// ParallelizationFactor is how many batches of one shard are processed
	// at once, 1 to 10; records of one partition key always go to the same
	// one, in order (Lambda's ParallelizationFactor, "Using AWS Lambda with
	// Amazon Kinesis", AWS Lambda Developer Guide).
	ParallelizationFactor int
	// OnFailure is the queue ID of the on-failure destination: once a
	// batch's retries are exhausted, Lambda sends its shard and sequence
	// range there ("Retain discarded batch records for a Kinesis Data
	// Streams event source in Lambda", AWS Lambda Developer Guide).
	OnFailure string
}

// BatchFailureQueue is the on-failure destination of batch-ingest's
// asynchronous invocations: an SQS queue of the app stack holding Lambda's
// invocation records of discarded S3 events, drained by batch-ingest itself.
const BatchFailureQueue = "BatchFailureQueue"

// StreamFailureQueue is the on-failure destination of stream-ingest's
// Kinesis event source mapping: Lambda's records of discarded batches,
// drained by stream-ingest itself, which reads the records back from the
// stream and reports each as a failed record.
const StreamFailureQueue = "StreamIngestFailures"

// JobFailureQueue is the on-failure destination of profile-jobs'
// asynchronous invocations: a step whose retries are exhausted is
// drained by profile-jobs itself, which ends its job in ERROR.
const JobFailureQueue = "ProfileJobFailures"

// Queue describes an SQS queue (standard, encrypted, TLS only).
type Queue struct {
	ID string
	// VisibilityTimeout hides a received message this long; AWS requires at
	// least the timeout of the function that consumes the queue.
	VisibilityTimeout time.Duration
}

// Queues are the queues of the app stack.
var Queues = []Queue{
	{ID: BatchFailureQueue, VisibilityTimeout: 30 * time.Minute},
	{ID: StreamFailureQueue, VisibilityTimeout: 6 * time.Minute},
	{ID: JobFailureQueue, VisibilityTimeout: 30 * time.Minute},
}

// AsyncConfig configures a function's asynchronous invocations (S3 events):
// Lambda retries a failed event MaxRetries times (0 to 2), then sends an
// invocation record to the OnFailure queue ("Capturing records of Lambda
// asynchronous invocations", AWS Lambda Developer Guide).
type AsyncConfig struct {
	MaxRetries int
	OnFailure  string // queue ID
}

// QueueTrigger is an SQS event source mapping with partial batch responses
// (ReportBatchItemFailures).
type QueueTrigger struct {
	Queue     string
	BatchSize int
}

// Route is one HTTP API route: Method and Path form the route key
// ("GET /data/core/ups/access/entities"); {name} marks a path parameter.
type Route struct {
	Method string
	Path   string
}

// Key is the API Gateway route key.
func (r Route) Key() string { return r.Method + " " + r.Path }

// Function is one Lambda function, built from functions/<Name> into
// dist/<Name>/bootstrap.
type Function struct {
	Name     string
	ID       string
	MemoryMB int
	Timeout  time.Duration
	// Env maps an environment variable to the logical ID of the resource
	// whose physical name it carries.
	Env map[string]string
	// Settings are plain environment variables (not resources) and their
	// values, e.g. EnvMaxClockSkew.
	Settings map[string]string
	Grants   []Grant
	// Concurrency is how many local processes serve this function on the
	// local cloud (each Runtime Interface Emulator takes one invocation at a time).
	Concurrency int
	S3          *S3Trigger
	Stream      *StreamTrigger
	Routes      []Route
	// Async and Queue: on-failure destination of S3 events, and a queue
	// the function consumes.
	Async *AsyncConfig
	Queue *QueueTrigger
	// InvokesItself marks a function that writes objects under its own S3
	// trigger to hand work on to its next invocation (batch-ingest's task
	// objects). Lambda's recursive loop detection, which follows S3, stops
	// such a chain after about 16 links ("Use Lambda recursive loop
	// detection to prevent infinite loops", AWS Lambda Developer Guide), so
	// the function is deployed with RecursiveLoop Allow; its chains are
	// finite because a run hands on only after it made progress.
	InvokesItself bool
}

var allTables = map[string]string{
	EnvCatalogTable: CatalogTable,
	EnvProfileTable: ProfileTable,
}

func withEnv(extra map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range allTables {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// DefaultClusterCap is EnvClusterCap's value in every environment.
const DefaultClusterCap = "50"

// ingestSettings are the two ingest functions' settings.
var ingestSettings = map[string]string{EnvMaxClockSkew: "1h", EnvClusterCap: DefaultClusterCap}

const (
	schemaRegistry = "/data/foundation/schemaregistry"
	catalog        = "/data/foundation/catalog"
	ups            = "/data/core/ups"
	importBatches  = "/data/foundation/import/batches"
	importFile     = importBatches + "/{batchId}/datasets/{datasetId}/files/{filePath+}"
	exportBatches  = "/data/foundation/export/batches"
	// flowConnections are Flow Service's connections: a streaming
	// connection's id is an inlet id of the HTTP streaming endpoint.
	flowConnections = "/data/foundation/flowservice/connections"
	identityAPI     = "/data/core/identity"
)

// Functions are Mosaic's functions.
var Functions = []Function{
	{
		Name: "batch-ingest", ID: "BatchIngest", MemoryMB: 512, Timeout: 5 * time.Minute,
		Env:           withEnv(map[string]string{EnvLandingBucket: LandingBucket}),
		Settings:      map[string]string{EnvMaxClockSkew: ingestSettings[EnvMaxClockSkew], EnvClusterCap: DefaultClusterCap, EnvBatchPartRows: "10000"},
		Grants:        []Grant{{CatalogTable, ReadWrite}, {ProfileTable, ReadWrite}, {LandingBucket, ReadWrite}},
		Concurrency:   2,
		S3:            &S3Trigger{Bucket: LandingBucket, Prefix: IngestPrefix},
		Async:         &AsyncConfig{MaxRetries: 2, OnFailure: BatchFailureQueue},
		InvokesItself: true,
		Queue:         &QueueTrigger{Queue: BatchFailureQueue, BatchSize: 10},
	},
	{
		Name: "stream-ingest", ID: "StreamIngest", MemoryMB: 512, Timeout: time.Minute,
		Env:         withEnv(nil),
		Settings:    ingestSettings,
		Grants:      []Grant{{CatalogTable, ReadWrite}, {ProfileTable, ReadWrite}},
		Concurrency: 1,
		Stream:      &StreamTrigger{Stream: IngestStream, BatchSize: 100, MaxRetries: 3, Bisect: true, MaxBatchingWindow: 0, ParallelizationFactor: 1, OnFailure: StreamFailureQueue},
		Queue:       &QueueTrigger{Queue: StreamFailureQueue, BatchSize: 10},
	},
	{
		Name: "schema-api", ID: "SchemaAPI", MemoryMB: 256, Timeout: 10 * time.Second,
		Env:         withEnv(nil),
		Grants:      []Grant{{CatalogTable, ReadWrite}},
		Concurrency: 1,
		Routes: []Route{
			{"GET", schemaRegistry + "/global/classes"},
			{"GET", schemaRegistry + "/global/classes/{id}"},
			{"GET", schemaRegistry + "/global/fieldgroups"},
			{"GET", schemaRegistry + "/global/fieldgroups/{id}"},
			{"GET", schemaRegistry + "/tenant/fieldgroups"},
			{"POST", schemaRegistry + "/tenant/fieldgroups"},
			{"GET", schemaRegistry + "/tenant/fieldgroups/{id}"},
			{"PUT", schemaRegistry + "/tenant/fieldgroups/{id}"},
			{"PATCH", schemaRegistry + "/tenant/fieldgroups/{id}"},
			{"DELETE", schemaRegistry + "/tenant/fieldgroups/{id}"},
			{"GET", schemaRegistry + "/tenant/schemas"},
			{"POST", schemaRegistry + "/tenant/schemas"},
			{"GET", schemaRegistry + "/tenant/schemas/{id}"},
			{"PUT", schemaRegistry + "/tenant/schemas/{id}"},
			{"PATCH", schemaRegistry + "/tenant/schemas/{id}"},
			{"DELETE", schemaRegistry + "/tenant/schemas/{id}"},
			{"GET", schemaRegistry + "/tenant/descriptors"},
			{"POST", schemaRegistry + "/tenant/descriptors"},
			{"GET", schemaRegistry + "/tenant/descriptors/{id}"},
			{"PUT", schemaRegistry + "/tenant/descriptors/{id}"},
			{"DELETE", schemaRegistry + "/tenant/descriptors/{id}"},
			{"GET", schemaRegistry + "/tenant/unions"},
			{"GET", schemaRegistry + "/tenant/unions/{id}"},
			{"GET", schemaRegistry + "/stats"},
			{"GET", "/data/core/idnamespace/identities"},
			{"POST", "/data/core/idnamespace/identities"},
			{"GET", "/data/core/idnamespace/identities/{code}"},
			{"PUT", "/data/core/idnamespace/identities/{code}"},
		},
	},
	{
		Name: "dataset-api", ID: "DatasetAPI", MemoryMB: 256, Timeout: 10 * time.Second,
		Env:         withEnv(map[string]string{EnvLandingBucket: LandingBucket}),
		Grants:      []Grant{{CatalogTable, ReadWrite}, {LandingBucket, ReadWrite}},
		Concurrency: 1,
		Routes: []Route{
			{"GET", catalog + "/dataSets"},
			{"POST", catalog + "/dataSets"},
			{"GET", catalog + "/dataSets/{id}"},
			{"PATCH", catalog + "/dataSets/{id}"},
			{"DELETE", catalog + "/dataSets/{id}"},
			{"GET", catalog + "/batches"},
			{"GET", catalog + "/batches/{id}"},
			{"POST", importBatches},
			{"POST", importBatches + "/{batchId}"},
			{"PUT", importFile},
			{"POST", importFile},
			{"PATCH", importFile},
			{"GET", exportBatches + "/{batchId}/meta"},
			{"GET", exportBatches + "/{batchId}/failed"},
		},
	},
	{
		// collection-api is AEP's HTTP streaming endpoint (Data Collection
		// Core Service): it validates the envelope (the whole message with
		// syncValidation=true) and puts the messages on the ingest stream,
		// where stream-ingest processes them; and Flow Service's streaming
		// connections, whose ids are the inlet ids.
		// 29 s: API Gateway's HTTP API waits at most 30 s for an
		// integration; a batch of many messages of one identity needs
		// one PutRecords call per message to keep their order.
		Name: "collection-api", ID: "CollectionAPI", MemoryMB: 256, Timeout: 29 * time.Second,
		Env:         withEnv(map[string]string{EnvIngestStream: IngestStream}),
		Grants:      []Grant{{CatalogTable, ReadWrite}, {IngestStream, Write}},
		Concurrency: 2,
		Routes: []Route{
			{"POST", "/collection/{inletId}"},
			{"POST", "/collection/batch/{inletId}"},
			{"GET", flowConnections},
			{"POST", flowConnections},
			{"GET", flowConnections + "/{id}"},
		},
	},
	{
		// profile-api reads merged profiles and identity clusters, keeps
		// the merge policies, and starts and reports profile jobs (a
		// profile DELETE is one), which profile-jobs carries out.
		Name: "profile-api", ID: "ProfileAPI", MemoryMB: 512, Timeout: 10 * time.Second,
		Env:         withEnv(map[string]string{EnvLandingBucket: LandingBucket}),
		Settings:    map[string]string{EnvClusterCap: DefaultClusterCap},
		Grants:      []Grant{{CatalogTable, ReadWrite}, {ProfileTable, Read}, {LandingBucket, Write}},
		Concurrency: 2,
		Routes: []Route{
			{"GET", ups + "/access/entities"},
			{"POST", ups + "/access/entities"},
			{"DELETE", ups + "/access/entities"},
			{"GET", ups + "/config/mergePolicies"},
			{"POST", ups + "/config/mergePolicies"},
			{"POST", ups + "/config/mergePolicies/bulk-get"},
			{"GET", ups + "/config/mergePolicies/{id}"},
			{"PUT", ups + "/config/mergePolicies/{id}"},
			{"PATCH", ups + "/config/mergePolicies/{id}"},
			{"DELETE", ups + "/config/mergePolicies/{id}"},
			{"GET", ups + "/system/jobs"},
			{"POST", ups + "/system/jobs"},
			{"GET", ups + "/system/jobs/{id}"},
			{"DELETE", ups + "/system/jobs/{id}"},
			{"GET", identityAPI + "/cluster/members"},
			{"POST", identityAPI + "/clusters/members"},
			{"GET", identityAPI + "/cluster/history"},
			{"GET", identityAPI + "/cluster/explain"},
		},
	},
	{
		// profile-jobs carries out profile jobs (AEP's profile system
		// jobs: delete a dataset's or a batch's profile data; and profile
		// deletes), one step per invocation: each step is started by a
		// task object under JobsPrefix of the landing bucket and, when
		// work remains, writes the task object of the next step.
		Name: "profile-jobs", ID: "ProfileJobs", MemoryMB: 256, Timeout: 5 * time.Minute,
		Env:           withEnv(map[string]string{EnvLandingBucket: LandingBucket}),
		Settings:      map[string]string{EnvClusterCap: DefaultClusterCap},
		Grants:        []Grant{{CatalogTable, ReadWrite}, {ProfileTable, ReadWrite}, {LandingBucket, ReadWrite}},
		Concurrency:   1,
		S3:            &S3Trigger{Bucket: LandingBucket, Prefix: JobsPrefix},
		Async:         &AsyncConfig{MaxRetries: 2, OnFailure: JobFailureQueue},
		InvokesItself: true,
		Queue:         &QueueTrigger{Queue: JobFailureQueue, BatchSize: 10},
	},
}

// FunctionByName returns the function named name.
func FunctionByName(name string) (Function, bool) {
	for _, f := range Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Stack names and output keys, shared by the CDK app and the local cloud's
// outputs file (the format of 'cdk deploy --outputs-file'):
//
//	{"MosaicData-dev": {"CatalogTableName": "…", …}, "MosaicApp-dev": {"ApiUrl": "…"}}
const (
	DataStackPrefix = "MosaicData-"
	AppStackPrefix  = "MosaicApp-"

	OutputCatalogTable  = "CatalogTableName"
	OutputProfileTable  = "ProfileTableName"
	OutputLandingBucket = "LandingBucketName"
	OutputIngestStream  = "IngestStreamName"
	OutputAPIURL        = "ApiUrl"
	OutputRegion        = "Region"
	OutputSandbox       = "SandboxName"
)

// DataStackName and AppStackName name an environment's two stacks.
func DataStackName(env string) string { return DataStackPrefix + env }
func AppStackName(env string) string  { return AppStackPrefix + env }
