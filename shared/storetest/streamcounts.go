package storetest

import (
	"context"
	"sync"

	"github.com/mosaic-cdp/mosaic/shared/store"
)

// StreamCounts keeps the finished records of streaming batches as the
// store does: by batch, shard and sequence number, so that a record
// written twice counts once (store.FailedRecords.PutStreamCounts).
type StreamCounts struct {
	mu sync.Mutex
	// M is batch id -> "<shard>|<sequence number>" -> messages.
	M map[string]map[string]int
}

// NewStreamCounts returns an empty StreamCounts.
func NewStreamCounts() *StreamCounts { return &StreamCounts{M: map[string]map[string]int{}} }

// PutStreamCounts records recs of one shard in batchID.
func (c *StreamCounts) PutStreamCounts(_ context.Context, batchID, shard string, recs []store.SeqCount) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.M[batchID] == nil {
		c.M[batchID] = map[string]int{}
	}
	for _, r := range recs {
		k := shard + "|" + r.Seq
		c.M[batchID][k] = max(c.M[batchID][k], r.Messages)
	}
	return nil
}

// Input is how many messages batchID counts.
func (c *StreamCounts) Input(batchID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.M[batchID] {
		n += m
	}
	return n
}
