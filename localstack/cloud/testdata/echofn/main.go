// Command echofn is a stand-in Lambda for the local cloud's tests: it
// echoes API events, records S3 and Kinesis events as objects in the
// landing bucket (through the edge, as real functions reach S3), and
// reports Kinesis records whose data is "fail" as batch item failures.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mosaic-cdp/mosaic/shared/awsenv"
)

type probe struct {
	RouteKey string `json:"routeKey"`
	Records  []struct {
		EventSource string `json:"eventSource"`
	} `json:"Records"`
}

func main() {
	clients, err := awsenv.Load(context.Background(), os.Getenv)
	if err != nil {
		panic(err)
	}
	bucket := os.Getenv("MOSAIC_LANDING_BUCKET")
	put := func(ctx context.Context, key string, body []byte) error {
		_, err := clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
		return err
	}
	lambda.Start(func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p probe
		_ = json.Unmarshal(raw, &p)
		switch {
		case p.RouteKey != "":
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, err
			}
			if strings.Contains(ev.RawPath, "fail") {
				return nil, errors.New("asked to fail")
			}
			body, _ := json.Marshal(map[string]any{
				"event": ev, "function": os.Getenv("AWS_LAMBDA_FUNCTION_NAME"),
				"sandbox": os.Getenv("MOSAIC_SANDBOX_NAME"), "catalog": os.Getenv("MOSAIC_CATALOG_TABLE"),
			})
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json", "X-Fn": "echo"},
				Cookies: []string{"a=1"}, Body: string(body)}, nil
		case len(p.Records) > 0 && p.Records[0].EventSource == "aws:s3":
			var ev events.S3Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, err
			}
			key, err := url.QueryUnescape(ev.Records[0].S3.Object.Key)
			if err != nil {
				return nil, err
			}
			return nil, put(ctx, "seen/"+key, raw)
		case len(p.Records) > 0 && p.Records[0].EventSource == "aws:kinesis":
			var ev events.KinesisEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, err
			}
			var resp events.KinesisEventResponse
			for _, r := range ev.Records {
				if string(r.Kinesis.Data) == "fail" {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: r.Kinesis.SequenceNumber})
					continue
				}
				if err := put(ctx, "kinesis/"+r.Kinesis.PartitionKey, r.Kinesis.Data); err != nil {
					return nil, err
				}
			}
			return resp, nil
		}
		return nil, errors.New("unknown event")
	})
}
