package main

import (
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// statement is one IAM policy statement attached to a function's role.
type statement struct {
	actions   []string
	resources []any
}

// roleStatements collects the statements of every IAM policy attached to
// the role with logical ID roleID.
func roleStatements(t *testing.T, tmpl map[string]any, roleID string) []statement {
	t.Helper()
	var out []statement
	for _, r := range ofType(tmpl, "AWS::IAM::Policy") {
		p := props(r)
		if !strings.Contains(mustJSON(p["Roles"]), `{"Ref":"`+roleID+`"}`) {
			continue
		}
		for _, raw := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := raw.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			out = append(out, statement{actions: asList[string](st["Action"]), resources: asList[any](st["Resource"])})
		}
	}
	return out
}

func asList[T any](v any) []T {
	if l, ok := v.([]any); ok {
		out := make([]T, 0, len(l))
		for _, x := range l {
			out = append(out, x.(T))
		}
		return out
	}
	return []T{v.(T)}
}

// resourceOf tells which topology resource a statement resource refers to,
// through the data stack's export of its name or ARN; "" for anything else.
func resourceOf(r any) string {
	js := mustJSON(r)
	for _, id := range resourceIDs() {
		if strings.Contains(js, ":ExportsOutputRef"+id) || strings.Contains(js, ":ExportsOutputFnGetAtt"+id) {
			return id
		}
	}
	return ""
}

// isWrite reports whether an action changes data (or could, like s3:Abort*).
func isWrite(action string) bool {
	_, verb, _ := strings.Cut(action, ":")
	for _, p := range []string{"Put", "Update", "Delete", "BatchWrite", "Write", "Abort", "Create", "Restore", "Replicate"} {
		if strings.HasPrefix(verb, p) {
			return true
		}
	}
	return verb == "*"
}

// S2: each function's role allows only what the topology grants it (plus what
// its trigger needs), on only those resources.
func TestLeastPrivilege(t *testing.T) {
	forEachEnv(t, func(t *testing.T, s *synthesized) {
		roles := ofType(s.appJSON, "AWS::IAM::Role")
		for _, f := range topology.Functions {
			t.Run(f.Name, func(t *testing.T) {
				_, roleID := fnIDs(t, s, f.Name)
				if mp, ok := props(roles[roleID])["ManagedPolicyArns"]; ok {
					t.Errorf("role has managed policies %s; want none (AWSLambdaBasicExecutionRole writes to every log group)", mustJSON(mp))
				}
				access := map[string]topology.Access{}
				for _, g := range f.Grants {
					access[g.Resource] = g.Access
				}
				// The stream trigger reads its stream (granted by the event
				// source) and sends failures to its queue.
				if f.Stream != nil {
					access[f.Stream.Stream] = topology.Read
				}
				services := map[string]bool{"logs": true}
				for id := range access {
					switch {
					case isTable(id):
						services["dynamodb"] = true
					case isBucket(id):
						services["s3"] = true
					case isStream(id):
						services["kinesis"] = true
					}
				}
				if f.Stream != nil || f.Async != nil || f.Queue != nil {
					services["sqs"] = true
				}
				sts := roleStatements(t, s.appJSON, roleID)
				if len(sts) == 0 {
					t.Fatal("no policy statements found for the role")
				}
				for _, st := range sts {
					for _, a := range st.actions {
						svc, _, _ := strings.Cut(a, ":")
						if !services[svc] {
							t.Errorf("action %s: function has no grant on any %s resource", a, svc)
						}
					}
					for _, r := range st.resources {
						if r == "*" {
							t.Errorf("actions %v on every resource (*)", st.actions)
							continue
						}
						id := resourceOf(r)
						if id == "" {
							continue // the function's own log group or queue, in this stack
						}
						acc, granted := access[id]
						if !granted {
							t.Errorf("actions %v on %s, which the topology does not grant", st.actions, id)
							continue
						}
						if acc == topology.Read {
							for _, a := range st.actions {
								if isWrite(a) {
									t.Errorf("write action %s on %s, granted read only", a, id)
								}
							}
						}
					}
				}
			})
		}
	})
}

// The examples of docs/quality.md S2, spelled out so a regression reads plainly.
func TestLeastPrivilegeExamples(t *testing.T) {
	s := synth(t, "dev")
	actions := func(name string) []string {
		_, roleID := fnIDs(t, s, name)
		var all []string
		for _, st := range roleStatements(t, s.appJSON, roleID) {
			all = append(all, st.actions...)
		}
		return all
	}
	for _, a := range actions("schema-api") {
		if strings.HasPrefix(a, "s3:") || strings.HasPrefix(a, "kinesis:") {
			t.Errorf("schema-api may %s", a)
		}
	}
	for _, a := range actions("dataset-api") {
		if strings.HasPrefix(a, "kinesis:") {
			t.Errorf("dataset-api may %s", a)
		}
	}
	// The batch API stages, deletes and pre-signs uploads (multipart ones
	// too) in the landing bucket, and batch-ingest writes its task and
	// diagnostics objects there.
	for _, fn := range []string{"dataset-api", "batch-ingest"} {
		have := map[string]bool{}
		for _, a := range actions(fn) {
			have[a] = true
		}
		for _, a := range []string{"s3:PutObject", "s3:DeleteObject*", "s3:GetObject*", "s3:List*", "s3:Abort*"} {
			if !have[a] {
				t.Errorf("%s may not %s", fn, a)
			}
		}
	}
	// The HTTP streaming endpoint puts messages on the ingest stream, one
	// (PutRecord) or a batch (PutRecords), and reads nothing from it.
	have := map[string]bool{}
	for _, a := range actions("collection-api") {
		have[a] = true
		if a == "kinesis:GetRecords" || a == "kinesis:GetShardIterator" {
			t.Errorf("collection-api may %s", a)
		}
	}
	for _, a := range []string{"kinesis:PutRecord", "kinesis:PutRecords"} {
		if !have[a] {
			t.Errorf("collection-api may not %s", a)
		}
	}
	// profile-api reads profiles and never changes them: it keeps merge
	// policies and jobs in the catalog table and starts a job (a profile
	// delete too) with a task object, which profile-jobs carries out.
	reads := 0
	_, roleID := fnIDs(t, s, "profile-api")
	for _, st := range roleStatements(t, s.appJSON, roleID) {
		for _, r := range st.resources {
			if resourceOf(r) != topology.ProfileTable {
				continue
			}
			for _, a := range st.actions {
				if isWrite(a) {
					t.Errorf("profile-api may %s on the profile table", a)
				}
				if a == "dynamodb:Query" || a == "dynamodb:GetItem" {
					reads++
				}
			}
		}
		for _, a := range st.actions {
			if strings.HasPrefix(a, "kinesis:") {
				t.Errorf("profile-api may %s", a)
			}
		}
	}
	if reads == 0 {
		t.Error("profile-api cannot Query or GetItem the profile table: the grants are missing altogether")
	}
}

func isTable(id string) bool {
	for _, t := range topology.Tables {
		if t.ID == id {
			return true
		}
	}
	return false
}

func isBucket(id string) bool {
	for _, b := range topology.Buckets {
		if b.ID == id {
			return true
		}
	}
	return false
}

func isStream(id string) bool {
	for _, s := range topology.Streams {
		if s.ID == id {
			return true
		}
	}
	return false
}
