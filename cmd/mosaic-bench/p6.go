package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/mosaic-cdp/mosaic/localstack/emulator"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// P6 targets (docs/quality.md): WCU per row ≤ 1 KB once the row's links
// are known, and at first sight with 2 identities.
const (
	P6TargetKnown = 1.1
	P6TargetFirst = 3.0
)

// P6Case is one kind of row of P6: the writes and write capacity its rows
// cost, summed over Rows rows.
type P6Case struct {
	Name         string  `json:"name"`
	What         string  `json:"what"`
	Rows         int     `json:"rows"`
	RowBytes     int     `json:"rowBytes"`
	Writes       int64   `json:"writes"`
	Reported     int64   `json:"reportedWrites"` // writes that returned ConsumedCapacity
	Refused      int64   `json:"refusedWrites"`  // conditional writes refused (the item was there)
	WCU          float64 `json:"wcu"`            // sum of ConsumedCapacity.CapacityUnits returned
	SizeWCU      float64 `json:"sizeWcu"`        // sum of ⌈item KB⌉ over the writes sent (DynamoDB's rule)
	WCUPerRow    float64 `json:"wcuPerRow"`      // WCU ÷ Rows
	WritesPerRow float64 `json:"writesPerRow"`
	Target       float64 `json:"target"`
	Pass         bool    `json:"pass"`
	// Reads of the case: items read by GetItem, the read capacity they
	// returned (or, where none came back, DynamoDB's rule: 1 RCU per
	// started 4 KB of a strongly consistent read, half that of an
	// eventually consistent one, an absent item as a 0-byte one) and
	// that rule's sum. Set for the partial-update cases, which read the
	// fragment before writing it.
	Reads       int64   `json:"reads,omitempty"`
	RCU         float64 `json:"rcu,omitempty"`
	SizeRCU     float64 `json:"sizeRcu,omitempty"`
	RCUPerRow   float64 `json:"rcuPerRow,omitempty"`
	ReadsPerRow float64 `json:"readsPerRow,omitempty"`
	TargetRCU   float64 `json:"targetRcu,omitempty"` // bar on RCUPerRow; 0: reads are not a bar of the case
	// The stored item of one fragment after the case (partial-update
	// cases): its size by DynamoDB's rule, and the bytes of its record
	// (rec) and of its clock document (m).
	ItemBytes   int `json:"itemBytes,omitempty"`
	RecordBytes int `json:"recordBytes,omitempty"`
	ClockBytes  int `json:"clockBytes,omitempty"`
}

// P6 is the P6 entry of results.json.
type P6 struct {
	Cases   []P6Case `json:"cases"`
	Source  string   `json:"source"` // "ConsumedCapacity" or "item sizes"
	How     string   `json:"how"`
	Pass    bool     `json:"pass"`
	Machine string   `json:"machine"`
	Date    string   `json:"date"`
}

// capacity sums what a DynamoDB client's writes cost. Its middleware sets
// ReturnConsumedCapacity=TOTAL on every write input and adds up the
// CapacityUnits of the outputs, and, beside it, DynamoDB's size rule: one
// WCU per started KB of each item written.
type capacity struct {
	mu     sync.Mutex
	counts capacityCounts
}

// capacityCounts are running sums of capacity.
type capacityCounts struct {
	writes   int64
	units    float64 // reported units, plus the size rule for unreported writes
	reported int64   // writes whose output carried ConsumedCapacity
	refused  int64   // writes refused by their condition
	sizeWCU  float64 // the size rule over every write

	reads         int64   // items read by GetItem
	readUnits     float64 // reported read units, plus the size rule for unreported reads
	readsReported int64   // reads whose output carried ConsumedCapacity
	sizeRCU       float64 // the read size rule over every read
}

func (c *capacity) snapshot() capacityCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts
}

// add counts one call that wrote items: units is the ConsumedCapacity it
// returned, if reported. A call that returned none (a write refused by its
// condition returns an error and no output, yet DynamoDB charges it as a
// write) is counted by the size rule.
func (c *capacity) add(units float64, reported, refused bool, items ...map[string]types.AttributeValue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int64(len(items))
	c.counts.writes += n
	var size float64
	for _, it := range items {
		size += math.Ceil(float64(itemBytes(it)) / 1024)
	}
	c.counts.sizeWCU += size
	switch {
	case reported:
		c.counts.reported += n
		c.counts.units += units
	default:
		c.counts.units += size
	}
	if refused {
		c.counts.refused += n
	}
}

// addRead counts one GetItem: units is the ConsumedCapacity it returned,
// if reported; item is what it read (nil when absent). By DynamoDB's rule
// a read costs 1 RCU per started 4 KB of the item, at least 1, when
// strongly consistent, and half that when eventually consistent; an absent
// item costs the minimum (DynamoDB Developer Guide, "Read/write capacity
// mode").
func (c *capacity) addRead(units float64, reported, consistent bool, item map[string]types.AttributeValue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size := max(1, math.Ceil(float64(itemBytes(item))/4096))
	if !consistent {
		size /= 2
	}
	c.counts.reads++
	c.counts.sizeRCU += size
	if reported {
		c.counts.readsReported++
		c.counts.readUnits += units
	} else {
		c.counts.readUnits += size
	}
}

// middleware is the SDK option that installs the count on a client.
func (c *capacity) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("mosaic-bench-capacity",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if get, ok := in.Parameters.(*dynamodb.GetItemInput); ok {
				get.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
				out, md, err := next.HandleInitialize(ctx, in)
				if err == nil {
					if v, ok := out.Result.(*dynamodb.GetItemOutput); ok {
						reported := v.ConsumedCapacity != nil
						var units float64
						if reported {
							units = aws.ToFloat64(v.ConsumedCapacity.CapacityUnits)
						}
						c.addRead(units, reported, aws.ToBool(get.ConsistentRead), v.Item)
					}
				}
				return out, md, err
			}
			var items []map[string]types.AttributeValue
			switch v := in.Parameters.(type) {
			case *dynamodb.PutItemInput:
				v.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
				items = append(items, v.Item)
			case *dynamodb.UpdateItemInput:
				v.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
				items = append(items, v.Key)
			case *dynamodb.DeleteItemInput:
				v.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
				items = append(items, v.Key)
			case *dynamodb.BatchWriteItemInput:
				v.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
				for _, reqs := range v.RequestItems {
					for _, r := range reqs {
						if r.PutRequest != nil {
							items = append(items, r.PutRequest.Item)
						} else if r.DeleteRequest != nil {
							items = append(items, r.DeleteRequest.Key)
						}
					}
				}
			}
			out, md, err := next.HandleInitialize(ctx, in)
			if items == nil {
				return out, md, err
			}
			var cc []types.ConsumedCapacity
			switch v := out.Result.(type) {
			case *dynamodb.PutItemOutput:
				if v.ConsumedCapacity != nil {
					cc = append(cc, *v.ConsumedCapacity)
				}
			case *dynamodb.UpdateItemOutput:
				if v.ConsumedCapacity != nil {
					cc = append(cc, *v.ConsumedCapacity)
				}
			case *dynamodb.DeleteItemOutput:
				if v.ConsumedCapacity != nil {
					cc = append(cc, *v.ConsumedCapacity)
				}
			case *dynamodb.BatchWriteItemOutput:
				cc = v.ConsumedCapacity
			}
			var units float64
			for _, x := range cc {
				units += aws.ToFloat64(x.CapacityUnits)
			}
			c.add(units, len(cc) > 0, store.IsConditionFailed(err), items...)
			return out, md, err
		}), middleware.Before)
}

// itemBytes is an item's size by DynamoDB's rule: the UTF-8 bytes of each
// attribute name plus its value (strings by UTF-8 length, numbers by
// ⌈digits/2⌉+1, booleans and nulls 1 byte), as in the DynamoDB Developer
// Guide, "Item sizes and formats". Collections count 3 bytes plus their
// elements.
func itemBytes(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueBytes(v)
	}
	return n
}

func valueBytes(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return (len(v.Value)+1)/2 + 1
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 3
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueBytes(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueBytes(e)
		}
		return n
	}
	return 0
}

// newDynamoClient is an SDK client of a DynamoDB endpoint with the
// credentials the local cloud accepts.
func newDynamoClient(endpoint string, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}, opts...)
}

// createTable creates an on-demand table with Mosaic's key schema and
// waits until it is active.
func createTable(ctx context.Context, db *dynamodb.Client, name string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(topology.PartitionKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(topology.SortKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(topology.PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(topology.SortKey), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 200*time.Millisecond
	})
	return w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute)
}

type noNamespaces struct{}

func (noNamespaces) Namespaces(context.Context) ([]identity.Namespace, error) { return nil, nil }

var enabledTags = map[string][]string{
	catalog.TagUnifiedProfile:  {catalog.TagEnabledTrue},
	catalog.TagUnifiedIdentity: {catalog.TagEnabledTrue},
}

// p6Specs are the compiled specs of the P6 rows: the profile class with
// person details, personal contact details and identityMap, the primary
// identity personalEmail.address (Email); and the experience event class
// with identityMap.
func p6Specs() (profile, event *catalog.IngestSpec, err error) {
	ps := xdm.Schema{
		Meta: xdm.Meta{ID: "https://ns.adobe.com/mosaic/schemas/bench-profile", Version: "1.0"}, Class: catalog.ProfileClass,
		AllOf: []xdm.Ref{{Ref: catalog.ProfileClass},
			{Ref: "https://ns.adobe.com/xdm/context/profile-person-details"},
			{Ref: "https://ns.adobe.com/xdm/context/profile-personal-details"},
			{Ref: "https://ns.adobe.com/xdm/context/identitymap"},
			{Ref: xdm.SourceAuditFieldGroup}},
		ImmutableTags: []string{xdm.UnionTag},
	}
	descs := []xdm.Descriptor{{ID: "d1", Type: xdm.DescriptorIdentity, SourceSchema: ps.ID, SourceProperty: "/personalEmail/address", Namespace: "Email", IsPrimary: true}}
	if profile, err = catalog.BuildSpec(catalog.Dataset{ID: "bench-profile", Tags: enabledTags, SchemaRef: catalog.SchemaRef{ID: ps.ID}}, ps, descs); err != nil {
		return nil, nil, err
	}
	es := xdm.Schema{
		Meta: xdm.Meta{ID: "https://ns.adobe.com/mosaic/schemas/bench-event", Version: "1.0"}, Class: catalog.EventClass,
		AllOf:         []xdm.Ref{{Ref: catalog.EventClass}, {Ref: "https://ns.adobe.com/xdm/context/identitymap"}},
		ImmutableTags: []string{xdm.UnionTag},
	}
	if event, err = catalog.BuildSpec(catalog.Dataset{ID: "bench-event", Tags: enabledTags, SchemaRef: catalog.SchemaRef{ID: es.ID}}, es, nil); err != nil {
		return nil, nil, err
	}
	return profile, event, nil
}

// runP6 runs rows of each case through one ingest.Pipeline whose writers
// are shared/store's, on a fresh dynalite, and reads what each case cost.
func runP6(ctx context.Context, rows int, log io.Writer) (P6, error) {
	proc, err := emulator.StartDynamoDB(ctx, emulator.Options{Log: io.Discard})
	if err != nil {
		return P6{}, err
	}
	defer proc.Stop()
	var cap capacity
	db := newDynamoClient(proc.Endpoint, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, cap.middleware) })
	const table = "bench-p6"
	if err := createTable(ctx, db, table); err != nil {
		return P6{}, err
	}
	profiles := store.NewProfiles(db, table)
	p := &ingest.Pipeline{Fragments: profiles, Links: profiles, Events: profiles, Namespaces: noNamespaces{}}
	profileSpec, eventSpec, err := p6Specs()
	if err != nil {
		return P6{}, err
	}
	// Rows are received on the day of their own dates (lastUpdatedDate
	// 2026-01-10 and 11, events of 2026-01-15), so that the events are seen
	// days after their links were made, as in a stream's steady state; a
	// link's last sighting moves on once per 30 days of ordering time
	// (store.LinkRefreshInterval), which a receive time months later would
	// pay once per link.
	received := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	run := func(name, what string, target float64, spec *catalog.IngestSpec, row func(i int) []byte) (P6Case, error) {
		c0 := cap.snapshot()
		size := 0
		for i := 0; i < rows; i++ {
			data := row(i)
			size = max(size, len(data))
			if _, err := p.Process(ctx, spec, ingest.Row{Data: data, Received: received,
				Src: fmt.Sprintf("s3:bench#%d", i), Batch: "bench-" + name}); err != nil {
				return P6Case{}, fmt.Errorf("P6 %s row %d: %w", name, i, err)
			}
		}
		c1 := cap.snapshot()
		c := P6Case{Name: name, What: what, Rows: rows, RowBytes: size, Writes: c1.writes - c0.writes,
			Reported: c1.reported - c0.reported, Refused: c1.refused - c0.refused,
			WCU: c1.units - c0.units, SizeWCU: c1.sizeWCU - c0.sizeWCU, Target: target}
		c.WCUPerRow = round2(c.WCU / float64(rows))
		c.WritesPerRow = round2(float64(c.Writes) / float64(rows))
		c.Pass = c.WCUPerRow <= target
		fmt.Fprintf(log, "P6 %s: %.2f WCU/row, %.2f writes/row, %d of %d writes reported capacity, %d refused by their condition, size rule %.2f WCU/row (target ≤ %.1f)\n",
			name, c.WCUPerRow, c.WritesPerRow, c.Reported, c.Writes, c.Refused, c.SizeWCU/float64(rows), target)
		return c, nil
	}
	out := P6{How: fmt.Sprintf("%d rows per case through shared/ingest.Pipeline with shared/store.Profiles writers, in one process, on dynalite; "+
		"the partial-update cases (upsert-*) call shared/store.Profiles.PutFragment with Op merge directly, %d people each; "+
		"an SDK middleware sets ReturnConsumedCapacity=TOTAL on every write and GetItem and sums ConsumedCapacity.CapacityUnits", rows, rows)}
	for _, c := range []struct {
		name, what string
		target     float64
		spec       *catalog.IngestSpec
		row        func(int) []byte
	}{
		{"first-sight", "profile row, 2 identities (Email + ECID/CRMID), all new", P6TargetFirst, profileSpec, func(i int) []byte { return p6ProfileRow(i, 0) }},
		{"links-known", "the same people again (a newer update), links known", P6TargetKnown, profileSpec, func(i int) []byte { return p6ProfileRow(i, 1) }},
		{"events", "experience event, 2 identities already linked", P6TargetKnown, eventSpec, p6EventRow},
	} {
		r, err := run(c.name, c.what, c.target, c.spec, c.row)
		if err != nil {
			return P6{}, err
		}
		out.Cases = append(out.Cases, r)
	}
	upserts, err := runP6Upsert(ctx, profiles, &cap, newDynamoClient(proc.Endpoint), table, rows, received, log)
	if err != nil {
		return P6{}, err
	}
	out.Cases = append(out.Cases, upserts...)
	out.Source = p6Source(cap.snapshot())
	out.Pass = true
	for _, c := range out.Cases {
		out.Pass = out.Pass && c.Pass
	}
	return out, nil
}

// p6ProfileRow is a profile row of about 600 bytes: primary identity
// personalEmail.address, and an ECID (even rows) or CRMID (odd rows) in
// identityMap; version orders updates of the same person.
func p6ProfileRow(i, version int) []byte {
	return profileRow("p6", i, version, 0)
}

// p6EventRow is an event of person i of p6ProfileRow: ECID or CRMID
// primary, the Email beside it.
func p6EventRow(i int) []byte {
	ns, id := secondIdentity("p6", i)
	return fmt.Appendf(nil, `{"_id":"p6-event-%d","timestamp":"2026-01-15T10:20:30.000Z","eventType":"web.webpagedetails.pageViews",`+
		`"identityMap":{%q:[{"id":%q,"primary":true}],"Email":[{"id":%q}]}}`, i, ns, id, email("p6", i))
}

// p6Source says where the WCU (and RCU) figures come from.
func p6Source(c capacityCounts) string {
	reads := ""
	switch {
	case c.reads == 0:
	case c.readsReported == c.reads:
		reads = "; read capacity from ConsumedCapacity returned for every GetItem"
	default:
		reads = fmt.Sprintf("; read capacity from ConsumedCapacity for %d of %d GetItem calls, the rest by DynamoDB's rule (1 RCU per started 4 KB read strongly consistent)",
			c.readsReported, c.reads)
	}
	return p6WriteSource(c) + reads
}

// p6WriteSource says where the WCU figures come from.
func p6WriteSource(c capacityCounts) string {
	switch {
	case c.reported == 0:
		return "item sizes: dynalite returned no ConsumedCapacity, so 1 WCU per started KB of each item written (DynamoDB's rule)"
	case c.reported < c.writes:
		return fmt.Sprintf("ConsumedCapacity returned by dynalite for %d of %d writes; the other %d (%d refused by their condition, which DynamoDB charges as writes but answer with no capacity) by DynamoDB's size rule, 1 WCU per started KB",
			c.reported, c.writes, c.writes-c.reported, c.refused)
	}
	return "ConsumedCapacity returned by dynalite for every write"
}
