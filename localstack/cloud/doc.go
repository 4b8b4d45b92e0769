// Package cloud runs Mosaic's whole AWS footprint on one machine without
// Docker (docs/architecture.md): dynalite and kinesis-mock as child
// processes, S3 in-process with gofakes3, every function's real bootstrap
// behind the Lambda Runtime Interface Emulator, the S3 and Kinesis event
// sources, and an HTTP API front with SigV4 checks — all behind one edge
// port that routes AWS calls by their credential scope, like LocalStack.
// Resources come from shared/topology, the definitions the CDK app deploys.
//
// The files, one AWS service or concern each:
//
//   - cloud.go: Config, Start and Stop, and the cloud's accessors.
//   - edge.go: the edge, which routes each call by the service of its SigV4
//     scope, verifies it, and refuses it in that service's error format.
//   - resources.go: creation of the topology's tables, streams and buckets.
//   - s3store.go: the S3 backend, gofakes3's memory backend mirrored to disk.
//   - s3notify.go: s3:ObjectCreated:* notifications, built as S3 event
//     records with their sequencers and handed to the function's queue.
//   - lambda.go: functions run as pools of RIE processes; synchronous
//     invocation and function errors; each function's environment.
//   - lambda_async.go: asynchronous invocation, with its retries, the
//     on-failure destination records, and the failure log.
//   - kinesis_esm.go: the Kinesis event source mapping, polling shards,
//     batching, retrying, bisecting and checkpointing.
//   - apigateway.go: the HTTP API front, routing to functions with API
//     Gateway's payload format 2.0 and IAM (SigV4) authorization.
//
// Package sigv4 verifies the signatures.
package cloud
