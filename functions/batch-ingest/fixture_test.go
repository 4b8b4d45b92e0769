package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/records"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/storetest"
)

// fakeObjects is a bucket: the latest content of each key, older versions
// by version id, ranged reads (RFC 9110 byte ranges, as S3 serves them) and
// the objects written (tasks, diagnostics) in order.
type fakeObjects struct {
	mu       sync.Mutex
	data     map[string]string
	versions map[string]string // version id → content
	reads    int
	puts     []string                    // keys written, in order
	uploads  map[string]map[int32]string // multipart upload id → parts
	// failPuts makes the next PutObject of each key fail as S3's 503
	// SlowDown would, that many times.
	failPuts map[string]int
}

func (f *fakeObjects) content(in *s3.GetObjectInput) (string, bool) {
	if in.VersionId != nil {
		if d, ok := f.versions[*in.VersionId]; ok {
			return d, true
		}
	}
	d, ok := f.data[*in.Key]
	return d, ok
}

func (f *fakeObjects) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	d, ok := f.content(in)
	if !ok {
		return nil, &s3types.NoSuchKey{}
	}
	if in.Range != nil {
		spec := strings.TrimPrefix(*in.Range, "bytes=")
		a, b, _ := strings.Cut(spec, "-")
		from, err := strconv.Atoi(a)
		if err != nil || from > len(d) {
			return nil, errors.New("fake: bad range " + *in.Range)
		}
		to := len(d)
		if b != "" {
			if to, err = strconv.Atoi(b); err != nil {
				return nil, errors.New("fake: bad range " + *in.Range)
			}
			to = min(to+1, len(d))
		}
		d = d[from:to]
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(d))}, nil
}

func (f *fakeObjects) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.content(&s3.GetObjectInput{Key: in.Key, VersionId: in.VersionId})
	if !ok {
		return nil, &s3types.NotFound{}
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(d)))}, nil
}

func (f *fakeObjects) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if _, ok := in.Body.(io.Seeker); !ok {
		return nil, errors.New("fake: PutObject body must be seekable")
	}
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPuts[*in.Key] > 0 {
		f.failPuts[*in.Key]--
		return nil, errors.New("fake: SlowDown")
	}
	f.data[*in.Key] = string(b)
	f.puts = append(f.puts, *in.Key)
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeObjects) CreateMultipartUpload(_ context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.uploads == nil {
		f.uploads = map[string]map[int32]string{}
	}
	id := fmt.Sprintf("upload-%d", len(f.uploads)+1)
	f.uploads[id] = map[int32]string{}
	return &s3.CreateMultipartUploadOutput{UploadId: &id, Bucket: in.Bucket, Key: in.Key}, nil
}

func (f *fakeObjects) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parts, ok := f.uploads[*in.UploadId]
	if !ok {
		return nil, &s3types.NoSuchUpload{}
	}
	parts[*in.PartNumber] = string(b)
	return &s3.UploadPartOutput{ETag: aws.String(fmt.Sprintf(`"%d"`, *in.PartNumber))}, nil
}

func (f *fakeObjects) CompleteMultipartUpload(_ context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts, ok := f.uploads[*in.UploadId]
	if !ok {
		return nil, &s3types.NoSuchUpload{}
	}
	var b strings.Builder
	for _, p := range in.MultipartUpload.Parts {
		d, ok := parts[*p.PartNumber]
		if !ok {
			return nil, errors.New("fake: completes a part never uploaded")
		}
		b.WriteString(d)
	}
	delete(f.uploads, *in.UploadId)
	f.data[*in.Key] = b.String()
	f.puts = append(f.puts, *in.Key)
	return &s3.CompleteMultipartUploadOutput{}, nil
}

func (f *fakeObjects) AbortMultipartUpload(_ context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.uploads, *in.UploadId)
	return &s3.AbortMultipartUploadOutput{}, nil
}

func (f *fakeObjects) DeleteObject(_ context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.data, *in.Key)
	return &s3.DeleteObjectOutput{}, nil
}

// tasks takes the task keys written since the last call.
// ListObjectsV2 is not used by batch-ingest; the upload manager's
// client interface names it.
func (f *fakeObjects) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return nil, errors.New("ListObjectsV2 is not used")
}

func (f *fakeObjects) tasks() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	rest := f.puts[:0]
	for _, k := range f.puts {
		if _, ok := taskOf(k); ok {
			out = append(out, k)
		} else {
			rest = append(rest, k)
		}
	}
	f.puts = rest
	return out
}

type fixture struct {
	h       *handler
	objects *fakeObjects
	batches *storetest.Batches
	files   *storetest.BatchFiles
	parts   *storetest.BatchParts
	refused *fakeRefusals
	specs   storetest.Specs
	prof    *storetest.Profiles
	failed  *storetest.Failed
	clock   *fakeClock
}

// fakeClock is the runner's clock: the real time, or a day later once
// SetLate(true), which puts a run past any deadline of its context.
type fakeClock struct {
	late atomic.Bool
}

func (c *fakeClock) Now() time.Time {
	if c.late.Load() {
		return time.Now().Add(24 * time.Hour)
	}
	return time.Now()
}

func (c *fakeClock) SetLate(late bool) { c.late.Store(late) }

const testDataset = "ds1"

func newFixture() *fixture {
	fx := &fixture{
		objects: &fakeObjects{data: map[string]string{}, versions: map[string]string{}},
		batches: storetest.NewBatches(),
		files:   storetest.NewBatchFiles(),
		parts:   storetest.NewBatchParts(),
		refused: &fakeRefusals{m: map[string]store.WriteRefusal{}},
		prof:    storetest.NewProfiles(),
		failed:  storetest.NewFailed(),
		clock:   &fakeClock{},
		specs: storetest.Specs{
			testDataset: {DatasetID: testDataset, Class: catalog.ProfileClass, ProfileEnabled: true, IdentityEnabled: true,
				Identities: []catalog.IdentityField{{Path: "/personalEmail/address", Namespace: "Email", Primary: true}}},
			"lake-only": {DatasetID: "lake-only", Class: catalog.ProfileClass},
		},
	}
	now := func() time.Time { return time.UnixMilli(2_000_000) }
	p := &ingest.Pipeline{Fragments: fx.prof, Links: fx.prof, Events: fx.prof}
	fx.h = &handler{
		objects: fx.objects, bucket: "landing",
		batches: fx.batches, files: fx.files, parts: fx.parts, refusals: fx.refused, specs: fx.specs, check: p,
		run: batchRunner(&ingest.Runner{
			Pipeline: p, Failed: fx.failed, Workers: rowWorkers, Margin: reportMargin, Now: fx.clock.Now,
		}),
		open:     records.Open,
		partRows: DefaultPartRows,
		now:      now,
	}
	return fx
}

// handle delivers ev as S3 does, with each object's size.
func (fx *fixture) handle(ctx context.Context, ev events.S3Event) error {
	for i := range ev.Records {
		o := &ev.Records[i].S3.Object
		if o.Size == 0 {
			key, _ := url.QueryUnescape(o.Key)
			d, _ := fx.objects.content(&s3.GetObjectInput{Key: &key, VersionId: &o.VersionID})
			o.Size = int64(len(d))
		}
	}
	return fx.h.Handle(ctx, ev)
}

// taskEvent is the S3 event of a task object.
func taskEvent(key string) events.S3Event {
	return s3Event(key, "t", time.UnixMilli(1))
}

// drain runs every task issued, and those they issue, until none is left;
// it returns the task keys run, sorted.
func (fx *fixture) drain(ctx context.Context) ([]string, error) {
	var ran []string
	for {
		keys := fx.objects.tasks()
		if len(keys) == 0 {
			sort.Strings(ran)
			return ran, nil
		}
		for _, k := range keys {
			ran = append(ran, k)
			if err := fx.h.Handle(ctx, taskEvent(k)); err != nil {
				return ran, fmt.Errorf("task %s: %w", k, err)
			}
		}
	}
}

// diagnosticsOf decodes the row diagnostics of batch id, in key order then
// line order.
func diagnosticsOf(t *testing.T, fx *fixture, id string) []diagnostic {
	t.Helper()
	fx.objects.mu.Lock()
	defer fx.objects.mu.Unlock()
	prefix := "diagnostics/" + id + "/row_errors/"
	var keys []string
	for k := range fx.objects.data {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []diagnostic
	for _, k := range keys {
		dec := json.NewDecoder(strings.NewReader(fx.objects.data[k]))
		for dec.More() {
			var d diagnostic
			if err := dec.Decode(&d); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			out = append(out, d)
		}
	}
	return out
}

// fakeRefusals keeps write refusals as store.Catalog does: one per batch
// and row, listed in file, part and row order. Puts counts the records
// written; FailPuts makes that many next puts fail as throttled.
type fakeRefusals struct {
	mu       sync.Mutex
	m        map[string]store.WriteRefusal // batch + key → refusal
	Puts     int
	FailPuts int
}

func refusalKey(batchID string, file, part, row int) string {
	return fmt.Sprintf("%s/%05d#%06d#%010d", batchID, file, part, row)
}

func (f *fakeRefusals) PutBatchWriteRefusal(_ context.Context, batchID string, r store.WriteRefusal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.FailPuts > 0 {
		f.FailPuts--
		return fault.E(fault.Throttled, "STORE-THROTTLED", "throttled")
	}
	f.Puts++
	f.m[refusalKey(batchID, r.File, r.Part, r.Row)] = r
	return nil
}

func (f *fakeRefusals) DeleteBatchWriteRefusal(_ context.Context, batchID string, file, part, row int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, refusalKey(batchID, file, part, row))
	return nil
}

// list is the refusals of a part (all the batch's when file < 0).
func (f *fakeRefusals) list(batchID string, file, part int) []store.WriteRefusal {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k, r := range f.m {
		if strings.HasPrefix(k, batchID+"/") && (file < 0 || (r.File == file && r.Part == part)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]store.WriteRefusal, 0, len(keys))
	for _, k := range keys {
		out = append(out, f.m[k])
	}
	return out
}

func (f *fakeRefusals) EachBatchWriteRefusal(_ context.Context, batchID string, file, part int, each func(store.WriteRefusal) error) error {
	for _, r := range f.list(batchID, file, part) {
		if err := each(r); err != nil {
			return err
		}
	}
	return nil
}
