package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/johannesboyne/gofakes3"
	"github.com/mosaic-cdp/mosaic/localstack/cloud/sigv4"
	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"golang.org/x/sync/errgroup"
)

const accountID = "000000000000"

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

	// Concurrency overrides the number of local processes of the functions
	// it names (function name → processes, each ≥ 1), in place of their
	// topology.Function.Concurrency; a name no function has is an error.
	Concurrency map[string]int

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
	fns, err := WithConcurrency(c.Functions, c.Concurrency)
	if err != nil {
		return err
	}
	c.Functions = fns
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

// WithConcurrency returns a copy of fns in which each function named in
// procs has that many local processes. It fails, naming them, on names no
// function has and on counts below 1; fns itself is never changed.
func WithConcurrency(fns []topology.Function, procs map[string]int) ([]topology.Function, error) {
	out := slices.Clone(fns)
	seen := map[string]bool{}
	for i := range out {
		if n, ok := procs[out[i].Name]; ok {
			out[i].Concurrency = n
			seen[out[i].Name] = true
		}
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(procs)) {
		switch {
		case !seen[name]:
			errs = append(errs, fmt.Errorf("concurrency: no function %q", name))
		case procs[name] < 1:
			errs = append(errs, fmt.Errorf("concurrency: %s=%d, want at least 1 process", name, procs[name]))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
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
	if err := c.createBuckets(backend); err != nil {
		return nil, err
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
		topology.AppStackName(cfg.Env): {
			topology.OutputAPIURL:  c.edgeURL,
			topology.OutputInletID: topology.DefaultInletID(cfg.Tenant, cfg.Sandbox),
		},
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
