package storetest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/upsert"
)

func TestProfilesAppliesOperationsInClockOrder(t *testing.T) {
	ctx := context.Background()
	frag := func(op string, ts int64, rec map[string]any) merge.Fragment {
		return merge.Fragment{Identity: "Email#a@example.com", Dataset: "ds", Op: op, TS: ts, Src: "s", Record: rec}
	}
	p := NewProfiles()
	for _, f := range []merge.Fragment{
		frag(merge.OpMerge, 300, map[string]any{"b": 3.0}),
		frag("", 100, map[string]any{"a": 1.0, "b": 1.0}), // older create, arriving late
		frag(merge.OpMerge, 200, map[string]any{"a": nil}),
	} {
		if err := p.PutFragment(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	got := p.Frags["Email#a@example.com|ds"]
	if diff := cmp.Diff(map[string]any{"b": 3.0}, got.Record); diff != "" || got.TS != 300 || got.Op != "" {
		t.Errorf("fragment at %d, op %q (-want +got record):\n%s", got.TS, got.Op, diff)
	}
	big := map[string]any{"big": string(make([]byte, upsert.MaxRecordBytes))}
	if err := p.PutFragment(ctx, frag(merge.OpMerge, 400, big)); fault.As(err).Code != upsert.CodeTooLarge {
		t.Errorf("too large merge: %v, want %s", err, upsert.CodeTooLarge)
	}
	if err := p.PutFragment(ctx, frag(merge.OpDelete, 500, nil)); err != nil {
		t.Fatal(err)
	}
	if err := p.PutFragment(ctx, frag(merge.OpMerge, 450, map[string]any{"c": 1.0})); err != nil {
		t.Fatal(err)
	}
	if f, ok := p.Frags["Email#a@example.com|ds"]; ok {
		t.Errorf("deleted fragment still held: %+v", f)
	}
}
