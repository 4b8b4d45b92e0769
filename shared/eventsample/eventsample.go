// Package eventsample loads the sample Lambda events of the repository's
// events/ folder for tests, decoding each strictly into its aws-lambda-go
// type so that a sample with a misspelt or invented field fails its test.
package eventsample

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Dir is the events/ folder, found from this source file so that tests
// load samples whatever their working directory.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "events")
}

// TB is the part of testing.TB Decode uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Decode reads events/<name> into v, refusing unknown fields and trailing data.
func Decode(t TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatalf("sample event: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("sample event %s does not decode strictly into %T: %v", name, v, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("sample event %s has data after its JSON value", name)
	}
}
