package main

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/merge"
)

// memoryPolicies keeps merge policies in the process under the rules of
// shared/merge, starting with the built-in defaults, as store.Catalog keeps
// them in the catalog table: the catalog of a handler built by newService,
// which newHandler replaces with the table. Unit tests use it as it is.
type memoryPolicies struct {
	mu   sync.Mutex
	list []merge.Policy
}

func newMemoryPolicies() *memoryPolicies { return &memoryPolicies{list: merge.Defaults()} }

func (m *memoryPolicies) MergePolicies(context.Context) ([]merge.Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.list), nil
}

// change applies f to the policies of one class, then checks the class.
func (m *memoryPolicies) change(schema string, f func([]merge.Policy) ([]merge.Policy, error)) error {
	var class, rest []merge.Policy
	for _, p := range m.list {
		if p.Schema.Name == schema {
			class = append(class, p)
		} else {
			rest = append(rest, p)
		}
	}
	class, err := f(class)
	if err != nil {
		return err
	}
	if err := merge.CheckClass(schema, class); err != nil {
		return err
	}
	m.list = append(rest, class...)
	return nil
}

func (m *memoryPolicies) schemaOf(id string) (string, error) {
	for _, p := range m.list {
		if p.ID == id {
			return p.Schema.Name, nil
		}
	}
	return "", merge.PolicyNotFound(id)
}

func (m *memoryPolicies) CreateMergePolicy(_ context.Context, p merge.Policy, now time.Time) (merge.Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := merge.AddPolicy(nil, p, now); err != nil {
		return merge.Policy{}, err
	}
	var added merge.Policy
	err := m.change(p.Schema.Name, func(list []merge.Policy) ([]merge.Policy, error) {
		out, err := merge.AddPolicy(list, p, now)
		if err == nil {
			added = out[len(out)-1]
		}
		return out, err
	})
	return added, err
}

func (m *memoryPolicies) UpdateMergePolicy(_ context.Context, id string, change func(merge.Policy) (merge.Policy, error), now time.Time) (merge.Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	schema, err := m.schemaOf(id)
	if err != nil {
		return merge.Policy{}, err
	}
	var updated merge.Policy
	err = m.change(schema, func(list []merge.Policy) (out []merge.Policy, err error) {
		out, updated, err = merge.UpdatePolicy(list, id, change, now)
		return out, err
	})
	return updated, err
}

func (m *memoryPolicies) DeleteMergePolicy(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	schema, err := m.schemaOf(id)
	if err != nil {
		return err
	}
	return m.change(schema, func(list []merge.Policy) ([]merge.Policy, error) { return merge.RemovePolicy(list, id) })
}
