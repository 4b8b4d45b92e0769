package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

// stored is the record a writer stores for a fragment or an event: Raw
// when set, else Record encoded (shared/store's rule), decoded again.
func stored(t *testing.T, raw []byte, rec map[string]any) map[string]any {
	t.Helper()
	if len(raw) == 0 {
		var err error
		if raw, err = json.Marshal(rec); err != nil {
			t.Fatal(err)
		}
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStoredValuesAreCoerced: the profile and the event hold the values
// after the schema's conversions, not the bytes received.
func TestStoredValuesAreCoerced(t *testing.T) {
	ctx := context.Background()
	t.Run("profile", func(t *testing.T) {
		rec := &recorder{}
		p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
		row := Row{Data: []byte(`{"personalEmail":{"address":"jane@example.com"},` +
			`"person":{"birthYear":"1985","birthDate":490147200000,"name":{"firstName":"Jane","middleName":""}},` +
			`"homeAddress":{"postalCode":1000,"primary":"TRUE","city":null},` +
			`"extSourceSystemAudit":{"lastUpdatedDate":1767225600000}}`), Received: time.UnixMilli(1767225600000)}
		if _, err := p.Process(ctx, p1ProfileSpec(t), row); err != nil {
			t.Fatal(err)
		}
		if len(rec.frags) != 1 {
			t.Fatalf("%d fragments", len(rec.frags))
		}
		got := stored(t, rec.frags[0].Raw, rec.frags[0].Record)
		want := map[string]any{
			"personalEmail":        map[string]any{"address": "jane@example.com"},
			"person":               map[string]any{"birthYear": 1985.0, "birthDate": "1985-07-14", "name": map[string]any{"firstName": "Jane"}},
			"homeAddress":          map[string]any{"postalCode": "1000", "primary": true},
			"extSourceSystemAudit": map[string]any{"lastUpdatedDate": "2026-01-01T00:00:00Z"},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("stored record (-want +got):\n%s", d)
		}
	})
	t.Run("event", func(t *testing.T) {
		rec := &recorder{}
		p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
		row := Row{Data: []byte(`{"_id":"e1","timestamp":1708726021000,` +
			`"identityMap":{"ECID":[{"id":"` + strings.Repeat("4", 38) + `","primary":true}]},` +
			`"commerce":{"order":{"priceTotal":"184.97"}},"productListItems":[{"SKU":1001,"quantity":"2"}]}`)}
		spec := p1EventSpec(t)
		if _, err := p.Process(ctx, spec, row); err != nil {
			t.Fatal(err)
		}
		if len(rec.events) != 1 {
			t.Fatalf("%d events", len(rec.events))
		}
		got := stored(t, rec.events[0].Raw, rec.events[0].Record)
		if got["timestamp"] != "2024-02-23T22:07:01Z" {
			t.Errorf("stored timestamp %#v, want the ISO-8601 string", got["timestamp"])
		}
		if v := got["commerce"].(map[string]any)["order"].(map[string]any)["priceTotal"]; v != 184.97 {
			t.Errorf("stored priceTotal %#v, want 184.97", v)
		}
		if v := got["productListItems"].([]any)[0]; !cmp.Equal(v, map[string]any{"SKU": "1001", "quantity": 2.0}) {
			t.Errorf("stored product %#v, want SKU \"1001\" and quantity 2", v)
		}
		if rec.events[0].Timestamp != 1708726021000 {
			t.Errorf("event time %d", rec.events[0].Timestamp)
		}
	})
	t.Run("unchanged rows keep their bytes", func(t *testing.T) {
		rec := &recorder{}
		p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
		if _, err := p.Process(ctx, p1ProfileSpec(t), Row{Data: p1ProfileRow, Received: p1Received}); err != nil {
			t.Fatal(err)
		}
		if string(rec.frags[0].Raw) != string(p1ProfileRow) {
			t.Errorf("a row that needed no conversion was encoded again")
		}
	})
}

// TestIdentityFieldTrimmedBeforeFormatCheck: a descriptor identity field
// is trimmed before the schema's format check, as an identityMap id is.
func TestIdentityFieldTrimmedBeforeFormatCheck(t *testing.T) {
	ctx := context.Background()
	spec := p1ProfileSpec(t)
	rec := &recorder{}
	p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
	if _, err := p.Process(ctx, spec, Row{Data: []byte(`{"personalEmail":{"address":"  Jane.Doe@Example.COM\t"}}`)}); err != nil {
		t.Fatalf("descriptor value with spaces: %v", err)
	}
	if _, err := p.Process(ctx, spec, Row{Data: []byte(`{"identityMap":{"email":[{"id":"  Jane.Doe@Example.COM\t","primary":true}]},"personalEmail":{"address":"jane.doe@example.com"}}`)}); err != nil {
		t.Fatalf("identityMap value with spaces: %v", err)
	}
	if len(rec.frags) != 2 || rec.frags[0].Identity != rec.frags[1].Identity || rec.frags[0].Identity != "Email#jane.doe@example.com" {
		t.Errorf("fragments %v, %v: want one key Email#jane.doe@example.com", rec.frags[0].Identity, rec.frags[len(rec.frags)-1].Identity)
	}
	if got := stored(t, rec.frags[0].Raw, rec.frags[0].Record)["personalEmail"]; !cmp.Equal(got, map[string]any{"address": "Jane.Doe@Example.COM"}) {
		t.Errorf("stored personalEmail %v, want the trimmed value", got)
	}
}

// TestOrderingTimeClamped: an ordering time past the receive time plus the
// allowed skew is clamped to the receive time, with a warning.
func TestOrderingTimeClamped(t *testing.T) {
	ctx := context.Background()
	received := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	row := func(last time.Time) Row {
		return Row{Data: []byte(`{"personalEmail":{"address":"a@example.com"},"extSourceSystemAudit":{"lastUpdatedDate":"` +
			last.Format(time.RFC3339Nano) + `"}}`), Received: received}
	}
	tests := []struct {
		name    string
		skew    time.Duration
		last    time.Time
		wantTS  time.Time
		clamped bool
	}{
		{"far future", 0, received.AddDate(100, 0, 0), received, true},
		{"just over the default hour", 0, received.Add(time.Hour + time.Millisecond), received, true},
		{"within the default hour", 0, received.Add(59 * time.Minute), received.Add(59 * time.Minute), false},
		{"past", 0, received.Add(-48 * time.Hour), received.Add(-48 * time.Hour), false},
		{"configured skew", 10 * time.Minute, received.Add(30 * time.Minute), received, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			p := &Pipeline{Fragments: rec, Links: rec, Events: rec, MaxClockSkew: tt.skew}
			out, err := p.Process(ctx, profileSpec, row(tt.last))
			if err != nil {
				t.Fatal(err)
			}
			f := rec.frags[0]
			if f.TS != tt.wantTS.UnixMilli() {
				t.Errorf("TS %v, want %v", time.UnixMilli(f.TS).UTC(), tt.wantTS)
			}
			if got := merge.OrderingTime(merge.Fragment{Record: stored(t, f.Raw, f.Record), TS: 0}); got != tt.wantTS.UnixMilli() {
				t.Errorf("ordering time of the stored record %v, want %v", time.UnixMilli(got).UTC(), tt.wantTS)
			}
			warned := false
			for _, w := range out.Warnings {
				warned = warned || w.Code == CodeOrderingTimeClamped
			}
			if warned != tt.clamped {
				t.Errorf("warnings %v, want clamped=%v", out.Warnings, tt.clamped)
			}
		})
	}
}

// TestFailedRecordBounded: no refused row, however hostile, gives a code,
// message or pointer over the documented bounds, and cuts are at UTF-8
// boundaries.
func TestFailedRecordBounded(t *testing.T) {
	ctx := context.Background()
	p := &Pipeline{Fragments: &recorder{}, Links: &recorder{}, Events: &recorder{}}
	huge := strings.Repeat("é", 35<<10) // 70 KB
	rows := map[string]string{
		"unknown field":       `{"personalEmail":{"address":"a@example.com"},"` + huge + `":1}`,
		"unknown fields":      `{"personalEmail":{"address":"a@example.com"},"a` + huge + `":1,"b` + huge[:60<<10] + `":2,"c` + huge[:50<<10] + `":3}`,
		"deep unknown field":  `{"personalEmail":{"address":"a@example.com"},"person":{"name":{"` + huge + `":{"x":1}}}}`,
		"unknown namespace":   `{"personalEmail":{"address":"a@example.com"},"identityMap":{"` + huge + `":[{"id":"x"}]}}`,
		"long primary":        `{"personalEmail":{"address":"` + strings.Repeat("😀", 600) + `@example.com"}}`,
		"type of a long path": `{"personalEmail":{"address":"a@example.com"},"person":{"name":{"firstName":{"` + huge + `":1}}}}`,
	}
	spec := p1ProfileSpec(t)
	for name, data := range rows {
		t.Run(name, func(t *testing.T) {
			_, err := p.Process(ctx, spec, Row{Data: []byte(data)})
			if err == nil || Transient(err) {
				t.Fatalf("got %v, want a refusal", err)
			}
			code, msg := Describe(err)
			if code == "" || len(code) > MaxCodeBytes {
				t.Errorf("code %q", code)
			}
			if len(msg) > MaxErrorMessageBytes || !utf8.ValidString(msg) {
				t.Errorf("message is %d bytes (valid UTF-8: %v), want at most %d", len(msg), utf8.ValidString(msg), MaxErrorMessageBytes)
			}
			var fe *fault.Error
			if errors.As(err, &fe) && len(fe.Message) > MaxErrorMessageBytes {
				t.Errorf("error message is %d bytes before Describe", len(fe.Message))
			}
		})
	}
	t.Run("violations", func(t *testing.T) {
		vs := spec.Validate(map[string]any{"personalEmail": map[string]any{"address": "a@example.com"}, huge: 1.0, "person": map[string]any{huge: 1.0}})
		if len(vs) == 0 {
			t.Fatal("no violation")
		}
		for _, v := range vs {
			if len(v.Pointer) > MaxPointerBytes || !utf8.ValidString(v.Pointer) || len(v.Message) > MaxErrorMessageBytes {
				t.Errorf("violation pointer %d bytes, message %d bytes", len(v.Pointer), len(v.Message))
			}
		}
	})
}

func TestParseClockSkew(t *testing.T) {
	for in, want := range map[string]time.Duration{"": DefaultMaxClockSkew, " 90m ": 90 * time.Minute, "2h": 2 * time.Hour} {
		if got, err := ParseClockSkew(in); err != nil || got != want {
			t.Errorf("ParseClockSkew(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"1 hour", "-1h", "0s", "60"} {
		if _, err := ParseClockSkew(bad); err == nil {
			t.Errorf("ParseClockSkew(%q) succeeded", bad)
		}
	}
}
