package jobs

import (
	"context"
	"errors"
	"io"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

func TestTaskKey(t *testing.T) {
	for _, step := range []int{0, 1, 41, 999999, 1000000} {
		key := TaskKey("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", step)
		id, got, ok := ParseTaskKey(key)
		if !ok || id != "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b" || got != step {
			t.Errorf("ParseTaskKey(%q) = %q, %d, %v; want the id and step %d", key, id, got, ok, step)
		}
	}
	if got := TaskKey("j1", 7); got != "jobs/j1/000007.json" {
		t.Errorf("TaskKey = %q, want jobs/j1/000007.json", got)
	}
	for _, key := range []string{
		"ingest/j1/000001.json", "jobs/j1/1.json", "jobs//000001.json", "jobs/j1/000001.txt",
		"jobs/j1/00000a.json", "jobs/j1/x/000001.json", "jobs/j1", "jobs/j1/-00001.json",
	} {
		if _, _, ok := ParseTaskKey(key); ok {
			t.Errorf("ParseTaskKey(%q) accepted a key that is no task", key)
		}
	}
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Ids are UUIDs v7 and sort by their creation time, which is what lets
// the catalog list jobs by createEpoch from their keys alone.
func TestNewIDSortsByTime(t *testing.T) {
	base := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 50 {
		id := NewID(base.Add(time.Duration(i) * time.Millisecond))
		if !uuidV7.MatchString(id) {
			t.Fatalf("NewID = %q, not a UUID version 7", id)
		}
		ids = append(ids, id)
	}
	if !sort.StringsAreSorted(ids) {
		t.Errorf("ids of increasing times do not sort: %v", ids)
	}
	if a, b := NewID(base), NewID(base); a == b {
		t.Error("two ids of the same millisecond are equal")
	}
}

func TestSetMetrics(t *testing.T) {
	start := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	j := Job{Started: start.UnixMilli(), Records: 5}
	j.SetMetrics(start.Add(2500 * time.Millisecond))
	if want := `{"recordsProcessed":5,"timeTakenInSec":2}`; j.Metrics != want {
		t.Errorf("metrics %s, want %s", j.Metrics, want)
	}
	if j.UpdateEpoch != start.Unix()+2 {
		t.Errorf("updateEpoch %d, want %d", j.UpdateEpoch, start.Unix()+2)
	}
}

func TestKindAndView(t *testing.T) {
	for _, tc := range []struct {
		j    Job
		kind string
	}{
		{NewDatasetDelete("ds1"), KindDataset},
		{NewBatchDelete("ds1", "b1"), KindBatch},
		{NewEntityDelete(Entity{EntityID: "a@b.c", EntityIDNS: "Email", IdentityGraph: "pdg"}, "Email#a@b.c"), KindEntity},
	} {
		if got := tc.j.Kind(); got != tc.kind {
			t.Errorf("Kind of %+v = %s, want %s", tc.j, got, tc.kind)
		}
	}
	// The view never carries the cursor, the members or the identity key.
	j := Job{ID: "j", Cursor: "Email#secret", Members: []string{"Email#secret"}, Identity: "Email#secret", Step: 3, Error: "why"}
	v := j.View()
	if diff := cmp.Diff(View{ID: "j", Step: 3, Error: "why"}, v); diff != "" {
		t.Errorf("view (-want +got):\n%s", diff)
	}
}

// memJobs and memObjects are in-memory Store and TaskObjects.
type memJobs struct {
	mu   sync.Mutex
	jobs map[string]Job
}

func (m *memJobs) CreateJob(_ context.Context, j Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.jobs[j.ID]; ok {
		return fault.E(fault.Conflict, "JOB-EXISTS", "exists")
	}
	m.jobs[j.ID] = j
	return nil
}

func (m *memJobs) DeleteJob(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.jobs[id]; !ok {
		return fault.E(fault.NotFound, "JOB-NOT-FOUND", "none")
	}
	delete(m.jobs, id)
	return nil
}

type memObjects struct {
	objects map[string][]byte
	puts    int
	fail    error
}

func (m *memObjects) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if m.fail != nil {
		return nil, m.fail
	}
	b, _ := io.ReadAll(in.Body)
	m.objects[aws.ToString(in.Key)] = b
	m.puts++
	return &s3.PutObjectOutput{}, nil
}

func (m *memObjects) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if m.fail != nil {
		return nil, m.fail
	}
	if _, ok := m.objects[aws.ToString(in.Key)]; !ok {
		return nil, &s3types.NotFound{}
	}
	return &s3.HeadObjectOutput{}, nil
}

func TestStart(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	t.Run("records a NEW job and writes its first task", func(t *testing.T) {
		s, o := &memJobs{jobs: map[string]Job{}}, &memObjects{objects: map[string][]byte{}}
		j, err := Start(ctx, s, o, "landing", NewDatasetDelete("ds1"), now)
		if err != nil {
			t.Fatal(err)
		}
		want := Job{ID: j.ID, ImsOrgID: "MOSAIC@AdobeOrg", DataSetID: "ds1", JobType: "DELETE", Status: "NEW",
			CreateEpoch: now.Unix(), UpdateEpoch: now.Unix(), Created: now.UnixMilli()}
		if diff := cmp.Diff(want, s.jobs[j.ID]); diff != "" {
			t.Errorf("stored job (-want +got):\n%s", diff)
		}
		if body, ok := o.objects[TaskKey(j.ID, 0)]; !ok || string(body) != `{"jobId":"`+j.ID+`","step":0}` {
			t.Errorf("task objects %v, want %s", o.objects, TaskKey(j.ID, 0))
		}
	})
	t.Run("a task that cannot be written leaves no job", func(t *testing.T) {
		s, o := &memJobs{jobs: map[string]Job{}}, &memObjects{objects: map[string][]byte{}, fail: errors.New("connection refused")}
		_, err := Start(ctx, s, o, "landing", NewDatasetDelete("ds1"), now)
		if fault.KindOf(err) != fault.Unavailable {
			t.Errorf("error %v, want Unavailable", err)
		}
		if len(s.jobs) != 0 {
			t.Errorf("jobs left: %v", s.jobs)
		}
	})
}

func TestEnsureTask(t *testing.T) {
	ctx := context.Background()
	o := &memObjects{objects: map[string][]byte{}}
	if err := EnsureTask(ctx, o, "landing", "j1", 2); err != nil {
		t.Fatal(err)
	}
	if err := EnsureTask(ctx, o, "landing", "j1", 2); err != nil {
		t.Fatal(err)
	}
	if _, ok := o.objects[TaskKey("j1", 2)]; !ok || o.puts != 1 {
		t.Errorf("objects %v after %d puts, want the task written once", o.objects, o.puts)
	}
	o.fail = errors.New("timeout")
	if err := EnsureTask(ctx, o, "landing", "j1", 3); fault.KindOf(err) != fault.Unavailable {
		t.Errorf("error %v, want Unavailable", err)
	}
}
