package store

import (
	"errors"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

func TestParseClusterCap(t *testing.T) {
	for in, want := range map[string]int{"": DefaultClusterCap, " 50 ": 50, "1": 1, "10000": 10000} {
		if got, err := ParseClusterCap(in); err != nil || got != want {
			t.Errorf("ParseClusterCap(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-3", "10001", "fifty", "5.5"} {
		_, err := ParseClusterCap(in)
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Code != "CONFIG-CLUSTER-CAP" {
			t.Errorf("ParseClusterCap(%q) = %v, want Invalid CONFIG-CLUSTER-CAP", in, err)
		}
	}
}
