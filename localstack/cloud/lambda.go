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
)

// FunctionError is an error returned by the function itself (RIE answers
// HTTP 200 with {"errorMessage","errorType"}), as opposed to a failure to
// reach the function.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

// Error names the type only: the message may carry payload values, which
// must not reach the logs.
func (e *FunctionError) Error() string { return "function error: " + e.Type }

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
	rp.mu.Lock()
	url := rp.invokeURL
	rp.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", rp.pool.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", rp.pool.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &FunctionError{Type: "Runtime.Unavailable", Message: "RIE answered " + resp.Status}
	}
	if fe := asFunctionError(body); fe != nil {
		return nil, fe
	}
	return body, nil
}

// isFunctionError reports whether err came from the function (or its
// process), which async and stream sources retry.
func isFunctionError(err error) bool {
	var fe *FunctionError
	return errors.As(err, &fe)
}
