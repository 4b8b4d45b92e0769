package xdm

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// PatchOp is one JSON Patch (RFC 6902) operation.
type PatchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// ApplyPatch applies ops to a decoded JSON document (maps, slices and
// scalars as encoding/json produces them) and returns the new document. The
// input is not modified. All of add, remove, replace, move, copy and test
// are supported; any failing operation fails the whole patch.
func ApplyPatch(doc any, ops []PatchOp) (any, error) {
	doc = deepCopy(doc)
	for i, op := range ops {
		var err error
		doc, err = applyOp(doc, op)
		if err != nil {
			e := fault.As(err)
			return nil, fault.Errorf(fault.Invalid, "XDM-PATCH", "patch operation %d (%s %s): %s", i, op.Op, op.Path, e.Message)
		}
	}
	return doc, nil
}

func patchErr(msg string) error { return fault.E(fault.Invalid, "XDM-PATCH", msg) }

func applyOp(doc any, op PatchOp) (any, error) {
	path, err := parsePointer(op.Path)
	if err != nil {
		return nil, err
	}
	value := func() (any, error) {
		if len(op.Value) == 0 {
			return nil, patchErr("value is required")
		}
		var v any
		if err := json.Unmarshal(op.Value, &v); err != nil {
			return nil, patchErr("value is not valid JSON")
		}
		return v, nil
	}
	switch op.Op {
	case "add":
		v, err := value()
		if err != nil {
			return nil, err
		}
		return addAt(doc, path, v)
	case "remove":
		d, _, err := removeAt(doc, path)
		return d, err
	case "replace":
		v, err := value()
		if err != nil {
			return nil, err
		}
		if _, err := getAt(doc, path); err != nil {
			return nil, err
		}
		if len(path) == 0 {
			return v, nil
		}
		d, _, err := removeAt(doc, path)
		if err != nil {
			return nil, err
		}
		return addAt(d, path, v)
	case "move":
		from, err := parsePointer(op.From)
		if err != nil {
			return nil, err
		}
		if len(path) > len(from) && isPrefix(from, path) {
			return nil, patchErr("cannot move a value into itself")
		}
		d, v, err := removeAt(doc, from)
		if err != nil {
			return nil, err
		}
		return addAt(d, path, v)
	case "copy":
		from, err := parsePointer(op.From)
		if err != nil {
			return nil, err
		}
		v, err := getAt(doc, from)
		if err != nil {
			return nil, err
		}
		return addAt(doc, path, deepCopy(v))
	case "test":
		v, err := value()
		if err != nil {
			return nil, err
		}
		got, err := getAt(doc, path)
		if err != nil {
			return nil, err
		}
		if !jsonEqual(got, v) {
			return nil, patchErr("test failed")
		}
		return doc, nil
	}
	return nil, patchErr(`op must be one of "add", "remove", "replace", "move", "copy", "test"`)
}

func isPrefix(p, q []string) bool {
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// parsePointer splits an RFC 6901 JSON pointer into unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, patchErr("path must be empty or start with /")
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 >= len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, patchErr("path has an invalid ~ escape")
			}
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

func arrayIndex(tok string, n int, allowEnd bool) (int, error) {
	if allowEnd && tok == "-" {
		return n, nil
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, patchErr("array index is malformed")
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 {
		return 0, patchErr("array index is malformed")
	}
	limit := n - 1
	if allowEnd {
		limit = n
	}
	if i > limit {
		return 0, patchErr("array index is out of range")
	}
	return i, nil
}

func getAt(doc any, path []string) (any, error) {
	cur := doc
	for _, t := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, patchErr("path does not exist")
			}
			cur = v
		case []any:
			i, err := arrayIndex(t, len(c), false)
			if err != nil {
				return nil, err
			}
			cur = c[i]
		default:
			return nil, patchErr("path does not exist")
		}
	}
	return cur, nil
}

// addAt returns doc with v added at path (RFC 6902 add semantics).
func addAt(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := getAt(doc, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch c := parent.(type) {
	case map[string]any:
		c[last] = v
		return doc, nil
	case []any:
		i, err := arrayIndex(last, len(c), true)
		if err != nil {
			return nil, err
		}
		n := make([]any, 0, len(c)+1)
		n = append(n, c[:i]...)
		n = append(n, v)
		n = append(n, c[i:]...)
		return setAt(doc, path[:len(path)-1], n)
	}
	return nil, patchErr("parent of path is not an object or array")
}

// removeAt returns doc without the value at path, and that value.
func removeAt(doc any, path []string) (any, any, error) {
	if len(path) == 0 {
		return nil, nil, patchErr("cannot remove the whole document")
	}
	parent, err := getAt(doc, path[:len(path)-1])
	if err != nil {
		return nil, nil, err
	}
	last := path[len(path)-1]
	switch c := parent.(type) {
	case map[string]any:
		v, ok := c[last]
		if !ok {
			return nil, nil, patchErr("path does not exist")
		}
		delete(c, last)
		return doc, v, nil
	case []any:
		i, err := arrayIndex(last, len(c), false)
		if err != nil {
			return nil, nil, err
		}
		v := c[i]
		n := make([]any, 0, len(c)-1)
		n = append(n, c[:i]...)
		n = append(n, c[i+1:]...)
		d, err := setAt(doc, path[:len(path)-1], n)
		return d, v, err
	}
	return nil, nil, patchErr("path does not exist")
}

// setAt replaces the value at an existing path (used for slices, which
// change identity when they grow or shrink).
func setAt(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := getAt(doc, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch c := parent.(type) {
	case map[string]any:
		c[last] = v
	case []any:
		i, err := arrayIndex(last, len(c), false)
		if err != nil {
			return nil, err
		}
		c[i] = v
	default:
		return nil, patchErr("path does not exist")
	}
	return doc, nil
}

func deepCopy(v any) any {
	switch c := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, x := range c {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(c))
		for i, x := range c {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}
