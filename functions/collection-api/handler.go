package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// streamPutter is what the handler needs of Kinesis; *kinesis.Client
// implements it.
type streamPutter interface {
	PutRecord(ctx context.Context, in *kinesis.PutRecordInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error)
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// specs gives a dataset's ingest spec and the tenant's custom namespaces;
// catalog.SpecLoader implements it, with a cache.
type specs interface {
	ingest.SpecSource
	ingest.Namespaces
}

// checker validates a row without writing it; ingest.Pipeline implements it.
type checker interface {
	Check(ctx context.Context, spec *catalog.IngestSpec, row ingest.Row) (ingest.Outcome, error)
}

type handler struct {
	router  *apigw.Router
	stream  streamPutter
	name    string // the ingest stream's name
	specs   specs
	check   checker
	conns   connectionStore
	inlet   string // the stack's own inlet id (topology.DefaultInletID)
	sandbox string
	now     func() time.Time
	// sleep waits between PutRecords attempts (time.Sleep in production).
	sleep func(context.Context, time.Duration) error

	mu    sync.Mutex
	known map[string]bool // inlet ids found in the store
}

func newHandler(ctx context.Context, getenv awsenv.Getenv) (*handler, error) {
	env, err := awsenv.Require(getenv, topology.EnvCatalogTable, topology.EnvIngestStream)
	if err != nil {
		return nil, err
	}
	clients, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	skew, err := ingest.ParseClockSkew(getenv(topology.EnvMaxClockSkew))
	if err != nil {
		return nil, err
	}
	cat := store.NewCatalog(clients.DynamoDB, env[topology.EnvCatalogTable])
	loader := catalog.NewSpecLoader(cat)
	tenant := getenv(topology.EnvTenantID)
	if err := xdm.CheckTenant(tenant); err != nil {
		return nil, err
	}
	return newService(service{
		stream: clients.Kinesis, streamName: env[topology.EnvIngestStream],
		specs: loader, check: &ingest.Pipeline{Namespaces: loader, MaxClockSkew: skew},
		conns:   &ddbConnections{db: clients.DynamoDB, table: env[topology.EnvCatalogTable]},
		tenant:  tenant,
		sandbox: getenv(topology.EnvSandboxName),
		now:     time.Now,
	})
}

// service is what newService builds a handler from.
type service struct {
	stream     streamPutter
	streamName string
	specs      specs
	check      checker
	conns      connectionStore
	tenant     string
	sandbox    string
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
}

// newService builds the handler and its router from the routes topology
// declares for collection-api; it fails when the two disagree.
func newService(s service) (*handler, error) {
	h := &handler{
		stream: s.stream, name: s.streamName, specs: s.specs, check: s.check, conns: s.conns,
		inlet: topology.DefaultInletID(s.tenant, s.sandbox), sandbox: s.sandbox,
		now: s.now, sleep: s.sleep, known: map[string]bool{},
	}
	if h.sleep == nil {
		h.sleep = sleepCtx
	}
	var err error
	if h.router, err = apigw.RouterOf("collection-api", s.sandbox, h.routes()); err != nil {
		return nil, err
	}
	// A batch of messages may pass 1 MB: each message is bounded on its
	// own (MaxMessageBytes), the request by Lambda's 6 MB payload.
	h.router.TakeRawBodies("POST "+batchPath, "POST "+singlePath)
	return h, nil
}

const (
	singlePath = "/collection/{inletId}"
	batchPath  = "/collection/batch/{inletId}"
	connsPath  = "/data/foundation/flowservice/connections"
)

func (h *handler) routes() map[string]apigw.HandlerFunc {
	return map[string]apigw.HandlerFunc{
		"POST " + singlePath:         h.postMessage,
		"POST " + batchPath:          h.postBatch,
		"GET " + connsPath:           h.listConnections,
		"POST " + connsPath:          h.createConnection,
		"GET " + connsPath + "/{id}": h.getConnection,
	}
}

// Handle is the Lambda entry point.
func (h *handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.router.Serve(ctx, ev)
}

// inletExists reports whether id is the stack's inlet or a streaming
// connection created through Flow Service. Found ids are remembered for
// the life of the container (connections are never deleted).
func (h *handler) inletExists(ctx context.Context, id string) (bool, error) {
	if id == h.inlet {
		return true, nil
	}
	h.mu.Lock()
	ok := h.known[id]
	h.mu.Unlock()
	if ok {
		return true, nil
	}
	if !validConnectionID(id) {
		return false, nil
	}
	_, err := h.conns.Get(ctx, id)
	if fault.KindOf(err) == fault.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	h.mu.Lock()
	h.known[id] = true
	h.mu.Unlock()
	return true, nil
}

// sleepCtx waits d, or less when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Problem types of AEP's Data Collection Core Service answers.
const (
	problemInlet = "http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet"
)

// problem is the error answer of the collection routes: AEP's problem
// shape (type, status, title, report) with Mosaic's error fields (code,
// message, requestId) beside it, so that a client of either reads it.
type problem struct {
	Type      string  `json:"type"`
	Status    int     `json:"status"`
	Title     string  `json:"title"`
	Code      string  `json:"code"`
	Message   string  `json:"message"`
	RequestID string  `json:"requestId,omitempty"`
	Report    *report `json:"report,omitempty"`
}

// report is AEP's report of a refused message: report.message, and with
// syncValidation the violations under cause._streamingValidation.
type report struct {
	Message string `json:"message"`
	Cause   *cause `json:"cause,omitempty"`
}

type cause struct {
	StreamingValidation []validationError `json:"_streamingValidation"`
}

// validationError is one entry of AEP's _streamingValidation, or one of
// its causingExceptions.
type validationError struct {
	SchemaLocation     string            `json:"schemaLocation"`
	PointerToViolation string            `json:"pointerToViolation"`
	Keyword            string            `json:"keyword,omitempty"`
	Message            string            `json:"message"`
	CausingExceptions  []validationError `json:"causingExceptions"`
}

// answerError turns a refusal of a message into its answer: its kind's
// status with AEP's problem shape.
func (h *handler) answerError(r *apigw.Request, inletID string, err error) (int, any, error) {
	kind := fault.KindOf(err)
	if kind == fault.Internal {
		return 0, nil, err // apigw logs it and answers 500 "internal error"
	}
	status := statusOf(kind)
	code, msg := fault.Public(err)
	return status, problem{
		Type: problemInlet, Status: status, Title: titleOf(status, code), Code: code, Message: msg,
		RequestID: r.RequestID, Report: &report{Message: aepMessage(inletID, msg)},
	}, nil
}

// aepMessage is AEP's per-message text: "inletId: [<id>] imsOrgId: [<org>] <what>".
func aepMessage(inletID, msg string) string {
	return "inletId: [" + inletID + "] imsOrgId: [" + xdm.ImsOrg + "] " + msg
}

func statusOf(k fault.Kind) int {
	switch k {
	case fault.Invalid:
		return http.StatusBadRequest
	case fault.NotFound:
		return http.StatusNotFound
	case fault.TooLarge:
		return http.StatusRequestEntityTooLarge
	case fault.Throttled:
		return http.StatusTooManyRequests
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.Conflict:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// titleOf is AEP's title of a refusal: "Invalid XDM Message Format" for a
// message that does not fit its schema, else the status text.
func titleOf(status int, code string) string {
	if status == http.StatusBadRequest && code != codeSyncBatch {
		return "Invalid XDM Message Format"
	}
	return http.StatusText(status)
}
