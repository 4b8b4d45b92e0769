package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// memS3 is an in-memory bucket with S3's semantics for the calls the
// batch routes make: keys listed in byte order with StartAfter and
// MaxKeys, 404s as the SDK's typed errors, multipart uploads completed
// from their parts.
type memS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	uploads map[string]map[int32][]byte // upload id → part number → bytes
	seq     int
	fail    error // when set, every call fails with it
}

func newMemS3() *memS3 {
	return &memS3{objects: map[string][]byte{}, uploads: map[string]map[int32][]byte{}}
}

func (m *memS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if m.fail != nil {
		return nil, m.fail
	}
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[aws.ToString(in.Key)] = b
	return &s3.PutObjectOutput{}, nil
}

func (m *memS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, &s3types.NotFound{}
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(b)))}, nil
}

func (m *memS3) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, &s3types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b)), ContentLength: aws.Int64(int64(len(b)))}, nil
}

func (m *memS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.objects {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) && k > aws.ToString(in.StartAfter) && k > aws.ToString(in.ContinuationToken) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	max := int(aws.ToInt32(in.MaxKeys))
	if max == 0 {
		max = 1000
	}
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(false)}
	if len(keys) > max {
		keys = keys[:max]
		out.IsTruncated, out.NextContinuationToken = aws.Bool(true), aws.String(keys[max-1])
	}
	for _, k := range keys {
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k), Size: aws.Int64(int64(len(m.objects[k])))})
	}
	return out, nil
}

func (m *memS3) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, _ ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range in.Delete.Objects {
		delete(m.objects, aws.ToString(o.Key))
	}
	return &s3.DeleteObjectsOutput{}, nil
}

func (m *memS3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	id := fmt.Sprintf("upload-%d", m.seq)
	m.uploads[id] = map[int32][]byte{}
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String(id)}, nil
}

// uploadPart is what a client does with a pre-signed UploadPart URL.
func (m *memS3) uploadPart(id string, n int32, b []byte) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploads[id][n] = b
	return fmt.Sprintf(`"etag-%d"`, n)
}

func (m *memS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts, ok := m.uploads[aws.ToString(in.UploadId)]
	if !ok {
		return nil, &s3types.NoSuchUpload{}
	}
	var all []byte
	for _, p := range in.MultipartUpload.Parts {
		b, ok := parts[aws.ToInt32(p.PartNumber)]
		if !ok || aws.ToString(p.ETag) != fmt.Sprintf(`"etag-%d"`, aws.ToInt32(p.PartNumber)) {
			return nil, &apiError{"InvalidPart"}
		}
		all = append(all, b...)
	}
	delete(m.uploads, aws.ToString(in.UploadId))
	m.objects[aws.ToString(in.Key)] = all
	return &s3.CompleteMultipartUploadOutput{}, nil
}

func (m *memS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.uploads[aws.ToString(in.UploadId)]; !ok {
		return nil, &s3types.NoSuchUpload{}
	}
	delete(m.uploads, aws.ToString(in.UploadId))
	return &s3.AbortMultipartUploadOutput{}, nil
}

type apiError struct{ code string }

func (e *apiError) Error() string     { return e.code }
func (e *apiError) ErrorCode() string { return e.code }

// fakePresigner signs nothing: its URLs name the operation and key.
type fakePresigner struct{}

func (fakePresigner) PresignPutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.PresignOptions)) (*presignedRequest, error) {
	return &presignedRequest{URL: "https://s3.test/" + aws.ToString(in.Key) + "?op=put", Method: http.MethodPut}, nil
}

func (fakePresigner) PresignUploadPart(ctx context.Context, in *s3.UploadPartInput, _ ...func(*s3.PresignOptions)) (*presignedRequest, error) {
	return &presignedRequest{URL: fmt.Sprintf("https://s3.test/%s?uploadId=%s&partNumber=%d", aws.ToString(in.Key), aws.ToString(in.UploadId), aws.ToInt32(in.PartNumber)), Method: http.MethodPut}, nil
}

func (fakePresigner) PresignGetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.PresignOptions)) (*presignedRequest, error) {
	return &presignedRequest{URL: "https://s3.test/" + aws.ToString(in.Key) + "?op=get", Method: http.MethodGet}, nil
}
