package store

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

// pagedQuery answers Query with pages of two items, n items in all, and
// records the start key of each call.
type pagedQuery struct {
	DynamoDB
	n      int
	starts []string
	fail   error
}

func (q *pagedQuery) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if q.fail != nil {
		return nil, q.fail
	}
	from := 0
	if k, ok := in.ExclusiveStartKey["i"].(*types.AttributeValueMemberN); ok {
		from, _ = strconv.Atoi(k.Value)
	}
	q.starts = append(q.starts, strconv.Itoa(from))
	out := &dynamodb.QueryOutput{}
	for i := from; i < min(from+2, q.n); i++ {
		out.Items = append(out.Items, map[string]types.AttributeValue{"i": profN(int64(i))})
	}
	if from+2 < q.n {
		out.LastEvaluatedKey = map[string]types.AttributeValue{"i": profN(int64(from + 2))}
	}
	return out, nil
}

func TestQueryPages(t *testing.T) {
	collect := func(q *pagedQuery, stopAt int) (int, error) {
		got := 0
		err := queryPages(context.Background(), q, &dynamodb.QueryInput{}, "read", func(items []map[string]types.AttributeValue) (bool, error) {
			got += len(items)
			return stopAt == 0 || got < stopAt, nil
		})
		return got, err
	}
	q := &pagedQuery{n: 5}
	if got, err := collect(q, 0); err != nil || got != 5 || len(q.starts) != 3 {
		t.Errorf("all pages: %d items in %d calls (%v), want 5 in 3", got, len(q.starts), err)
	}
	q = &pagedQuery{n: 9}
	if got, _ := collect(q, 3); got != 4 || len(q.starts) != 2 {
		t.Errorf("stopped after 3: %d items in %d calls, want 4 in 2 (the page that reached 3 is the last read)", got, len(q.starts))
	}
	q = &pagedQuery{fail: &types.ProvisionedThroughputExceededException{}}
	if _, err := collect(q, 0); fault.KindOf(err) != fault.Throttled {
		t.Errorf("a throttled call: %v, want a throttled fault", err)
	}
	stop := errors.New("bad page")
	err := queryPages(context.Background(), &pagedQuery{n: 5}, &dynamodb.QueryInput{}, "read", func([]map[string]types.AttributeValue) (bool, error) {
		return true, stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("a page's error: %v, want it returned", err)
	}
}
