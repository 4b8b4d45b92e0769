package cloud

import (
	"slices"
	"testing"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// TestFunctionEnvCarriesTopology checks that a function process gets what
// the CDK app gives the deployed function: its resources by local name, the
// tenant id and its settings.
func TestFunctionEnvCarriesTopology(t *testing.T) {
	c := &Cloud{
		cfg:     Config{Env: "local", Sandbox: "prod", Tenant: "acme", Region: "us-east-1", AccessKey: "k", SecretKey: "s"},
		names:   map[string]string{topology.CatalogTable: "mosaic-local-catalog"},
		dynamo:  &emulator.Process{Endpoint: "http://127.0.0.1:1"},
		kinesis: &emulator.Process{Endpoint: "http://127.0.0.1:2"},
		edgeURL: "http://127.0.0.1:3",
	}
	f := topology.Function{
		Name:     "batch-ingest",
		Env:      map[string]string{topology.EnvCatalogTable: topology.CatalogTable},
		Settings: map[string]string{topology.EnvMaxClockSkew: "90m"},
	}
	env := c.functionEnv(f)
	for _, want := range []string{
		topology.EnvCatalogTable + "=mosaic-local-catalog",
		topology.EnvTenantID + "=acme",
		topology.EnvMaxClockSkew + "=90m",
		"AWS_LAMBDA_FUNCTION_NAME=batch-ingest",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("function env lacks %q; got %q", want, env)
		}
	}
}
