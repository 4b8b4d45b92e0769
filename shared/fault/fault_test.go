package fault

import (
	"errors"
	"fmt"
	"strings"
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

func TestPublic(t *testing.T) {
	const secret = "dial tcp 10.0.0.1: table mosaic-prod-ProfileTable"
	tests := []struct {
		name        string
		err         error
		wantCode    string
		wantMessage string
	}{
		{"plain error", errors.New(secret), InternalCode, InternalMessage},
		{"plain error wrapped by fmt", fmt.Errorf("load: %w", errors.New(secret)), InternalCode, InternalMessage},
		{"internal with its own code", Wrap(errors.New(secret), Internal, "STORE-DECODE", "catalog item could not be decoded"), InternalCode, InternalMessage},
		{"internal wrapped by fmt", fmt.Errorf("read: %w", Wrap(errors.New(secret), Internal, "STORE-ENCODE", "encode")), InternalCode, InternalMessage},
		{"invalid", E(Invalid, "XDM-TYPE", "wrong type"), "XDM-TYPE", "wrong type"},
		{"wrapped by fmt", fmt.Errorf("row 3: %w", E(NotFound, "DATASET-NOT-FOUND", "dataset \"ds\" does not exist")), "DATASET-NOT-FOUND", "dataset \"ds\" does not exist"},
		{"cause of a safe error", Wrap(errors.New(secret), Throttled, "STORE-THROTTLED", "write: throttled"), "STORE-THROTTLED", "write: throttled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := Public(tt.err)
			if code != tt.wantCode || msg != tt.wantMessage {
				t.Errorf("Public() = %q, %q, want %q, %q", code, msg, tt.wantCode, tt.wantMessage)
			}
			if strings.Contains(code+msg, "10.0.0.1") || strings.Contains(code+msg, "ProfileTable") {
				t.Errorf("Public() = %q, %q shows the cause", code, msg)
			}
		})
	}
}
