package cloud

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// diskBackend keeps objects in gofakes3's memory backend and mirrors every
// bucket and object to a folder, reloading it at start, so a -data
// directory survives restarts without a dependency beyond gofakes3.
type diskBackend struct {
	gofakes3.Backend
	dir string
	mu  sync.Mutex
}

type diskMeta struct {
	Bucket   string            `json:"bucket"`
	Key      string            `json:"key"`
	Metadata map[string]string `json:"metadata"`
}

func newS3Backend(dir string) (gofakes3.Backend, error) {
	mem := s3mem.New()
	if dir == "" {
		return mem, nil
	}
	b := &diskBackend{Backend: mem, dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	buckets, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, bd := range buckets {
		if !bd.IsDir() {
			continue
		}
		if err := mem.CreateBucket(bd.Name()); err != nil {
			return nil, err
		}
		files, _ := filepath.Glob(filepath.Join(dir, bd.Name(), "*.meta"))
		for _, mf := range files {
			raw, err := os.ReadFile(mf)
			if err != nil {
				return nil, err
			}
			var m diskMeta
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("s3 data %s: %w", mf, err)
			}
			data, err := os.ReadFile(strings.TrimSuffix(mf, ".meta") + ".data")
			if err != nil {
				return nil, err
			}
			if _, err := mem.PutObject(m.Bucket, m.Key, m.Metadata, bytes.NewReader(data), int64(len(data)), nil); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

func (b *diskBackend) objectPath(bucket, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(b.dir, bucket, hex.EncodeToString(sum[:16]))
}

func (b *diskBackend) CreateBucket(name string) error {
	if err := b.Backend.CreateBucket(name); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Join(b.dir, name), 0o755)
}

func (b *diskBackend) DeleteBucket(name string) error {
	if err := b.Backend.DeleteBucket(name); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(b.dir, name))
}

func (b *diskBackend) ForceDeleteBucket(name string) error {
	if err := b.Backend.ForceDeleteBucket(name); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(b.dir, name))
}

func (b *diskBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	data, err := io.ReadAll(input)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	res, err := b.Backend.PutObject(bucket, key, meta, bytes.NewReader(data), int64(len(data)), cond)
	if err != nil {
		return res, err
	}
	return res, b.persist(bucket, key, meta, data)
}

func (b *diskBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	res, err := b.Backend.CopyObject(srcBucket, srcKey, dstBucket, dstKey, meta)
	if err != nil {
		return res, err
	}
	obj, err := b.Backend.GetObject(dstBucket, dstKey, nil)
	if err != nil {
		return res, err
	}
	defer obj.Contents.Close()
	data, err := io.ReadAll(obj.Contents)
	if err != nil {
		return res, err
	}
	return res, b.persist(dstBucket, dstKey, obj.Metadata, data)
}

func (b *diskBackend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	res, err := b.Backend.DeleteObject(bucket, key)
	if err == nil {
		b.remove(bucket, key)
	}
	return res, err
}

func (b *diskBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	res, err := b.Backend.DeleteMulti(bucket, keys...)
	if err == nil {
		for _, d := range res.Deleted {
			b.remove(bucket, d.Key)
		}
	}
	return res, err
}

func (b *diskBackend) persist(bucket, key string, meta map[string]string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.objectPath(bucket, key)
	m, _ := json.Marshal(diskMeta{Bucket: bucket, Key: key, Metadata: meta})
	if err := writeFileAtomic(p+".data", data); err != nil {
		return err
	}
	return writeFileAtomic(p+".meta", m)
}

func (b *diskBackend) remove(bucket, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.objectPath(bucket, key)
	_ = os.Remove(p + ".meta")
	_ = os.Remove(p + ".data")
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
