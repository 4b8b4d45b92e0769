// Package emulator starts the emulators of the local cloud — dynalite for
// DynamoDB and kinesis-mock (npm kinesis-local) for Kinesis — and moto's
// server (a second DynamoDB implementation for the store tests) as child
// processes in their own process group, waits until they answer, and stops
// them with their whole group so that nothing is left running. The store
// tests, the end-to-end tests and the local cloud all start them here.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ToolsDir returns the folder that holds the pinned Node tools
// (localstack/node/node_modules): $MOSAIC_TOOLS_DIR, else found from the working
// directory upwards, else from this source file.
func ToolsDir() (string, error) {
	if d := os.Getenv("MOSAIC_TOOLS_DIR"); d != "" {
		return d, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			cand := filepath.Join(d, "localstack", "node", "node_modules")
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", errors.New("localstack/node/node_modules not found: run 'make tools' (npm ci in localstack/)")
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Process is a running emulator.
type Process struct {
	Name     string
	Endpoint string // http://127.0.0.1:port
	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	// killOnStop skips the polite SIGTERM: kinesis-mock ignores it, and
	// without persistence there is nothing for it to save.
	killOnStop bool
}

// Options configure an emulator.
type Options struct {
	Port    int       // 0 picks a free port
	DataDir string    // empty keeps data in memory only
	Log     io.Writer // the emulator's output; nil discards it
}

// StartDynamoDB starts dynalite.
func StartDynamoDB(ctx context.Context, o Options) (*Process, error) {
	tools, err := ToolsDir()
	if err != nil {
		return nil, err
	}
	port, err := pickPort(o.Port)
	if err != nil {
		return nil, err
	}
	args := []string{filepath.Join(tools, "dynalite", "cli.js"), "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
	if o.DataDir != "" {
		dir := filepath.Join(o.DataDir, "dynamodb")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		args = append(args, "--path", dir)
	}
	cmd := exec.Command("node", args...)
	p, err := start("dynamodb", cmd, port, o.Log)
	if err != nil {
		return nil, err
	}
	// dynalite answers any request once listening; a GET is refused with 4xx.
	if err := p.waitReady(ctx, "/", func(int) bool { return true }); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// StartKinesis starts kinesis-mock with stream operations made immediate.
func StartKinesis(ctx context.Context, o Options) (*Process, error) {
	tools, err := ToolsDir()
	if err != nil {
		return nil, err
	}
	port, err := pickPort(o.Port)
	if err != nil {
		return nil, err
	}
	tlsPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tools, "kinesis-local")
	cmd := exec.Command("node", "main.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"KINESIS_MOCK_PLAIN_PORT="+strconv.Itoa(port),
		"KINESIS_MOCK_TLS_PORT="+strconv.Itoa(tlsPort),
		"CREATE_STREAM_DURATION=0ms", "DELETE_STREAM_DURATION=0ms",
		"REGISTER_STREAM_CONSUMER_DURATION=0ms", "DEREGISTER_STREAM_CONSUMER_DURATION=0ms",
		"UPDATE_SHARD_COUNT_DURATION=0ms", "MERGE_SHARDS_DURATION=0ms", "SPLIT_SHARD_DURATION=0ms",
		"START_STREAM_ENCRYPTION_DURATION=0ms", "STOP_STREAM_ENCRYPTION_DURATION=0ms",
		"UPDATE_STREAM_MODE_DURATION=0ms",
		"LOG_LEVEL=WARN", "ROOT_LOG_LEVEL=WARN",
	)
	if o.DataDir != "" {
		pdir := filepath.Join(o.DataDir, "kinesis")
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, "SHOULD_PERSIST_DATA=true", "PERSIST_PATH="+pdir, "PERSIST_INTERVAL=1s", "LOAD_DATA_IF_EXISTS=true")
	}
	p, err := start("kinesis", cmd, port, o.Log)
	if err != nil {
		return nil, err
	}
	p.killOnStop = o.DataDir == ""
	if err := p.waitReady(ctx, "/healthcheck", func(s int) bool { return s == http.StatusOK }); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// MotoInstall is how moto's server is installed where it is missing.
const MotoInstall = `pip install "moto[server]"`

// StartMoto starts moto's server (moto_server, from PATH or pyenv's shims)
// in memory. It serves DynamoDB as a second implementation next to
// dynalite: it counts key and item sizes in UTF-8 bytes as DynamoDB does
// (dynalite counts UTF-16 units), so the byte limits of DynamoDB (partition
// key 2,048 bytes, sort key 1,024 bytes, item 400 KB) are enforced. It is
// slow (a few hundred conditional writes a second), so it suits the store's
// conformance tests, not the local cloud. DataDir is ignored.
func StartMoto(ctx context.Context, o Options) (*Process, error) {
	bin, err := MotoPath()
	if err != nil {
		return nil, err
	}
	port, err := pickPort(o.Port)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	p, err := start("moto", cmd, port, o.Log)
	if err != nil {
		return nil, err
	}
	// moto answers its dashboard route with 200 once listening.
	if err := p.waitReady(ctx, "/moto-api/", func(s int) bool { return s < 500 }); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// MotoPath finds moto_server on PATH, else in pyenv's shims, else returns
// an error that says how to install it.
func MotoPath() (string, error) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		cand := filepath.Join(home, ".pyenv", "shims", "moto_server")
		if st, err := os.Stat(cand); err == nil && !st.IsDir() {
			return cand, nil
		}
	}
	return "", fmt.Errorf("moto_server not found on PATH: install it with %s", MotoInstall)
}

func pickPort(p int) (int, error) {
	if p != 0 {
		return p, nil
	}
	return FreePort()
}

func start(name string, cmd *exec.Cmd, port int, log io.Writer) (*Process, error) {
	if log == nil {
		log = io.Discard
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Own process group, so Stop reaches every descendant; and a parent-death
	// signal, so a killed parent leaves no emulator behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (is Node on PATH?): %w", name, err)
	}
	p := &Process{Name: name, Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *Process) waitReady(ctx context.Context, path string, ok func(int) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(p.Endpoint + path)
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", p.Name, p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w", p.Name, p.Endpoint, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop ends the process group: SIGTERM, then SIGKILL after five seconds.
func (p *Process) Stop() {
	pgid := p.cmd.Process.Pid
	if p.killOnStop {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

var (
	sharedMu      sync.Mutex
	sharedDDB     *Process
	sharedErr     error
	sharedMoto    *Process
	sharedMotoErr error
)

// SkipOrFail is called by tests when the emulators cannot start. Under
// MOSAIC_REQUIRE_EMULATORS=1 (set by 'make test') it fails the test;
// otherwise it skips with a loud message.
func SkipOrFail(tb interface {
	Helper()
	Fatalf(string, ...any)
	Skipf(string, ...any)
}, err error) {
	tb.Helper()
	if os.Getenv("MOSAIC_REQUIRE_EMULATORS") == "1" {
		tb.Fatalf("emulator unavailable: %v", err)
	}
	tb.Skipf("SKIPPED: emulator unavailable (%v); 'make test' installs and runs it", err)
}

// SharedDynamoDB returns the endpoint of one dynalite started for the whole
// test binary. Call StopShared from TestMain after m.Run.
func SharedDynamoDB() (string, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedDDB == nil && sharedErr == nil {
		if _, err := exec.LookPath("node"); err != nil {
			sharedErr = fmt.Errorf("node not on PATH: %w", err)
		} else {
			sharedDDB, sharedErr = StartDynamoDB(context.Background(), Options{})
		}
	}
	if sharedErr != nil {
		return "", sharedErr
	}
	return sharedDDB.Endpoint, nil
}

// SharedMoto returns the endpoint of one moto server started for the whole
// test binary. Call StopShared from TestMain after m.Run.
func SharedMoto() (string, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedMoto == nil && sharedMotoErr == nil {
		sharedMoto, sharedMotoErr = StartMoto(context.Background(), Options{})
	}
	if sharedMotoErr != nil {
		return "", sharedMotoErr
	}
	return sharedMoto.Endpoint, nil
}

// StopShared stops the emulators started by Shared… functions.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedDDB != nil {
		sharedDDB.Stop()
		sharedDDB = nil
	}
	if sharedMoto != nil {
		sharedMoto.Stop()
		sharedMoto = nil
	}
}
