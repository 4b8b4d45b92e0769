package storetest

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/store"
)

// BatchFiles keeps the files of batches, by batch id then name.
type BatchFiles struct {
	mu sync.Mutex
	M  map[string]map[string]catalog.BatchFile
}

// NewBatchFiles returns an empty BatchFiles.
func NewBatchFiles() *BatchFiles { return &BatchFiles{M: map[string]map[string]catalog.BatchFile{}} }

// PutBatchFile stores f, replacing the file of its name.
func (s *BatchFiles) PutBatchFile(_ context.Context, batchID string, f catalog.BatchFile) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.M[batchID] == nil {
		s.M[batchID] = map[string]catalog.BatchFile{}
	}
	s.M[batchID][f.Name] = f
	return nil
}

// GetBatchFile returns one file (NotFound BATCH-FILE-NOT-FOUND).
func (s *BatchFiles) GetBatchFile(_ context.Context, batchID, name string) (catalog.BatchFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.M[batchID][name]
	if !ok {
		return f, fault.E(fault.NotFound, "BATCH-FILE-NOT-FOUND", "no such file")
	}
	return f, nil
}

// ListBatchFiles returns the batch's files sorted by name.
func (s *BatchFiles) ListBatchFiles(_ context.Context, batchID string) ([]catalog.BatchFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []catalog.BatchFile
	for _, f := range s.M[batchID] {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// BatchParts keeps the batch engine's part and progress items with the
// store's rules (store.Catalog): parts are created once, a watermark only
// rises, the scanned and written sets grow idempotently and the decision
// is claimed once.
type BatchParts struct {
	mu    sync.Mutex
	Parts map[string]map[string]store.BatchPart // batch → PartKey → part
	Runs  map[string]*store.BatchRun
	// PartPuts counts PutBatchPart calls that created a part.
	PartPuts int
	// FailMarkAt, when > 0, makes the FailMarkAt-th SetBatchPartMark call
	// (1-based) fail as unavailable.
	FailMarkAt int
	marks      int
}

// NewBatchParts returns an empty BatchParts.
func NewBatchParts() *BatchParts {
	return &BatchParts{Parts: map[string]map[string]store.BatchPart{}, Runs: map[string]*store.BatchRun{}}
}

// PutBatchPart stores p unless its part exists.
func (s *BatchParts) PutBatchPart(_ context.Context, batchID string, p store.BatchPart) (bool, error) {
	if p.Rows > store.MaxPartRows {
		return false, fault.E(fault.Invalid, "BATCH-PART-ROWS", "too many rows")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Parts[batchID] == nil {
		s.Parts[batchID] = map[string]store.BatchPart{}
	}
	k := store.PartKey(p.File, p.Part)
	if _, ok := s.Parts[batchID][k]; ok {
		return false, nil
	}
	p.Refused = slices.Clone(p.Refused)
	p.Mark = 0
	s.Parts[batchID][k] = p
	s.PartPuts++
	return true, nil
}

// GetBatchPart returns one part (NotFound BATCH-PART-NOT-FOUND).
func (s *BatchParts) GetBatchPart(_ context.Context, batchID string, file, part int) (store.BatchPart, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.Parts[batchID][store.PartKey(file, part)]
	if !ok {
		return p, fault.E(fault.NotFound, "BATCH-PART-NOT-FOUND", "no such part")
	}
	return p, nil
}

// ListBatchParts returns the parts of file (all when file < 0) in order.
func (s *BatchParts) ListBatchParts(_ context.Context, batchID string, file int) ([]store.BatchPart, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.BatchPart
	for _, p := range s.Parts[batchID] {
		if file < 0 || p.File == file {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return store.PartKey(out[i].File, out[i].Part) < store.PartKey(out[j].File, out[j].Part)
	})
	return out, nil
}

// SetBatchPartMark raises the part's watermark.
func (s *BatchParts) SetBatchPartMark(_ context.Context, batchID string, file, part, mark int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks++
	if s.marks == s.FailMarkAt {
		return fault.E(fault.Unavailable, "STORE-UNAVAILABLE", "checkpoint failed")
	}
	k := store.PartKey(file, part)
	p, ok := s.Parts[batchID][k]
	if !ok {
		return fault.E(fault.NotFound, "BATCH-PART-NOT-FOUND", "no such part")
	}
	if mark > p.Mark {
		p.Mark = mark
		s.Parts[batchID][k] = p
	}
	return nil
}

// StartBatchRun creates the progress unless it exists.
func (s *BatchParts) StartBatchRun(_ context.Context, batchID string, files int, src string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.Runs[batchID]; !ok {
		s.Runs[batchID] = &store.BatchRun{Files: files, Src: src}
	}
	return nil
}

func (s *BatchParts) run(batchID string) (*store.BatchRun, error) {
	r, ok := s.Runs[batchID]
	if !ok {
		return nil, fault.E(fault.NotFound, "BATCH-RUN-NOT-FOUND", "not started")
	}
	return r, nil
}

func copyRun(r *store.BatchRun) store.BatchRun {
	c := *r
	c.Scanned = slices.Clone(r.Scanned)
	c.Written = slices.Clone(r.Written)
	return c
}

// GetBatchRun returns the progress (NotFound BATCH-RUN-NOT-FOUND).
func (s *BatchParts) GetBatchRun(_ context.Context, batchID string) (store.BatchRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.run(batchID)
	if err != nil {
		return store.BatchRun{}, err
	}
	return copyRun(r), nil
}

// AddScannedFile adds file to the scanned set.
func (s *BatchParts) AddScannedFile(_ context.Context, batchID string, file int) (store.BatchRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.run(batchID)
	if err != nil {
		return store.BatchRun{}, err
	}
	if !slices.Contains(r.Scanned, file) {
		r.Scanned = append(r.Scanned, file)
		sort.Ints(r.Scanned)
	}
	return copyRun(r), nil
}

// ClaimBatchDecision records the decision once.
func (s *BatchParts) ClaimBatchDecision(_ context.Context, batchID, decision string, parts int) (store.BatchRun, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.run(batchID)
	if err != nil {
		return store.BatchRun{}, false, err
	}
	if r.Decided != "" {
		return copyRun(r), false, nil
	}
	r.Decided, r.Parts = decision, parts
	return copyRun(r), true, nil
}

// SetBatchFanned records that the write tasks were issued.
func (s *BatchParts) SetBatchFanned(_ context.Context, batchID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.run(batchID)
	if err != nil {
		return err
	}
	r.Fanned = true
	return nil
}

// AddWrittenPart adds the part to the written set.
func (s *BatchParts) AddWrittenPart(_ context.Context, batchID string, file, part int) (store.BatchRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.run(batchID)
	if err != nil {
		return store.BatchRun{}, err
	}
	k := store.PartKey(file, part)
	if !slices.Contains(r.Written, k) {
		r.Written = append(r.Written, k)
		sort.Strings(r.Written)
	}
	return copyRun(r), nil
}
