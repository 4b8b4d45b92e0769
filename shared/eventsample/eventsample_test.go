package eventsample

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

type fatalRecorder struct{ msg string }

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	if f.msg == "" {
		f.msg = fmt.Sprintf(format, args...)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	var ok events.S3Event
	Decode(t, "batch-ingest-s3-put.json", &ok)
	if len(ok.Records) == 0 {
		t.Fatal("sample S3 event has no records")
	}

	dir := t.TempDir()
	// Decode reads from Dir(); point a relative name at a temp file.
	rel, err := filepath.Rel(Dir(), filepath.Join(dir, "bad.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"unknown field": `{"Records":[],"Invented":1}`,
		"trailing data": `{"Records":[]} {}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		rec := &fatalRecorder{}
		var ev events.S3Event
		Decode(rec, rel, &ev)
		if rec.msg == "" {
			t.Errorf("%s: Decode accepted %s", name, body)
		}
	}
}

// TestEverySampleBelongsToAFunction keeps events/ tidy: each sample is named
// after the function whose test feeds it through its handler.
func TestEverySampleBelongsToAFunction(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(Dir(), "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in %s: %v", Dir(), err)
	}
	fns, _ := filepath.Glob(filepath.Join(Dir(), "..", "functions", "*"))
	for _, f := range files {
		base := filepath.Base(f)
		found := false
		for _, fn := range fns {
			if strings.HasPrefix(base, filepath.Base(fn)+"-") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s is not named after a function", base)
		}
	}
}
