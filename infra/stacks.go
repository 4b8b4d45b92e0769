package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Stacks are one environment's two stacks and the constructs in them.
type Stacks struct {
	Data      awscdk.Stack
	App       awscdk.Stack
	Resources *Data
	Functions *Functions
	Ingest    *Ingest
	API       *API
}

// dataOutputs names the stack output of each stateful resource; a resource
// without one is a mistake caught at synth (see NewStacks).
var dataOutputs = map[string]string{
	topology.CatalogTable:  topology.OutputCatalogTable,
	topology.ProfileTable:  topology.OutputProfileTable,
	topology.LandingBucket: topology.OutputLandingBucket,
	topology.IngestStream:  topology.OutputIngestStream,
}

// OutputFailureQueue is the app stack output naming the stream trigger's
// on-failure queue, for operators replaying failed batches.
const OutputFailureQueue = "StreamFailureQueueUrl"

// NewStacks builds an environment: the stateful resources in the data stack,
// which changes rarely and is never replaced, and everything stateless
// (functions, triggers, API) in the app stack, which may be redeployed or
// even destroyed without losing data.
func NewStacks(scope constructs.Construct, cfg Config, assets string) (*Stacks, error) {
	tags := func(s awscdk.Stack) {
		awscdk.Tags_Of(s).Add(jsii.String("project"), jsii.String("mosaic"), nil)
		awscdk.Tags_Of(s).Add(jsii.String("environment"), jsii.String(cfg.Name), nil)
	}
	data := awscdk.NewStack(scope, jsii.String(topology.DataStackName(cfg.Name)), &awscdk.StackProps{
		Description:           jsii.String("Mosaic stateful resources: tables, landing bucket, ingest stream (" + cfg.Name + ")"),
		TerminationProtection: jsii.Bool(cfg.TerminationProtection),
	})
	tags(data)
	res := NewData(data, "Data", cfg)
	for _, id := range resourceIDs() {
		key, ok := dataOutputs[id]
		if !ok {
			return nil, fmt.Errorf("resource %s has no stack output key", id)
		}
		name, err := res.Name(id)
		if err != nil {
			return nil, err
		}
		awscdk.NewCfnOutput(data, jsii.String(key), &awscdk.CfnOutputProps{Value: name})
	}

	app := awscdk.NewStack(scope, jsii.String(topology.AppStackName(cfg.Name)), &awscdk.StackProps{
		Description:           jsii.String("Mosaic functions, ingest triggers and HTTP API (" + cfg.Name + ")"),
		TerminationProtection: jsii.Bool(cfg.TerminationProtection),
	})
	tags(app)
	app.AddStackDependency(data, jsii.String("functions use the tables, bucket and stream"))
	fns, err := NewFunctions(app, "Functions", cfg, assets, res)
	if err != nil {
		return nil, err
	}
	in, err := NewIngest(app, "Ingest", cfg, res, fns)
	if err != nil {
		return nil, err
	}
	api := NewAPI(app, "API", cfg, fns)
	awscdk.NewCfnOutput(app, jsii.String(topology.OutputAPIURL), &awscdk.CfnOutputProps{
		Description: jsii.String("HTTP API base URL, without a trailing slash; every route needs SigV4 (service execute-api)"),
		Value:       api.HTTP.ApiEndpoint(),
	})
	awscdk.NewCfnOutput(app, jsii.String(topology.OutputRegion), &awscdk.CfnOutputProps{Value: awscdk.Aws_REGION()})
	awscdk.NewCfnOutput(app, jsii.String(topology.OutputSandbox), &awscdk.CfnOutputProps{Value: jsii.String(cfg.Sandbox)})
	awscdk.NewCfnOutput(app, jsii.String(topology.OutputInletID), &awscdk.CfnOutputProps{
		Description: jsii.String("the stack's inlet of the HTTP streaming endpoint: POST <ApiUrl>/collection/<InletId> (SigV4, service execute-api)"),
		Value:       jsii.String(topology.DefaultInletID(cfg.TenantID, cfg.Sandbox)),
	})
	for _, q := range in.FailureQueues {
		awscdk.NewCfnOutput(app, jsii.String(OutputFailureQueue), &awscdk.CfnOutputProps{Value: q.QueueUrl()})
	}
	quietRoleDependency(app)
	return &Stacks{Data: data, App: app, Resources: res, Functions: fns, Ingest: in, API: api}, nil
}

// resourceIDs lists the stateful resources of the topology in order.
func resourceIDs() []string {
	var ids []string
	for _, t := range topology.Tables {
		ids = append(ids, t.ID)
	}
	for _, b := range topology.Buckets {
		ids = append(ids, b.ID)
	}
	for _, s := range topology.Streams {
		ids = append(ids, s.ID)
	}
	return ids
}

// quietRoleDependency tells cfn-lint, on each Lambda function of the stack
// only, to skip W3005 ("dependency already enforced by a GetAtt"). CDK adds
// an explicit DependsOn from every function to its role and the role's
// default policy on purpose (the policy must exist before the first
// invocation, which the GetAtt on the role alone does not ensure), so the
// warning is about deliberate, harmless redundancy.
func quietRoleDependency(stack awscdk.Stack) {
	for _, c := range *stack.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		// Also CDK's own BucketNotificationsHandler, a plain CfnResource.
		fn, ok := c.(awscdk.CfnResource)
		if !ok || *fn.CfnResourceType() != "AWS::Lambda::Function" {
			continue
		}
		fn.AddMetadata(jsii.String("cfn-lint"), map[string]any{
			"config": map[string]any{"ignore_checks": []string{"W3005"}},
		})
	}
}
