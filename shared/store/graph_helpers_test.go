package store

import (
	"context"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/identity"
)

// graphCountingDB counts the calls the store makes and the items its
// queries read, and sums the capacity units DynamoDB reports for them
// (asked with ReturnConsumedCapacity TOTAL).
type graphCountingDB struct {
	DynamoDB
	queries, queryItems, updates, puts, deletes atomic.Int64
	// readUnits and writeUnits are thousandths of capacity units.
	readUnits, writeUnits atomic.Int64
}

func (c *graphCountingDB) units(cc *types.ConsumedCapacity, into *atomic.Int64) {
	if cc != nil && cc.CapacityUnits != nil {
		into.Add(int64(*cc.CapacityUnits * 1000))
	}
}

func (c *graphCountingDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.queries.Add(1)
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.DynamoDB.Query(ctx, in, o...)
	if err == nil {
		c.queryItems.Add(int64(len(out.Items)))
		c.units(out.ConsumedCapacity, &c.readUnits)
	}
	return out, err
}

func (c *graphCountingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.updates.Add(1)
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.DynamoDB.UpdateItem(ctx, in, o...)
	if err == nil {
		c.units(out.ConsumedCapacity, &c.writeUnits)
	}
	return out, err
}

func (c *graphCountingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.puts.Add(1)
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.DynamoDB.PutItem(ctx, in, o...)
	if err == nil {
		c.units(out.ConsumedCapacity, &c.writeUnits)
	}
	return out, err
}

func (c *graphCountingDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.deletes.Add(1)
	return c.DynamoDB.DeleteItem(ctx, in, o...)
}

// writes is every write call so far.
func (c *graphCountingDB) writes() int64 { return c.updates.Load() + c.puts.Load() + c.deletes.Load() }

// graphScan reads every item of the table.
func graphScan(t *testing.T, db DynamoDB, table string) []map[string]types.AttributeValue {
	t.Helper()
	sc, ok := db.(interface {
		Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	})
	if !ok {
		t.Fatalf("%T cannot scan", db)
	}
	var items []map[string]types.AttributeValue
	in := &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)}
	for {
		out, err := sc.Scan(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			return items
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// graphLinks reads the stored graph: each link (key "a\x00b", a < b) that
// is live on both of its nodes, with its first half's info. A link live
// on one node only fails the test: a finished writer leaves none.
func graphLinks(t *testing.T, db DynamoDB, table string) map[string]LinkInfo {
	t.Helper()
	halves := map[string]int{}
	info := map[string]LinkInfo{}
	for _, it := range graphScan(t, db, table) {
		sk := profStr(it["sk"])
		if !strings.HasPrefix(sk, profLinkPfx) && !strings.HasPrefix(sk, profLinkHashPfx) {
			continue
		}
		if _, tomb := it[profDeletedAttr]; tomb {
			continue
		}
		k := profLinkCacheKey(profStr(it["pk"]), profStr(it["nb"]))
		halves[k]++
		info[k] = profLinkInfoItem(it)
	}
	for k, n := range halves {
		if n != 2 {
			t.Errorf("link %q is stored on %d of its nodes, want 2", strings.ReplaceAll(k, "\x00", " - "), n)
		}
	}
	return info
}

// graphComponents are the clusters of a set of links (keys "a\x00b"),
// each sorted, in order of their first member.
func graphComponents(links map[string]LinkInfo) [][]string {
	adj := map[string][]string{}
	for k := range links {
		a, b, _ := strings.Cut(k, "\x00")
		adj[a] = append(adj[a], b)
		adj[b] = append(adj[b], a)
	}
	seen := map[string]bool{}
	var out [][]string
	for _, k := range sortedKeys(adj) {
		if seen[k] {
			continue
		}
		var comp []string
		stack := []string{k}
		seen[k] = true
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			comp = append(comp, x)
			for _, y := range adj[x] {
				if !seen[y] {
					seen[y] = true
					stack = append(stack, y)
				}
			}
		}
		sort.Strings(comp)
		out = append(out, comp)
	}
	return out
}

// graphCheckGuardrails fails t for a cluster over capacity or holding
// two values of a namespace of unique.
func graphCheckGuardrails(t *testing.T, links map[string]LinkInfo, capacity int, unique ...string) {
	t.Helper()
	for _, comp := range graphComponents(links) {
		if len(comp) > capacity {
			t.Errorf("a cluster of %d identities, over the cap of %d: %v", len(comp), capacity, comp)
		}
		for _, ns := range unique {
			var vals []string
			for _, k := range comp {
				if namespaceOf(k) == ns {
					vals = append(vals, k)
				}
			}
			if len(vals) > 1 {
				t.Errorf("a cluster holds %d %s values: %v", len(vals), ns, vals)
			}
		}
	}
}

// graphLink is a link of a test: A of type aType seen with B of type
// bType at at.
func graphLink(a identity.ID, aType string, b identity.ID, bType string, at int64, ds, src string) identity.Link {
	return identity.Link{A: a, B: b, AType: aType, BType: bType, Dataset: ds, Source: src, Src: src, At: at}
}

// graphEventsOf reads the graph events of id, failing t on an error.
func graphEventsOf(t *testing.T, p *Profiles, id identity.ID) []GraphEvent {
	t.Helper()
	evs, err := p.GraphEvents(context.Background(), id, 1000)
	if err != nil {
		t.Fatalf("GraphEvents: %v", err)
	}
	return evs
}

// graphKeys are the keys of ids.
func graphKeys(ids []identity.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Key()
	}
	sort.Strings(out)
	return out
}
