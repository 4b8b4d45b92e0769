package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"golang.org/x/sync/errgroup"
)

// Lambda's payload quotas for a synchronous invocation, "6 MB each for
// request and response" (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
// The request limit is 6 MiB; the response limit Lambda enforces is the
// one its error names, "Exceeded maximum allowed payload size (6291556 bytes)".
const (
	maxInvokeRequest  = 6291456 // bytes
	maxInvokeResponse = 6291556 // bytes
)

// errRequestTooLarge is Lambda's RequestTooLargeException: the payload was
// refused before the function ran.
var errRequestTooLarge = errors.New("invoke: request payload over 6291456 bytes (Lambda's synchronous invocation limit)")

// FunctionError is a failed invocation of the function itself: an error it
// returned, a timeout, a crash or exit mid-invocation, a runtime that cannot
// be reached, or an answer Lambda would not accept. Event sources retry it;
// the API front answers 502. It is never a failure to queue the call
// (context ended, request payload too large).
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

// Error names the type only: the message may carry payload values, which
// must not reach the logs.
func (e *FunctionError) Error() string { return "function error: " + e.Type }

// Error types Lambda reports for failures of the runtime rather than of the
// handler (https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html).
const (
	errTimedOut        = "Sandbox.Timedout"
	errRuntimeGone     = "Runtime.Unavailable"
	errInvalidResponse = "Runtime.InvalidResponse"
	errResponseSize    = "Function.ResponseSizeTooLarge"
)

// asFunctionError recognises RIE's error body. Only an object holding
// errorType or errorMessage and nothing a handler would normally return
// (statusCode, batchItemFailures) counts.
func asFunctionError(body []byte) *FunctionError {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	_, hasType := m["errorType"]
	_, hasMsg := m["errorMessage"]
	if !hasType && !hasMsg {
		return nil
	}
	if _, ok := m["statusCode"]; ok {
		return nil
	}
	var fe FunctionError
	_ = json.Unmarshal(body, &fe)
	return &fe
}

// classify turns RIE's answer into a result or a *FunctionError. RIE
// answers a timed-out invocation with 200 and the plain text "Task timed
// out after N.NN seconds", a runtime that exited or panicked with 502 and
// an error object, and a handler's error with 200 and an error object; a
// handler's result is always JSON, so any other 200 body is a broken
// runtime.
func classify(status int, body []byte) ([]byte, error) {
	if len(body) > maxInvokeResponse {
		return nil, &FunctionError{Type: errResponseSize,
			Message: "Response payload size exceeded maximum allowed payload size (6291556 bytes)."}
	}
	if bytes.HasPrefix(body, []byte("Task timed out after")) {
		return nil, &FunctionError{Type: errTimedOut, Message: string(body)}
	}
	if fe := asFunctionError(body); fe != nil {
		if fe.Type == "" {
			fe.Type = "Unhandled"
		}
		return nil, fe
	}
	if status != http.StatusOK {
		return nil, &FunctionError{Type: errRuntimeGone, Message: "runtime interface answered HTTP " + strconv.Itoa(status)}
	}
	if !json.Valid(body) {
		return nil, &FunctionError{Type: errInvalidResponse, Message: "function answer is not JSON"}
	}
	return body, nil
}

// invocation is one queued call of a function.
type invocation struct {
	ctx     context.Context
	payload []byte
	reply   chan invokeResult
}

type invokeResult struct {
	body []byte
	err  error
}

// lambdaPool runs one function as several RIE processes. Each worker owns
// one process and takes one invocation at a time from the shared queue,
// because RIE crashes on concurrent invocations.
type lambdaPool struct {
	name    string
	queue   chan invocation
	timeout time.Duration
	log     *slog.Logger
	wg      sync.WaitGroup
	procs   []*rieProc
}

type rieProc struct {
	pool      *lambdaPool
	rie       string
	bootstrap string
	env       []string
	logFile   *os.File
	invokeURL string
	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}
}

func newLambdaPool(ctx context.Context, name, rie, bootstrap string, n int, env []string, logFile *os.File, timeout time.Duration, log *slog.Logger) (*lambdaPool, error) {
	if n < 1 {
		n = 1
	}
	if _, err := os.Stat(bootstrap); err != nil {
		return nil, fmt.Errorf("function %s: %w (run 'make build-local')", name, err)
	}
	p := &lambdaPool{name: name, queue: make(chan invocation), timeout: timeout, log: log}
	for i := 0; i < n; i++ {
		rp := &rieProc{pool: p, rie: rie, bootstrap: bootstrap, env: env, logFile: logFile}
		if err := rp.start(ctx); err != nil {
			for _, started := range p.procs {
				started.kill()
			}
			return nil, err
		}
		p.procs = append(p.procs, rp)
	}
	// Workers start only once every process is up, so a failed start
	// leaves no goroutine behind.
	for _, rp := range p.procs {
		p.wg.Add(1)
		go rp.serve(ctx)
	}
	return p, nil
}

// Invoke calls the function synchronously. A *FunctionError reports an
// error returned by the function.
func (p *lambdaPool) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	inv := invocation{ctx: ctx, payload: payload, reply: make(chan invokeResult, 1)}
	select {
	case p.queue <- inv:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-inv.reply:
		return r.body, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *lambdaPool) stop() {
	for _, rp := range p.procs {
		rp.kill()
	}
	p.wg.Wait()
}

// start runs a new RIE process. Its ports are picked free but bound only by
// RIE itself, so another process may take one in between; RIE then exits at
// once, and start tries again with new ports.
func (rp *rieProc) start(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = rp.startOnce(ctx); err == nil || !errors.Is(err, errExitedAtStart) {
			return err
		}
		rp.pool.log.Warn("function process exited at start, retrying with new ports", "function", rp.pool.name)
	}
	return err
}

var errExitedAtStart = errors.New("RIE exited at start (see its log)")

func (rp *rieProc) startOnce(ctx context.Context) error {
	apiPort, err := emulator.FreePort()
	if err != nil {
		return err
	}
	rtPort, err := emulator.FreePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(apiPort)
	cmd := exec.Command(rp.rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(rtPort),
		rp.bootstrap)
	cmd.Env = rp.env
	cmd.Dir = filepath.Dir(rp.bootstrap) // Lambda runs code from its package folder (/var/task)
	cmd.Stdout, cmd.Stderr = rp.logFile, rp.logFile
	// Own process group so stopping reaches the bootstrap too; parent-death
	// signal so a killed local cloud leaves no RIE behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s for %s: %w", rp.rie, rp.pool.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	rp.mu.Lock()
	rp.cmd, rp.done, rp.invokeURL = cmd, done, "http://"+addr+"/2015-03-31/functions/function/invocations"
	rp.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("function %s: %w", rp.pool.name, errExitedAtStart)
		case <-ctx.Done():
			rp.kill()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			rp.kill()
			return fmt.Errorf("RIE for %s not listening on %s", rp.pool.name, addr)
		}
	}
}

func (rp *rieProc) alive() bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	select {
	case <-rp.done:
		return false
	default:
		return true
	}
}

func (rp *rieProc) kill() {
	rp.mu.Lock()
	cmd, done := rp.cmd, rp.done
	rp.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func (rp *rieProc) serve(ctx context.Context) {
	defer rp.pool.wg.Done()
	client := &http.Client{Timeout: rp.pool.timeout + 5*time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case inv := <-rp.pool.queue:
			if !rp.alive() {
				rp.pool.log.Warn("function process died, restarting", "function", rp.pool.name)
				rp.kill()
				if err := rp.start(ctx); err != nil {
					inv.reply <- invokeResult{err: err}
					continue
				}
			}
			body, err := rp.invoke(inv.ctx, client, inv.payload)
			inv.reply <- invokeResult{body: body, err: err}
		}
	}
}

func (rp *rieProc) invoke(ctx context.Context, client *http.Client, payload []byte) ([]byte, error) {
	if len(payload) > maxInvokeRequest {
		return nil, errRequestTooLarge
	}
	rp.mu.Lock()
	url := rp.invokeURL
	rp.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, rp.transportError(ctx, err)
	}
	defer resp.Body.Close()
	// One byte over the limit is enough to know the answer is too large.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxInvokeResponse+1))
	if err != nil {
		return nil, rp.transportError(ctx, err)
	}
	out, err := classify(resp.StatusCode, body)
	var fe *FunctionError
	if errors.As(err, &fe) && fe.Type == errTimedOut {
		// Lambda gives the next invocation a fresh sandbox. RIE resets in
		// place and counts the new runtime's start against the next
		// call's timeout, which a loaded machine can miss: start a new
		// process instead, whose runtime starts under the init timeout.
		rp.kill()
	}
	return out, err
}

// transportError is the error for a call that got no complete answer: the
// caller's context ending stays that, anything else (the process died
// mid-invocation, the client's own deadline passed) is the function's
// failure, as Lambda reports it. Either way the process may still be busy
// with the call, and RIE fails on a second concurrent invocation, so it is
// stopped; the next invocation starts a fresh one.
func (rp *rieProc) transportError(ctx context.Context, err error) error {
	rp.kill()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &FunctionError{Type: errTimedOut, Message: "no answer within the function timeout"}
	}
	return &FunctionError{Type: errRuntimeGone, Message: "invoke " + rp.pool.name + ": " + err.Error()}
}

// functionEnv is the environment of a function's processes: its topology
// variables resolved to local names, plus what Lambda and the SDK need.
func (c *Cloud) functionEnv(f topology.Function) []string {
	env := []string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, id := range f.Env {
		name, ok := c.names[id]
		if !ok {
			name = PhysicalName(c.cfg.Env, id)
		}
		env = append(env, k+"="+name)
	}
	for k, v := range f.Settings {
		env = append(env, k+"="+v)
	}
	timeout := int(f.Timeout / time.Second)
	if timeout < 1 {
		timeout = 3
	}
	mem := f.MemoryMB
	if mem == 0 {
		mem = 128
	}
	return append(env,
		topology.EnvSandboxName+"="+c.cfg.Sandbox,
		topology.EnvTenantID+"="+c.cfg.Tenant,
		topology.EnvS3PathStyle+"=1",
		"AWS_REGION="+c.cfg.Region,
		"AWS_DEFAULT_REGION="+c.cfg.Region,
		"AWS_ACCESS_KEY_ID="+c.cfg.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+c.cfg.SecretKey,
		"AWS_ENDPOINT_URL_DYNAMODB="+c.dynamoEndpointFor(f.Name),
		"AWS_ENDPOINT_URL_KINESIS="+c.kinesis.Endpoint,
		"AWS_ENDPOINT_URL_S3="+c.edgeURL,
		"AWS_LAMBDA_FUNCTION_NAME="+f.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(timeout),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(mem),
	)
}

func (c *Cloud) startFunctions(ctx context.Context) error {
	var mu sync.Mutex
	var g errgroup.Group
	for _, f := range c.cfg.Functions {
		logFile, err := os.OpenFile(filepath.Join(c.cfg.LogsDir, f.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		c.logFiles = append(c.logFiles, logFile)
		bootstrap, err := filepath.Abs(filepath.Join(c.cfg.DistDir, f.Name, "bootstrap"))
		if err != nil {
			return err
		}
		timeout := f.Timeout
		if timeout <= 0 {
			timeout = 3 * time.Second
		}
		g.Go(func() error {
			pool, err := newLambdaPool(ctx, f.Name, c.cfg.RIE, bootstrap, f.Concurrency, c.functionEnv(f), logFile, timeout, c.cfg.Logger)
			if err != nil {
				return err
			}
			mu.Lock()
			c.pools[f.Name] = pool
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}
