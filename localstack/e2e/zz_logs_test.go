//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestZLogsHoldNoPII checks S4 on the local cloud: after the other tests
// have sent identities and attributes through every function, no function
// log holds any of them. It is named to run last.
func TestZLogsHoldNoPII(t *testing.T) {
	if tgt.LogsDir == "" {
		t.Skip("function logs are only readable on the local cloud")
	}
	files, err := filepath.Glob(filepath.Join(tgt.LogsDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no function logs in %s", tgt.LogsDir)
	}
	secrets := []string{"jane@example.com", "Jane@Example.com", "user02@example.com", "Janet", "Lisbon", "555 0100", "Quintanilla"}
	var read int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		read += len(b)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds %q", filepath.Base(f), s)
			}
		}
	}
	if read == 0 {
		t.Errorf("function logs are empty: nothing was checked")
	}
}
