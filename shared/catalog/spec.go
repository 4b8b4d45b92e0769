package catalog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// SpecSource is where the SpecLoader reads the registry; store.Catalog
// implements it. GetDataset answers fault NotFound "DATASET-NOT-FOUND" and
// GetSchema fault NotFound "SCHEMA-NOT-FOUND" for unknown ids.
type SpecSource interface {
	GetDataset(ctx context.Context, id string) (Dataset, error)
	GetSchema(ctx context.Context, id string) (xdm.Schema, error)
	ListDescriptors(ctx context.Context, schemaID string) ([]xdm.Descriptor, error)
}

// FieldGroupSource is what the SpecLoader needs to resolve schemas that use
// tenant field groups; store.Catalog implements it. A SpecSource without it
// resolves built-in field groups only.
type FieldGroupSource interface {
	GetFieldGroup(ctx context.Context, id string) (xdm.FieldGroup, error)
}

// NamespaceSource lists the tenant's custom identity namespaces;
// store.Catalog implements it.
type NamespaceSource interface {
	ListNamespaces(ctx context.Context) ([]identity.Namespace, error)
}

// OverrideSource lists the tenant's settings of standard namespaces
// (whether one is unique); store.Catalog implements it. A NamespaceSource
// without it leaves the standard namespaces as identity.Standard has them.
type OverrideSource interface {
	ListNamespaceOverrides(ctx context.Context) ([]identity.Override, error)
}

// DefaultFreshness is how long a loaded spec is used before the dataset,
// schema and descriptors are read again, so that registry changes reach
// running ingest functions within seconds.
const DefaultFreshness = 15 * time.Second

// SpecLoader builds and caches IngestSpecs, one per dataset, for the life of
// a function container. Compiling is redone only when the dataset, schema
// version or descriptors changed. It is safe for concurrent use.
type SpecLoader struct {
	src SpecSource
	// Freshness and Now may be changed before first use.
	Freshness time.Duration
	Now       func() time.Time

	// NamespaceRetry is the least time between two reads of the namespaces
	// that a miss forces (see Namespace); it bounds what a flood of unknown
	// namespace codes costs the table to one read per NamespaceRetry.
	NamespaceRetry time.Duration

	mu      sync.Mutex
	entries map[string]*specEntry
	ns      nsCache
}

type specEntry struct {
	spec    *IngestSpec
	key     string
	checked time.Time
}

// NewSpecLoader returns a loader reading from src.
func NewSpecLoader(src SpecSource) *SpecLoader {
	return &SpecLoader{src: src, Freshness: DefaultFreshness, NamespaceRetry: DefaultNamespaceRetry, Now: time.Now, entries: map[string]*specEntry{}}
}

// Spec returns the ingest spec of a dataset. Unknown datasets are fault
// NotFound "DATASET-NOT-FOUND"; a dataset whose schema is gone is NotFound
// "SCHEMA-NOT-FOUND". When a refresh fails transiently, the last good spec
// is served.
func (l *SpecLoader) Spec(ctx context.Context, datasetID string) (*IngestSpec, error) {
	now := l.Now()
	l.mu.Lock()
	e := l.entries[datasetID]
	if e != nil && now.Sub(e.checked) < l.Freshness {
		l.mu.Unlock()
		return e.spec, nil
	}
	l.mu.Unlock()

	ds, s, descs, groups, err := l.read(ctx, datasetID)
	if err != nil {
		if e != nil && fault.KindOf(err).Transient() {
			return e.spec, nil
		}
		return nil, err
	}
	key := specKey(ds, s, descs, groups)
	if e != nil && e.key == key {
		l.mu.Lock()
		e.checked = now
		l.mu.Unlock()
		return e.spec, nil
	}
	spec, err := BuildSpec(ds, s, descs, groups...)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.entries[datasetID] = &specEntry{spec: spec, key: key, checked: now}
	l.mu.Unlock()
	return spec, nil
}

func (l *SpecLoader) read(ctx context.Context, datasetID string) (Dataset, xdm.Schema, []xdm.Descriptor, []xdm.FieldGroup, error) {
	ds, err := l.src.GetDataset(ctx, datasetID)
	if err != nil {
		return Dataset{}, xdm.Schema{}, nil, nil, err
	}
	s, err := l.src.GetSchema(ctx, ds.SchemaRef.ID)
	if err != nil {
		var fe *fault.Error
		if errors.As(err, &fe) && fe.Kind == fault.NotFound {
			return Dataset{}, xdm.Schema{}, nil, nil, fault.Wrap(err, fault.NotFound, "SCHEMA-NOT-FOUND", "the schema of dataset "+datasetID+" does not exist")
		}
		return Dataset{}, xdm.Schema{}, nil, nil, err
	}
	descs, err := l.src.ListDescriptors(ctx, s.ID)
	if err != nil {
		return Dataset{}, xdm.Schema{}, nil, nil, err
	}
	var groups []xdm.FieldGroup
	if fgs, ok := l.src.(FieldGroupSource); ok {
		for _, id := range s.FieldGroups() {
			if _, builtin := xdm.Lookup(id); builtin {
				continue
			}
			g, err := fgs.GetFieldGroup(ctx, id)
			if err != nil {
				return Dataset{}, xdm.Schema{}, nil, nil, err
			}
			groups = append(groups, g)
		}
	}
	return ds, s, descs, groups, nil
}

// specKey changes whenever anything the spec is built from changes: the
// dataset, the schema version and tags, the descriptors, and the versions
// of the tenant field groups the schema uses (a field group edit changes
// the resolved schema without bumping the schema's own version).
func specKey(ds Dataset, s xdm.Schema, descs []xdm.Descriptor, groups []xdm.FieldGroup) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%d|%v|%d|%s|%s|%v", ds.SchemaRef.ID, ds.Updated, ParseTags(ds.Tags), ds.RowExpiration(), s.ID, s.Version, s.ImmutableTags)
	ids := make([]string, 0, len(descs))
	for _, d := range descs {
		ids = append(ids, fmt.Sprintf("%s:%s:%s:%t", d.ID, d.SourceProperty, d.Namespace, d.IsPrimary))
	}
	sort.Strings(ids)
	b.WriteString(strings.Join(ids, ","))
	for _, g := range groups {
		fmt.Fprintf(&b, "|%s@%s", g.ID, g.Version)
	}
	return b.String()
}

// BuildSpec resolves and compiles a dataset's schema into its ingest spec;
// groups are the tenant field groups the schema uses. The primary identity
// field, when a descriptor names one, is required. The spec's Validate
// coerces the row in place before checking it (see xdm.Validator.Validate):
// the row the pipeline stores is the coerced one.
func BuildSpec(ds Dataset, s xdm.Schema, descs []xdm.Descriptor, groups ...xdm.FieldGroup) (*IngestSpec, error) {
	res, err := xdm.Resolve(s, groups...)
	if err != nil {
		return nil, err
	}
	var ids []IdentityField
	var required []string
	for _, d := range descs {
		if d.Type != xdm.DescriptorIdentity || d.SourceSchema != s.ID {
			continue
		}
		ns := d.Namespace
		if std, ok := identity.LookupStandard(ns); ok {
			ns = std.Code
		}
		ids = append(ids, IdentityField{Path: d.SourceProperty, Namespace: ns, Primary: d.IsPrimary})
		if d.IsPrimary {
			required = append(required, d.SourceProperty)
		}
	}
	sort.SliceStable(ids, func(i, j int) bool {
		if ids[i].Primary != ids[j].Primary {
			return ids[i].Primary
		}
		return ids[i].Path < ids[j].Path
	})
	v, err := xdm.Compile(res, required...)
	if err != nil {
		return nil, err
	}
	flags := ParseTags(ds.Tags)
	var ttl time.Duration
	if s.Class == EventClass {
		ttl = ds.RowExpiration()
	}
	return &IngestSpec{
		RowExpiration:   ttl,
		DatasetID:       ds.ID,
		SchemaID:        s.ID,
		SchemaVersion:   s.Version,
		Class:           s.Class,
		ProfileEnabled:  flags.ProfileEnabled && s.ProfileEnabled(),
		IdentityEnabled: flags.IdentityEnabled,
		Upsert:          flags.Upsert,
		Validate: func(row map[string]any) []Violation {
			return violations(v.Validate(row))
		},
		Check: func(row map[string]any) ([]Violation, bool) {
			vs, changed := v.ValidateRow(row)
			return violations(vs), changed
		},
		CheckPatch: partialCheck(res),
		FieldType:  fieldTypes(res),
		Identities: ids,
	}, nil
}

// codeCompile refuses a partial row when its schema's partial validator
// does not compile (its full validator did, so this is not expected).
const codeCompile = "XDM-COMPILE"

// partialCheck returns IngestSpec.CheckPatch of a resolved schema: the
// validator of xdm.CompilePartial, compiled at the first call, so that the
// datasets that never see a partial row do not pay for it. It is safe for
// concurrent use.
func partialCheck(res *xdm.Resolved) func(row map[string]any) ([]Violation, bool) {
	var (
		once sync.Once
		v    *xdm.Validator
		err  error
	)
	return func(row map[string]any) ([]Violation, bool) {
		once.Do(func() { v, err = xdm.CompilePartial(res) })
		if err != nil {
			return []Violation{{Code: codeCompile, Message: "the schema does not compile for partial rows"}}, false
		}
		vs, changed := v.ValidateRow(row)
		return violations(vs), changed
	}
}

// fieldTypes returns IngestSpec.FieldType of a resolved schema.
func fieldTypes(res *xdm.Resolved) func(path string) (string, bool) {
	return func(path string) (string, bool) {
		sch := res.JSON
		rest := path
		for rest != "" {
			var seg string
			switch {
			case rest[0] == '[':
				end := strings.IndexByte(rest, ']')
				if end < 2 || strings.Trim(rest[1:end], "0123456789") != "" {
					return "", false
				}
				items, _ := sch["items"].(map[string]any)
				if sch["type"] != "array" || items == nil {
					return "", false
				}
				sch, rest = items, rest[end+1:]
				if rest != "" && rest[0] == '.' {
					rest = rest[1:]
					if rest == "" {
						return "", false
					}
				}
				continue
			default:
				end := strings.IndexAny(rest, ".[")
				if end < 0 {
					end = len(rest)
				}
				seg, rest = rest[:end], rest[end:]
				if seg == "" {
					return "", false
				}
				if rest != "" && rest[0] == '.' {
					rest = rest[1:]
					if rest == "" {
						return "", false
					}
				}
			}
			props, _ := sch["properties"].(map[string]any)
			next, _ := props[seg].(map[string]any)
			if next == nil {
				// A map field (meta:xdmType map) takes any key.
				next, _ = sch["additionalProperties"].(map[string]any)
			}
			if next == nil {
				return "", false
			}
			sch = next
		}
		if sch == nil || path == "" {
			return "", false
		}
		return xdmTypeOf(sch), true
	}
}

// xdmTypeOf names the type of a field's JSON Schema.
func xdmTypeOf(sch map[string]any) string {
	if t, ok := sch["meta:xdmType"].(string); ok && t != "" {
		return t
	}
	t, _ := sch["type"].(string)
	if f, _ := sch["format"].(string); t == "string" && (f == "date" || f == "date-time") {
		return f
	}
	if t == "" {
		t = "object"
	}
	return t
}

func violations(vs []xdm.Violation) []Violation {
	if len(vs) == 0 {
		return nil
	}
	out := make([]Violation, len(vs))
	for i, x := range vs {
		out[i] = Violation(x)
	}
	return out
}
