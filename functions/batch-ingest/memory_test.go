package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/records"
)

// diskObjects is fakeObjects whose written objects (single or multipart)
// go to files of dir instead of memory, so that a test of the scan's
// memory does not count the objects it wrote.
type diskObjects struct {
	*fakeObjects
	dir    string
	sample func()
	mu     sync.Mutex
	files  map[string]string // key → file
	parts  map[string]string // upload id + part number → file
}

func (d *diskObjects) path(name string) string {
	return filepath.Join(d.dir, strings.NewReplacer("/", "_", ":", "_").Replace(name))
}

func (d *diskObjects) save(name string, r io.Reader) (string, error) {
	p := d.path(name)
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return "", err
	}
	return p, f.Close()
}

func (d *diskObjects) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	d.sample()
	if _, ok := in.Body.(io.Seeker); !ok {
		return nil, fmt.Errorf("fake: PutObject body must be seekable")
	}
	p, err := d.save(*in.Key, in.Body)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[*in.Key] = p
	return &s3.PutObjectOutput{}, nil
}

func (d *diskObjects) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	d.sample()
	name := fmt.Sprintf("%s-%05d", *in.UploadId, *in.PartNumber)
	p, err := d.save(name, in.Body)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.parts[name] = p
	return &s3.UploadPartOutput{ETag: in.UploadId}, nil
}

func (d *diskObjects) CompleteMultipartUpload(_ context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.path(*in.Key)
	f, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for _, p := range in.MultipartUpload.Parts {
		src, ok := d.parts[fmt.Sprintf("%s-%05d", *in.UploadId, *p.PartNumber)]
		if !ok {
			return nil, fmt.Errorf("fake: part %d never uploaded", *p.PartNumber)
		}
		pf, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(f, pf)
		pf.Close()
		if err != nil {
			return nil, err
		}
	}
	d.files[*in.Key] = out
	return &s3.CompleteMultipartUploadOutput{}, f.Close()
}

// samplingReader measures the heap after every few records read.
type samplingReader struct {
	records.Reader
	n      int
	sample func()
}

func (r *samplingReader) Next() (records.Record, error) {
	r.n++
	if r.n%10 == 0 {
		r.sample()
	}
	return r.Reader.Next()
}

// TestScanMemoryIsBounded scans a part whose rows are all refused: 200 of
// 512 KiB by the reader (over the profile record bound), and between them
// 100 of 90 KiB by the check (no identity). The live heap stays far below
// the part's 109 MiB, and the diagnostics hold every row, in order, with
// its whole record.
func TestScanMemoryIsBounded(t *testing.T) {
	const (
		rows     = 300
		rowBytes = 512 << 10
		bound    = 64 << 20
	)
	fx := newFixture()
	row := func(n int) string { // n counts from 1, as records do
		if n%3 == 0 { // no identity
			return fmt.Sprintf(`{"person":{"name":{"firstName":"%d-%s"}}}`, n, strings.Repeat("b", 90<<10))
		}
		return fmt.Sprintf(`{"personalEmail":{"address":"u%d@example.com"},"person":{"name":{"firstName":"%s"}}}`, n, strings.Repeat("a", rowBytes))
	}
	var body strings.Builder
	for n := 1; n <= rows; n++ {
		body.WriteString(row(n))
		body.WriteByte('\n')
	}
	key := "ingest/ds1/big.json"
	fx.objects.data[key] = body.String()
	body.Reset()

	var mu sync.Mutex
	var base, peak uint64
	sample := func() {
		mu.Lock()
		defer mu.Unlock()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	disk := &diskObjects{fakeObjects: fx.objects, dir: t.TempDir(), sample: sample,
		files: map[string]string{}, parts: map[string]string{}}
	fx.h.objects = disk
	open := fx.h.open
	fx.h.open = func(ctx context.Context, src records.Source, f records.Format, s records.Schema, at records.Position) (records.Reader, error) {
		rd, err := open(ctx, src, f, s, at)
		if err != nil {
			return nil, err
		}
		return &samplingReader{Reader: rd, sample: sample}, nil
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base = ms.HeapAlloc

	if err := fx.handle(hourCtx(t), s3Event(key, `"e1"`, time.UnixMilli(1000))); err != nil {
		t.Fatal(err)
	}
	sample()
	if grew := int64(peak) - int64(base); grew > bound {
		t.Errorf("live heap grew by %d MiB during the scan, want at most %d MiB", grew>>20, bound>>20)
	}
	b := onlyBatch(t, fx)
	if b.Status != catalog.BatchFailed || b.Metrics.FailedRecordCount != rows {
		t.Fatalf("status %s metrics %+v, want failed with %d refused", b.Status, b.Metrics, rows)
	}
	if len(fx.failed.Recs) != 0 {
		t.Errorf("%d failed-record items, want none", len(fx.failed.Recs))
	}
	path, ok := disk.files[DiagnosticsKey(b.ID, 0, 0)]
	if !ok {
		t.Fatalf("no diagnostics object; written: %v", disk.files)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	n := 0
	for sc.Scan() {
		n++
		var d diagnostic
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		wantCode := ingest.CodeProfileTooLarge
		if n%3 == 0 {
			wantCode = identity.CodeNoPrimary
		}
		if d.Row != n || d.Filename != key || d.Corrupt != row(n) || len(d.Errors) != 1 || d.Errors[0].Code != wantCode {
			t.Fatalf("line %d: row %d file %q code %+v, record of %d bytes (want %d), want row %d code %s",
				n, d.Row, d.Filename, d.Errors, len(d.Corrupt), len(row(n)), n, wantCode)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != rows {
		t.Errorf("%d diagnostics lines, want %d", n, rows)
	}
}
