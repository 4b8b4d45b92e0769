package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// P5Target is docs/quality.md's bar: lookup p99 ≤ 3 × one raw Query's p99.
const P5Target = 3.0

// P5Case is one cluster shape of P5: the latency of a profile lookup
// through the API against one raw Query on the same table, sampled in
// turns in the same run, and what a lookup reads from the profile table.
type P5Case struct {
	Name string `json:"name"`
	What string `json:"what"`
	// Identities of each cluster, fragments of each identity, clusters
	// looked up in turn.
	Identities           int `json:"identities"`
	FragmentsPerIdentity int `json:"fragmentsPerIdentity"`
	Clusters             int `json:"clusters"`
	Samples              int `json:"samples"`
	// Lookup: GET /data/core/ups/access/entities, SigV4-signed, through the
	// local cloud's API Gateway and the profile-api function.
	LookupP50Ms float64 `json:"lookupP50Ms"`
	LookupP99Ms float64 `json:"lookupP99Ms"`
	// Query: one Query of one identity's fragments and links, from this
	// process straight to the profile table.
	QueryP50Ms float64 `json:"queryP50Ms"`
	QueryP99Ms float64 `json:"queryP99Ms"`
	Ratio      float64 `json:"ratio"` // LookupP99Ms ÷ QueryP99Ms
	// What one lookup's cluster walk reads from the profile table (the
	// store's Cluster, the read of a lookup, run in this process with a
	// counting client): Query calls, items, and read capacity units
	// (reported ConsumedCapacity, or DynamoDB's rule where none came back:
	// an eventually consistent Query costs 0.5 RCU per started 4 KB of the
	// items it returns).
	QueriesPerLookup float64 `json:"queriesPerLookup"`
	ItemsPerLookup   float64 `json:"itemsPerLookup"`
	RCUPerLookup     float64 `json:"rcuPerLookup"`
	// SizeRCUPerLookup is DynamoDB's rule over the same Queries, whatever
	// the emulator reported.
	SizeRCUPerLookup float64 `json:"sizeRcuPerLookup"`
	// Bar: docs/quality.md's P5 is set on the 3-identity cluster; the
	// 50-identity cluster (the cap) is measured the same way to show how a
	// lookup grows with the cluster.
	Bar  bool `json:"bar"`
	Pass bool `json:"pass"`
}

// P5 is the P5 entry of results.json.
type P5 struct {
	Cases   []P5Case `json:"cases"`
	Target  float64  `json:"target"`
	How     string   `json:"how"`
	Pass    bool     `json:"pass"`
	Machine string   `json:"machine"`
	Date    string   `json:"date"`
}

const p5How = "a local cloud (make build-local binaries, dynalite); clusters written through shared/store (PutFragment, PutLinks with the graph's guardrails); " +
	"for each sample, in turn, one SigV4-signed GET /data/core/ups/access/entities of a cluster's identity (default merge policy: pdg, timestampOrdered) " +
	"and one Query (pk, sk BETWEEN \"F\" AND \"N\") of that identity's partition from this process; 20 warm-up rounds not counted; " +
	"read units from the store's cluster walk run once per cluster in this process with ReturnConsumedCapacity=TOTAL"

// readCount counts a DynamoDB client's Query calls, the items they
// returned and their read capacity.
type readCount struct {
	mu        sync.Mutex
	queries   int64
	items     int64
	units     float64 // reported, or the size rule where none came back
	sizeUnits float64 // the size rule
}

func (c *readCount) snapshot() (queries, items int64, units, sizeUnits float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queries, c.items, c.units, c.sizeUnits
}

// middleware sets ReturnConsumedCapacity=TOTAL on every Query and adds up
// what came back.
func (c *readCount) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("mosaic-bench-reads",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			q, ok := in.Parameters.(*dynamodb.QueryInput)
			if !ok {
				return next.HandleInitialize(ctx, in)
			}
			q.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil {
				return out, md, err
			}
			if v, ok := out.Result.(*dynamodb.QueryOutput); ok {
				var size int
				for _, it := range v.Items {
					size += itemBytes(it)
				}
				sizeUnits := max(1, math.Ceil(float64(size)/4096))
				if !aws.ToBool(q.ConsistentRead) {
					sizeUnits /= 2
				}
				units := sizeUnits
				if v.ConsumedCapacity != nil {
					units = aws.ToFloat64(v.ConsumedCapacity.CapacityUnits)
				}
				c.mu.Lock()
				c.queries++
				c.items += int64(len(v.Items))
				c.units += units
				c.sizeUnits += sizeUnits
				c.mu.Unlock()
			}
			return out, md, err
		}), middleware.Before)
}

// p5Cluster is one cluster written for P5: its identities, the first of
// which is looked up.
type p5Cluster []identity.ID

// seedP5 writes clusters clusters of n Email identities each, linked as a
// star around the first, with frags fragments (one per dataset) of about
// 1 KB on every identity.
func seedP5(ctx context.Context, prof *store.Profiles, tag string, clusters, n, frags int) ([]p5Cluster, error) {
	out := make([]p5Cluster, clusters)
	now := time.Now().UnixMilli()
	for c := range clusters {
		ids := make(p5Cluster, n)
		for i := range n {
			ids[i] = identity.ID{Namespace: "Email", Value: fmt.Sprintf("p5-%s-c%d-i%d@bench.example.com", tag, c, i)}
		}
		for i, id := range ids {
			for d := range frags {
				rec := map[string]any{
					"person":            map[string]any{"name": map[string]any{"firstName": fmt.Sprintf("F%d", i), "lastName": fmt.Sprintf("L%d", d)}},
					"personalEmail":     map[string]any{"address": id.Value},
					"homeAddress":       map[string]any{"city": "Basel", "postalCode": fmt.Sprintf("40%02d", d), "street1": fmt.Sprintf("%0700d", i)},
					"identityMap":       map[string]any{"Email": []any{map[string]any{"id": id.Value, "primary": true}}},
					"loyalty":           map[string]any{"points": i * d, "tier": "gold"},
					"mobilePhone":       map[string]any{"number": "+41 61 000 00 00"},
					"testProfile":       false,
					"_bench":            map[string]any{"cluster": c, "identity": i, "dataset": d},
					"preferredLanguage": "de-CH",
				}
				f := merge.Fragment{Identity: id.Key(), Dataset: fmt.Sprintf("p5-dataset-%d", d), Record: rec,
					TS: now + int64(d), Src: fmt.Sprintf("bench:p5:%d:%d:%d", c, i, d), Batch: "p5"}
				if err := prof.PutFragment(ctx, f); err != nil {
					return nil, err
				}
			}
			if i == 0 {
				continue
			}
			l := identity.Link{A: ids[0], B: id, AType: identity.TypeEmail, BType: identity.TypeEmail, Dataset: "p5-dataset-0", Source: "p5", At: now}
			if err := prof.PutLinks(ctx, []identity.Link{l}); err != nil {
				return nil, err
			}
		}
		out[c] = ids
	}
	return out, nil
}

// runP5 measures P5 for a 3-identity cluster with 3 fragments per identity
// and for a 50-identity cluster with 1 fragment per identity.
func runP5(ctx context.Context, dist string, samples int, log io.Writer) (P5, error) {
	l, err := startLocalWith(ctx, dist, map[string]int{}, nil)
	if err != nil {
		return P5{}, err
	}
	defer l.stop()
	// A first lookup starts profile-api, whose environment names the DynamoDB endpoint.
	if _, err := l.readable(ctx, "warm-up@bench.example.com"); err != nil {
		return P5{}, err
	}
	endpoint, err := l.dynamoEndpoint("profile-api")
	if err != nil {
		return P5{}, err
	}
	table := l.c.Name(topology.ProfileTable)
	var reads readCount
	db := newDynamoClient(endpoint)
	counted := newDynamoClient(endpoint, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, reads.middleware) })
	prof := store.NewProfiles(db, table)

	shapes := []struct {
		name, what              string
		identities, frags, many int
		bar                     bool
	}{
		{"3x3", "3-identity cluster, 3 fragments per identity", 3, 3, 20, true},
		{"50x1", "50-identity cluster (the cap), 1 fragment per identity", store.DefaultClusterCap, 1, 4, false},
	}
	p := P5{Target: P5Target, Pass: true, How: p5How, Machine: machine(), Date: now()}
	tag := fmt.Sprint(time.Now().UnixNano())
	for _, s := range shapes {
		fmt.Fprintf(log, "P5 %s: writing %d clusters\n", s.name, s.many)
		clusters, err := seedP5(ctx, prof, tag+s.name, s.many, s.identities, s.frags)
		if err != nil {
			return p, fmt.Errorf("P5 %s: seed: %w", s.name, err)
		}
		c := P5Case{Name: s.name, What: s.what, Identities: s.identities, FragmentsPerIdentity: s.frags, Clusters: s.many, Samples: samples, Bar: s.bar}
		// Reads of one lookup's walk, averaged over the clusters.
		countedProf := store.NewProfiles(counted, table)
		for _, cl := range clusters {
			cand, err := countedProf.Cluster(ctx, cl[0], true, store.DefaultClusterCap)
			if err != nil {
				return p, err
			}
			if len(cand.Members) != s.identities || len(cand.Fragments) != s.identities*s.frags {
				return p, fmt.Errorf("P5 %s: the walk found %d identities and %d fragments, want %d and %d",
					s.name, len(cand.Members), len(cand.Fragments), s.identities, s.identities*s.frags)
			}
		}
		q, items, units, sizeUnits := reads.snapshot()
		c.QueriesPerLookup = round2(float64(q) / float64(s.many))
		c.ItemsPerLookup = round2(float64(items) / float64(s.many))
		c.RCUPerLookup = round2(units / float64(s.many))
		c.SizeRCUPerLookup = round2(sizeUnits / float64(s.many))
		reads.mu.Lock()
		reads.queries, reads.items, reads.units, reads.sizeUnits = 0, 0, 0, 0
		reads.mu.Unlock()

		var lookups, queries []float64
		for i := -20; i < samples; i++ {
			id := clusters[(i+20)%len(clusters)][0]
			lq := url.Values{"schema.name": {merge.ProfileSchema}, "entityId": {id.Value}, "entityIdNS": {id.Namespace}}
			start := time.Now()
			var page map[string]any
			status, err := l.call(ctx, http.MethodGet, "/data/core/ups/access/entities?"+lq.Encode(), nil, &page)
			if err != nil || status != http.StatusOK || len(page) != 1 {
				return p, fmt.Errorf("P5 %s: lookup: status %d: %v", s.name, status, err)
			}
			lms := float64(time.Since(start).Microseconds()) / 1000
			start = time.Now()
			out, err := db.Query(ctx, &dynamodb.QueryInput{
				TableName:              aws.String(table),
				KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :f AND :n"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":pk": &types.AttributeValueMemberS{Value: id.Key()},
					":f":  &types.AttributeValueMemberS{Value: "F"},
					":n":  &types.AttributeValueMemberS{Value: "N"},
				},
			})
			if err != nil || len(out.Items) == 0 {
				return p, fmt.Errorf("P5 %s: raw Query: %v", s.name, err)
			}
			qms := float64(time.Since(start).Microseconds()) / 1000
			if i >= 0 {
				lookups, queries = append(lookups, lms), append(queries, qms)
			}
		}
		c.LookupP50Ms, c.LookupP99Ms = quantile(lookups, 0.50), quantile(lookups, 0.99)
		c.QueryP50Ms, c.QueryP99Ms = quantile(queries, 0.50), quantile(queries, 0.99)
		c.Ratio = round2(c.LookupP99Ms / c.QueryP99Ms)
		c.Pass = c.Ratio <= P5Target
		if c.Bar {
			p.Pass = p.Pass && c.Pass
		}
		fmt.Fprintf(log, "P5 %s: lookup p50 %.1f ms p99 %.1f ms; Query p50 %.1f ms p99 %.1f ms; %.2f× (target ≤ %.1f×); %.2f Queries, %.2f RCU (%.2f by size) per lookup\n",
			s.name, c.LookupP50Ms, c.LookupP99Ms, c.QueryP50Ms, c.QueryP99Ms, c.Ratio, P5Target, c.QueriesPerLookup, c.RCUPerLookup, c.SizeRCUPerLookup)
		p.Cases = append(p.Cases, c)
	}
	return p, nil
}

// quantile is the q-quantile of ms (nearest rank), rounded to 0.01 ms.
func quantile(ms []float64, q float64) float64 {
	s := slices.Clone(ms)
	slices.Sort(s)
	return round2(s[min(len(s)-1, max(0, int(math.Ceil(q*float64(len(s))))-1))])
}
