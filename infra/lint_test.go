package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// TestCfnLint synthesizes every environment to a temporary cloud assembly,
// as 'cdk synth' does, and runs cfn-lint (pip install cfn-lint) on every
// template. Warnings fail the test too: cfn-lint exits non-zero on them.
func TestCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("MOSAIC_REQUIRE_EMULATORS") == "1" {
			t.Fatal("cfn-lint is not on PATH and MOSAIC_REQUIRE_EMULATORS=1: pip install cfn-lint")
		}
		t.Skip("SKIPPING cfn-lint: not on PATH (pip install cfn-lint); set MOSAIC_REQUIRE_EMULATORS=1 to make this a failure")
	}
	for _, env := range Envs() {
		t.Run(env, func(t *testing.T) {
			cfg, err := ConfigFor(env)
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			ctx := cdkContext(t)
			ctx["env"] = env
			app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out), Context: &ctx})
			if _, err := NewStacks(app, cfg, testAssets); err != nil {
				t.Fatal(err)
			}
			app.Synth(nil)
			templates, err := filepath.Glob(filepath.Join(out, "*.template.json"))
			if err != nil || len(templates) != 2 {
				t.Fatalf("templates %v (err %v); want the 2 stacks", templates, err)
			}
			cmd := exec.Command(lint, templates...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("cfn-lint %v: %v\n%s", templates, err, b)
			}
		})
	}
}
