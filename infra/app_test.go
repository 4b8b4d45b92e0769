package main

import (
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// fnIDs maps each topology function to the logical IDs of its function and role.
func fnIDs(t *testing.T, s *synthesized, name string) (fnID, roleID string) {
	t.Helper()
	fn, ok := s.stacks.Functions.ByName[name]
	if !ok {
		t.Fatalf("no function %s", name)
	}
	stack := s.stacks.App
	fnID = *stack.GetLogicalId(fn.Node().DefaultChild().(awscdk.CfnElement))
	roleID = *stack.GetLogicalId(fn.Role().Node().DefaultChild().(awscdk.CfnElement))
	return fnID, roleID
}

func TestFunctions(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		if got, want := *s.stacks.App.StackName(), topology.AppStackName(s.cfg.Name); got != want {
			t.Errorf("app stack name = %s; want %s", got, want)
		}
		goFns := s.app.FindResources(jsii.String("AWS::Lambda::Function"), map[string]any{
			"Properties": map[string]any{"Runtime": "provided.al2023"},
		})
		if got := len(*goFns); got != len(topology.Functions) {
			t.Errorf("%d provided.al2023 functions; want %d", got, len(topology.Functions))
		}
		s.app.ResourceCountIs(jsii.String("AWS::Logs::LogGroup"), jsii.Number(float64(len(topology.Functions))))
		res := resources(s.appJSON)
		for _, f := range topology.Functions {
			fnID, _ := fnIDs(t, s, f.Name)
			p := props(res[fnID])
			checks := map[string][2]any{
				"Runtime":       {p["Runtime"], "provided.al2023"},
				"Handler":       {p["Handler"], "bootstrap"},
				"Architectures": {mustJSON(p["Architectures"]), `["arm64"]`},
				"MemorySize":    {p["MemorySize"], float64(f.MemoryMB)},
				"Timeout":       {p["Timeout"], f.Timeout.Seconds()},
			}
			for k, c := range checks {
				if c[0] != c[1] {
					t.Errorf("%s: %s = %v; want %v", f.Name, k, c[0], c[1])
				}
			}
			if _, named := p["FunctionName"]; named {
				t.Errorf("%s: fixed FunctionName; names must be generated", f.Name)
			}
			vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			want := []string{topology.EnvSandboxName, topology.EnvTenantID}
			for k := range f.Env {
				want = append(want, k)
			}
			for k, v := range f.Settings {
				want = append(want, k)
				if vars[k] != v {
					t.Errorf("%s: %s = %v; want %s", f.Name, k, vars[k], v)
				}
			}
			sort.Strings(want)
			if diff := cmp.Diff(want, sortedKeys(vars)); diff != "" {
				t.Errorf("%s: environment variables (-want +got):\n%s", f.Name, diff)
			}
			if vars[topology.EnvSandboxName] != s.cfg.Sandbox {
				t.Errorf("%s: sandbox %v; want %s", f.Name, vars[topology.EnvSandboxName], s.cfg.Sandbox)
			}
			if vars[topology.EnvTenantID] != s.cfg.TenantID || s.cfg.TenantID == "" {
				t.Errorf("%s: tenant id %v; want the environment's, %q", f.Name, vars[topology.EnvTenantID], s.cfg.TenantID)
			}
			if _, ok := vars[topology.EnvS3PathStyle]; ok {
				t.Errorf("%s: %s is for the emulators only", f.Name, topology.EnvS3PathStyle)
			}
			// Logs go to the function's own log group, with the env's retention.
			lc := p["LoggingConfig"].(map[string]any)
			ref, _ := lc["LogGroup"].(map[string]any)["Ref"].(string)
			lg := props(res[ref])
			if lg == nil {
				t.Fatalf("%s: logging config %s does not name a log group of the stack", f.Name, mustJSON(lc))
			}
			if got, want := lg["RetentionInDays"], retentionDays(s.cfg.LogRetention); got != want {
				t.Errorf("%s: log retention %v; want %v", f.Name, got, want)
			}
		}
	})
}

// retentionDays is the CloudFormation value of the retentions Config uses.
func retentionDays(r awslogs.RetentionDays) any {
	days := map[awslogs.RetentionDays]float64{
		awslogs.RetentionDays_ONE_WEEK:     7,
		awslogs.RetentionDays_ONE_MONTH:    30,
		awslogs.RetentionDays_THREE_MONTHS: 90,
		awslogs.RetentionDays_ONE_YEAR:     365,
	}
	if d, ok := days[r]; ok {
		return d
	}
	return "unmapped retention " + string(r)
}

func TestAPIRoutesRequireIAM(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		var want []string
		for _, f := range topology.Functions {
			for _, r := range f.Routes {
				want = append(want, r.Key())
			}
		}
		sort.Strings(want)
		s.app.ResourceCountIs(jsii.String("AWS::ApiGatewayV2::Api"), jsii.Number(1))
		s.app.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), map[string]any{"ProtocolType": "HTTP"})
		routes := ofType(s.appJSON, "AWS::ApiGatewayV2::Route")
		var got []string
		for id, r := range routes {
			p := props(r)
			got = append(got, p["RouteKey"].(string))
			if p["AuthorizationType"] != "AWS_IAM" {
				t.Errorf("route %s (%s): AuthorizationType %v; want AWS_IAM", p["RouteKey"], id, p["AuthorizationType"])
			}
		}
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("route keys (-topology +template):\n%s", diff)
		}
		// Every integration is a Lambda proxy with payload format 2.0, and
		// each route's function is the one the topology names.
		for _, r := range ofType(s.appJSON, "AWS::ApiGatewayV2::Integration") {
			p := props(r)
			if p["IntegrationType"] != "AWS_PROXY" || p["PayloadFormatVersion"] != "2.0" {
				t.Errorf("integration %s: type %v, payload %v; want AWS_PROXY, 2.0", mustJSON(p["IntegrationUri"]), p["IntegrationType"], p["PayloadFormatVersion"])
			}
		}
		integrationFn := map[string]string{} // integration logical ID → function logical ID
		for id, r := range ofType(s.appJSON, "AWS::ApiGatewayV2::Integration") {
			uri := mustJSON(props(r)["IntegrationUri"])
			for _, f := range topology.Functions {
				if fnID, _ := fnIDs(t, s, f.Name); strings.Contains(uri, `"`+fnID+`"`) {
					integrationFn[id] = f.Name
				}
			}
		}
		for _, f := range topology.Functions {
			for _, rt := range f.Routes {
				for _, r := range routes {
					p := props(r)
					if p["RouteKey"] != rt.Key() {
						continue
					}
					target := mustJSON(p["Target"])
					var to string
					for integ, fn := range integrationFn {
						if strings.Contains(target, `"`+integ+`"`) {
							to = fn
						}
					}
					if to != f.Name {
						t.Errorf("route %s goes to %q; want %s", rt.Key(), to, f.Name)
					}
				}
			}
		}
	})
}

func TestStreamTrigger(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		n := 0
		for _, f := range topology.Functions {
			st := f.Stream
			if st == nil {
				continue
			}
			n++
			fnID, _ := fnIDs(t, s, f.Name)
			want := map[string]any{
				"FunctionName":               map[string]any{"Ref": fnID},
				"StartingPosition":           "TRIM_HORIZON",
				"BatchSize":                  st.BatchSize,
				"FunctionResponseTypes":      []any{"ReportBatchItemFailures"},
				"BisectBatchOnFunctionError": st.Bisect,
				"ParallelizationFactor":      st.ParallelizationFactor,
				"MaximumRetryAttempts":       st.MaxRetries,
				"DestinationConfig": map[string]any{"OnFailure": map[string]any{
					"Destination": map[string]any{"Fn::GetAtt": assertions.Match_ArrayWith(&[]any{"Arn"})},
				}},
				"EventSourceArn": map[string]any{"Fn::ImportValue": assertions.Match_StringLikeRegexp(
					jsii.String(":ExportsOutputFnGetAtt" + st.Stream + "Arn"))},
			}
			s.app.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), want)
		}
		queueTriggers := 0
		for _, f := range topology.Functions {
			if f.Queue != nil {
				queueTriggers++
			}
		}
		s.app.ResourceCountIs(jsii.String("AWS::Lambda::EventSourceMapping"), jsii.Number(float64(n+queueTriggers)))
		// The on-failure queues (the stream's among the topology's) are
		// encrypted and refuse plain HTTP.
		s.app.ResourceCountIs(jsii.String("AWS::SQS::Queue"), jsii.Number(float64(len(topology.Queues))))
		s.app.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]any{"SqsManagedSseEnabled": true})
		s.app.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"Effect":    "Deny",
				"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			})})},
		})
	})
}

func TestS3Trigger(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		for _, f := range topology.Functions {
			if f.S3 == nil {
				continue
			}
			fnID, _ := fnIDs(t, s, f.Name)
			s.app.HasResourceProperties(jsii.String("Custom::S3BucketNotifications"), map[string]any{
				"BucketName": map[string]any{"Fn::ImportValue": assertions.Match_StringLikeRegexp(
					jsii.String(":ExportsOutputRef" + f.S3.Bucket))},
				"NotificationConfiguration": map[string]any{"LambdaFunctionConfigurations": []any{map[string]any{
					"Events":            []any{"s3:ObjectCreated:*"},
					"Filter":            map[string]any{"Key": map[string]any{"FilterRules": []any{map[string]any{"Name": "prefix", "Value": f.S3.Prefix}}}},
					"LambdaFunctionArn": map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}},
				}}},
			})
			// S3 may invoke the function only for this bucket, in this account.
			s.app.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), map[string]any{
				"Action":        "lambda:InvokeFunction",
				"Principal":     "s3.amazonaws.com",
				"FunctionName":  map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}},
				"SourceAccount": map[string]any{"Ref": "AWS::AccountId"},
			})
		}
	})
}

// TestRecursiveLoop: a function that hands work on through its own S3
// trigger is deployed with RecursiveLoop Allow, so that Lambda's loop
// detection does not stop a long file's chain of invocations; every other
// function keeps Terminate.
func TestRecursiveLoop(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		allowed := 0
		for _, f := range topology.Functions {
			want := "Terminate"
			if f.InvokesItself {
				want = "Allow"
				allowed++
			}
			fnID, _ := fnIDs(t, s, f.Name)
			props := s.app.FindResources(jsii.String("AWS::Lambda::Function"), nil)
			res, ok := (*props)[fnID]
			if !ok || res == nil {
				t.Fatalf("no function %s in the template", fnID)
			}
			got, _ := (*res)["Properties"].(map[string]any)["RecursiveLoop"].(string)
			if got != want {
				t.Errorf("%s: RecursiveLoop %q, want %q", f.Name, got, want)
			}
		}
		if allowed != 2 {
			t.Errorf("%d functions invoke themselves, want 2 (batch-ingest, profile-jobs)", allowed)
		}
	})
}

func TestAppOutputs(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		s.app.HasOutput(jsii.String(topology.OutputAPIURL), map[string]any{
			"Value": map[string]any{"Fn::GetAtt": assertions.Match_ArrayWith(&[]any{"ApiEndpoint"})},
		})
		s.app.HasOutput(jsii.String(topology.OutputRegion), map[string]any{"Value": map[string]any{"Ref": "AWS::Region"}})
		s.app.HasOutput(jsii.String(topology.OutputSandbox), map[string]any{"Value": s.cfg.Sandbox})
		s.app.HasOutput(jsii.String(topology.OutputInletID), map[string]any{"Value": topology.DefaultInletID(s.cfg.TenantID, s.cfg.Sandbox)})
	})
}

// TestAsyncFailureDestination: a function with an asynchronous configuration
// retries as the topology says, sends what it discards to its queue, and
// drains that queue with partial batch responses; the queue is encrypted,
// refuses plain HTTP and hides messages longer than the function runs; the
// role may send to, receive from and delete on that queue only.
func TestAsyncFailureDestination(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		found := 0
		for _, f := range topology.Functions {
			if f.Async == nil {
				continue
			}
			found++
			fnID, roleID := fnIDs(t, s, f.Name)
			q := s.stacks.Ingest.Queues[f.Async.OnFailure]
			if q == nil {
				t.Fatalf("%s: no queue %s", f.Name, f.Async.OnFailure)
			}
			qID := *s.stacks.App.GetLogicalId(q.Node().DefaultChild().(awscdk.CfnElement))
			queueArn := map[string]any{"Fn::GetAtt": []any{qID, "Arn"}}
			s.app.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{
				"FunctionName":         map[string]any{"Ref": fnID},
				"MaximumRetryAttempts": f.Async.MaxRetries,
				"DestinationConfig":    map[string]any{"OnFailure": map[string]any{"Destination": queueArn}},
			})
			s.app.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
				"FunctionName":          map[string]any{"Ref": fnID},
				"EventSourceArn":        queueArn,
				"BatchSize":             f.Queue.BatchSize,
				"FunctionResponseTypes": []any{"ReportBatchItemFailures"},
			})
			var visibility float64
			for _, tq := range topology.Queues {
				if tq.ID == f.Async.OnFailure {
					visibility = tq.VisibilityTimeout.Seconds()
				}
			}
			if visibility < f.Timeout.Seconds() {
				t.Errorf("queue visibility %vs is below the function timeout %v", visibility, f.Timeout)
			}
			s.app.HasResource(jsii.String("AWS::SQS::Queue"), map[string]any{
				"Properties": map[string]any{"SqsManagedSseEnabled": true, "VisibilityTimeout": visibility},
			})
			s.app.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
				"Queues": []any{map[string]any{"Ref": qID}},
				"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"Effect":    "Deny",
					"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				})})},
			})
			var sqsActions []string
			for _, st := range roleStatements(t, s.appJSON, roleID) {
				for _, a := range st.actions {
					if !strings.HasPrefix(a, "sqs:") {
						continue
					}
					sqsActions = append(sqsActions, a)
					for _, r := range st.resources {
						if mustJSON(r) != mustJSON(queueArn) {
							t.Errorf("%s on %s, want only its own queue", a, mustJSON(r))
						}
					}
				}
			}
			sort.Strings(sqsActions)
			want := []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"}
			if diff := cmp.Diff(want, sqsActions); diff != "" {
				t.Errorf("%s: sqs actions (-want +got):\n%s", f.Name, diff)
			}
		}
		if found == 0 {
			t.Error("no function has an on-failure destination")
		}
	})
}
