package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"

	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// Config is everything that differs between environments. It is typed Go,
// not loose context values, so a missing or misspelt setting fails to
// compile instead of deploying a surprise.
type Config struct {
	// Name is the environment, part of the stack names (MosaicData-<Name>).
	Name string
	// Sandbox is the AEP sandbox name the functions report and scope by.
	Sandbox string
	// TenantID is AEP's TENANT_ID of the stack: tenant schemas get
	// https://ns.adobe.com/<TenantID>/… ids and fields under _<TenantID>.
	// A company moving from AEP sets its own, so its field paths do not
	// change. Ids derived from it are stored: never change it once data
	// exists. Empty means "mosaic".
	TenantID string
	// RemovalPolicy applies to every stateful resource: prod keeps its data
	// when a stack is deleted, the others clean up after themselves.
	RemovalPolicy awscdk.RemovalPolicy
	// LogRetention bounds how long function logs are kept (and paid for).
	LogRetention awslogs.RetentionDays
	// ShardCount overrides the topology's shard count of every stream;
	// 0 keeps the topology's value.
	ShardCount int
	// StreamRetention is how long the ingest stream keeps records, which is
	// how long a stuck shard can wait for a fix before data is lost.
	StreamRetention time.Duration
	// FailureRetention is how long the stream's on-failure queue keeps the
	// pointers to batches that exhausted their retries.
	FailureRetention time.Duration
	// TerminationProtection guards the stacks against an accidental delete.
	TerminationProtection bool
}

// DefaultEnv is used when no -c env=… is given.
const DefaultEnv = "dev"

// Point-in-time recovery is not a setting: it is on in every environment
// (docs/quality.md S3), so it appears nowhere in Config.
var configs = map[string]Config{
	"dev": {
		Name: "dev", Sandbox: "dev", TenantID: "mosaic",
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		LogRetention:  awslogs.RetentionDays_ONE_WEEK,
		ShardCount:    1,
		// The minimum Kinesis retention; dev data is disposable.
		StreamRetention:  24 * time.Hour,
		FailureRetention: 4 * 24 * time.Hour,
	},
	"staging": {
		Name: "staging", Sandbox: "staging", TenantID: "mosaic",
		RemovalPolicy:    awscdk.RemovalPolicy_DESTROY,
		LogRetention:     awslogs.RetentionDays_ONE_MONTH,
		StreamRetention:  24 * time.Hour,
		FailureRetention: 14 * 24 * time.Hour,
	},
	"prod": {
		Name: "prod", Sandbox: "prod", TenantID: "mosaic",
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		LogRetention:  awslogs.RetentionDays_THREE_MONTHS,
		ShardCount:    4,
		// A week of stream retention gives operators time to fix a poison
		// batch without losing the records behind it.
		StreamRetention:       7 * 24 * time.Hour,
		FailureRetention:      14 * 24 * time.Hour,
		TerminationProtection: true,
	},
}

// Envs lists the environment names, sorted.
func Envs() []string {
	names := make([]string, 0, len(configs))
	for n := range configs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ConfigFor returns the configuration of the named environment.
func ConfigFor(name string) (Config, error) {
	if name == "" {
		name = DefaultEnv
	}
	cfg, ok := configs[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown environment %q: use -c env=%s", name, strings.Join(Envs(), "|"))
	}
	if err := xdm.CheckTenant(cfg.TenantID); err != nil {
		return Config{}, fmt.Errorf("environment %s: %w", name, err)
	}
	return cfg, nil
}
