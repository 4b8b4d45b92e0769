package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// clock is the tests' time: it moves only when a fake store call or a
// sleep moves it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// memJobs keeps jobs with store.Catalog's rules for SaveJob.
type memJobs struct {
	mu    sync.Mutex
	jobs  map[string]jobs.Job
	saves int
}

func (m *memJobs) GetJob(_ context.Context, id string) (jobs.Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return jobs.Job{}, fault.E(fault.NotFound, store.CodeJobNotFound, "no job")
	}
	return j, nil
}

func (m *memJobs) SaveJob(_ context.Context, j jobs.Job, from int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.jobs[j.ID]
	switch {
	case !ok:
		return fault.E(fault.NotFound, store.CodeJobNotFound, "no job")
	case jobs.Final(stored.Status):
		return fault.E(fault.Conflict, store.CodeJobFinal, "final")
	case stored.Step != from:
		return fault.E(fault.Conflict, store.CodeJobStepChanged, "moved on")
	}
	j.Members = append([]string(nil), j.Members...)
	m.jobs[j.ID] = j
	m.saves++
	return nil
}

func (m *memJobs) put(j jobs.Job) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs[j.ID] = j
}

func (m *memJobs) get(t *testing.T, id string) jobs.Job {
	t.Helper()
	j, err := m.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (m *memJobs) remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.jobs, id)
}

// row is one item of the fake profile table.
type row struct{ dataset, batch string }

// memProfiles is a profile table of rows scanned page by page, and of
// identities holding some items each. Every delete call takes callTime of
// the clock and looks at perCall rows (or removes perCall items of an
// identity); errs, when not empty, gives the next calls' errors (nil: the
// call works).
type memProfiles struct {
	mu       sync.Mutex
	clock    *clock
	perCall  int
	callTime time.Duration

	rows []row // nil once removed
	// identities: identity key → items left.
	identities map[string]int
	cluster    merge.Candidates

	errs []error
	// during, when set, runs inside the next delete call (once).
	during func()

	datasetCalls  []string // cursors
	identityCalls []identityCall
	clusterCalls  []clusterCall
}

type identityCall struct {
	Key, Src, Cursor string
	At               int64
}

type clusterCall struct {
	Key    string
	Stitch bool
	Limit  int
}

func (m *memProfiles) call() error {
	m.clock.Advance(m.callTime)
	if f := m.during; f != nil {
		m.during = nil
		m.mu.Unlock()
		f()
		m.mu.Lock()
	}
	if len(m.errs) > 0 {
		err := m.errs[0]
		m.errs = m.errs[1:]
		return err
	}
	return nil
}

func (m *memProfiles) Cluster(_ context.Context, start identity.ID, stitch bool, limit int) (merge.Candidates, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.clusterCalls = append(m.clusterCalls, clusterCall{start.Key(), stitch, limit})
	if !stitch {
		return merge.Candidates{Members: []identity.ID{start}, Found: m.cluster.Found}, nil
	}
	return m.cluster, nil
}

func (m *memProfiles) DeleteDatasetStep(_ context.Context, dataset, batch, cursor string, _ time.Time) (string, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.datasetCalls = append(m.datasetCalls, cursor)
	if err := m.call(); err != nil {
		return "", 0, err
	}
	from := 0
	if cursor != "" {
		from, _ = strconv.Atoi(cursor)
	}
	end := min(from+m.perCall, len(m.rows))
	removed := 0
	for i := from; i < end; i++ {
		if r := m.rows[i]; r.dataset == dataset && (batch == "" || r.batch == batch) {
			m.rows[i] = row{}
			removed++
		}
	}
	if end == len(m.rows) {
		return "", removed, nil
	}
	return strconv.Itoa(end), removed, nil
}

func (m *memProfiles) DeleteIdentityStep(_ context.Context, id identity.ID, at int64, src, cursor string, _ time.Time) (string, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.identityCalls = append(m.identityCalls, identityCall{id.Key(), src, cursor, at})
	if err := m.call(); err != nil {
		return "", 0, err
	}
	n := min(m.perCall, m.identities[id.Key()])
	m.identities[id.Key()] -= n
	if m.identities[id.Key()] == 0 {
		return "", n, nil
	}
	return "more-" + strconv.Itoa(m.identities[id.Key()]), n, nil
}

func (m *memProfiles) left(dataset, batch string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.rows {
		if r.dataset == dataset && (batch == "" || r.batch == batch) {
			n++
		}
	}
	return n
}

// memObjects is the landing bucket: task objects by key, and the keys
// put and not yet delivered, in order. failPuts fails that many puts.
type memObjects struct {
	mu       sync.Mutex
	objects  map[string][]byte
	puts     []string
	pending  []string
	failPuts int
}

func (m *memObjects) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPuts > 0 {
		m.failPuts--
		return nil, fmt.Errorf("connection reset")
	}
	b, _ := io.ReadAll(in.Body)
	key := aws.ToString(in.Key)
	m.objects[key] = b
	m.puts = append(m.puts, key)
	m.pending = append(m.pending, key)
	return &s3.PutObjectOutput{}, nil
}

func (m *memObjects) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[aws.ToString(in.Key)]; !ok {
		return nil, &s3types.NotFound{}
	}
	return &s3.HeadObjectOutput{}, nil
}

func (m *memObjects) next() (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) == 0 {
		return "", false
	}
	k := m.pending[0]
	m.pending = m.pending[1:]
	return k, true
}

var testStart = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// fixture is a handler on fakes, with steps of 25 ms of the test clock
// and delete calls of 10 ms each.
type fixture struct {
	h        *handler
	jobs     *memJobs
	profiles *memProfiles
	objects  *memObjects
	clock    *clock
	sleeps   []time.Duration
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := &clock{t: testStart}
	f := &fixture{
		jobs:     &memJobs{jobs: map[string]jobs.Job{}},
		profiles: &memProfiles{clock: c, perCall: 3, callTime: 10 * time.Millisecond, identities: map[string]int{}},
		objects:  &memObjects{objects: map[string][]byte{}},
		clock:    c,
	}
	f.h = &handler{
		store: f.jobs, profiles: f.profiles, objects: f.objects, bucket: "landing",
		stepTime: 25 * time.Millisecond, clusterCap: 50, now: c.Now,
		sleep: func(_ context.Context, d time.Duration) error {
			f.sleeps = append(f.sleeps, d)
			c.Advance(d)
			return nil
		},
	}
	return f
}

// start records j as a NEW job created now and writes its first task, as
// the API does.
func (f *fixture) start(t *testing.T, j jobs.Job) jobs.Job {
	t.Helper()
	j, err := jobs.Start(context.Background(), startStore{f.jobs}, f.objects, "landing", j, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// startStore lets jobs.Start write into memJobs.
type startStore struct{ m *memJobs }

func (s startStore) CreateJob(_ context.Context, j jobs.Job) error { s.m.put(j); return nil }
func (s startStore) DeleteJob(_ context.Context, id string) error  { s.m.remove(id); return nil }

// s3Event is the event of a created task object.
func s3Event(key string) []byte {
	var ev events.S3Event
	var r events.S3EventRecord
	r.EventSource, r.EventName, r.AWSRegion = "aws:s3", "ObjectCreated:Put", "us-east-1"
	r.S3.Bucket.Name = "landing"
	r.S3.Object.Key = url.QueryEscape(key)
	ev.Records = append(ev.Records, r)
	b, _ := json.Marshal(ev)
	return b
}

// deliver invokes the handler with the event of key, as Lambda does.
func (f *fixture) deliver(key string) error {
	_, err := f.h.Invoke(context.Background(), s3Event(key))
	return err
}

// drive delivers the event of every task object written, in order, until
// none is left; a failed invocation is delivered again, at most twice
// more, as Lambda's asynchronous retries. It returns the invocations.
func (f *fixture) drive(t *testing.T) int {
	t.Helper()
	n := 0
	for {
		key, ok := f.objects.next()
		if !ok {
			return n
		}
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			n++
			if err = f.deliver(key); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("task %s failed three times: %v", key, err)
		}
		if n > 10000 {
			t.Fatal("the job never ends")
		}
	}
}
