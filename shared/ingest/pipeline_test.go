package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

type recorder struct {
	frags  []merge.Fragment
	events []merge.Event
	links  []identity.Link
	err    error
}

func (r *recorder) PutFragment(_ context.Context, f merge.Fragment) error {
	r.frags = append(r.frags, f)
	return r.err
}
func (r *recorder) PutEvent(_ context.Context, e merge.Event) error {
	r.events = append(r.events, e)
	return r.err
}
func (r *recorder) PutLinks(_ context.Context, l []identity.Link) error {
	r.links = append(r.links, l...)
	return r.err
}

var (
	profileSpec = &catalog.IngestSpec{
		DatasetID: "crm", Class: catalog.ProfileClass, ProfileEnabled: true, IdentityEnabled: true,
		Identities: []catalog.IdentityField{{Path: "/personalEmail/address", Namespace: "Email", Primary: true},
			{Path: "/loyaltyId", Namespace: "LOYALTYID"}},
	}
	eventSpec = &catalog.IngestSpec{DatasetID: "web", Class: catalog.EventClass, ProfileEnabled: true, IdentityEnabled: true}
)

func TestProcessProfileRow(t *testing.T) {
	rec := &recorder{}
	p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
	row := Row{Data: []byte(`{"personalEmail":{"address":"Jane@Example.com"},"loyaltyId":"L-1","identityMap":{"ECID":[{"id":"` + strings.Repeat("7", 38) + `"}]}}`),
		Received: time.UnixMilli(5000), Src: "s3:k#e:0000000001", Batch: "b1"}
	out, err := p.Process(context.Background(), profileSpec, row)
	if err != nil {
		t.Fatal(err)
	}
	if out.Identities != 3 || out.Links != 2 {
		t.Errorf("outcome %+v, want 3 identities and 2 links", out)
	}
	want := merge.Fragment{Identity: "Email#jane@example.com", Dataset: "crm", TS: 5000, Src: row.Src, Batch: "b1", Raw: row.Data}
	if diff := cmp.Diff([]merge.Fragment{want}, rec.frags, cmpopts.IgnoreFields(merge.Fragment{}, "Record")); diff != "" {
		t.Errorf("fragments (-want +got):\n%s", diff)
	}
	for _, l := range rec.links {
		if l.A.Key() != "Email#jane@example.com" || l.Dataset != "crm" || l.Source != "b1" || l.Src != row.Src || l.At != 5000 {
			t.Errorf("link %+v is not from the primary with the row's provenance", l)
		}
	}
}

// A link names the record that made it: a batch row by its batch, a
// streamed record (whose batch is a time window shared by many records)
// by its stream position.
func TestProcessLinkSource(t *testing.T) {
	tests := []struct {
		name, batch, src, want string
	}{
		{"batch row", "b1", "s3:k#e:0000000001:7", "b1"},
		{"streamed record in a window batch", "stream-crm-20260102T0300Z", "kinesis:shardId-000000000001:4960", "kinesis:shardId-000000000001:4960"},
		{"streamed record", "kinesis:shardId-000000000001:4961", "kinesis:shardId-000000000001:4961", "kinesis:shardId-000000000001:4961"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
			row := Row{Data: []byte(`{"personalEmail":{"address":"a@example.com"},"loyaltyId":"L-1"}`),
				Received: time.UnixMilli(5000), Src: tt.src, Batch: tt.batch}
			if _, err := p.Process(context.Background(), profileSpec, row); err != nil {
				t.Fatal(err)
			}
			if len(rec.links) != 1 || rec.links[0].Source != tt.want || rec.links[0].Src != tt.src {
				t.Errorf("links %+v, want one with Source %q and Src %q", rec.links, tt.want, tt.src)
			}
		})
	}
}

func TestProcessOrderingTime(t *testing.T) {
	rec := &recorder{}
	p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
	row := Row{Data: []byte(`{"personalEmail":{"address":"a@example.com"},"extSourceSystemAudit":{"lastUpdatedDate":"2026-01-02T03:04:05.678Z"}}`),
		Received: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)}
	if _, err := p.Process(context.Background(), profileSpec, row); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC).UnixMilli(); rec.frags[0].TS != want {
		t.Errorf("TS %d, want lastUpdatedDate %d", rec.frags[0].TS, want)
	}
}

func TestProcessEventRow(t *testing.T) {
	rec := &recorder{}
	p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
	row := Row{Data: []byte(`{"_id":"e1","timestamp":"2024-02-23T22:07:01Z","identityMap":{"Email":[{"id":"a@example.com","primary":true}]}}`), Src: "kinesis:s:1"}
	if _, err := p.Process(context.Background(), eventSpec, row); err != nil {
		t.Fatal(err)
	}
	if len(rec.events) != 1 || rec.events[0].ID != "e1" || rec.events[0].Identity != "Email#a@example.com" ||
		rec.events[0].Timestamp != time.Date(2024, 2, 23, 22, 7, 1, 0, time.UTC).UnixMilli() {
		t.Errorf("events %+v", rec.events)
	}
	if len(rec.frags) != 0 {
		t.Errorf("an event row wrote a fragment")
	}
}

func TestProcessRefusals(t *testing.T) {
	primary := `"identityMap":{"Email":[{"id":"a@example.com","primary":true}]}`
	violating := *profileSpec
	violating.Validate = func(map[string]any) []catalog.Violation {
		return []catalog.Violation{{Pointer: "/person/age", Code: "XDM-TYPE", Message: "must be an integer"}}
	}
	notEnabled := *profileSpec
	notEnabled.ProfileEnabled, notEnabled.IdentityEnabled = false, false
	otherClass := *profileSpec
	otherClass.Class = "https://ns.adobe.com/xdm/context/product"
	tests := []struct {
		name     string
		spec     *catalog.IngestSpec
		data     string
		op       string
		wantCode string
	}{
		{"schema violation", &violating, `{"personalEmail":{"address":"a@example.com"}}`, "", "XDM-TYPE"},
		{"no primary", profileSpec, `{"loyaltyId":"L"}`, "", identity.CodeNoPrimary},
		{"truncated", profileSpec, `{"a":`, "", CodeRowJSON},
		{"event without _id", eventSpec, `{"timestamp":"2024-01-01T00:00:00Z",` + primary + `}`, "", CodeEventID},
		{"event with bad timestamp", eventSpec, `{"_id":"x","timestamp":"yesterday",` + primary + `}`, "", CodeEventTimestamp},
		{"event too large", eventSpec, `{"_id":"x","pad":"` + strings.Repeat("a", MaxEventBytes) + `"}`, "", CodeEventTooLarge},
		{"profile too large", profileSpec, `{"pad":"` + strings.Repeat("a", MaxProfileBytes) + `"}`, "", CodeProfileTooLarge},
		{"profile array over 500", profileSpec, `{"personalEmail":{"address":"a@example.com"},"tags":{"all":[` + strings.TrimSuffix(strings.Repeat(`"t",`, MaxProfileArray+1), ",") + `]}}`, "", CodeArrayTooLong},
		{"event array over 10", eventSpec, `{"_id":"x","timestamp":"2024-01-01T00:00:00Z",` + primary + `,"productListItems":[` + strings.TrimSuffix(strings.Repeat(`{"SKU":"s"},`, MaxEventArray+1), ",") + `]}`, "", CodeArrayTooLong},
		{"dataset not enabled", &notEnabled, `{}`, "", CodeNotEnabled},
		{"other class", &otherClass, `{}`, "", CodeClass},
		{"delete on an event dataset", eventSpec, `{"_id":"x","timestamp":"2024-01-01T00:00:00Z",` + primary + `}`, OpDelete, CodeOperation},
		{"merge on an event dataset", eventSpec, `{"_id":"x","timestamp":"2024-01-01T00:00:00Z",` + primary + `}`, OpMerge, CodeOperation},
		{"unknown operation", profileSpec, `{"personalEmail":{"address":"a@example.com"}}`, "replace", CodeOperation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
			_, err := p.Process(context.Background(), tt.spec, Row{Data: []byte(tt.data), Op: tt.op})
			if codeOf(err) != tt.wantCode || Transient(err) {
				t.Fatalf("got %v (code %q), want a non-transient %s", err, codeOf(err), tt.wantCode)
			}
			if len(rec.frags)+len(rec.events)+len(rec.links) != 0 {
				t.Errorf("a refused row wrote something")
			}
			if strings.Contains(err.Error(), "a@example.com") {
				t.Errorf("error %q leaks an identity value", err)
			}
		})
	}
}

func TestProcessTransientWriteErrorIsReturned(t *testing.T) {
	rec := &recorder{err: fault.E(fault.Throttled, "STORE-THROTTLED", "throttled")}
	p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
	_, err := p.Process(context.Background(), profileSpec, Row{Data: []byte(`{"personalEmail":{"address":"a@example.com"}}`)})
	if !Transient(err) {
		t.Fatalf("got %v, want a transient error", err)
	}
}

type fakeNamespaces struct {
	list  []identity.Namespace
	err   error
	calls int
}

func (f *fakeNamespaces) Namespaces(context.Context) ([]identity.Namespace, error) {
	f.calls++
	return f.list, f.err
}

func TestProcessIdentityNamespaces(t *testing.T) {
	custom := []identity.Namespace{
		{ID: 100000001, Code: "LoyaltyPlus", IDType: identity.TypeCrossDevice, Custom: true},
		{ID: 100000002, Code: "StoreID", IDType: identity.TypeNonPeople, Custom: true},
		{ID: 100000003, Code: "PartnerX", IDType: identity.TypePartner, Custom: true},
	}
	email := `"personalEmail":{"address":"a@example.com"}`
	tests := []struct {
		name          string
		namespaces    *fakeNamespaces
		data          string
		wantCode      string
		wantTransient bool
		wantLinks     []string
	}{
		{"custom namespace accepted and linked", &fakeNamespaces{list: custom},
			`{` + email + `,"identityMap":{"loyaltyplus":[{"id":"LP-1"}]}}`, "", false, []string{"LoyaltyPlus#LP-1"}},
		{"custom namespace unknown without the lister", nil,
			`{` + email + `,"identityMap":{"LoyaltyPlus":[{"id":"LP-1"}]}}`, identity.CodeUnknownNamespace, false, nil},
		{"unknown namespace refuses the row", &fakeNamespaces{list: custom},
			`{` + email + `,"identityMap":{"Nope":[{"id":"x"}]}}`, identity.CodeUnknownNamespace, false, nil},
		{"non-people and partner identities do not link", &fakeNamespaces{list: custom},
			`{` + email + `,"identityMap":{"StoreID":[{"id":"S1"}],"PartnerX":[{"id":"P1"}],"CRMID":[{"id":"C1"}]}}`, "", false, []string{"CRMID#C1"}},
		{"lister failure is retried, not a row error", &fakeNamespaces{err: fault.E(fault.Unavailable, "STORE-UNAVAILABLE", "down")},
			`{` + email + `}`, "STORE-UNAVAILABLE", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
			if tt.namespaces != nil {
				p.Namespaces = tt.namespaces
			}
			_, err := p.Process(context.Background(), profileSpec, Row{Data: []byte(tt.data)})
			if codeOf(err) != tt.wantCode || (err != nil && Transient(err) != tt.wantTransient) {
				t.Fatalf("got %v (code %q), want code %q transient %t", err, codeOf(err), tt.wantCode, tt.wantTransient)
			}
			if tt.wantCode != "" {
				if len(rec.frags)+len(rec.links) != 0 {
					t.Errorf("a refused row wrote something")
				}
				return
			}
			var got []string
			for _, l := range rec.links {
				if l.A.Key() != "Email#a@example.com" {
					t.Errorf("link %v is not from the primary", l)
				}
				got = append(got, l.B.Key())
			}
			if diff := cmp.Diff(tt.wantLinks, got); diff != "" {
				t.Errorf("linked identities (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProcessWarnsAboutDroppedIdentities(t *testing.T) {
	var entries []string
	for i := range 21 {
		entries = append(entries, fmt.Sprintf(`{"id":"C-%d"}`, i))
	}
	data := `{"personalEmail":{"address":"a@example.com"},"identityMap":{"CRMID":[` + strings.Join(entries, ",") + `],"ECID":[{"id":"123"}]}}`
	rec := &recorder{}
	p := &Pipeline{Fragments: rec, Links: rec, Events: rec}
	out, err := p.Process(context.Background(), profileSpec, Row{Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, w := range out.Warnings {
		codes = append(codes, w.Code)
	}
	if diff := cmp.Diff([]string{identity.CodeValueFormat, identity.CodeTooMany}, codes); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if out.Identities != identity.MaxPerRecord || len(rec.links) != identity.MaxPerRecord-1 {
		t.Errorf("got %d identities and %d links, want %d and %d", out.Identities, len(rec.links), identity.MaxPerRecord, identity.MaxPerRecord-1)
	}
}

func ExampleDescribe() {
	_, err := DecodeRow([]byte(`{"a":`), MaxProfileBytes)
	fmt.Println(Describe(err))
	// Output: ROW-JSON record is not valid JSON: truncated JSON
}

func TestCheckArrays(t *testing.T) {
	long := make([]any, 4)
	tests := []struct {
		name    string
		rec     map[string]any
		wantErr string
	}{
		{"at the limit", map[string]any{"a": make([]any, 3)}, ""},
		{"nested in objects", map[string]any{"a": map[string]any{"b/c": long}}, "array at /a/b~1c has 4 elements, over the 3-element limit"},
		{"inside an array", map[string]any{"items": []any{map[string]any{"x": long}}}, "array at /items/0/x has 4 elements"},
		{"top level", map[string]any{"items": long}, "array at /items has 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkArrays(tt.rec, 3)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// namespaceTable is a catalog source that keeps only custom namespaces,
// counting its reads.
type namespaceTable struct {
	catalog.SpecSource // not used by these tests
	list               []identity.Namespace
	reads              int
}

func (s *namespaceTable) ListNamespaces(context.Context) ([]identity.Namespace, error) {
	s.reads++
	return append([]identity.Namespace(nil), s.list...), nil
}

// TestProcessNamespaceCreatedJustNow checks that a row naming a namespace
// created after the cache was filled is ingested at once, through the
// catalog's real cache, and that an unknown code costs a bounded number of
// reads however many rows name it.
func TestProcessNamespaceCreatedJustNow(t *testing.T) {
	src := &namespaceTable{}
	specs := catalog.NewSpecLoader(src)
	clock := time.Unix(1000, 0)
	specs.Now = func() time.Time { return clock }
	rec := &recorder{}
	p := &Pipeline{Fragments: rec, Links: rec, Events: rec, Namespaces: specs}
	ctx := context.Background()
	row := func(code string) Row {
		return Row{Data: []byte(`{"personalEmail":{"address":"a@example.com"},"identityMap":{"` + code + `":[{"id":"LP-1"}]}}`), Received: clock}
	}
	if _, err := p.Process(ctx, profileSpec, row("CRMID")); err != nil {
		t.Fatalf("row with a standard namespace: %v", err)
	}
	src.list = append(src.list, identity.Namespace{ID: 1000001, Code: "LoyaltyPlus", IDType: identity.TypeCrossDevice, Custom: true})
	if _, err := p.Process(ctx, profileSpec, row("loyaltyplus")); err != nil {
		t.Fatalf("row with a namespace created a moment ago: %v, want ingested", err)
	}
	if got := rec.links[len(rec.links)-1].B.Key(); got != "LoyaltyPlus#LP-1" {
		t.Errorf("linked %s, want LoyaltyPlus#LP-1", got)
	}
	before := src.reads
	for i := 0; i < 100; i++ {
		if _, err := p.Process(ctx, profileSpec, row(fmt.Sprintf("Nope%d", i))); codeOf(err) != identity.CodeUnknownNamespace {
			t.Fatalf("row with an unknown namespace: %v, want %s", err, identity.CodeUnknownNamespace)
		}
	}
	if got := src.reads - before; got > 1 {
		t.Errorf("100 rows naming unknown namespaces in one instant read the namespaces %d times, want at most 1", got)
	}
}
