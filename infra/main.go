// Command infra is Mosaic's CDK app. It builds, from the resource
// definitions in shared/topology and the typed per-environment Config, two
// stacks per environment: MosaicData-<env> with the tables, the landing
// bucket and the ingest stream, and MosaicApp-<env> with the functions, their
// triggers and the IAM-authorized HTTP API.
//
//	cdk synth -c env=dev|staging|prod [-c assets=dist]
//
// Runtime code never imports this package.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if err := build(app); err != nil {
		fmt.Fprintln(os.Stderr, "mosaic infra:", err)
		jsii.Close()
		os.Exit(1)
	}
	app.Synth(nil)
}

// build adds the stacks of the environment selected by the context.
func build(app awscdk.App) error {
	cfg, err := ConfigFor(contextString(app, "env"))
	if err != nil {
		return err
	}
	assets, err := assetsDir(contextString(app, "assets"))
	if err != nil {
		return err
	}
	_, err = NewStacks(app, cfg, assets)
	return err
}

func contextString(app awscdk.App, key string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok {
		return v
	}
	return ""
}
