// Package cloud runs Mosaic's whole AWS footprint on one machine without
// Docker (ARCHITECTURE §7): dynalite and kinesis-mock as child processes,
// S3 in-process with gofakes3, every function's real bootstrap behind the
// Lambda Runtime Interface Emulator, the S3 and Kinesis event sources, and
// an HTTP API front with SigV4 checks — all behind one edge port that
// routes AWS calls by their credential scope, like LocalStack. Resources
// come from shared/topology, the definitions the CDK app deploys.
package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/johannesboyne/gofakes3"
	"golang.org/x/sync/errgroup"

	"github.com/mosaic-cdp/mosaic/localstack/cloud/sigv4"
	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Config configures a local cloud. Zero values take the defaults named.
type Config struct {
	Edge        string // listen address, "127.0.0.1:4566"; port 0 picks a free one
	DataDir     string // persistence root; empty keeps everything in memory
	LogsDir     string // function logs; default <DataDir or a temp dir>/logs
	OutputsFile string // cdk outputs file; empty writes none
	DistDir     string // holds <function>/bootstrap; default dist/local
	RIE         string // aws-lambda-rie binary; default $MOSAIC_RIE or bin/aws-lambda-rie
	Env         string // environment name, default "local"
	Sandbox     string // MOSAIC_SANDBOX_NAME, default "prod"
	Tenant      string // MOSAIC_TENANT_ID, default "" (the functions' default, "mosaic")
	Region      string // default us-east-1
	AccessKey   string // default "test"
	SecretKey   string // default "test"

	// Functions, Tables, Streams and Buckets default to shared/topology's.
	Functions []topology.Function
	Tables    []topology.Table
	Streams   []topology.Stream
	Buckets   []topology.Bucket

	Logger *slog.Logger
}

func (c *Config) defaults() error {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Edge, "127.0.0.1:4566")
	def(&c.DistDir, filepath.Join("dist", "local"))
	def(&c.Env, "local")
	def(&c.Sandbox, "prod")
	def(&c.Region, "us-east-1")
	def(&c.AccessKey, "test")
	def(&c.SecretKey, "test")
	def(&c.RIE, os.Getenv("MOSAIC_RIE"))
	def(&c.RIE, filepath.Join("bin", "aws-lambda-rie"))
	if c.Functions == nil {
		c.Functions = topology.Functions
	}
	if c.Tables == nil {
		c.Tables = topology.Tables
	}
	if c.Streams == nil {
		c.Streams = topology.Streams
	}
	if c.Buckets == nil {
		c.Buckets = topology.Buckets
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LogsDir == "" {
		base := c.DataDir
		if base == "" {
			d, err := os.MkdirTemp("", "mosaic-local-")
			if err != nil {
				return err
			}
			base = d
		}
		c.LogsDir = filepath.Join(base, "logs")
	}
	return nil
}

// PhysicalName is the local name of a resource: mosaic-<env>-<id without
// its type suffix>, e.g. CatalogTable → mosaic-local-catalog.
func PhysicalName(env, logicalID string) string {
	id := logicalID
	for _, suffix := range []string{"Table", "Bucket", "Stream", "Queue"} {
		if s := strings.TrimSuffix(id, suffix); s != "" {
			id = s
		}
	}
	return "mosaic-" + env + "-" + strings.ToLower(id)
}

// Cloud is a running local cloud.
type Cloud struct {
	cfg      Config
	edgeURL  string
	names    map[string]string // logical ID → physical name
	dynamo   *emulator.Process
	kinesis  *emulator.Process
	server   *http.Server
	listener net.Listener
	pools    map[string]*lambdaPool
	queues   []*asyncQueue
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	logFiles []*os.File
	outputs  map[string]map[string]string
}

// Start brings the local cloud up. On error everything started is stopped.
func Start(ctx context.Context, cfg Config) (c *Cloud, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c = &Cloud{cfg: cfg, cancel: cancel, names: map[string]string{}, pools: map[string]*lambdaPool{}}
	// Every error return below sets c to nil, so keep hold of what was started.
	started := c
	defer func() {
		if err != nil {
			started.Stop()
			c = nil
		}
	}()
	if cfg.RIE, err = filepath.Abs(cfg.RIE); err != nil {
		return nil, err
	}
	c.cfg.RIE = cfg.RIE
	if _, err := os.Stat(cfg.RIE); err != nil {
		return nil, fmt.Errorf("aws-lambda-rie: %w (run 'make tools' or pass -rie)", err)
	}
	for _, d := range []string{cfg.LogsDir, cfg.DataDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
		}
	}
	for _, t := range cfg.Tables {
		c.names[t.ID] = PhysicalName(cfg.Env, t.ID)
	}
	for _, s := range cfg.Streams {
		c.names[s.ID] = PhysicalName(cfg.Env, s.ID)
	}
	for _, b := range cfg.Buckets {
		c.names[b.ID] = PhysicalName(cfg.Env, b.ID)
	}

	emuLog, err := os.OpenFile(filepath.Join(cfg.LogsDir, "emulators.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	c.logFiles = append(c.logFiles, emuLog)
	var g errgroup.Group
	g.Go(func() (err error) {
		c.dynamo, err = emulator.StartDynamoDB(ctx, emulator.Options{DataDir: cfg.DataDir, Log: emuLog})
		return err
	})
	g.Go(func() (err error) {
		c.kinesis, err = emulator.StartKinesis(ctx, emulator.Options{DataDir: cfg.DataDir, Log: emuLog})
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	awsCfg := aws.Config{
		Region:      cfg.Region,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
	}
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(c.dynamo.Endpoint) })
	kin := kinesis.NewFromConfig(awsCfg, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(c.kinesis.Endpoint) })
	if err := c.createTables(ctx, ddb); err != nil {
		return nil, err
	}
	if err := c.createStreams(ctx, kin); err != nil {
		return nil, err
	}

	s3dir := ""
	if cfg.DataDir != "" {
		s3dir = filepath.Join(cfg.DataDir, "s3")
	}
	backend, err := newS3Backend(s3dir)
	if err != nil {
		return nil, err
	}
	for _, b := range cfg.Buckets {
		name := c.names[b.ID]
		if ok, _ := backend.BucketExists(name); !ok {
			if err := backend.CreateBucket(name); err != nil {
				return nil, fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
	}

	// The edge listens before the functions start: they need its address.
	if c.listener, err = net.Listen("tcp", cfg.Edge); err != nil {
		return nil, fmt.Errorf("edge %s: %w", cfg.Edge, err)
	}
	c.edgeURL = "http://" + c.listener.Addr().String()

	failDir := cfg.DataDir
	if failDir == "" {
		failDir = cfg.LogsDir
	}
	failures := &failureLog{path: filepath.Join(failDir, "stream-failures.jsonl")}
	s3failures := &failureLog{path: filepath.Join(failDir, "s3-failures.jsonl")}

	if err := c.startFunctions(runCtx); err != nil {
		return nil, err
	}

	hook := &s3Hook{
		s3:      gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0), gofakes3.WithLogger(gofakes3.DiscardLog())).Server(),
		backend: backend, region: cfg.Region, now: time.Now,
	}
	api := &apiFront{
		verifier: &sigv4.Verifier{Service: "execute-api", Region: cfg.Region, Secrets: map[string]string{cfg.AccessKey: cfg.SecretKey}},
		invoke:   c.Invoke, log: log, now: time.Now,
	}
	for _, f := range cfg.Functions {
		for _, r := range f.Routes {
			api.routes.add(f.Name, r.Method, r.Path)
		}
		pool := c.pools[f.Name]
		if f.S3 != nil {
			q := newAsyncQueue(runCtx, f.Name, f.Concurrency, pool.Invoke, s3failures, log)
			c.asyncFailures(q, f)
			c.queues = append(c.queues, q)
			hook.triggers = append(hook.triggers, s3Trigger{bucket: c.names[f.S3.Bucket], prefix: f.S3.Prefix, queue: q})
		}
		if f.Stream != nil {
			if err := c.startPoller(runCtx, f, kin, pool, failures); err != nil {
				return nil, err
			}
		}
	}

	c.server = &http.Server{Handler: c.edge(hook, api), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := c.server.Serve(c.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("edge stopped", "err", err)
		}
	}()

	c.outputs = map[string]map[string]string{
		topology.DataStackName(cfg.Env): {
			topology.OutputCatalogTable:  c.names[topology.CatalogTable],
			topology.OutputProfileTable:  c.names[topology.ProfileTable],
			topology.OutputLandingBucket: c.names[topology.LandingBucket],
			topology.OutputIngestStream:  c.names[topology.IngestStream],
			topology.OutputRegion:        cfg.Region,
			topology.OutputSandbox:       cfg.Sandbox,
		},
		topology.AppStackName(cfg.Env): {topology.OutputAPIURL: c.edgeURL},
	}
	if cfg.OutputsFile != "" {
		raw, _ := json.MarshalIndent(c.outputs, "", "  ")
		if err := os.WriteFile(cfg.OutputsFile, append(raw, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	log.Info("local cloud ready", "edge", c.edgeURL, "functions", len(cfg.Functions))
	return c, nil
}

// asyncFailures applies a function's asynchronous configuration to its
// queue: the number of retries, and the on-failure destination, delivered
// to the function that consumes that queue (see destination).
func (c *Cloud) asyncFailures(q *asyncQueue, f topology.Function) {
	if f.Async == nil {
		return
	}
	if n := f.Async.MaxRetries; n >= 0 && n < len(q.backoff) {
		q.backoff = q.backoff[:n]
	}
	for _, g := range c.cfg.Functions {
		if g.Queue == nil || g.Queue.Queue != f.Async.OnFailure {
			continue
		}
		queue := PhysicalName(c.cfg.Env, f.Async.OnFailure)
		q.dest = &destination{
			functionArn: "arn:aws:lambda:" + c.cfg.Region + ":" + accountID + ":function:" + PhysicalName(c.cfg.Env, f.ID),
			queueArn:    "arn:aws:sqs:" + c.cfg.Region + ":" + accountID + ":" + queue,
			region:      c.cfg.Region,
			invoke:      c.pools[g.Name].Invoke,
			attempts:    3,
			backoff:     time.Second,
		}
	}
}

func (c *Cloud) createTables(ctx context.Context, ddb *dynamodb.Client) error {
	for _, t := range c.cfg.Tables {
		name := c.names[t.ID]
		_, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:   aws.String(name),
			BillingMode: dtypes.BillingModePayPerRequest,
			AttributeDefinitions: []dtypes.AttributeDefinition{
				{AttributeName: aws.String(t.PartitionKey), AttributeType: dtypes.ScalarAttributeTypeS},
				{AttributeName: aws.String(t.SortKey), AttributeType: dtypes.ScalarAttributeTypeS},
			},
			KeySchema: []dtypes.KeySchemaElement{
				{AttributeName: aws.String(t.PartitionKey), KeyType: dtypes.KeyTypeHash},
				{AttributeName: aws.String(t.SortKey), KeyType: dtypes.KeyTypeRange},
			},
		})
		var inUse *dtypes.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", name, err)
		}
		if err := dynamodb.NewTableExistsWaiter(ddb).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
	}
	return nil
}

func (c *Cloud) createStreams(ctx context.Context, kin *kinesis.Client) error {
	for _, s := range c.cfg.Streams {
		name := c.names[s.ID]
		_, err := kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(max(s.ShardCount, 1)))})
		var inUse *ktypes.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create stream %s: %w", name, err)
		}
		if err := kinesis.NewStreamExistsWaiter(kin).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	return nil
}

// functionEnv is the environment of a function's processes: its topology
// variables resolved to local names, plus what Lambda and the SDK need.
func (c *Cloud) functionEnv(f topology.Function) []string {
	env := []string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, id := range f.Env {
		name, ok := c.names[id]
		if !ok {
			name = PhysicalName(c.cfg.Env, id)
		}
		env = append(env, k+"="+name)
	}
	for k, v := range f.Settings {
		env = append(env, k+"="+v)
	}
	timeout := int(f.Timeout / time.Second)
	if timeout < 1 {
		timeout = 3
	}
	mem := f.MemoryMB
	if mem == 0 {
		mem = 128
	}
	return append(env,
		topology.EnvSandboxName+"="+c.cfg.Sandbox,
		topology.EnvTenantID+"="+c.cfg.Tenant,
		topology.EnvS3PathStyle+"=1",
		"AWS_REGION="+c.cfg.Region,
		"AWS_DEFAULT_REGION="+c.cfg.Region,
		"AWS_ACCESS_KEY_ID="+c.cfg.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+c.cfg.SecretKey,
		"AWS_ENDPOINT_URL_DYNAMODB="+c.dynamo.Endpoint,
		"AWS_ENDPOINT_URL_KINESIS="+c.kinesis.Endpoint,
		"AWS_ENDPOINT_URL_S3="+c.edgeURL,
		"AWS_LAMBDA_FUNCTION_NAME="+f.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(timeout),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(mem),
	)
}

func (c *Cloud) startFunctions(ctx context.Context) error {
	var mu sync.Mutex
	var g errgroup.Group
	for _, f := range c.cfg.Functions {
		logFile, err := os.OpenFile(filepath.Join(c.cfg.LogsDir, f.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		c.logFiles = append(c.logFiles, logFile)
		bootstrap, err := filepath.Abs(filepath.Join(c.cfg.DistDir, f.Name, "bootstrap"))
		if err != nil {
			return err
		}
		timeout := f.Timeout
		if timeout <= 0 {
			timeout = 3 * time.Second
		}
		g.Go(func() error {
			pool, err := newLambdaPool(ctx, f.Name, c.cfg.RIE, bootstrap, f.Concurrency, c.functionEnv(f), logFile, timeout, c.cfg.Logger)
			if err != nil {
				return err
			}
			mu.Lock()
			c.pools[f.Name] = pool
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

func (c *Cloud) startPoller(ctx context.Context, f topology.Function, kin *kinesis.Client, pool *lambdaPool, failures *failureLog) error {
	stream := c.names[f.Stream.Stream]
	cpPath := ""
	if c.cfg.DataDir != "" {
		dir := filepath.Join(c.cfg.DataDir, "esm")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		cpPath = filepath.Join(dir, f.Name+"-"+stream+".json")
	}
	cp, err := loadCheckpoints(cpPath)
	if err != nil {
		return err
	}
	batch := f.Stream.BatchSize
	if batch <= 0 {
		batch = 100
	}
	p := &poller{
		function: f.Name, streamName: stream, region: c.cfg.Region,
		streamARN: "arn:aws:kinesis:" + c.cfg.Region + ":" + accountID + ":stream/" + stream,
		batchSize: batch, maxRetries: f.Stream.MaxRetries, bisect: f.Stream.Bisect,
		client: kin, invoke: pool.Invoke, cp: cp, failures: failures, log: c.cfg.Logger,
		pollInterval: 150 * time.Millisecond, listEvery: 10 * time.Second,
		backoff: func(retry int) time.Duration { return min(time.Duration(retry)*200*time.Millisecond, 2*time.Second) },
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		p.run(ctx)
	}()
	return nil
}

// maxServiceBody bounds the request bodies the edge reads to verify a
// DynamoDB or Kinesis call: DynamoDB's largest request (BatchWriteItem,
// 25 items of 400 KB) and Kinesis's (PutRecords, 5 MB) fit well within it.
const maxServiceBody = 32 << 20

// edge routes each call by the service of its SigV4 credential scope and
// verifies every AWS API call against the cloud's credentials before it
// reaches S3, DynamoDB or Kinesis, as AWS does: a call that only claims a
// scope, or whose signature, key, time or payload hash is wrong, is refused
// in that service's own error format (refuseS3, refuseJSON). An unsigned
// call is known as a DynamoDB or Kinesis call by its X-Amz-Target header
// and as an S3 call by a bucket in its path; any other goes to the API
// front, which answers 404 or 403 as API Gateway does.
func (c *Cloud) edge(s3 *s3Hook, api http.Handler) http.Handler {
	proxy := func(target string) http.Handler {
		u, _ := url.Parse(target)
		return &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.Out.Host = pr.In.Host // the signature covers the Host header
			},
			FlushInterval: -1,
		}
	}
	secrets := map[string]string{c.cfg.AccessKey: c.cfg.SecretKey}
	verifier := func(service string) *sigv4.Verifier {
		return &sigv4.Verifier{Service: service, Region: c.cfg.Region, Secrets: secrets}
	}
	s3v, dynamoV, kinV := verifier("s3"), verifier("dynamodb"), verifier("kinesis")
	dynamo, kin := proxy(c.dynamo.Endpoint), proxy(c.kinesis.Endpoint)
	jsonService := func(w http.ResponseWriter, r *http.Request, v *sigv4.Verifier, contentType string, next http.Handler) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxServiceBody))
		if err != nil {
			refuseJSON(w, contentType, http.StatusRequestEntityTooLarge, "SerializationException", "request body too large or unreadable")
			return
		}
		if _, err := v.Verify(r, body); err != nil {
			refuseSigV4JSON(w, contentType, err)
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		next.ServeHTTP(w, r)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service := ""
		if scope, ok := sigv4.ScopeOf(r); ok {
			service = scope.Service
		} else {
			service = unsignedService(r, s3.backend)
		}
		switch service {
		case "s3":
			_, declared, err := s3v.VerifyDeclared(r)
			if err != nil {
				refuseS3(w, r, err)
				return
			}
			if declared != sigv4.UnsignedPayload && r.Body != nil && r.Body != http.NoBody {
				if !checkS3Body(w, r) {
					return
				}
			}
			s3.ServeHTTP(w, r)
		case "dynamodb":
			jsonService(w, r, dynamoV, "application/x-amz-json-1.0", dynamo)
		case "kinesis":
			jsonService(w, r, kinV, "application/x-amz-json-1.1", kin)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// maxCheckedS3Body is the largest S3 body the edge reads in full to check
// it against its signature (VerifyDeclared) before S3 sees it, covering
// single PUTs and the parts of the SDKs' and the AWS CLI's multipart
// uploads; a larger body is checked as it streams, and S3 fails the request
// when it does not match.
const maxCheckedS3Body = 64 << 20

// checkS3Body makes sure the body S3 will store is the one signed. It
// answers the request itself and returns false when not.
func checkS3Body(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength < 0 || r.ContentLength > maxCheckedS3Body {
		return true
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		refuseS3(w, r, err)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

// unsignedService names the AWS service an unsigned request is meant for,
// or "" for the API front.
func unsignedService(r *http.Request, backend gofakes3.Backend) string {
	target := r.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "DynamoDB_"):
		return "dynamodb"
	case strings.HasPrefix(target, "Kinesis_"):
		return "kinesis"
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if host, _, _ := strings.Cut(r.Host, ":"); strings.HasSuffix(host, ".localhost") {
		bucket = strings.TrimSuffix(host, ".localhost") // virtual-hosted style
	}
	if bucket != "" {
		if ok, _ := backend.BucketExists(bucket); ok {
			return "s3"
		}
	}
	return ""
}

// refuseS3 answers a failed verification as S3 does: 403 with an XML
// error whose code says why
// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
func refuseS3(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusForbidden, "SignatureDoesNotMatch", err.Error()
	var e *sigv4.Error
	if errors.As(err, &e) {
		switch e.Reason {
		case sigv4.ReasonMissing:
			code, msg = "AccessDenied", "Access Denied"
		case sigv4.ReasonUnknownKey:
			code, msg = "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
		case sigv4.ReasonExpired:
			code = "AccessDenied"
			if r.Header.Get("Authorization") != "" {
				code, msg = "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."
			}
		case sigv4.ReasonPayload:
			status, code = http.StatusBadRequest, "XAmzContentSHA256Mismatch"
		}
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	_ = xml.NewEncoder(&b).Encode(struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		RequestID string `xml:"RequestId"`
	}{Code: code, Message: msg, RequestID: requestID()})
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// refuseSigV4JSON answers a failed verification as DynamoDB and Kinesis do:
// HTTP 400 with a JSON __type of the coral service exception
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).
func refuseSigV4JSON(w http.ResponseWriter, contentType string, err error) {
	typ, msg := "InvalidSignatureException", err.Error()
	var e *sigv4.Error
	if errors.As(err, &e) {
		switch e.Reason {
		case sigv4.ReasonMissing:
			typ, msg = "MissingAuthenticationTokenException", "Request is missing Authentication Token"
		case sigv4.ReasonUnknownKey:
			typ = "UnrecognizedClientException"
		}
	}
	refuseJSON(w, contentType, http.StatusBadRequest, typ, msg)
}

func refuseJSON(w http.ResponseWriter, contentType string, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]string{"__type": "com.amazon.coral.service#" + typ, "message": msg})
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(status)
	w.Write(b)
}

// Invoke calls a function synchronously, as the local Lambda service.
func (c *Cloud) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	pool, ok := c.pools[function]
	if !ok {
		return nil, fmt.Errorf("no function %q", function)
	}
	return pool.Invoke(ctx, payload)
}

// EdgeURL is the edge's base URL, http://127.0.0.1:<port>.
func (c *Cloud) EdgeURL() string { return c.edgeURL }

// LogsDir is where function logs are written.
func (c *Cloud) LogsDir() string { return c.cfg.LogsDir }

// Outputs are the stack outputs, in the shape of 'cdk deploy --outputs-file'.
func (c *Cloud) Outputs() map[string]map[string]string { return c.outputs }

// Name is the physical name of a resource by logical ID.
func (c *Cloud) Name(logicalID string) string { return c.names[logicalID] }

// Stop stops pollers and queues, every function process and the
// emulators. It is safe to call more than once.
func (c *Cloud) Stop() {
	c.stopOnce.Do(func() {
		if c.server != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.server.Shutdown(ctx)
			cancel()
		} else if c.listener != nil {
			c.listener.Close()
		}
		c.cancel()
		c.wg.Wait()
		for _, q := range c.queues {
			q.stop()
		}
		// Processes are stopped in parallel: each may take seconds to
		// honour SIGTERM before it is killed.
		var wg sync.WaitGroup
		for _, p := range c.pools {
			wg.Go(p.stop)
		}
		for _, e := range []*emulator.Process{c.dynamo, c.kinesis} {
			if e != nil {
				wg.Go(func() {
					t0 := time.Now()
					e.Stop()
					c.cfg.Logger.Debug("emulator stopped", "name", e.Name, "took", time.Since(t0))
				})
			}
		}
		wg.Wait()
		for _, f := range c.logFiles {
			f.Close()
		}
	})
}
