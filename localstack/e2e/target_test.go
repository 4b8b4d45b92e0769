//go:build e2e

// Package e2e drives a running Mosaic the way its users do: the AWS SDK
// signs API calls, and the real AWS CLI drops files into S3 and puts records
// on Kinesis. The target comes from the environment, so the same tests run
// against the built-in local cloud (started here when nothing else is
// named), LocalStack and AWS:
//
//	MOSAIC_OUTPUTS   an outputs file of 'cdk deploy --outputs-file' (or of the local cloud)
//	MOSAIC_ENV       the environment name in its stack names (default: the only one in the file)
//	AWS_ENDPOINT_URL where AWS calls go (unset for AWS)
//
// Without MOSAIC_OUTPUTS the tests start MOSAIC_LOCAL_BIN (the local cloud)
// on a free port, and stop it afterwards, checking that none of its
// processes is left.
package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// target is the Mosaic under test.
type target struct {
	APIURL   string
	Edge     string // endpoint for AWS calls; empty for AWS itself
	Region   string
	Bucket   string
	Stream   string
	Sandbox  string
	LogsDir  string // function logs, known only for the local cloud
	AccessID string
	Secret   string
}

var tgt target

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var stop func() error
	if path := os.Getenv("MOSAIC_OUTPUTS"); path != "" {
		t, err := fromOutputs(path, os.Getenv("MOSAIC_ENV"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		t.Edge = os.Getenv("AWS_ENDPOINT_URL")
		t.AccessID, t.Secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		tgt = t
	} else {
		var err error
		stop, err = startLocalCloud()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: start the local cloud:", err)
			if os.Getenv("MOSAIC_REQUIRE_EMULATORS") == "1" {
				return 1
			}
			fmt.Fprintln(os.Stderr, "e2e: SKIPPED: no target (set MOSAIC_OUTPUTS, or run 'make test')")
			return 0
		}
	}
	code := m.Run()
	if stop != nil {
		if err := stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stop the local cloud:", err)
			code = 1
		}
	}
	return code
}

// fromOutputs reads an outputs file of 'cdk deploy --outputs-file'.
func fromOutputs(path, env string) (target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return target{}, err
	}
	var stacks map[string]map[string]string
	if err := json.Unmarshal(b, &stacks); err != nil {
		return target{}, fmt.Errorf("outputs file %s: %w", path, err)
	}
	if env == "" {
		for name := range stacks {
			if strings.HasPrefix(name, topology.DataStackPrefix) {
				env = strings.TrimPrefix(name, topology.DataStackPrefix)
			}
		}
	}
	data, app := stacks[topology.DataStackName(env)], stacks[topology.AppStackName(env)]
	if data == nil || app == nil {
		return target{}, fmt.Errorf("outputs file %s has no stacks for environment %q", path, env)
	}
	t := target{
		APIURL:  strings.TrimRight(app[topology.OutputAPIURL], "/"),
		Region:  firstNonEmpty(app[topology.OutputRegion], data[topology.OutputRegion], os.Getenv("AWS_REGION"), "us-east-1"),
		Bucket:  data[topology.OutputLandingBucket],
		Stream:  data[topology.OutputIngestStream],
		Sandbox: firstNonEmpty(app[topology.OutputSandbox], data[topology.OutputSandbox]),
	}
	if t.APIURL == "" || t.Bucket == "" || t.Stream == "" {
		return target{}, fmt.Errorf("outputs file %s lacks the API URL, bucket or stream", path)
	}
	return t, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// startLocalCloud runs the local cloud binary on a free port and waits for
// its ready line. The returned stop function ends it with SIGTERM and checks
// that every process it started has gone.
func startLocalCloud() (func() error, error) {
	bin := os.Getenv("MOSAIC_LOCAL_BIN")
	if bin == "" {
		return nil, fmt.Errorf("MOSAIC_LOCAL_BIN is not set (make test sets it)")
	}
	dir, err := os.MkdirTemp("", "mosaic-e2e-")
	if err != nil {
		return nil, err
	}
	outputs := filepath.Join(dir, "outputs.json")
	logs := filepath.Join(dir, "logs")
	args := []string{"-edge", "127.0.0.1:0", "-outputs", outputs, "-logs", logs, "-env", "e2e"}
	if d := os.Getenv("MOSAIC_DIST"); d != "" {
		args = append(args, "-dist", d)
	}
	if r := os.Getenv("MOSAIC_RIE"); r != "" {
		args = append(args, "-rie", r)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	// A test binary that panics (a -timeout) skips TestMain's stop: the
	// local cloud then stops too, instead of running on (its emulators
	// and functions follow it the same way).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(os.Stderr, "local cloud:", line)
			if !signalled && strings.HasPrefix(line, "MOSAIC-LOCAL READY") {
				signalled = true
				ready <- nil
			}
		}
		if !signalled {
			ready <- fmt.Errorf("the local cloud exited before it was ready")
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case err := <-ready:
		if err != nil {
			cmd.Wait()
			return nil, err
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the local cloud was not ready within 3 minutes")
	}
	t, err := fromOutputs(outputs, "e2e")
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	t.Edge = t.APIURL
	t.LogsDir = logs
	t.AccessID, t.Secret = "test", "test"
	tgt = t

	return func() error {
		descendants := descendantsOf(cmd.Process.Pid)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("the local cloud exited badly after SIGTERM: %w", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			return fmt.Errorf("the local cloud did not stop within 30 s of SIGTERM")
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			var alive []int
			for _, pid := range descendants {
				if processAlive(pid) {
					alive = append(alive, pid)
				}
			}
			if len(alive) == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("processes of the local cloud still running after it stopped: %v", alive)
			}
			time.Sleep(100 * time.Millisecond) // polling a process table: there is nothing to wait on
		}
		os.RemoveAll(dir)
		return nil
	}, nil
}

// descendantsOf lists every process below pid, from /proc.
func descendantsOf(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(p); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold spaces: read after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// processAlive reports whether pid runs (a zombie counts as gone).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}
