// Package storetest provides in-memory stand-ins for the store's ports, for
// unit tests of what writes through them: Profiles (fragments, links and
// events, kept with the store's ordering rule merge.Newer), Specs and
// Batches (the catalog) and Failed (failed records). They are safe for
// concurrent use, as the ingest runner writes from several goroutines.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/upsert"
)

// Specs serves ingest specs by dataset id; an unknown id is the catalog's
// DATASET-NOT-FOUND.
type Specs map[string]*catalog.IngestSpec

// Spec returns the spec of datasetID.
func (s Specs) Spec(_ context.Context, datasetID string) (*catalog.IngestSpec, error) {
	if spec, ok := s[datasetID]; ok {
		return spec, nil
	}
	return nil, fault.E(fault.NotFound, "DATASET-NOT-FOUND", "dataset not found")
}

// Profiles keeps one fragment per identity and dataset, replacing it only
// with one that merge.Newer does not order before it, as the store's
// conditional write does; links by "<a key>|<b key>"; events by
// "<identity>|<_id>". Merges and deletes (merge.Fragment.Op), and creates
// onto a fragment they changed, go through package upsert as in the
// store: Frags then holds the fragment's record (upsert.State.Record) at
// its newest clock, with Op "", or nothing once it is deleted.
type Profiles struct {
	mu     sync.Mutex
	states map[string]*upsert.State // fragments a merge or delete changed
	Frags  map[string]merge.Fragment
	Links  map[string]bool
	Events map[string]merge.Event
	// Writes counts fragment writes, kept or not.
	Writes int
	// FailAt makes the FailAt-th fragment write (1-based) fail as throttled.
	FailAt int
	// Fail, when set, is returned by every fragment write.
	Fail error
}

// NewProfiles returns an empty Profiles.
func NewProfiles() *Profiles {
	return &Profiles{Frags: map[string]merge.Fragment{}, Links: map[string]bool{}, Events: map[string]merge.Event{}}
}

// PutFragment stores f unless the stored fragment of its identity and
// dataset is newer.
func (p *Profiles) PutFragment(_ context.Context, f merge.Fragment) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Writes++
	if p.Fail != nil {
		return p.Fail
	}
	if p.Writes == p.FailAt {
		return fault.E(fault.Throttled, "STORE-THROTTLED", "throttled")
	}
	k := f.Identity + "|" + f.Dataset
	if (f.Op == "" || f.Op == merge.OpCreate) && p.states[k] == nil {
		if old, ok := p.Frags[k]; ok && merge.Newer(old, f) {
			return nil
		}
		p.Frags[k] = f
		return nil
	}
	return p.putOp(k, f)
}

// putOp applies f to the state of fragment k as the store's
// read-modify-write does; a refused update changes nothing.
func (p *Profiles) putOp(k string, f merge.Fragment) error {
	op, err := upsert.OpOf(f)
	if err != nil {
		return err
	}
	// Apply works on a copy: the stored state changes only if the result
	// can be stored.
	st := upsert.New()
	if old, ok := p.Frags[k]; ok && p.states[k] == nil {
		st = upsert.FromRecord(old.Record, upsert.Clock{TS: old.TS, Src: old.Src})
	} else if old := p.states[k]; old != nil {
		rec, clocks, err := old.Encode()
		if err != nil {
			return err
		}
		var m map[string]any
		if rec != nil {
			if err := json.Unmarshal(rec, &m); err != nil {
				return err
			}
		}
		if st, err = upsert.Decode(m, clocks); err != nil {
			return err
		}
	}
	changed, err := st.Apply(op)
	if err != nil || !changed {
		return err
	}
	if _, _, err := st.Encode(); err != nil {
		return err
	}
	if p.states == nil {
		p.states = map[string]*upsert.State{}
	}
	p.states[k] = st
	if !st.Exists() {
		delete(p.Frags, k)
		return nil
	}
	latest := st.Latest()
	p.Frags[k] = merge.Fragment{Identity: f.Identity, Dataset: f.Dataset, Record: st.Record(),
		TS: latest.TS, Src: latest.Src, Batch: f.Batch}
	return nil
}

// PutLinks stores each link.
func (p *Profiles) PutLinks(_ context.Context, links []identity.Link) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range links {
		p.Links[l.A.Key()+"|"+l.B.Key()] = true
	}
	return nil
}

// PutEvent stores e; the same event twice leaves one.
func (p *Profiles) PutEvent(_ context.Context, e merge.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Events[e.Identity+"|"+e.ID] = e
	return nil
}

// Batches keeps batches by id.
type Batches struct {
	mu sync.Mutex
	M  map[string]catalog.Batch
}

// NewBatches returns an empty Batches.
func NewBatches() *Batches { return &Batches{M: map[string]catalog.Batch{}} }

// CreateBatch stores b unless its id is taken, and returns the batch the
// id holds afterwards.
func (s *Batches) CreateBatch(_ context.Context, b catalog.Batch) (bool, catalog.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.M[b.ID]; ok {
		return false, old, nil
	}
	s.M[b.ID] = b
	return true, b, nil
}

// PutBatch stores b unless the stored batch is final (success, failed,
// aborted): then it refuses with Conflict BATCH-FINAL, as the store does.
func (s *Batches) PutBatch(_ context.Context, b catalog.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.M[b.ID].Status {
	case catalog.BatchSuccess, catalog.BatchFailed, catalog.BatchAborted:
		return fault.E(fault.Conflict, "BATCH-FINAL", "the batch has already finished")
	}
	s.M[b.ID] = b
	return nil
}

// GetBatch returns the batch id holds (NotFound BATCH-NOT-FOUND).
func (s *Batches) GetBatch(_ context.Context, id string) (catalog.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.M[id]
	if !ok {
		return catalog.Batch{}, fault.Errorf(fault.NotFound, "BATCH-NOT-FOUND", "batch %q does not exist", id)
	}
	return b, nil
}

// Failed keeps failed records by Key; writing one twice leaves one.
type Failed struct {
	mu   sync.Mutex
	Recs map[string]catalog.FailedRecord
}

// NewFailed returns an empty Failed.
func NewFailed() *Failed { return &Failed{Recs: map[string]catalog.FailedRecord{}} }

// PutFailed stores recs.
func (f *Failed) PutFailed(_ context.Context, recs []catalog.FailedRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range recs {
		f.Recs[Key(r)] = r
	}
	return nil
}

// Key is where a failed record was: "<batch>|<row>" for a file's row,
// "<shard>|<sequence number>|<index>[|sub<sub-sequence>]" for a Kinesis
// record's message.
func Key(r catalog.FailedRecord) string {
	if r.Shard == "" && r.Seq == "" {
		return fmt.Sprintf("%s|%d", r.Batch, r.Row)
	}
	k := fmt.Sprintf("%s|%s|%d", r.Shard, r.Seq, r.Index)
	if r.SubSequence > 0 {
		k += fmt.Sprintf("|sub%d", r.SubSequence)
	}
	return k
}
