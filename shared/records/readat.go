package records

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Read cache of the Parquet reader: the footer and the page index are
// read in many small pieces, which would otherwise each be one request to
// the store (one S3 GET each).
const (
	cacheBlockSize = 256 << 10
	cacheBlocks    = 8
)

// cachedReaderAt is an io.ReaderAt over Source.ReadAt that reads aligned
// blocks of cacheBlockSize and keeps the last cacheBlocks of them. Reads
// of a block or more go to the source as they are.
type cachedReaderAt struct {
	mu     sync.Mutex
	ctx    context.Context
	src    Source
	size   int64
	blocks []cacheBlock // most recently used last
	// srcErr is the last error of the source other than io.EOF, so that a
	// parser's failure caused by it is not taken for a corrupt file.
	srcErr error
}

// sourceError returns the last error of the source.
func (c *cachedReaderAt) sourceError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.srcErr
}

type cacheBlock struct {
	off  int64
	data []byte
}

func newCachedReaderAt(ctx context.Context, src Source) *cachedReaderAt {
	return &cachedReaderAt{ctx: ctx, src: src, size: src.Size()}
}

func (c *cachedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if off < 0 {
		return 0, errors.New("records: negative offset")
	}
	if off >= c.size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := c.size - off; int64(want) > rest {
		want = int(rest)
	}
	if want >= cacheBlockSize {
		n, err := c.direct(p[:want], off)
		if err == nil && n < len(p) {
			err = io.EOF
		}
		return n, err
	}
	n := 0
	for n < want {
		b, err := c.block(off + int64(n))
		if err != nil {
			return n, err
		}
		n += copy(p[n:want], b.data[off+int64(n)-b.off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// direct reads p whole from the source.
func (c *cachedReaderAt) direct(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := c.src.ReadAt(c.ctx, p[n:], off+int64(n))
		n += m
		if err != nil {
			if errors.Is(err, io.EOF) && n == len(p) {
				return n, nil
			}
			if !errors.Is(err, io.EOF) {
				c.srcErr = err
			}
			return n, err
		}
		if m == 0 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// block returns the cached block holding offset off, reading it if need be.
func (c *cachedReaderAt) block(off int64) (cacheBlock, error) {
	for i := len(c.blocks) - 1; i >= 0; i-- {
		b := c.blocks[i]
		if off >= b.off && off < b.off+int64(len(b.data)) {
			if i != len(c.blocks)-1 {
				copy(c.blocks[i:], c.blocks[i+1:])
				c.blocks[len(c.blocks)-1] = b
			}
			return b, nil
		}
	}
	start := off - off%cacheBlockSize
	size := int64(cacheBlockSize)
	if start+size > c.size {
		size = c.size - start
	}
	var data []byte
	if len(c.blocks) == cacheBlocks {
		data = c.blocks[0].data[:size]
		copy(c.blocks, c.blocks[1:])
		c.blocks = c.blocks[:len(c.blocks)-1]
	} else {
		data = make([]byte, size, cacheBlockSize)
	}
	if _, err := c.direct(data, start); err != nil {
		return cacheBlock{}, err
	}
	b := cacheBlock{off: start, data: data}
	c.blocks = append(c.blocks, b)
	return b, nil
}
