package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// versionedObjects serves each version of a key with its own content, as a
// versioned bucket does.
type versionedObjects struct {
	fakeObjects
	versions map[string]string
}

func (v *versionedObjects) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if in.VersionId != nil {
		if d, ok := v.versions[*in.VersionId]; ok {
			return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(d))}, nil
		}
	}
	return v.fakeObjects.GetObject(ctx, in, opts...)
}

// On a versioned bucket the batch of an upload reads that upload's
// version, not whatever is latest when its event is handled.
func TestHandleReadsTheUploadsVersion(t *testing.T) {
	fx := newFixture()
	key := "ingest/ds1/f.json"
	objs := &versionedObjects{
		fakeObjects: fakeObjects{data: map[string]string{key: lines(rowJSON("jane@example.com", "Latest"))}},
		versions:    map[string]string{"v-first": lines(rowJSON("jane@example.com", "First"))},
	}
	fx.h.objects = objs
	if err := fx.h.Handle(context.Background(), upload(key, "e1", "0A", "v-first", time.UnixMilli(1000))); err != nil {
		t.Fatal(err)
	}
	if raw := string(fx.prof.Frags["Email#jane@example.com|ds1"].Raw); !strings.Contains(raw, `"First"`) {
		t.Errorf("batch of version v-first ingested %s", raw)
	}
}
