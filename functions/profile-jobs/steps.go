package main

import (
	"context"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
	"github.com/mosaic-cdp/mosaic/shared/merge"
)

// CodeClusterTooLarge is the error of a profile delete whose cluster has
// more identities than the cap: nothing is deleted.
const CodeClusterTooLarge = "PROFILE-CLUSTER-TOO-LARGE"

// work carries j on until deadline, recording its progress in j (cursor,
// members, records). done is true when nothing is left; progressed when
// anything was removed or the cursor moved. Every call of work makes at
// least one call of the store's delete step, whatever the deadline, so
// that each step makes progress.
func (h *handler) work(ctx context.Context, j *jobs.Job, deadline time.Time) (done, progressed bool, err error) {
	if j.Kind() == jobs.KindEntity {
		return h.deleteProfile(ctx, j, deadline)
	}
	return h.deleteDataset(ctx, j, deadline)
}

// deleteDataset removes the fragments and events of j's dataset (the
// events of its batch only, for a batch delete), scanning the profile
// table from j.Cursor.
func (h *handler) deleteDataset(ctx context.Context, j *jobs.Job, deadline time.Time) (done, progressed bool, err error) {
	for first := true; ; first = false {
		if !first && !h.now().Before(deadline) {
			return false, progressed, nil
		}
		next, removed, err := h.profiles.DeleteDatasetStep(ctx, j.DataSetID, j.BatchID, j.Cursor, deadline)
		if err != nil {
			return false, progressed, err
		}
		j.Records += int64(removed)
		progressed = progressed || removed > 0 || next != j.Cursor
		j.Cursor = next
		if next == "" {
			return true, true, nil
		}
	}
}

// deleteProfile removes the profile of j's identity: at its first step it
// resolves the members (the whole cluster under a pdg policy, the identity
// alone under none) and keeps them in j, so that later steps delete the
// same identities whatever the deletes do to the graph; then each member's
// data goes, one after the other, as of the job's creation time.
func (h *handler) deleteProfile(ctx context.Context, j *jobs.Job, deadline time.Time) (done, progressed bool, err error) {
	if !j.Resolved {
		if err := h.resolve(ctx, j); err != nil {
			return false, false, err
		}
		progressed = true
	}
	src := "delete:" + j.ID
	for first := true; j.Member < len(j.Members); first = false {
		if !first && !h.now().Before(deadline) {
			return false, progressed, nil
		}
		id, err := identity.ParseKey(j.Members[j.Member])
		if err != nil {
			return false, progressed, fault.Wrap(err, fault.Internal, "JOB-MEMBER", "a stored member of the job is not an identity key")
		}
		next, removed, err := h.profiles.DeleteIdentityStep(ctx, id, j.Created, src, j.Cursor, deadline)
		if err != nil {
			return false, progressed, err
		}
		j.Records += int64(removed)
		progressed = progressed || removed > 0 || next != j.Cursor
		if next == "" {
			j.Member++
		}
		j.Cursor = next
	}
	return true, true, nil
}

// resolve finds the members of j's profile. A cluster over the cap is
// Unprocessable CodeClusterTooLarge: the job ends in ERROR with nothing
// deleted, as a lookup of that cluster answers 422.
func (h *handler) resolve(ctx context.Context, j *jobs.Job) error {
	id, err := identity.ParseKey(j.Identity)
	if err != nil || j.Entity == nil {
		return fault.Wrap(err, fault.Internal, "JOB-IDENTITY", "the job's identity is not an identity key")
	}
	stitch := j.Entity.IdentityGraph == merge.GraphPDG
	c, err := h.profiles.Cluster(ctx, id, stitch, h.clusterCap)
	if err != nil {
		return err
	}
	if c.Truncated {
		return fault.Errorf(fault.Unprocessable, CodeClusterTooLarge,
			"Too many related identities: the identity's cluster has more than %d identities (the cluster cap), so nothing was deleted. "+
				"Delete its identities one at a time with a merge policy whose identityGraph.type is none, or raise the cap", h.clusterCap)
	}
	members := make([]string, 0, len(c.Members)+1)
	seen := map[string]bool{}
	for _, m := range append([]identity.ID{id}, c.Members...) {
		if k := m.Key(); !seen[k] {
			seen[k] = true
			members = append(members, k)
		}
	}
	j.Members, j.Member, j.Cursor, j.Resolved = members, 0, "", true
	return nil
}
