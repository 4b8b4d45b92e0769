package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func goBuild(t *testing.T, out, pkg string, tags ...string) {
	t.Helper()
	args := []string{"build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// descendants lists the live processes below pid, from /proc.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces; fields after its ')' are fixed.
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
		if len(f) > 1 && f[0] != "Z" {
			pp, _ := strconv.Atoi(f[1])
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func alive(pid int) bool {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestStartServeStopLeavesNothing(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		emulator.SkipOrFail(t, err)
	}
	if _, err := emulator.ToolsDir(); err != nil {
		emulator.SkipOrFail(t, err)
	}
	rie := os.Getenv("MOSAIC_RIE")
	if rie == "" {
		rie = filepath.Join(repoRoot(), "bin", "aws-lambda-rie")
	}
	if _, err := os.Stat(rie); err != nil {
		emulator.SkipOrFail(t, errors.New("aws-lambda-rie missing: "+err.Error()))
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "mosaic-local")
	goBuild(t, bin, "./cmd/mosaic-local")
	// The stand-in function serves every real function name.
	dist := filepath.Join(tmp, "dist")
	echo := filepath.Join(tmp, "echofn")
	goBuild(t, echo, "./localstack/cloud/testdata/echofn", "lambda.norpc")
	for _, f := range topology.Functions {
		os.MkdirAll(filepath.Join(dist, f.Name), 0o755)
		if err := os.Link(echo, filepath.Join(dist, f.Name, "bootstrap")); err != nil {
			t.Fatal(err)
		}
	}
	outputs := filepath.Join(tmp, "outputs.json")
	cmd := exec.Command(bin, "-edge", "127.0.0.1:0", "-outputs", outputs, "-dist", dist, "-rie", rie, "-data", filepath.Join(tmp, "data"))
	cmd.Stderr = os.Stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MOSAIC-LOCAL READY "); ok {
				ready <- rest
			}
		}
	}()
	select {
	case got := <-ready:
		if got != outputs {
			t.Errorf("ready line names %q, want %q", got, outputs)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no READY line within 60 s")
	}

	raw, err := os.ReadFile(outputs)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]map[string]string
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	data, app := out[topology.DataStackName("local")], out[topology.AppStackName("local")]
	if data[topology.OutputCatalogTable] != "mosaic-local-catalog" || data[topology.OutputProfileTable] != "mosaic-local-profile" ||
		data[topology.OutputLandingBucket] != "mosaic-local-landing" || data[topology.OutputIngestStream] != "mosaic-local-ingest" ||
		data[topology.OutputRegion] != "us-east-1" || data[topology.OutputSandbox] != "prod" || !strings.HasPrefix(app[topology.OutputAPIURL], "http://127.0.0.1:") ||
		app[topology.OutputInletID] != topology.DefaultInletID("", "prod") {
		t.Errorf("outputs %s", raw)
	}

	// One signed call through a real route proves the functions are wired.
	req, _ := http.NewRequest("GET", app[topology.OutputAPIURL]+"/data/core/ups/access/entities?entityId=x", nil)
	sum := sha256.Sum256(nil)
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("api call: got %d", resp.StatusCode)
	}

	kids := descendants(cmd.Process.Pid)
	// dynalite, kinesis-mock, and one RIE per unit of function concurrency.
	want := 2
	for _, f := range topology.Functions {
		want += max(f.Concurrency, 1)
	}
	if len(kids) < want {
		t.Errorf("got %d child processes, want at least %d", len(kids), want)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not exit within 30 s of SIGTERM")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []int
		for _, p := range kids {
			if alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes still running after exit: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
