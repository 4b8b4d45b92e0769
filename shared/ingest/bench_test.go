package ingest

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// The P1 benchmark (docs/quality.md): the CPU of one row through the pipeline
// (decode, validate, extract identities, build the write) against a plain
// encoding/json decode of the same bytes, in the same run. cmd/mosaic-bench
// runs BenchmarkP1 and turns its sub-benchmarks into ratios:
// profile/pipeline ÷ profile/baseline and event/pipeline ÷ event/baseline.

// p1ProfileRow is a realistic 1 KB profile row: 3 identities (email and
// mobile phone by descriptor, an ECID in identityMap) and ~35 fields, all
// of the schema p1ProfileSpec compiles.
var p1ProfileRow = []byte(`{"_id":"crm-000123456","personID":"P-000123456",` +
	`"person":{"name":{"courtesyTitle":"Ms","firstName":"Jane","middleName":"Quinn","lastName":"Doe","fullName":"Jane Quinn Doe","suffix":"PhD"},` +
	`"birthDate":"1985-04-12","birthDayAndMonth":"04-12","birthYear":1985,"gender":"female"},` +
	`"personalEmail":{"address":"Jane.Doe@Example.com","primary":true,"status":"active","type":"personal"},` +
	`"homeAddress":{"street1":"1200 North Main Street","street2":"Apartment 4B","city":"Springfield","postalCode":"62701",` +
	`"stateProvince":"IL","country":"United States","countryCode":"US","status":"active","primary":true},` +
	`"mobilePhone":{"number":"+1 (555) 010-0000","countryCode":"1","primary":true,"status":"active"},` +
	`"homePhone":{"number":"+1 555 010 0001","countryCode":"1","primary":false,"status":"active"},` +
	`"identityMap":{"ECID":[{"id":"` + strings.Repeat("4", 38) + `","authenticatedState":"ambiguous","primary":false}]},` +
	`"extSourceSystemAudit":{"createdBy":"crm-sync","createdDate":"2019-05-01T00:00:00.000Z",` +
	`"lastUpdatedBy":"crm-sync","lastUpdatedDate":"2026-01-15T10:20:30.000Z","externalKey":{"sourceKey":"crm-000123456"}}}`)

// p1EventRow is a realistic 1 KB experience event: a web page view with
// an order of three products, identified by a primary ECID and an email.
var p1EventRow = []byte(`{"_id":"2f6c1a9e-0b7d-4c1e-9a55-3f0e8d2b7c41","timestamp":"2026-01-15T10:20:30.000Z",` +
	`"eventType":"commerce.purchases","producedBy":"self",` +
	`"identityMap":{"ECID":[{"id":"` + strings.Repeat("4", 38) + `","authenticatedState":"ambiguous","primary":true}],` +
	`"Email":[{"id":"jane.doe@example.com","authenticatedState":"authenticated"}]},` +
	`"web":{"webPageDetails":{"name":"checkout:confirmation","URL":"https://shop.example.com/checkout/confirmation",` +
	`"siteSection":"checkout","isHomePage":false,"pageViews":{"value":1}},` +
	`"webReferrer":{"URL":"https://shop.example.com/checkout/payment","type":"internal"}},` +
	`"commerce":{"order":{"purchaseID":"ORD-20260115-000042","priceTotal":184.97,"currencyCode":"USD",` +
	`"payments":[{"paymentAmount":184.97,"paymentType":"credit_card","currencyCode":"USD"}]},` +
	`"purchases":{"value":1}},` +
	`"productListItems":[{"SKU":"SKU-1001","name":"Trail Shoes","quantity":1,"priceTotal":129.99,"currencyCode":"USD"},` +
	`{"SKU":"SKU-2044","name":"Merino Socks","quantity":2,"priceTotal":29.98,"currencyCode":"USD"},` +
	`{"SKU":"SKU-3310","name":"Bottle","quantity":1,"priceTotal":25.00,"currencyCode":"USD"}]}`)

// p1Received is when the P1 rows arrive: after their lastUpdatedDate.
var p1Received = time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC)

var enabledTags = map[string][]string{
	catalog.TagUnifiedProfile:  {catalog.TagEnabledTrue},
	catalog.TagUnifiedIdentity: {catalog.TagEnabledTrue},
}

// p1ProfileSpec is a real compiled spec: the profile class with Demographic
// Details, Personal Contact Details, IdentityMap and External Source System
// Audit Details, a primary Email descriptor and a Phone one.
func p1ProfileSpec(tb testing.TB) *catalog.IngestSpec {
	tb.Helper()
	s := xdm.Schema{
		Meta: xdm.Meta{ID: "https://ns.adobe.com/mosaic/schemas/p1-profile", Version: "1.0"}, Class: catalog.ProfileClass,
		AllOf: []xdm.Ref{{Ref: catalog.ProfileClass},
			{Ref: "https://ns.adobe.com/xdm/context/profile-person-details"},
			{Ref: "https://ns.adobe.com/xdm/context/profile-personal-details"},
			{Ref: "https://ns.adobe.com/xdm/context/identitymap"},
			{Ref: "https://ns.adobe.com/xdm/common/external-source-system-audit-details"}},
		ImmutableTags: []string{xdm.UnionTag},
	}
	descs := []xdm.Descriptor{
		{ID: "d1", Type: xdm.DescriptorIdentity, SourceSchema: s.ID, SourceProperty: "/personalEmail/address", Namespace: "Email", IsPrimary: true},
		{ID: "d2", Type: xdm.DescriptorIdentity, SourceSchema: s.ID, SourceProperty: "/mobilePhone/number", Namespace: "Phone"},
	}
	spec, err := catalog.BuildSpec(catalog.Dataset{ID: "p1-profile", Tags: enabledTags, SchemaRef: catalog.SchemaRef{ID: s.ID}}, s, descs)
	if err != nil {
		tb.Fatal(err)
	}
	return spec
}

// p1EventSpec is the experience event class with Web Details, Commerce
// Details and IdentityMap.
func p1EventSpec(tb testing.TB) *catalog.IngestSpec {
	tb.Helper()
	s := xdm.Schema{
		Meta: xdm.Meta{ID: "https://ns.adobe.com/mosaic/schemas/p1-event", Version: "1.0"}, Class: catalog.EventClass,
		AllOf: []xdm.Ref{{Ref: catalog.EventClass},
			{Ref: "https://ns.adobe.com/xdm/context/experienceevent-web"},
			{Ref: "https://ns.adobe.com/xdm/context/experienceevent-commerce"},
			{Ref: "https://ns.adobe.com/xdm/context/identitymap"}},
		ImmutableTags: []string{xdm.UnionTag},
	}
	spec, err := catalog.BuildSpec(catalog.Dataset{ID: "p1-event", Tags: enabledTags, SchemaRef: catalog.SchemaRef{ID: s.ID}}, s, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return spec
}

// discard is the no-op store of the benchmark: the write is built, not sent.
type discard struct{}

func (discard) PutFragment(context.Context, merge.Fragment) error { return nil }
func (discard) PutEvent(context.Context, merge.Event) error       { return nil }
func (discard) PutLinks(context.Context, []identity.Link) error   { return nil }

// noCustom is a tenant without custom namespaces, answered from memory as
// the SpecLoader's cache does.
type noCustom struct{}

func (noCustom) Namespaces(context.Context) ([]identity.Namespace, error) { return nil, nil }

func p1Pipeline() *Pipeline {
	return &Pipeline{Fragments: discard{}, Links: discard{}, Events: discard{}, Namespaces: noCustom{}}
}

// TestP1Rows keeps the benchmark honest: its rows must go all the way
// through the pipeline with their three and two identities and no warning.
func TestP1Rows(t *testing.T) {
	for _, tt := range []struct {
		name      string
		spec      *catalog.IngestSpec
		row       []byte
		wantClass string
		wantIDs   int
	}{
		{"profile", p1ProfileSpec(t), p1ProfileRow, catalog.ProfileClass, 3},
		{"event", p1EventSpec(t), p1EventRow, catalog.EventClass, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if n := len(tt.row); n < 900 || n > 1200 {
				t.Errorf("row is %d bytes, want about 1 KB", n)
			}
			out, err := p1Pipeline().Process(context.Background(), tt.spec, Row{Data: tt.row, Received: p1Received})
			if err != nil {
				t.Fatal(err)
			}
			if out.Class != tt.wantClass || out.Identities != tt.wantIDs || out.Links != tt.wantIDs-1 || len(out.Warnings) != 0 {
				t.Errorf("outcome %+v, want %d identities, %d links, no warning", out, tt.wantIDs, tt.wantIDs-1)
			}
		})
	}
}

// BenchmarkP1 is docs/quality.md's P1. Each row has a baseline (encoding/json
// into map[string]any) and a pipeline sub-benchmark, run side by side.
// Besides ns/op (wall time) each reports cpu-ns/op, the CPU time of the
// process per row, garbage collection included, which is what P1 bounds.
func BenchmarkP1(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		spec *catalog.IngestSpec
		row  []byte
	}{
		{"profile", p1ProfileSpec(b), p1ProfileRow},
		{"event", p1EventSpec(b), p1EventRow},
	} {
		b.Run(c.name+"/baseline", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.row)))
			t0 := cpuTime()
			for b.Loop() {
				var m map[string]any
				if err := json.Unmarshal(c.row, &m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-t0)/float64(b.N), "cpu-ns/op")
		})
		b.Run(c.name+"/pipeline", func(b *testing.B) {
			p := p1Pipeline()
			row := Row{Data: c.row, Received: p1Received, Src: "s3:ingest/p1/rows.json#etag:0000000001", Batch: "b1"}
			b.ReportAllocs()
			b.SetBytes(int64(len(c.row)))
			t0 := cpuTime()
			for b.Loop() {
				if _, err := p.Process(ctx, c.spec, row); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-t0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the user and system CPU time of the process so far, in ns
// (getrusage(2), RUSAGE_SELF).
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
