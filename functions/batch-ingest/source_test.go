package main

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// chunkedSource is "0123456789abcdefghij" stored as three chunks, the
// middle one at a version that is not the latest.
func chunkedSource() (*s3Source, *fakeObjects) {
	objs := &fakeObjects{data: map[string]string{"c/0": "0123456", "c/1": "latest!", "c/2": "hij"}, versions: map[string]string{"v1": "789abcdefg"}}
	return &s3Source{api: objs, bucket: "landing", file: catalog.BatchFile{Name: "f.json", Size: 20, Objects: []catalog.FileObject{
		{Key: "c/0", Size: 7},
		{Key: "c/1", VersionID: "v1", Offset: 7, Size: 10},
		{Key: "c/2", Offset: 17, Size: 3},
	}}}, objs
}

func TestSourceOpenAtEveryOffset(t *testing.T) {
	const whole = "0123456789abcdefghij"
	for off := 0; off <= len(whole); off++ {
		src, objs := chunkedSource()
		rc, err := src.Open(context.Background(), int64(off))
		if err != nil {
			t.Fatal(err)
		}
		if objs.reads != 0 {
			t.Errorf("Open read %d objects before any Read", objs.reads)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != whole[off:] {
			t.Errorf("Open(%d) read %q, %v; want %q", off, b, err, whole[off:])
		}
	}
}

func TestSourceReadAtAcrossObjects(t *testing.T) {
	const whole = "0123456789abcdefghij"
	src, _ := chunkedSource()
	for _, tt := range []struct{ off, n int }{{0, 2}, {5, 4}, {6, 12}, {0, 20}, {16, 4}, {18, 5}, {20, 1}} {
		p := make([]byte, tt.n)
		n, err := src.ReadAt(context.Background(), p, int64(tt.off))
		want := whole[min(tt.off, len(whole)):min(tt.off+tt.n, len(whole))]
		if string(p[:n]) != want {
			t.Errorf("ReadAt(%d, %d) = %q, want %q", tt.off, tt.n, p[:n], want)
		}
		if short := len(want) < tt.n; short != errors.Is(err, io.EOF) || (!short && err != nil) {
			t.Errorf("ReadAt(%d, %d) error %v", tt.off, tt.n, err)
		}
	}
}

func TestSourceMissingObjectIsAFileError(t *testing.T) {
	src, objs := chunkedSource()
	delete(objs.data, "c/2")
	rc, _ := src.Open(context.Background(), 0)
	_, err := io.ReadAll(rc)
	if !isFileError(err) || fault.KindOf(err) != fault.Invalid {
		t.Errorf("read of a deleted chunk: %v, want %s", err, CodeFileNotFound)
	}
}
