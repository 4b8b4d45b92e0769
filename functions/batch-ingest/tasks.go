package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// batchesDir is the landing bucket folder of API batches' manifests and of
// tasks: ingest/_batches/<batchId>/… (dataset ids are 24 hex digits, so
// it never is one).
const batchesDir = "_batches"

// Task kinds.
const (
	taskManifest = "manifest"
	taskScan     = "scan"
	taskWrite    = "write"
)

// task is one unit of work named by an object key:
//
//	ingest/_batches/<batchId>/manifest.json                     start the batch
//	ingest/_batches/<batchId>/tasks/scan-<file:05d>.json        scan a file
//	ingest/_batches/<batchId>/tasks/scan-<file:05d>-from-<part:06d>.json   go on scanning
//	ingest/_batches/<batchId>/tasks/write-<file:05d>-<part:06d>.json       write a part
//	ingest/_batches/<batchId>/tasks/write-<file:05d>-<part:06d>-from-<row:010d>.json  go on writing
//
// The key says everything; the object's body is a copy for people.
type task struct {
	kind  string
	batch string
	file  int
	part  int // scan: first part to scan; write: the part
	from  int // write: the watermark to resume from (0: the part's start)
}

var taskName = regexp.MustCompile(`^(?:scan-(\d{5})(?:-from-(\d{6}))?|write-(\d{5})-(\d{6})(?:-from-(\d{10}))?)\.json$`)

// taskOf parses a manifest or task key.
func taskOf(key string) (task, bool) {
	rest, ok := strings.CutPrefix(key, topology.IngestPrefix+batchesDir+"/")
	if !ok {
		return task{}, false
	}
	id, name, ok := strings.Cut(rest, "/")
	if !ok || id == "" {
		return task{}, false
	}
	if name == "manifest.json" {
		return task{kind: taskManifest, batch: id}, true
	}
	name, ok = strings.CutPrefix(name, "tasks/")
	if !ok {
		return task{}, false
	}
	m := taskName.FindStringSubmatch(name)
	if m == nil {
		return task{}, false
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	if m[1] != "" {
		return task{kind: taskScan, batch: id, file: n(m[1]), part: n(m[2])}, true
	}
	return task{kind: taskWrite, batch: id, file: n(m[3]), part: n(m[4]), from: n(m[5])}, true
}

// key is the object key of t.
func (t task) key() string {
	base := topology.IngestPrefix + batchesDir + "/" + t.batch + "/"
	switch t.kind {
	case taskManifest:
		return base + "manifest.json"
	case taskScan:
		if t.part > 0 {
			return base + fmt.Sprintf("tasks/scan-%05d-from-%06d.json", t.file, t.part)
		}
		return base + fmt.Sprintf("tasks/scan-%05d.json", t.file)
	default:
		if t.from > 0 {
			return base + fmt.Sprintf("tasks/write-%05d-%06d-from-%010d.json", t.file, t.part, t.from)
		}
		return base + fmt.Sprintf("tasks/write-%05d-%06d.json", t.file, t.part)
	}
}

// putTask writes t's object, whose S3 event runs it in another invocation.
func (h *handler) putTask(ctx context.Context, batchID string, t task) error {
	t.batch = batchID
	body, _ := json.Marshal(map[string]any{"batchId": batchID, "task": t.kind, "file": t.file, "part": t.part, "from": t.from})
	_, err := h.objects.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(h.bucket), Key: aws.String(t.key()),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "S3-UNAVAILABLE", "write a batch task")
	}
	return nil
}

// task runs a manifest or task.
func (h *handler) task(ctx context.Context, t task) error {
	slog.InfoContext(ctx, "batch task", "batchId", t.batch, "task", t.kind, "file", t.file, "part", t.part, "from", t.from)
	switch t.kind {
	case taskManifest:
		return h.manifest(ctx, t.batch)
	case taskScan:
		return h.scan(ctx, t.batch, t.file)
	default:
		return h.writePart(ctx, t.batch, t.file, t.part)
	}
}

// formatOf is a dropped file's format from its name: ".gz" stripped,
// then ".csv" or ".parquet", else JSON.
func formatOf(name string) (string, bool) {
	lower := strings.ToLower(name)
	gz := strings.HasSuffix(lower, ".gz")
	lower = strings.TrimSuffix(lower, ".gz")
	switch {
	case strings.HasSuffix(lower, ".csv"):
		return catalog.FormatCSV, gz
	case strings.HasSuffix(lower, ".parquet"):
		return catalog.FormatParquet, gz
	}
	return catalog.FormatJSON, gz
}

// sniffBytes bounds how far isJSONArray looks for the first non-space byte.
const sniffBytes = 64 << 10

// isJSONArray reports whether a JSON file's first non-space byte (after a
// UTF-8 byte-order mark, RFC 8259 §8.1) is '[': then it is one array of
// records (AEP's isMultiLineJson). A gzip file is looked at decompressed;
// a file that cannot be read so is left to the record reader to refuse.
func (h *handler) isJSONArray(ctx context.Context, f catalog.BatchFile) (bool, error) {
	src := &s3Source{api: h.objects, bucket: h.bucket, file: f}
	if len(f.Objects) == 0 {
		return false, nil
	}
	rc, err := src.Open(ctx, 0)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	br := bufio.NewReader(io.LimitReader(rc, sniffBytes))
	var r io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, nil
		}
		defer zr.Close()
		r = zr
	}
	buf := make([]byte, 4096)
	n, err := io.ReadFull(r, buf)
	if n == 0 && err != nil && fault.KindOf(err).Transient() {
		return false, err
	}
	text := bytes.TrimPrefix(buf[:n], []byte("\xEF\xBB\xBF"))
	text = bytes.TrimLeft(text, " \t\r\n")
	return len(text) > 0 && text[0] == '[', nil
}
