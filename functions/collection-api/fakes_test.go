package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// put is one record the fake stream accepted.
type put struct {
	data []byte
	key  string
	seq  string
}

// fakeStream is a Kinesis stream of one shard. failEntry decides, per
// PutRecords entry and attempt (1-based count of calls that carried the
// entry's key), whether the entry fails with ProvisionedThroughputExceeded;
// failCall fails whole calls.
type fakeStream struct {
	mu        sync.Mutex
	puts      []put
	calls     []int // entries per PutRecords call
	attempts  map[string]int
	failEntry func(key string, attempt int) bool
	failCall  func(call int) error
	failPut   error
}

func (f *fakeStream) accept(data []byte, key string) string {
	seq := fmt.Sprintf("%056d", len(f.puts)+1)
	f.puts = append(f.puts, put{data: append([]byte(nil), data...), key: key, seq: seq})
	return seq
}

func (f *fakeStream) PutRecord(ctx context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPut != nil {
		return nil, f.failPut
	}
	seq := f.accept(in.Data, aws.ToString(in.PartitionKey))
	return &kinesis.PutRecordOutput{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(seq)}, nil
}

func (f *fakeStream) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, len(in.Records))
	if f.failCall != nil {
		if err := f.failCall(len(f.calls)); err != nil {
			return nil, err
		}
	}
	if f.attempts == nil {
		f.attempts = map[string]int{}
	}
	out := &kinesis.PutRecordsOutput{}
	failed := int32(0)
	for _, e := range in.Records {
		key := aws.ToString(e.PartitionKey)
		f.attempts[key]++
		if f.failEntry != nil && f.failEntry(key, f.attempts[key]) {
			failed++
			out.Records = append(out.Records, types.PutRecordsResultEntry{
				ErrorCode: aws.String("ProvisionedThroughputExceededException"), ErrorMessage: aws.String("Rate exceeded for shard"),
			})
			continue
		}
		seq := f.accept(e.Data, key)
		out.Records = append(out.Records, types.PutRecordsResultEntry{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(seq)})
	}
	out.FailedRecordCount = aws.Int32(failed)
	return out, nil
}

// fakeSpecs serves hand-made specs by dataset id.
type fakeSpecs struct {
	specs map[string]*catalog.IngestSpec
	err   error
}

func (f *fakeSpecs) Spec(ctx context.Context, id string) (*catalog.IngestSpec, error) {
	if f.err != nil {
		return nil, f.err
	}
	s, ok := f.specs[id]
	if !ok {
		return nil, fault.E(fault.NotFound, "DATASET-NOT-FOUND", "no dataset")
	}
	return s, nil
}

func (f *fakeSpecs) Namespaces(ctx context.Context) ([]identity.Namespace, error) { return nil, nil }

// memConns is an in-memory connection store.
type memConns struct {
	mu    sync.Mutex
	conns map[string]connection
	gets  int
}

func (m *memConns) Create(ctx context.Context, c connection) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.conns[c.ID]; ok {
		return fault.E(fault.Conflict, "FLOW-CONNECTION-EXISTS", "exists")
	}
	m.conns[c.ID] = c
	return nil
}

func (m *memConns) Get(ctx context.Context, id string) (connection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	c, ok := m.conns[id]
	if !ok {
		return connection{}, fault.E(fault.NotFound, codeConnNotFound, "no connection")
	}
	return c, nil
}

func (m *memConns) List(ctx context.Context) ([]connection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []connection
	for _, c := range m.conns {
		out = append(out, c)
	}
	return out, nil
}

var errCallFailed = errors.New("connection reset")
