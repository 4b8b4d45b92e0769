package cloud

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault kinds of the DynamoDB fault proxy, as DynamoDB produces them
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).
const (
	// FaultThrottle answers HTTP 400 ProvisionedThroughputExceededException.
	// DynamoDB refuses a throttled request before applying it, so the
	// emulator never sees it.
	FaultThrottle = "throttle"
	// FaultInternal answers HTTP 500 InternalServerError. DynamoDB says
	// such a request "may or may not have succeeded": half of them (by the
	// seed) reach the emulator first and their answer is replaced.
	FaultInternal = "internal"
	// FaultTimeout holds the call for Faults.Delay and then closes the
	// connection without an answer, as a call ends whose answer never came
	// within the client's timeout; half of them reach the emulator first.
	FaultTimeout = "timeout"
)

// FaultKinds are the fault kinds, in the order a seeded draw picks them.
var FaultKinds = []string{FaultThrottle, FaultInternal, FaultTimeout}

// Faults configures the fault-injecting proxy between the functions and
// the DynamoDB emulator. A zero Rate injects nothing and the functions
// talk to the emulator directly.
type Faults struct {
	// Rate is the share of calls that fail, 0 to 1 (0.2: one call in five).
	Rate float64
	// Kinds are the faults drawn from (FaultKinds' names); empty: all.
	Kinds []string
	// Seed makes the sequence of draws repeatable: the n-th call through
	// the proxy meets the same fault in every run with the same seed.
	Seed uint64
	// Delay is how long a FaultTimeout call is held; default 2 s.
	Delay time.Duration
	// Functions are the functions whose calls pass through the proxy;
	// empty: every function. Calls through the edge (tests, the AWS CLI)
	// never do.
	Functions []string
}

// ParseFaultKinds reads a comma-separated list of fault kinds.
func ParseFaultKinds(s string) ([]string, error) {
	var kinds []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(FaultKinds, k) {
			return nil, fmt.Errorf("unknown fault kind %q (want %s)", k, strings.Join(FaultKinds, ", "))
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}

func (f Faults) validate() error {
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("dynamodb faults: rate %v, want 0 to 1", f.Rate)
	}
	for _, k := range f.Kinds {
		if !slices.Contains(FaultKinds, k) {
			return fmt.Errorf("dynamodb faults: unknown kind %q", k)
		}
	}
	return nil
}

// applies reports whether a function's calls pass through the proxy.
func (f Faults) applies(function string) bool {
	return f.Rate > 0 && (len(f.Functions) == 0 || slices.Contains(f.Functions, function))
}

// FaultCounts are what the proxy did, by fault kind, plus the calls it
// passed through untouched.
type FaultCounts struct {
	Calls                        int64
	Throttled, Internal, Timeout int64
}

// faultProxy forwards DynamoDB calls to the emulator and fails a seeded
// share of them exactly as DynamoDB fails them: status, JSON body with a
// __type, and the headers the SDK reads (x-amzn-RequestId, x-amz-crc32,
// which the Go SDK checks against the body), so that the functions' SDK
// retries and error classification see what they would see on AWS.
type faultProxy struct {
	cfg                                 Faults
	kinds                               []string
	next                                http.Handler
	mu                                  sync.Mutex
	rng                                 *rand.Rand
	calls, throttled, internal, timeout atomic.Int64
}

func newFaultProxy(cfg Faults, target string) (*faultProxy, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	if cfg.Delay <= 0 {
		cfg.Delay = 2 * time.Second
	}
	kinds := cfg.Kinds
	if len(kinds) == 0 {
		kinds = FaultKinds
	}
	return &faultProxy{
		cfg: cfg, kinds: kinds,
		next: &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		}},
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}, nil
}

// draw picks the fate of one call: "" (none) or a kind, and whether the
// call reaches the emulator before failing.
func (p *faultProxy) draw() (kind string, applied bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rng.Float64() >= p.cfg.Rate {
		return "", true
	}
	kind = p.kinds[p.rng.IntN(len(p.kinds))]
	applied = p.rng.IntN(2) == 0
	return kind, kind != FaultThrottle && applied
}

func (p *faultProxy) counts() FaultCounts {
	return FaultCounts{Calls: p.calls.Load(), Throttled: p.throttled.Load(), Internal: p.internal.Load(), Timeout: p.timeout.Load()}
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	kind, applied := p.draw()
	if kind == "" {
		p.next.ServeHTTP(w, r)
		return
	}
	if applied {
		// The emulator applies the call; its answer is lost.
		p.next.ServeHTTP(discardResponse{header: http.Header{}}, r)
	}
	switch kind {
	case FaultThrottle:
		p.throttled.Add(1)
		dynamoError(w, http.StatusBadRequest, "ProvisionedThroughputExceededException",
			"Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html")
	case FaultInternal:
		p.internal.Add(1)
		dynamoError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
	case FaultTimeout:
		p.timeout.Add(1)
		select {
		case <-r.Context().Done():
		case <-time.After(p.cfg.Delay):
		}
		// No answer: the connection ends as a client timeout ends it.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
}

// dynamoError answers as DynamoDB does: JSON 1.0 with the service's
// __type, a request id and the CRC32 of the body.
func dynamoError(w http.ResponseWriter, status int, typ, msg string) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q}`, typ, msg)
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Requestid", strings.ToUpper(randomID() + randomID())[:52])
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b.Bytes())), 10))
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// discardResponse takes an answer nobody will read.
type discardResponse struct{ header http.Header }

func (d discardResponse) Header() http.Header         { return d.header }
func (d discardResponse) Write(b []byte) (int, error) { return io.Discard.Write(b) }
func (d discardResponse) WriteHeader(int)             {}
