package catalog

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

const day = 24 * time.Hour

func TestParseISODuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"P1D", day},
		{"P30D", 30 * day},
		{"P12M", 360 * day},
		{"P1Y", 365 * day},
		{"P10Y", 3650 * day},
		{"P2W", 14 * day},
		{"P1Y2M3D", (365 + 60 + 3) * day},
		{"PT24H", day},
		{"P1DT12H", 36 * time.Hour},
		{"PT1H30M15S", time.Hour + 30*time.Minute + 15*time.Second},
		{"P0D", 0},
		{"P000000001D", day},
	} {
		got, err := ParseISODuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseISODuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "P", "PT", "P1DT", "30D", "p30d", "P30d", "P-1D", "P+1D", "P1.5D", "P1,5D", "P1D1M", "PT1S1H",
		"P1DT1H1HT", "P1W1D", "P1Y1W", "P1M1D1D", "P1X", "PD", "P1", "P1DT1", "P1234567890D", " P1D", "P1D ",
		"P0003-01-00", "P99999999999999999999Y", "PT1H1D",
	} {
		_, err := ParseISODuration(in)
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Code != CodeTTL {
			t.Errorf("ParseISODuration(%q) = %v, want Invalid %s", in, err, CodeTTL)
		}
	}
	// No overflow: the largest numbers give large durations or errors,
	// never a negative one.
	for _, in := range []string{"P999999999Y", "P999999999Y999999999M999999999D", "PT999999999H999999999M999999999S"} {
		if d, err := ParseISODuration(in); err == nil && d < 0 {
			t.Errorf("ParseISODuration(%q) = %v, want an error or a positive duration", in, d)
		}
	}
}

func TestParseTTLBounds(t *testing.T) {
	for in, ok := range map[string]bool{
		"P1D": true, "PT24H": true, "P10Y": true, "P3650D": true, "P12M": true, "P7D": true,
		"PT23H59M59S": false, "P0D": false, "P10Y1D": false, "P3651D": false, "P11Y": false,
	} {
		_, err := ParseTTL(in)
		if (err == nil) != ok {
			t.Errorf("ParseTTL(%q) = %v, want ok %v", in, err, ok)
		}
	}
}

// FuzzParseISODuration: any input either is refused with CodeTTL or gives
// a duration ≥ 0 that the same duration written in seconds gives again.
func FuzzParseISODuration(f *testing.F) {
	for _, s := range []string{"P30D", "P1Y2M3DT4H5M6S", "P2W", "PT", "P1.5D", "P999999999Y", "P1D1M"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseISODuration(s)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Code != CodeTTL {
				t.Fatalf("ParseISODuration(%q): error %v is not %s", s, err, CodeTTL)
			}
			return
		}
		if d < 0 || d%time.Second != 0 {
			t.Fatalf("ParseISODuration(%q) = %v, want whole seconds ≥ 0", s, d)
		}
		if !strings.HasPrefix(s, "P") || strings.ContainsAny(s, " .,-+") {
			t.Fatalf("ParseISODuration accepted %q", s)
		}
		secs := int64(d / time.Second)
		if secs < 1e9 {
			again, err := ParseISODuration("PT" + strconv.FormatInt(secs, 10) + "S")
			if err != nil || again != d {
				t.Fatalf("%q = %v, but PT%dS = %v, %v", s, d, secs, again, err)
			}
		}
	})
}

func TestRowExpirationOfDatasets(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	schema := &SchemaRef{ID: "s"}
	ext := func(v string) json.RawMessage { return json.RawMessage(v) }
	t.Run("create", func(t *testing.T) {
		for _, tc := range []struct {
			name, ext string
			want      time.Duration
			code      string
		}{
			{"none", ``, 0, ""},
			{"AEP's example", `{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":"P30D"}}}`, 30 * day, ""},
			{"empty", `{}`, 0, ""},
			{"null rowExpiration", `{"adobe_unifiedProfile":{"rowExpiration":null}}`, 0, ""},
			{"too short", `{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":"PT1H"}}}`, 0, CodeTTL},
			{"too long", `{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":"P11Y"}}}`, 0, CodeTTL},
			{"not a duration", `{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":"30 days"}}}`, 0, CodeTTL},
			{"no ttlValue", `{"adobe_unifiedProfile":{"rowExpiration":{}}}`, 0, CodeTTL},
			{"ttlValue a number", `{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":30}}}`, 0, CodeExtensions},
			{"data lake", `{"adobe_lakeHouse":{"rowExpiration":{"ttlValue":"P12M"}}}`, 0, CodeExtensions},
			{"unknown member", `{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":"P30D","x":1}}}`, 0, CodeExtensions},
			{"unknown profile setting", `{"adobe_unifiedProfile":{"other":{}}}`, 0, CodeExtensions},
			{"not an object", `[]`, 0, CodeExtensions},
		} {
			t.Run(tc.name, func(t *testing.T) {
				d, err := NewDataset(DatasetInput{SchemaRef: schema, Extensions: ext(tc.ext)}, "org", "prod", now)
				if tc.code != "" {
					var fe *fault.Error
					if !errors.As(err, &fe) || fe.Code != tc.code {
						t.Fatalf("got %v, want %s", err, tc.code)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := d.RowExpiration(); got != tc.want {
					t.Errorf("RowExpiration() = %v, want %v", got, tc.want)
				}
				if tc.want != 0 {
					want := &RowExpiration{TTLValue: "P30D", ValueStatus: "custom", SetBy: "user", Updated: now.UnixMilli()}
					if diff := cmp.Diff(want, d.Extensions.UnifiedProfile.RowExpiration); diff != "" {
						t.Errorf("rowExpiration (-want +got):\n%s", diff)
					}
				} else if d.Extensions != nil {
					t.Errorf("extensions %+v, want none", d.Extensions)
				}
			})
		}
	})
	t.Run("patch", func(t *testing.T) {
		d, err := NewDataset(DatasetInput{Name: "web", SchemaRef: schema}, "org", "prod", now)
		if err != nil {
			t.Fatal(err)
		}
		later := now.Add(time.Hour)
		steps := []struct {
			name, ops   string
			want        time.Duration
			wantUpdated int64
		}{
			{"AEP's body as an add", `[{"op":"add","path":"/extensions","value":{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":"P30D"}}}}]`, 30 * day, later.UnixMilli()},
			{"the echoed members back, unchanged", `[{"op":"replace","path":"/name","value":"web events"}]`, 30 * day, later.UnixMilli()},
			{"replace ttlValue", `[{"op":"replace","path":"/extensions/adobe_unifiedProfile/rowExpiration/ttlValue","value":"P7D"}]`, 7 * day, later.Add(2 * time.Hour).UnixMilli()},
			{"remove", `[{"op":"remove","path":"/extensions/adobe_unifiedProfile"}]`, 0, 0},
			{"add below an empty extensions", `[{"op":"add","path":"/extensions/adobe_unifiedProfile","value":{"rowExpiration":{"ttlValue":"P1Y"}}}]`, 365 * day, later.Add(4 * time.Hour).UnixMilli()},
		}
		for i, st := range steps {
			var ops []xdm.PatchOp
			if err := json.Unmarshal([]byte(st.ops), &ops); err != nil {
				t.Fatal(err)
			}
			at := later.Add(time.Duration(i) * time.Hour)
			if i == 1 {
				at = later.Add(30 * time.Minute)
			}
			n, err := PatchDataset(d, ops, at)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if got := n.RowExpiration(); got != st.want {
				t.Errorf("%s: RowExpiration() = %v, want %v", st.name, got, st.want)
			}
			if st.want != 0 && n.Extensions.UnifiedProfile.RowExpiration.Updated != st.wantUpdated {
				t.Errorf("%s: updated = %d, want %d", st.name, n.Extensions.UnifiedProfile.RowExpiration.Updated, st.wantUpdated)
			}
			if st.want == 0 && n.Extensions != nil {
				t.Errorf("%s: extensions %+v, want none", st.name, n.Extensions)
			}
			d = n
		}
		var ops []xdm.PatchOp
		_ = json.Unmarshal([]byte(`[{"op":"replace","path":"/extensions/adobe_unifiedProfile/rowExpiration/ttlValue","value":"P0D"}]`), &ops)
		if _, err := PatchDataset(d, ops, later); err == nil {
			t.Error("P0D was accepted by a patch")
		}
	})
	t.Run("event class only", func(t *testing.T) {
		d, err := NewDataset(DatasetInput{SchemaRef: schema, Extensions: ext(`{"adobe_unifiedProfile":{"rowExpiration":{"ttlValue":"P30D"}}}`)}, "org", "prod", now)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckRowExpirationClass(d, EventClass); err != nil {
			t.Errorf("event class: %v", err)
		}
		var fe *fault.Error
		if err := CheckRowExpirationClass(d, ProfileClass); !errors.As(err, &fe) || fe.Code != CodeTTLClass {
			t.Errorf("profile class: %v, want %s", err, CodeTTLClass)
		}
		if err := CheckRowExpirationClass(Dataset{}, ProfileClass); err != nil {
			t.Errorf("no row expiration: %v", err)
		}
	})
}

// TestSpecRowExpiration: the spec of an event dataset carries its row
// expiration, and a change of it reaches the loader's next refresh.
func TestSpecRowExpiration(t *testing.T) {
	s := newSchema(t, xdm.EventClass)
	ttl := func(v string) *DatasetExtensions {
		return &DatasetExtensions{UnifiedProfile: &ProfileExtension{RowExpiration: &RowExpiration{TTLValue: v}}}
	}
	src := &fakeSource{
		datasets: map[string]Dataset{"web": {ID: "web", SchemaRef: SchemaRef{ID: s.ID}, Extensions: ttl("P30D")}},
		schemas:  map[string]xdm.Schema{s.ID: s},
	}
	clock := time.Unix(1000, 0)
	l := NewSpecLoader(src)
	l.Now = func() time.Time { return clock }
	spec, err := l.Spec(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if spec.RowExpiration != 30*day {
		t.Errorf("RowExpiration = %v, want 30 days", spec.RowExpiration)
	}
	d := src.datasets["web"]
	d.Extensions = ttl("P2D")
	src.datasets["web"] = d
	clock = clock.Add(DefaultFreshness)
	if spec, err = l.Spec(t.Context(), "web"); err != nil || spec.RowExpiration != 2*day {
		t.Errorf("after the change: %v, %v; want 2 days", spec.RowExpiration, err)
	}
}
