package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

func testPolicy(id string, def bool) merge.Policy {
	return merge.Policy{
		ID: id, Name: "policy " + id, Schema: merge.SchemaRef{Name: merge.ProfileSchema},
		IdentityGraph:  merge.IdentityGraph{Type: merge.GraphNone},
		AttributeMerge: merge.AttributeMerge{Type: merge.DataSetPrecedence, Order: []string{"dsCRM", "dsWeb"}},
		Default:        def,
	}
}

// policyByID finds a policy in a listing.
func policyByID(list []merge.Policy, id string) (merge.Policy, bool) {
	for _, p := range list {
		if p.ID == id {
			return p, true
		}
	}
	return merge.Policy{}, false
}

func defaultsOf(list []merge.Policy, schema string) []string {
	var ids []string
	for _, p := range list {
		if p.Default && p.Schema.Name == schema {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

func TestCatalogMergePolicies(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		now := time.Unix(1_700_000_000, 0)

		got, err := c.MergePolicies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(merge.Defaults(), got); d != "" {
			t.Fatalf("a new catalog's policies (-want +got):\n%s", d)
		}

		created, err := c.CreateMergePolicy(ctx, testPolicy("p1", true), now)
		if err != nil {
			t.Fatal(err)
		}
		if created.Version != 1 || created.UpdateEpoch != now.Unix() || !created.Default {
			t.Errorf("created %+v, want version 1 at now, the default", created)
		}
		got, _ = c.MergePolicies(ctx)
		if d := cmp.Diff([]string{"p1"}, defaultsOf(got, merge.ProfileSchema)); d != "" {
			t.Errorf("profile defaults (-want +got):\n%s", d)
		}
		if old, _ := policyByID(got, merge.DefaultProfilePolicyID); old.Default || old.Version != 2 {
			t.Errorf("built-in default after a new default: %+v, want kept at version 2, not default", old)
		}
		if ev, ok := policyByID(got, merge.DefaultEventPolicyID); !ok || !ev.Default {
			t.Errorf("the event class lost its built-in default: %+v", got)
		}

		t.Run("update", func(t *testing.T) {
			later := now.Add(time.Minute)
			p, err := c.UpdateMergePolicy(ctx, "p1", func(p merge.Policy) (merge.Policy, error) {
				p.Name = "renamed"
				return p, nil
			}, later)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != "renamed" || p.Version != 2 || p.UpdateEpoch != later.Unix() {
				t.Errorf("updated %+v, want renamed at version 2", p)
			}
			_, err = c.UpdateMergePolicy(ctx, "p1", func(p merge.Policy) (merge.Policy, error) {
				p.Schema.Name = merge.EventSchema
				return p, nil
			}, later)
			catWantFault(t, err, fault.Invalid, "MERGE-POLICY-SCHEMA-CHANGE")
			_, err = c.UpdateMergePolicy(ctx, "nope", func(p merge.Policy) (merge.Policy, error) { return p, nil }, later)
			catWantFault(t, err, fault.NotFound, "MERGE-POLICY-NOT-FOUND")
		})
		t.Run("invalid policy", func(t *testing.T) {
			p := testPolicy("bad", false)
			p.Schema.Name = "_xdm.context.other"
			_, err := c.CreateMergePolicy(ctx, p, now)
			catWantFault(t, err, fault.Invalid, "MERGE-POLICY-SCHEMA-NAME")
		})
		t.Run("delete the default", func(t *testing.T) {
			if err := c.DeleteMergePolicy(ctx, "p1"); err != nil {
				t.Fatal(err)
			}
			catWantFault(t, c.DeleteMergePolicy(ctx, "p1"), fault.NotFound, "MERGE-POLICY-NOT-FOUND")
			got, _ := c.MergePolicies(ctx)
			if d := defaultsOf(got, merge.ProfileSchema); len(d) != 0 {
				t.Errorf("profile defaults after deleting the default: %v, want none", d)
			}
			if err := c.DeleteMergePolicy(ctx, merge.DefaultProfilePolicyID); err != nil {
				t.Fatal(err)
			}
			got, _ = c.MergePolicies(ctx)
			if _, ok := policyByID(got, merge.DefaultProfilePolicyID); ok {
				t.Errorf("the built-in default came back after its deletion: %v", got)
			}
		})
	})
}

// TestCatalogMergePoliciesConcurrent has writers race on one class: the
// class's limit and its single default hold whatever the interleaving.
func TestCatalogMergePoliciesConcurrent(t *testing.T) {
	onEachDynamoDB(t, func(t *testing.T) {
		ctx := context.Background()
		c := catTestCatalog(t)
		now := time.Unix(1_700_000_000, 0)

		const writers = 8
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				_, errs[i] = c.CreateMergePolicy(ctx, testPolicy(fmt.Sprint("c", i), true), now)
			})
		}
		wg.Wait()
		created, refused := 0, 0
		for _, err := range errs {
			var fe *fault.Error
			switch {
			case err == nil:
				created++
			case errors.As(err, &fe) && fe.Code == "MERGE-POLICY-LIMIT":
				refused++
			default:
				t.Errorf("create: %v", err)
			}
		}
		// The built-in default is one of the class's five.
		if created != merge.MaxPoliciesPerClass-1 || refused != writers-created {
			t.Errorf("%d created and %d refused, want %d and %d", created, refused, merge.MaxPoliciesPerClass-1, writers-merge.MaxPoliciesPerClass+1)
		}
		got, err := c.MergePolicies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var profile []merge.Policy
		for _, p := range got {
			if p.Schema.Name == merge.ProfileSchema {
				profile = append(profile, p)
			}
		}
		if len(profile) != merge.MaxPoliciesPerClass || len(defaultsOf(got, merge.ProfileSchema)) != 1 {
			t.Fatalf("profile class %+v, want %d policies and one default", profile, merge.MaxPoliciesPerClass)
		}

		// Each writer makes another policy the default at once.
		wg = sync.WaitGroup{}
		for i, p := range profile {
			wg.Go(func() {
				_, errs[i] = c.UpdateMergePolicy(ctx, p.ID, func(p merge.Policy) (merge.Policy, error) {
					p.Default = true
					return p, nil
				}, now)
			})
		}
		wg.Wait()
		for _, err := range errs[:len(profile)] {
			if err != nil {
				t.Errorf("set default: %v", err)
			}
		}
		got, _ = c.MergePolicies(ctx)
		if d := defaultsOf(got, merge.ProfileSchema); len(d) != 1 {
			t.Errorf("defaults after concurrent changes: %v, want exactly one", d)
		}
	})
}
