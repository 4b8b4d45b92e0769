package main

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Functions holds the Lambda functions, keyed by topology name.
type Functions struct {
	ByName map[string]awslambda.Function
}

// NewFunctions creates one Lambda function per topology entry, with its own
// log group, its environment and exactly the grants the topology lists.
// Triggers and routes are wired by NewIngest and NewAPI.
func NewFunctions(scope constructs.Construct, id string, cfg Config, assets string, data *Data) (*Functions, error) {
	c := constructs.NewConstruct(scope, jsii.String(id))
	fns := &Functions{ByName: map[string]awslambda.Function{}}
	for _, f := range topology.Functions {
		asset, err := functionAsset(assets, f.Name)
		if err != nil {
			return nil, err
		}
		env, err := functionEnv(f, cfg, data)
		if err != nil {
			return nil, err
		}
		// An explicit log group, rather than the one Lambda creates on first
		// write, so retention and removal are part of the stack.
		logs := awslogs.NewLogGroup(c, jsii.String(f.ID+"Logs"), &awslogs.LogGroupProps{
			Retention:     cfg.LogRetention,
			RemovalPolicy: cfg.RemovalPolicy,
		})
		// An own role instead of the default one: the default carries
		// AWSLambdaBasicExecutionRole, which allows writing to every log
		// group of the account; this one may write only to its own.
		role := awsiam.NewRole(c, jsii.String(f.ID+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("Mosaic " + f.Name + " (" + cfg.Name + ")"),
		})
		logs.GrantWrite(role)
		fn := awslambda.NewFunction(c, jsii.String(f.ID), &awslambda.FunctionProps{
			Role:         role,
			Description:  jsii.String("Mosaic " + f.Name + " (" + cfg.Name + ")"),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: awslambda.Architecture_ARM_64(),
			Handler:      jsii.String("bootstrap"),
			Code:         awslambda.Code_FromAsset(jsii.String(asset), nil),
			MemorySize:   jsii.Number(float64(f.MemoryMB)),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(f.Timeout.Seconds())),
			Environment:  &env,
			LogGroup:     logs,
			// The functions log JSON through slog already; JSON format lets
			// Lambda add its own fields to the same records.
			LoggingFormat: awslambda.LoggingFormat_JSON,
			RecursiveLoop: recursiveLoop(f),
		})
		for _, g := range f.Grants {
			if err := grant(data, fn, g); err != nil {
				return nil, fmt.Errorf("function %s: %w", f.Name, err)
			}
		}
		fns.ByName[f.Name] = fn
	}
	return fns, nil
}

// recursiveLoop is Allow for a function that invokes itself through its
// own trigger (topology.Function.InvokesItself), else Lambda's default,
// Terminate.
func recursiveLoop(f topology.Function) awslambda.RecursiveLoop {
	if f.InvokesItself {
		return awslambda.RecursiveLoop_ALLOW
	}
	return awslambda.RecursiveLoop_TERMINATE
}

// functionEnv maps the topology's environment (variable → resource ID) to
// physical names, plus the sandbox name, the tenant id and the function's
// settings.
func functionEnv(f topology.Function, cfg Config, data *Data) (map[string]*string, error) {
	env := map[string]*string{topology.EnvSandboxName: jsii.String(cfg.Sandbox), topology.EnvTenantID: jsii.String(cfg.TenantID)}
	keys := make([]string, 0, len(f.Env))
	for k := range f.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic errors; the template sorts keys itself
	for _, k := range keys {
		name, err := data.Name(f.Env[k])
		if err != nil {
			return nil, fmt.Errorf("function %s: env %s: %w", f.Name, k, err)
		}
		env[k] = name
	}
	for k, v := range f.Settings {
		env[k] = jsii.String(v)
	}
	return env, nil
}

// grant applies one topology grant with the resource's own grant* method,
// which knows the narrowest action set for each access level.
func grant(data *Data, fn awsiam.IGrantable, g topology.Grant) error {
	if t, ok := data.Tables[g.Resource]; ok {
		switch g.Access {
		case topology.Read:
			t.GrantReadData(fn)
		case topology.Write:
			t.GrantWriteData(fn)
		case topology.ReadWrite:
			t.GrantReadWriteData(fn)
		default:
			return fmt.Errorf("table %s: unknown access %d", g.Resource, g.Access)
		}
		return nil
	}
	if b, ok := data.Buckets[g.Resource]; ok {
		switch g.Access {
		case topology.Read:
			b.GrantRead(fn, nil)
		case topology.Write:
			b.GrantWrite(fn, nil, nil)
		case topology.ReadWrite:
			b.GrantReadWrite(fn, nil)
		default:
			return fmt.Errorf("bucket %s: unknown access %d", g.Resource, g.Access)
		}
		return nil
	}
	if s, ok := data.Streams[g.Resource]; ok {
		switch g.Access {
		case topology.Read:
			s.GrantRead(fn)
		case topology.Write:
			s.GrantWrite(fn)
		case topology.ReadWrite:
			s.GrantReadWrite(fn)
		default:
			return fmt.Errorf("stream %s: unknown access %d", g.Resource, g.Access)
		}
		return nil
	}
	return fmt.Errorf("grant on unknown resource %q", g.Resource)
}
