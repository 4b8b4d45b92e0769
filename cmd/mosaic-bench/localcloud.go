package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mosaic-cdp/mosaic/localstack/cloud"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// local is a local cloud started for one measurement, with the API client
// a user of it has: SigV4-signed HTTPS calls and S3 uploads through the edge.
type local struct {
	c     *cloud.Cloud
	dist  string
	http  *http.Client
	s3    *s3.Client
	creds aws.Credentials
	fns   []topology.Function // the functions started
}

// startLocal starts the local cloud with batch-ingest on procs processes.
func startLocal(ctx context.Context, dist string, procs int) (*local, error) {
	return startLocalWith(ctx, dist, map[string]int{"batch-ingest": procs}, nil)
}

// startLocalWith starts the local cloud with the given processes per
// function; tune, when not nil, changes the topology's functions first.
// Functions whose bootstrap dist does not hold are left out.
func startLocalWith(ctx context.Context, dist string, procs map[string]int, tune func(*topology.Function)) (*local, error) {
	var fns []topology.Function
	for _, f := range topology.Functions {
		if _, err := os.Stat(filepath.Join(dist, f.Name, "bootstrap")); err != nil {
			continue
		}
		if tune != nil {
			if f.Stream != nil {
				st := *f.Stream
				f.Stream = &st
			}
			tune(&f)
		}
		fns = append(fns, f)
	}
	dist, err := filepath.Abs(dist)
	if err != nil {
		return nil, err
	}
	logs, err := os.MkdirTemp("", "mosaic-bench-")
	if err != nil {
		return nil, err
	}
	c, err := cloud.Start(ctx, cloud.Config{
		// Tenant is the functions' default, which collection-api needs set.
		Edge: "127.0.0.1:0", DistDir: dist, Tenant: "mosaic", LogsDir: filepath.Join(logs, "logs"),
		Concurrency: procs, Functions: fns,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	return &local{c: c, dist: dist, fns: fns, http: &http.Client{Timeout: time.Minute}, creds: creds,
		s3: s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(c.EdgeURL()), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})}, nil
}

func (l *local) stop() { l.c.Stop() }

// call sends a SigV4-signed (execute-api) request to the API and decodes
// a 2xx answer into out; other statuses are errors.
func (l *local) call(ctx context.Context, method, path string, body, out any) (int, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, l.c.EdgeURL()+path, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(payload)
	if err := v4.NewSigner().SignHTTP(ctx, l.creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
		return 0, err
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// profileDataset creates, through the API, a Profile-enabled schema of the
// profile class whose primary identity is personalEmail.address (Email),
// and a Profile- and Identity-enabled dataset of it; it returns the
// dataset id.
func (l *local) profileDataset(ctx context.Context, name string) (string, error) {
	const reg = "/data/foundation/schemaregistry"
	var schema map[string]any
	refs := []any{}
	for _, r := range []string{"https://ns.adobe.com/xdm/context/profile",
		"https://ns.adobe.com/xdm/context/profile-person-details",
		"https://ns.adobe.com/xdm/context/profile-personal-details",
		"https://ns.adobe.com/xdm/context/identitymap",
		"https://ns.adobe.com/xdm/common/external-source-system-audit-details"} {
		refs = append(refs, map[string]any{"$ref": r})
	}
	if _, err := l.call(ctx, "POST", reg+"/tenant/schemas", map[string]any{
		"type": "object", "title": name, "description": "benchmark rows", "allOf": refs}, &schema); err != nil {
		return "", err
	}
	id, _ := schema["$id"].(string)
	altID, _ := schema["meta:altId"].(string)
	if _, err := l.call(ctx, "POST", reg+"/tenant/descriptors", map[string]any{
		"@type": "xdm:descriptorIdentity", "xdm:sourceSchema": id, "xdm:sourceVersion": 1,
		"xdm:sourceProperty": "/personalEmail/address", "xdm:namespace": "Email", "xdm:property": "xdm:code", "xdm:isPrimary": true,
	}, nil); err != nil {
		return "", err
	}
	if _, err := l.call(ctx, "PATCH", reg+"/tenant/schemas/"+url.PathEscape(altID), []any{
		map[string]any{"op": "add", "path": "/meta:immutableTags", "value": []any{"union"}}}, nil); err != nil {
		return "", err
	}
	var ds []string
	if _, err := l.call(ctx, "POST", "/data/foundation/catalog/dataSets", map[string]any{
		"name":      name,
		"schemaRef": map[string]any{"id": id, "contentType": "application/vnd.adobe.xed-full+json;version=1"},
		"tags":      map[string]any{"unifiedProfile": []any{"enabled:true"}, "unifiedIdentity": []any{"enabled:true"}},
	}, &ds); err != nil {
		return "", err
	}
	if len(ds) != 1 || !strings.HasPrefix(ds[0], "@/dataSets/") {
		return "", fmt.Errorf("dataset answer %v", ds)
	}
	return strings.TrimPrefix(ds[0], "@/dataSets/"), nil
}

// drop uploads a file to ingest/<dataset>/<name> of the landing bucket.
func (l *local) drop(ctx context.Context, dataset, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = l.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(l.c.Name(topology.LandingBucket)), Key: aws.String("ingest/" + dataset + "/" + name), Body: f})
	return err
}

// batchResult is what the catalog says of a finished batch.
type batchResult struct {
	ID     string
	Status string
	Input  int64
	Failed int64
}

// waitBatch polls the dataset's batches until one has a final status
// (success or failed), every interval, until ctx ends.
func (l *local) waitBatch(ctx context.Context, dataset string, interval time.Duration) (batchResult, error) {
	for {
		var batches map[string]struct {
			Status  string `json:"status"`
			Metrics struct {
				InputRecordCount  int64 `json:"inputRecordCount"`
				FailedRecordCount int64 `json:"failedRecordCount"`
			} `json:"metrics"`
		}
		if _, err := l.call(ctx, "GET", "/data/foundation/catalog/batches?dataSet="+url.QueryEscape(dataset), nil, &batches); err != nil {
			return batchResult{}, err
		}
		for id, b := range batches {
			if b.Status == "success" || b.Status == "failed" {
				return batchResult{ID: id, Status: b.Status, Input: b.Metrics.InputRecordCount, Failed: b.Metrics.FailedRecordCount}, nil
			}
		}
		select {
		case <-ctx.Done():
			return batchResult{}, fmt.Errorf("batch of dataset %s never finished: %w", dataset, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// readable reports whether the Profile Access API answers the profile of
// an Email identity with one entity that holds data (an identity with no
// data is answered with an empty entity).
func (l *local) readable(ctx context.Context, emailAddr string) (bool, error) {
	q := url.Values{"schema.name": {"_xdm.context.profile"}, "entityId": {emailAddr}, "entityIdNS": {"Email"}}
	var page map[string]any
	status, err := l.call(ctx, "GET", "/data/core/ups/access/entities?"+q.Encode(), nil, &page)
	if status == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range page {
		if m, ok := e.(map[string]any); ok {
			if ent, ok := m["entity"].(map[string]any); ok && len(ent) > 0 {
				return true, nil
			}
		}
	}
	return false, nil
}

// waitReadable waits until every sample identity is readable.
func (l *local) waitReadable(ctx context.Context, emails []string, interval time.Duration) error {
	for _, e := range emails {
		for {
			ok, err := l.readable(ctx, e)
			if err != nil {
				return err
			}
			if ok {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("profile of %s never readable: %w", e, ctx.Err())
			case <-time.After(interval):
			}
		}
	}
	return nil
}

// bootstraps are the running processes whose executable is the function's
// bootstrap binary (the children of the Runtime Interface Emulators).
func (l *local) bootstraps(function string) ([]int, error) {
	exe := filepath.Join(l.dist, function, "bootstrap")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && target == exe {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// dynamoEndpoint is the DynamoDB endpoint the functions use, read from the
// environment of one of their processes (AWS_ENDPOINT_URL_DYNAMODB).
func (l *local) dynamoEndpoint(function string) (string, error) {
	pids, err := l.bootstraps(function)
	if err != nil {
		return "", err
	}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("AWS_ENDPOINT_URL_DYNAMODB=")); ok {
				return string(v), nil
			}
		}
	}
	return "", errors.New("no " + function + " process tells its DynamoDB endpoint")
}

// statusKB reads a field of /proc/<pid>/status in kB (VmHWM, VmRSS).
func statusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusKB(string(b), field)
}

// parseStatusKB finds "<field>:   123 kB" in the text of a proc status file.
func parseStatusKB(status, field string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in status", field)
}
