// Command mosaic-local runs Mosaic's whole cloud on this machine without
// Docker or an AWS account (docs/architecture.md, "The local cloud"): one edge port for the AWS
// CLI and SDKs, the functions behind the Lambda Runtime Interface
// Emulator, and an outputs file in 'cdk deploy --outputs-file' format.
// It runs until SIGINT or SIGTERM and then leaves no process behind.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/mosaic-cdp/mosaic/localstack/cloud"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mosaic-local:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mosaic-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg cloud.Config
	fs.StringVar(&cfg.Edge, "edge", "127.0.0.1:4566", "edge listen address (port 0 picks a free port)")
	fs.StringVar(&cfg.DataDir, "data", "", "persist DynamoDB, Kinesis, S3 and stream checkpoints here (empty: in memory)")
	fs.StringVar(&cfg.OutputsFile, "outputs", "cdk-outputs-local.json", "stack outputs file to write")
	fs.StringVar(&cfg.DistDir, "dist", filepath.Join("dist", "local"), "folder of <function>/bootstrap binaries (make build-local)")
	fs.StringVar(&cfg.RIE, "rie", "", "aws-lambda-rie binary (default $MOSAIC_RIE or bin/aws-lambda-rie)")
	fs.StringVar(&cfg.Env, "env", "local", "environment name used in stack and resource names")
	fs.StringVar(&cfg.Sandbox, "sandbox", "prod", "sandbox name given to the functions")
	fs.StringVar(&cfg.Tenant, "tenant", xdm.DefaultTenantID, "tenant id (AEP's TENANT_ID) given to the functions: tenant fields sit under _<tenant>")
	fs.StringVar(&cfg.LogsDir, "logs", "", "function logs folder (default <data or a temp dir>/logs)")
	fs.StringVar(&cfg.Region, "region", "us-east-1", "AWS region")
	fs.StringVar(&cfg.AccessKey, "access-key", "test", "access key ID accepted by the API")
	fs.StringVar(&cfg.SecretKey, "secret-key", "test", "secret access key accepted by the API")
	procs := concurrencyFlag{}
	fs.Var(procs, "concurrency", "processes of a function, `name=n[,name=n]` (repeatable), e.g. batch-ingest=4; default from shared/topology")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(procs) > 0 {
		cfg.Concurrency = procs
	}
	if err := xdm.CheckTenant(cfg.Tenant); err != nil {
		return fmt.Errorf("-tenant: %w", err)
	}
	if cfg.OutputsFile != "" {
		abs, err := filepath.Abs(cfg.OutputsFile)
		if err != nil {
			return err
		}
		cfg.OutputsFile = abs
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := cloud.Start(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting; Start cleaned up
		}
		return err
	}
	edge := c.EdgeURL()
	fmt.Fprintf(stdout, `Mosaic local cloud is up.
  edge:     %[1]s  (S3, DynamoDB, Kinesis and the HTTPS API, routed by SigV4 service)
  API:      %[1]s/data/...  (every call signed with SigV4 for execute-api)
  bucket:   %[2]s  (drop files at s3://%[2]s/ingest/<datasetId>/<name>)
  stream:   %[3]s
  inlet:    %[1]s/collection/%[9]s  (AEP's HTTP streaming endpoint, signed like the API)
  outputs:  %[4]s
  logs:     %[5]s
Use it with:
  export AWS_ACCESS_KEY_ID=%[6]s AWS_SECRET_ACCESS_KEY=%[7]s AWS_DEFAULT_REGION=%[8]s
  aws --endpoint-url %[1]s s3 ls s3://%[2]s
  curl --aws-sigv4 "aws:amz:%[8]s:execute-api" --user %[6]s:%[7]s %[1]s/data/foundation/schemaregistry/global/classes
  The README's "Five minutes with Mosaic" walks through schema, dataset, file, record and profile.
Stop with Ctrl-C.
MOSAIC-LOCAL READY %[4]s
`, edge, c.Name(topology.LandingBucket), c.Name(topology.IngestStream), cfg.OutputsFile, c.LogsDir(),
		cfg.AccessKey, cfg.SecretKey, cfg.Region, topology.DefaultInletID(cfg.Tenant, cfg.Sandbox))
	<-ctx.Done()
	cfg.Logger.Info("stopping local cloud")
	c.Stop()
	return nil
}

// concurrencyFlag is -concurrency: function name → local processes, from
// "name=n" pairs separated by commas, over one or more uses of the flag (a
// later pair for the same name wins). n is a whole number ≥ 1.
type concurrencyFlag map[string]int

func (c concurrencyFlag) String() string {
	parts := make([]string, 0, len(c))
	for _, name := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, name+"="+strconv.Itoa(c[name]))
	}
	return strings.Join(parts, ",")
}

func (c concurrencyFlag) Set(s string) error {
	for _, pair := range strings.Split(s, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || name == "" {
			return fmt.Errorf("%q: want name=n", pair)
		}
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 {
			return fmt.Errorf("%q: want a whole number of processes ≥ 1", pair)
		}
		c[name] = v
	}
	return nil
}
