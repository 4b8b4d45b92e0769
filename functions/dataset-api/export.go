package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// Listing limits of the export routes: AEP's _page.limit, 100 by default.
const (
	defaultMetaLimit = 100
	maxMetaLimit     = 1000
)

// metaPage is AEP's listing of a batch's files (Data Access API, "meta").
type metaPage struct {
	Page struct {
		Count int `json:"count"`
		Limit int `json:"limit"`
	} `json:"_page"`
	Data  []metaEntry         `json:"data"`
	Links map[string]hrefLink `json:"_links,omitempty"`
}

type metaEntry struct {
	Name string `json:"name"`
	// Length is the file's size in bytes, a decimal string as AEP gives it.
	Length string              `json:"length"`
	Links  map[string]hrefLink `json:"_links"`
}

type hrefLink struct {
	Href string `json:"href"`
}

func metaHref(batchID, p string) string {
	return exportBase + "/" + batchID + "/meta?path=" + queryEscape(p)
}

// queryEscape escapes a query value for apigw.QueryParams, which reads '+'
// as a plus sign (RFC 3986): a space is "%20", not url.QueryEscape's "+".
func queryEscape(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// exportMeta is AEP's GET /export/batches/{batchId}/meta?path=…:
//   - row_errors: the batch's diagnostics files, name order, at most limit
//     (1–1000, default 100) from start (a name, inclusive); "_links.next"
//     continues when more remain.
//   - row_errors/<name>: that file, JSON Lines, when at most 4 MB; a larger
//     one is 307 to a pre-signed GET valid an hour.
//   - input_files: the batch's files with their lengths (none for a
//     streaming batch).
//   - input_files/<name>: that file's bytes (inputFile).
//
// A streaming batch's row_errors files are its failed records,
// streamPage to a file (streamRowErrors, streamRowErrorFile).
//
// Unknown batch 404 BATCH-NOT-FOUND; another path, or a name that is not
// UTF-8 or holds a control character, 400 EXPORT-PATH; an unknown file
// 404 EXPORT-FILE-NOT-FOUND.
func (h *handler) exportMeta(ctx context.Context, r *apigw.Request) (int, any, error) {
	b, err := h.cat.GetBatch(ctx, r.Param("batchId"))
	if err != nil {
		return 0, nil, err
	}
	p := r.Query.Get("path")
	switch {
	case p == "input_files":
		files, err := h.cat.ListBatchFiles(ctx, b.ID)
		if err != nil {
			return 0, nil, err
		}
		var out metaPage
		out.Data = []metaEntry{}
		for _, f := range files {
			out.Data = append(out.Data, metaEntry{Name: f.Name, Length: strconv.FormatInt(f.Size, 10),
				Links: map[string]hrefLink{"self": {Href: metaHref(b.ID, "input_files/"+f.Name)}}})
		}
		out.Page.Count, out.Page.Limit = len(out.Data), max(len(out.Data), defaultMetaLimit)
		return http.StatusOK, out, nil
	case p == "row_errors":
		limit, err := queryInt(r, "limit", defaultMetaLimit, 1, maxMetaLimit)
		if err != nil {
			return 0, nil, err
		}
		if isStreamBatch(b) && h.streams != nil {
			return h.streamRowErrors(ctx, b, r, limit)
		}
		prefix := diagnosticsPrefix(b.ID)
		// One more than asked: its name starts the next page.
		in := &s3.ListObjectsV2Input{Bucket: aws.String(h.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(int32(limit + 1))}
		if s := r.Query.Get("start"); s != "" {
			in.StartAfter = aws.String(justBefore(prefix + s))
		}
		page, err := h.s3.ListObjectsV2(ctx, in)
		if err != nil {
			return 0, nil, s3Fault(err, "list the diagnostics")
		}
		var out metaPage
		out.Data = []metaEntry{}
		objs := page.Contents
		next := ""
		if len(objs) > limit {
			next = strings.TrimPrefix(aws.ToString(objs[limit].Key), prefix)
			objs = objs[:limit]
		}
		for _, o := range objs {
			name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			out.Data = append(out.Data, metaEntry{Name: name, Length: strconv.FormatInt(aws.ToInt64(o.Size), 10),
				Links: map[string]hrefLink{"self": {Href: metaHref(b.ID, "row_errors/"+name)}}})
		}
		out.Page.Count, out.Page.Limit = len(out.Data), limit
		if next != "" {
			out.Links = map[string]hrefLink{"next": {Href: metaHref(b.ID, "row_errors") + "&limit=" + strconv.Itoa(limit) + "&start=" + queryEscape(next)}}
		}
		return http.StatusOK, out, nil
	case strings.HasPrefix(p, "input_files/"):
		return h.inputFile(ctx, b.ID, strings.TrimPrefix(p, "input_files/"))
	case strings.HasPrefix(p, "row_errors/"):
		name := strings.TrimPrefix(p, "row_errors/")
		if name == "" || strings.Contains(name, "/") {
			return 0, nil, fault.E(fault.Invalid, "EXPORT-PATH", "path is row_errors/<file name>")
		}
		if err := validName(name); err != nil {
			return 0, nil, fault.Wrap(err, fault.Invalid, "EXPORT-PATH", "file name "+err.Error())
		}
		if isStreamBatch(b) && h.streams != nil {
			return h.streamRowErrorFile(ctx, b, name)
		}
		key := diagnosticsPrefix(b.ID) + name
		head, err := h.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
		if isNotFound(err) {
			return 0, nil, fault.Errorf(fault.NotFound, "EXPORT-FILE-NOT-FOUND", "batch %s has no diagnostics file %q", b.ID, name)
		}
		if err != nil {
			return 0, nil, s3Fault(err, "read the diagnostics")
		}
		if aws.ToInt64(head.ContentLength) > maxInlineBytes {
			return h.redirect(ctx, key)
		}
		body, err := h.readObject(ctx, key)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, jsonLines(body, nil), nil
	}
	return 0, nil, fault.E(fault.Invalid, "EXPORT-PATH", "path is row_errors, row_errors/<file name>, input_files or input_files/<file name>")
}

// inputFile is meta?path=input_files/<name>, the link the input_files
// listing gives for each file:
//   - a file of at most 4 MB (maxInlineBytes): 200, its bytes
//     (application/octet-stream), a chunked file's chunk objects
//     concatenated in offset order;
//   - a larger file stored as one object (PUT, pre-signed PUT or
//     multipart): 307 to a pre-signed GET of that object version, valid
//     an hour;
//   - a larger chunked file: 400 EXPORT-FILE-TOO-LARGE, since one answer
//     carries at most 4 MB and there is no single object to redirect to.
//
// An unknown name, or a file whose objects are no longer stored (staged
// files live 30 days), is 404 EXPORT-FILE-NOT-FOUND; a file not yet
// uploaded completely is 409 EXPORT-FILE-INCOMPLETE; a name that is not
// UTF-8 or holds a control character is 400 EXPORT-PATH.
func (h *handler) inputFile(ctx context.Context, batchID, name string) (int, any, error) {
	if name == "" {
		return 0, nil, fault.E(fault.Invalid, "EXPORT-PATH", "path is input_files/<file name>")
	}
	if err := validName(name); err != nil {
		return 0, nil, fault.Wrap(err, fault.Invalid, "EXPORT-PATH", "file name "+err.Error())
	}
	f, err := h.cat.GetBatchFile(ctx, batchID, name)
	if isKind(err, fault.NotFound) {
		return 0, nil, fault.Errorf(fault.NotFound, "EXPORT-FILE-NOT-FOUND", "batch %s has no file %q", batchID, name)
	}
	if err != nil {
		return 0, nil, err
	}
	if !f.Complete || len(f.Objects) == 0 {
		return 0, nil, fault.Errorf(fault.Conflict, "EXPORT-FILE-INCOMPLETE", "file %q is not uploaded completely yet", name)
	}
	gone := fault.Errorf(fault.NotFound, "EXPORT-FILE-NOT-FOUND", "file %q of batch %s is no longer stored", name, batchID)
	if f.Size > maxInlineBytes {
		if len(f.Objects) > 1 {
			return 0, nil, fault.Errorf(fault.Invalid, "EXPORT-FILE-TOO-LARGE",
				"file %q is %d bytes in %d chunks: over the %d bytes one answer carries, and not one object a link could point to", name, f.Size, len(f.Objects), maxInlineBytes)
		}
		o := f.Objects[0]
		in := &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(o.Key)}
		if o.VersionID != "" {
			in.VersionId = aws.String(o.VersionID)
		}
		req, err := h.presign.PresignGetObject(ctx, in, func(o *s3.PresignOptions) { o.Expires = presignTTL })
		if err != nil {
			return 0, nil, s3Fault(err, "sign the download")
		}
		return http.StatusTemporaryRedirect, apigw.Raw{Header: map[string]string{"location": req.URL}}, nil
	}
	objs := append([]catalog.FileObject(nil), f.Objects...)
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].Offset < objs[j].Offset })
	body := make([]byte, 0, f.Size)
	for _, o := range objs {
		in := &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(o.Key)}
		if o.VersionID != "" {
			in.VersionId = aws.String(o.VersionID)
		}
		out, err := h.s3.GetObject(ctx, in)
		if isNotFound(err) {
			return 0, nil, gone
		}
		if err != nil {
			return 0, nil, s3Fault(err, "read the file")
		}
		b, err := io.ReadAll(io.LimitReader(out.Body, maxInlineBytes+1-int64(len(body))))
		out.Body.Close()
		if err != nil {
			return 0, nil, s3Fault(err, "read the file")
		}
		body = append(body, b...)
	}
	if int64(len(body)) != f.Size {
		return 0, nil, fault.Errorf(fault.Internal, "EXPORT-FILE-SIZE", "file %q read %d bytes, recorded %d", name, len(body), f.Size)
	}
	return http.StatusOK, apigw.Raw{Header: map[string]string{"content-type": "application/octet-stream"}, Body: body}, nil
}

// justBefore is a key that sorts just before k: S3's StartAfter is
// exclusive, and a page that starts at a name includes it. Keys are
// compared as UTF-8 bytes; U+10FFFF is the largest character.
func justBefore(k string) string {
	if k == "" || k[len(k)-1] < 0x21 || k[len(k)-1] > 0x7e {
		return k
	}
	return k[:len(k)-1] + string(k[len(k)-1]-1) + string(utf8.MaxRune)
}

func (h *handler) readObject(ctx context.Context, key string) ([]byte, error) {
	out, err := h.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, s3Fault(err, "read the diagnostics")
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxInlineBytes+1))
	if err != nil {
		return nil, s3Fault(err, "read the diagnostics")
	}
	return b, nil
}

// redirect answers 307 to a pre-signed GET of key.
func (h *handler) redirect(ctx context.Context, key string) (int, any, error) {
	req, err := h.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)}, func(o *s3.PresignOptions) { o.Expires = presignTTL })
	if err != nil {
		return 0, nil, s3Fault(err, "sign the download")
	}
	return http.StatusTemporaryRedirect, apigw.Raw{Header: map[string]string{"location": req.URL}}, nil
}

// jsonLines is a JSON Lines answer with headers.
func jsonLines(body []byte, headers map[string]string) apigw.Raw {
	h := map[string]string{"content-type": "application/json"}
	for k, v := range headers {
		h[k] = v
	}
	return apigw.Raw{Header: h, Body: body}
}

// exportFailed is AEP's GET /export/batches/{batchId}/failed: the failed
// rows as JSON Lines ({"_corrupt_record", "_errors", "_filename", "_row"}),
// whole diagnostics files in name order from start (a file name,
// inclusive) while the body stays within 4 MB. When files remain, the
// Link header names the next page (rel="next", RFC 8288). A first file
// over 4 MB is a 307 to its pre-signed GET, with the same Link header.
// Unknown batch 404. A streaming batch's failed records are paged as
// streamFailed says.
func (h *handler) exportFailed(ctx context.Context, r *apigw.Request) (int, any, error) {
	b, err := h.cat.GetBatch(ctx, r.Param("batchId"))
	if err != nil {
		return 0, nil, err
	}
	if isStreamBatch(b) && h.streams != nil {
		return h.streamFailed(ctx, b, r)
	}
	prefix := diagnosticsPrefix(b.ID)
	const files = 100
	in := &s3.ListObjectsV2Input{Bucket: aws.String(h.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(files + 1)}
	if s := r.Query.Get("start"); s != "" {
		in.StartAfter = aws.String(justBefore(prefix + s))
	}
	page, err := h.s3.ListObjectsV2(ctx, in)
	if err != nil {
		return 0, nil, s3Fault(err, "list the diagnostics")
	}
	objs := page.Contents
	next := ""
	if len(objs) > files {
		next = strings.TrimPrefix(aws.ToString(objs[files].Key), prefix)
		objs = objs[:files]
	}
	var body []byte
	for i, o := range objs {
		key := aws.ToString(o.Key)
		size := aws.ToInt64(o.Size)
		if i == 0 && size > maxInlineBytes {
			if i+1 < len(objs) {
				next = strings.TrimPrefix(aws.ToString(objs[i+1].Key), prefix)
			}
			status, v, err := h.redirect(ctx, key)
			if raw, ok := v.(apigw.Raw); ok && next != "" {
				raw.Header["link"] = failedLink(b.ID, next)
			}
			return status, v, err
		}
		if int64(len(body))+size > maxInlineBytes {
			next = strings.TrimPrefix(key, prefix)
			break
		}
		data, err := h.readObject(ctx, key)
		if err != nil {
			return 0, nil, err
		}
		body = append(body, data...)
		if len(body) > 0 && body[len(body)-1] != '\n' {
			body = append(body, '\n')
		}
	}
	var headers map[string]string
	if next != "" {
		headers = map[string]string{"link": failedLink(b.ID, next)}
	}
	return http.StatusOK, jsonLines(body, headers), nil
}

func failedLink(batchID, next string) string {
	return "<" + exportBase + "/" + batchID + "/failed?start=" + queryEscape(next) + `>; rel="next"`
}
