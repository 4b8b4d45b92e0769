package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindOf(t *testing.T) {
	base := E(NotFound, "CAT-404", "dataset not found")
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"direct", base, NotFound},
		{"wrapped by fmt", fmt.Errorf("load: %w", base), NotFound},
		{"plain error", errors.New("boom"), Internal},
		{"wrap keeps kind", Wrap(errors.New("slow down"), Throttled, "DDB-THROTTLE", "throttled"), Throttled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIsMatchesKindAndCode(t *testing.T) {
	err := fmt.Errorf("x: %w", E(Invalid, "XDM-TYPE", "wrong type"))
	if !errors.Is(err, &Error{Kind: Invalid}) {
		t.Error("errors.Is by kind alone = false, want true")
	}
	if !errors.Is(err, &Error{Kind: Invalid, Code: "XDM-TYPE"}) {
		t.Error("errors.Is by kind and code = false, want true")
	}
	if errors.Is(err, &Error{Kind: Invalid, Code: "OTHER"}) {
		t.Error("errors.Is with another code = true, want false")
	}
	if errors.Is(err, &Error{Kind: NotFound}) {
		t.Error("errors.Is with another kind = true, want false")
	}
}

func TestAsHidesInternals(t *testing.T) {
	e := As(errors.New("dial tcp 10.0.0.1: table mosaic-prod-ProfileTable"))
	if e.Kind != Internal || e.Message != "internal error" {
		t.Errorf("As(plain) = %v %q, want internal %q", e.Kind, e.Message, "internal error")
	}
}

func TestTransient(t *testing.T) {
	// A bug is not cured by a retry: Internal is final, so that an error
	// nobody classified fails one row and never a whole file or shard.
	for k, want := range map[Kind]bool{
		Throttled: true, Unavailable: true,
		Internal: false, Invalid: false, NotFound: false, Conflict: false, Forbidden: false, TooLarge: false,
	} {
		if got := k.Transient(); got != want {
			t.Errorf("%v.Transient() = %v, want %v", k, got, want)
		}
	}
}
