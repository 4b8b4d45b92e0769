package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// API is the HTTP API in front of the API functions.
type API struct {
	HTTP awsapigatewayv2.HttpApi
}

// NewAPI creates the HTTP API (payload format 2.0) with one route per
// topology route, each integrated with its function and each requiring IAM
// (SigV4) authorization.
func NewAPI(scope constructs.Construct, id string, cfg Config, fns *Functions) *API {
	c := constructs.NewConstruct(scope, jsii.String(id))
	iam := awsapigatewayv2authorizers.NewHttpIamAuthorizer()
	api := awsapigatewayv2.NewHttpApi(c, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		ApiName:     jsii.String("mosaic-" + cfg.Name),
		Description: jsii.String("Mosaic real-time customer profile API (" + cfg.Name + ")"),
		// The default covers any route added later; each route below also
		// names the authorizer, so no route depends on the default alone.
		DefaultAuthorizer: iam,
	})
	for _, f := range topology.Functions {
		if len(f.Routes) == 0 {
			continue
		}
		// One integration per function, shared by its routes: API Gateway
		// still gets a separate invoke permission per route.
		integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(
			jsii.String(f.ID+"Integration"), fns.ByName[f.Name], nil)
		for _, r := range f.Routes {
			api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
				Path:        jsii.String(r.Path),
				Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
				Integration: integration,
				Authorizer:  iam,
			})
		}
	}
	return &API{HTTP: api}
}
