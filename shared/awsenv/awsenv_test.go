package awsenv

import (
	"context"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestPathStyle(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "yes": true, "": false, "0": false, "false": false} {
		if got := PathStyle(env(map[string]string{topology.EnvS3PathStyle: v})); got != want {
			t.Errorf("PathStyle(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestRequireNamesEveryMissingVariable(t *testing.T) {
	_, err := Require(env(map[string]string{"A": "1"}), "A", "B", "C")
	if err == nil || !strings.Contains(err.Error(), "B") || !strings.Contains(err.Error(), "C") {
		t.Fatalf("Require error = %v, want one naming B and C", err)
	}
	vals, err := Require(env(map[string]string{"A": "1", "B": "2"}), "A", "B")
	if err != nil || vals["A"] != "1" || vals["B"] != "2" {
		t.Fatalf("Require = %v, %v, want both values", vals, err)
	}
}

func TestLoadHonoursEndpointSettings(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
	c, err := Load(context.Background(), env(map[string]string{topology.EnvS3PathStyle: "1"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Config.Region != "eu-west-1" {
		t.Errorf("region = %q, want eu-west-1", c.Config.Region)
	}
	if !c.S3.Options().UsePathStyle {
		t.Error("S3 client does not use path-style addressing")
	}
	if ep := c.DynamoDB.Options().BaseEndpoint; ep == nil || *ep != "http://127.0.0.1:1" {
		t.Errorf("DynamoDB endpoint = %v, want the AWS_ENDPOINT_URL_DYNAMODB value", ep)
	}
}

// TestLoadKeepsEnoughConnections: the clients keep IdleConnsPerHost idle
// connections per endpoint, more than the 16 rows an ingest function has
// in flight.
func TestLoadKeepsEnoughConnections(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	c, err := Load(context.Background(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	bc, ok := c.Config.HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		t.Fatalf("HTTP client is %T", c.Config.HTTPClient)
	}
	if got := bc.GetTransport().MaxIdleConnsPerHost; got < 16 {
		t.Errorf("MaxIdleConnsPerHost = %d, want at least 16", got)
	}
}
