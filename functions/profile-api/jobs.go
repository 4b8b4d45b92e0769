package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/identity"
	"github.com/mosaic-cdp/mosaic/shared/jobs"
	"github.com/mosaic-cdp/mosaic/shared/merge"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// jobStore keeps and starts profile jobs, and reads what a delete request
// names (the catalog store, and the landing bucket for task objects).
type jobStore interface {
	// StartJob records j as a NEW job and writes its first task
	// (jobs.Start).
	StartJob(ctx context.Context, j jobs.Job) (jobs.Job, error)
	GetJob(ctx context.Context, id string) (jobs.Job, error)
	ListJobs(ctx context.Context, q store.JobQuery) (store.JobPage, error)
	DeleteJob(ctx context.Context, id string) error
	GetBatch(ctx context.Context, id string) (catalog.Batch, error)
	GetDataset(ctx context.Context, id string) (catalog.Dataset, error)
	// DatasetDeleted reports whether id names a dataset deleted from
	// the catalog (DELETE /dataSets/{id}).
	DatasetDeleted(ctx context.Context, id string) (bool, error)
	GetSchema(ctx context.Context, id string) (xdm.Schema, error)
}

// catalogJobs is jobStore on the catalog table and the landing bucket.
type catalogJobs struct {
	*store.Catalog
	objects jobs.Objects
	bucket  string
	now     func() time.Time
}

func newJobs(c *awsenv.Clients, cat *store.Catalog, bucket string) jobStore {
	return &catalogJobs{Catalog: cat, objects: c.S3, bucket: bucket, now: time.Now}
}

func (c *catalogJobs) StartJob(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	return jobs.Start(ctx, c.Catalog, c.objects, c.bucket, j, c.now())
}

// jobsPath is the path of the jobs collection; a job is jobsPath/{id}.
const jobsPath = "/data/core/ups/system/jobs"

// Error codes of the jobs routes; the messages are AEP's.
const (
	// CodeJobInvalid: the body names neither a dataset nor a batch, or an
	// unknown dataset (AEP: "Invalid delete request (Profile System Job)").
	CodeJobInvalid = "JOB-INVALID"
	// CodeJobBatchNotFound: the batch does not exist, or is not of the
	// dataset named with it.
	CodeJobBatchNotFound = "JOB-BATCH-NOT-FOUND"
	// CodeJobBatchRecord: only batches of time-series (ExperienceEvent)
	// datasets can be deleted; a record batch's data has been overwritten
	// by later records (AEP's "Batch can only be specified for EE type").
	CodeJobBatchRecord = "JOB-BATCH-RECORD"
)

const invalidJob = "Invalid delete request (Profile System Job)"

// jobRequest is POST /system/jobs's body: AEP's {"dataSetId"} or
// {"batchId"}; the newer spelling "datasetId" is also read.
type jobRequest struct {
	DataSetID string `json:"dataSetId"`
	DatasetID string `json:"datasetId"`
	BatchID   string `json:"batchId"`
}

// createJob starts a delete job: all profile data of a dataset (also of
// one deleted from the catalog), or the events of one batch of a
// time-series dataset. 200 with the NEW job.
func (h *handler) createJob(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in jobRequest
	if err := r.Decode(&in); err != nil {
		_, msg := fault.Public(err)
		return 0, nil, fault.Wrap(err, fault.Invalid, CodeJobInvalid, invalidJob+": "+msg)
	}
	ds := strings.TrimSpace(in.DataSetID)
	if alt := strings.TrimSpace(in.DatasetID); alt != "" {
		if ds != "" && ds != alt {
			return 0, nil, fault.E(fault.Invalid, CodeJobInvalid, invalidJob+": dataSetId and datasetId differ")
		}
		ds = alt
	}
	batch := strings.TrimSpace(in.BatchID)
	var j jobs.Job
	switch {
	case batch != "":
		var err error
		if j, err = h.batchJob(ctx, ds, batch); err != nil {
			return 0, nil, err
		}
	case ds != "":
		if err := h.datasetToDelete(ctx, ds); err != nil {
			return 0, nil, err
		}
		j = jobs.NewDatasetDelete(ds)
	default:
		return 0, nil, fault.E(fault.Invalid, CodeJobInvalid, invalidJob+": give dataSetId or batchId")
	}
	j, err := h.jobs.StartJob(ctx, j)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, j.View(), nil
}

// datasetToDelete checks that ds names a dataset, or one deleted from the
// catalog (so that a failed job of a deleted dataset can be started again).
func (h *handler) datasetToDelete(ctx context.Context, ds string) error {
	_, err := h.jobs.GetDataset(ctx, ds)
	if fault.KindOf(err) != fault.NotFound {
		return err
	}
	deleted, derr := h.jobs.DatasetDeleted(ctx, ds)
	if derr != nil || deleted {
		return derr
	}
	return fault.Wrap(err, fault.Invalid, CodeJobInvalid, invalidJob+": dataset '"+ds+"' does not exist")
}

// batchJob is the job deleting batch's events, after AEP's checks: the
// batch exists (in dataset ds when given) and its dataset is of the
// ExperienceEvent class.
func (h *handler) batchJob(ctx context.Context, ds, batch string) (jobs.Job, error) {
	name := ds
	if name == "" {
		name = batch
	}
	notFound := func(err error) error {
		return fault.Wrap(err, fault.Invalid, CodeJobBatchNotFound, "Batch not found for profile dataset '"+name+"'")
	}
	b, err := h.jobs.GetBatch(ctx, batch)
	if fault.KindOf(err) == fault.NotFound || err == nil && ds != "" && b.DatasetID != ds {
		return jobs.Job{}, notFound(err)
	}
	if err != nil {
		return jobs.Job{}, err
	}
	d, err := h.jobs.GetDataset(ctx, b.DatasetID)
	if fault.KindOf(err) == fault.NotFound {
		return jobs.Job{}, notFound(err)
	}
	if err != nil {
		return jobs.Job{}, err
	}
	s, err := h.jobs.GetSchema(ctx, d.SchemaRef.ID)
	if err != nil && fault.KindOf(err) != fault.NotFound {
		return jobs.Job{}, err
	}
	if err != nil || s.Class != xdm.EventClass {
		return jobs.Job{}, fault.E(fault.Invalid, CodeJobBatchRecord, "Batch can only be specified for EE type '"+d.ID+"'")
	}
	return jobs.NewBatchDelete(d.ID, b.ID), nil
}

// jobList is AEP's list of jobs: _page.count is the jobs on this page,
// _page.next the start of the next page ("" after the last).
type jobList struct {
	Page struct {
		Count int    `json:"count"`
		Next  string `json:"next"`
	} `json:"_page"`
	Children []jobs.View `json:"children"`
}

// listJobs lists jobs by creation time. Query: start (the _page.next of
// the previous page, or a number of jobs to skip, as AEP's offset),
// limit (1 to 100, default 100), page (0-based page of limit jobs),
// sort (createEpoch:asc, the default as AEP's, or createEpoch:desc).
func (h *handler) listJobs(ctx context.Context, r *apigw.Request) (int, any, error) {
	var q store.JobQuery
	limit, err := jobParam(r, "limit", store.MaxJobPage, 1, store.MaxJobPage)
	if err != nil {
		return 0, nil, err
	}
	q.Limit = limit
	page, err := jobParam(r, "page", 0, 0, 1_000_000)
	if err != nil {
		return 0, nil, err
	}
	q.Skip = page * limit
	if start := r.Query.Get("start"); start != "" {
		if n, err := strconv.Atoi(start); err == nil && n >= 0 {
			q.Skip += n
		} else {
			q.Start = start
		}
	}
	switch strings.ToLower(r.Query.Get("sort")) {
	case "", "createepoch", "createepoch:asc":
	case "createepoch:desc":
		q.Newest = true
	default:
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "sort must be createEpoch:asc or createEpoch:desc")
	}
	p, err := h.jobs.ListJobs(ctx, q)
	if err != nil {
		return 0, nil, err
	}
	out := jobList{Children: make([]jobs.View, 0, len(p.Jobs))}
	for _, j := range p.Jobs {
		out.Children = append(out.Children, j.View())
	}
	out.Page.Count, out.Page.Next = len(out.Children), p.Next
	return http.StatusOK, out, nil
}

func jobParam(r *apigw.Request, name string, def, lo, hi int) (int, error) {
	v := r.Query.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fault.Errorf(fault.Invalid, "REQ-PARAM", "%s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

func (h *handler) getJob(ctx context.Context, r *apigw.Request) (int, any, error) {
	j, err := h.jobs.GetJob(ctx, r.Param("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, j.View(), nil
}

// deleteJob removes a job's record (200, no body); a running job stops at
// the end of its current step. The data it deleted stays deleted.
func (h *handler) deleteJob(ctx context.Context, r *apigw.Request) (int, any, error) {
	if err := h.jobs.DeleteJob(ctx, r.Param("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

// entitiesDelete deletes a profile (DELETE /access/entities): with the
// parameters of a profile GET (schema.name=_xdm.context.profile, entityId,
// entityIdNS, mergePolicyId), it starts a profile job, which removes the
// data of the identity's cluster under the policy's identityGraph (pdg:
// every identity of the cluster; none: the identity alone). 202 with the
// job and its Location.
func (h *handler) entitiesDelete(ctx context.Context, r *apigw.Request) (int, any, error) {
	switch r.Query.Get("schema.name") {
	case merge.ProfileSchema:
	case "":
		return 0, nil, fault.E(fault.Invalid, "REQ-PARAM", "missing query parameter: schema.name")
	default:
		return 0, nil, fault.E(fault.Invalid, "REQ-SCHEMA", "schema.name must be _xdm.context.profile: a profile is deleted with its events")
	}
	p, err := required(r.Query, "entityId", "entityIdNS")
	if err != nil {
		return 0, nil, err
	}
	pol, err := h.policy(ctx, r.Query.Get("mergePolicyId"), merge.ProfileSchema)
	if err != nil {
		return 0, nil, err
	}
	id, err := h.identityOf(ctx, p["entityIdNS"], p["entityId"])
	if err != nil {
		return 0, nil, err
	}
	e := jobs.Entity{EntityID: p["entityId"], EntityIDNS: p["entityIdNS"], MergePolicyID: pol.ID, IdentityGraph: pol.IdentityGraph.Type}
	j, err := h.jobs.StartJob(ctx, jobs.NewEntityDelete(e, id.Key()))
	if err != nil {
		return 0, nil, err
	}
	body, err := json.Marshal(j.View())
	if err != nil {
		return 0, nil, fault.Wrap(err, fault.Internal, "ENCODE", "encode the job")
	}
	return http.StatusAccepted, apigw.Raw{
		Header: map[string]string{"Location": jobsPath + "/" + j.ID, "Content-Type": "application/json"},
		Body:   body,
	}, nil
}

// identityOf normalises an asked identity among the standard and the
// tenant's namespaces, as a profile read does; an unknown namespace is
// Invalid identity.CodeUnknownNamespace.
func (h *handler) identityOf(ctx context.Context, namespace, value string) (identity.ID, error) {
	if h.ns == nil {
		return identity.Normalize(namespace, value)
	}
	ns, ok, err := h.ns.Namespace(ctx, namespace)
	if err != nil {
		return identity.ID{}, err
	}
	if !ok {
		return identity.Normalize(namespace, value)
	}
	return identity.NormalizeValue(ns, value)
}
