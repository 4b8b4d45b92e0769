// Package awsenv loads the AWS SDK configuration the same way in every
// function, command and test. Endpoints come only from the SDK's standard
// settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, …), so the same
// binaries run against AWS, LocalStack and the built-in local cloud; the one
// extra switch is path-style S3 addressing.
package awsenv

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Getenv reads an environment variable (os.Getenv, or a map in tests).
type Getenv func(string) string

// Clients are the SDK clients Mosaic uses, built once per process.
type Clients struct {
	Config   aws.Config
	DynamoDB *dynamodb.Client
	S3       *s3.Client
	Kinesis  *kinesis.Client
}

// IdleConnsPerHost is how many idle connections the SDK's HTTP client
// keeps per endpoint. The SDK's default is 10, while an ingest function
// has up to 16 rows in flight, each with a few concurrent requests: past
// 10, every request would open (and TLS-handshake) a connection and close
// it again.
const IdleConnsPerHost = 64

// HTTPClient is the SDK's buildable HTTP client with IdleConnsPerHost.
func HTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = IdleConnsPerHost
		if t.MaxIdleConns < IdleConnsPerHost {
			t.MaxIdleConns = IdleConnsPerHost
		}
	})
}

// Load builds the SDK configuration and clients.
func Load(ctx context.Context, getenv Getenv) (*Clients, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(HTTPClient()))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration (region, credentials, endpoints): %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region: set AWS_REGION")
	}
	pathStyle := PathStyle(getenv)
	return &Clients{
		Config:   cfg,
		DynamoDB: dynamodb.NewFromConfig(cfg),
		Kinesis:  kinesis.NewFromConfig(cfg),
		S3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = pathStyle
			if pathStyle {
				// Emulators answer without checksums; validating only when
				// required keeps the SDK from logging about it on every call.
				o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
			}
		}),
	}, nil
}

// PathStyle reports whether S3 clients must use path-style addressing.
func PathStyle(getenv Getenv) bool {
	switch getenv(topology.EnvS3PathStyle) {
	case "1", "true", "TRUE", "yes":
		return true
	}
	return false
}

// Require returns the values of the named variables, or one error naming
// every missing one, so that a misconfigured function stops at start-up
// with an actionable message.
func Require(getenv Getenv, names ...string) (map[string]string, error) {
	vals := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		v := getenv(n)
		if v == "" {
			missing = append(missing, n)
		}
		vals[n] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing environment variables %v", missing)
	}
	return vals, nil
}
