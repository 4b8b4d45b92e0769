package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/records"
)

// CodeFileNotFound fails a batch whose stored file is gone.
const CodeFileNotFound = "FILE-NOT-FOUND"

// s3Source is a records.Source over a BatchFile: the concatenation of its
// objects in order, each read at its stored version when it has one (a
// drop-in: a later upload of the key does not replace what the batch
// reads). Reads are ranged GetObject calls (RFC 9110 §14.1.2 byte ranges).
type s3Source struct {
	api    objectGetter
	bucket string
	file   catalog.BatchFile
}

var _ records.Source = (*s3Source)(nil)

func (s *s3Source) Name() string { return s.file.Name }
func (s *s3Source) Size() int64  { return s.file.Size }

// objectAt is the index of the object holding byte off, or len(Objects)
// when off is at or past the end.
func (s *s3Source) objectAt(off int64) int {
	obs := s.file.Objects
	return sort.Search(len(obs), func(i int) bool { return obs[i].Offset+obs[i].Size > off })
}

// get reads object i from byte from (relative to the object) to byte to
// (exclusive; -1 for its end).
func (s *s3Source) get(ctx context.Context, i int, from, to int64) (io.ReadCloser, error) {
	o := s.file.Objects[i]
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(o.Key)}
	if o.VersionID != "" && o.VersionID != "null" {
		in.VersionId = aws.String(o.VersionID)
	}
	switch {
	case to >= 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", from, to-1))
	case from > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", from))
	}
	out, err := s.api.GetObject(ctx, in)
	if err != nil {
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, fault.Wrap(err, fault.Invalid, CodeFileNotFound, "the file was deleted before it could be read")
		}
		return nil, fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "read the file")
	}
	return out.Body, nil
}

// Open returns the bytes from off to the end: the object holding off from
// there, then each following object, each opened only when the one before
// is read to its end.
func (s *s3Source) Open(ctx context.Context, off int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fault.Errorf(fault.Invalid, "S3-RANGE", "offset %d is negative", off)
	}
	return &objectsReader{ctx: ctx, src: s, next: s.objectAt(off), off: off}, nil
}

// objectsReader reads the objects of a source in turn.
type objectsReader struct {
	ctx  context.Context
	src  *s3Source
	next int   // index of the next object to open
	off  int64 // file offset where the next object is opened
	cur  io.ReadCloser
}

func (r *objectsReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if r.next >= len(r.src.file.Objects) {
				return 0, io.EOF
			}
			o := r.src.file.Objects[r.next]
			body, err := r.src.get(r.ctx, r.next, max(r.off-o.Offset, 0), -1)
			if err != nil {
				return 0, err
			}
			r.cur, r.next = body, r.next+1
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			return n, fault.Wrap(err, fault.Unavailable, "S3-READ", "read the file")
		}
		return n, nil
	}
}

func (r *objectsReader) Close() error {
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}

// ReadAt reads len(p) bytes at off, across objects as needed, as
// io.ReaderAt: fewer bytes only at the end of the file, with io.EOF.
func (s *s3Source) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		i := s.objectAt(pos)
		if i >= len(s.file.Objects) {
			return n, io.EOF
		}
		o := s.file.Objects[i]
		from := pos - o.Offset
		to := min(o.Size, from+int64(len(p)-n))
		body, err := s.get(ctx, i, from, to)
		if err != nil {
			return n, err
		}
		m, err := io.ReadFull(body, p[n:n+int(to-from)])
		body.Close()
		n += m
		if err != nil {
			return n, fault.Wrap(err, fault.Unavailable, "S3-READ", "read the file")
		}
	}
	return n, nil
}
