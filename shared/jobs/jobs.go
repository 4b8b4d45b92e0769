// Package jobs is the model of profile jobs: AEP's profile system jobs
// ("delete requests": all profile data of a dataset, or the events of one
// batch of a time-series dataset) and profile deletes (DELETE
// /access/entities). A job is one catalog document (see Job); it is carried
// out in steps by the profile-jobs function, each step started by a task
// object under topology.JobsPrefix of the landing bucket (TaskKey), so that
// a job of any size finishes across invocations. Start records a new job
// and writes its first task. The rules are in docs/identity-and-merge.md
// ("Profile jobs").
package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/topology"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// TypeDelete is the jobType of every profile job (AEP's only one).
const TypeDelete = "DELETE"

// Statuses of a job, AEP's: NEW until its first step starts, PROCESSING
// while steps run, then COMPLETED or ERROR, which are final.
const (
	StatusNew        = "NEW"
	StatusProcessing = "PROCESSING"
	StatusCompleted  = "COMPLETED"
	StatusError      = "ERROR"
)

// Final reports whether status is COMPLETED or ERROR: a final job never
// changes again.
func Final(status string) bool { return status == StatusCompleted || status == StatusError }

// Kinds of job: what a job deletes.
const (
	// KindDataset deletes all profile data of a dataset: its fragments and
	// its events.
	KindDataset = "dataset"
	// KindBatch deletes the events of one batch of a time-series dataset.
	KindBatch = "batch"
	// KindEntity deletes one profile: the data of an identity, or of its
	// whole cluster, as the merge policy's identityGraph says.
	KindEntity = "entity"
)

// Entity names the profile a profile delete removes, as the DELETE
// /access/entities request named it.
type Entity struct {
	EntityID      string `json:"entityId"`
	EntityIDNS    string `json:"entityIdNS"`
	MergePolicyID string `json:"mergePolicyId,omitempty"`
	// IdentityGraph is the policy's identityGraph.type: "pdg" deletes
	// every identity of the cluster, "none" the asked identity only.
	IdentityGraph string `json:"identityGraph"`
}

// Job is a profile job as stored: AEP's fields (id, imsOrgId, dataSetId |
// batchId | entity, jobType, status, createEpoch, updateEpoch, metrics)
// and the runner's own state. View is what the API shows of it.
type Job struct {
	ID        string `json:"id"`
	ImsOrgID  string `json:"imsOrgId,omitempty"`
	DataSetID string `json:"dataSetId,omitempty"`
	// BatchID is set, with its DataSetID, on a batch delete.
	BatchID string  `json:"batchId,omitempty"`
	Entity  *Entity `json:"entity,omitempty"`
	JobType string  `json:"jobType"`
	Status  string  `json:"status"`
	// CreateEpoch and UpdateEpoch are epoch seconds, as AEP's.
	CreateEpoch int64 `json:"createEpoch"`
	UpdateEpoch int64 `json:"updateEpoch"`
	// Metrics is AEP's JSON-encoded string
	// "{\"recordsProcessed\":N,\"timeTakenInSec\":S}" (see SetMetrics);
	// empty while the job is NEW.
	Metrics string `json:"metrics,omitempty"`

	// Step is the number of steps done: the task object of step Step is
	// the one that may run next. A step's progress is saved only while
	// the stored Step is still the one it started from (optimistic
	// concurrency), so a redelivered or duplicated task changes nothing.
	Step int `json:"step"`
	// Cursor is where the store's delete step goes on from ("" to start).
	// It may hold identity values: it is never shown or logged.
	Cursor string `json:"cursor,omitempty"`
	// Error says why a job ended in ERROR.
	Error string `json:"error,omitempty"`
	// Created is the epoch ms of the request: the time of a profile
	// delete's tombstones, the same at every step and retry.
	Created int64 `json:"created"`
	// Started is the epoch ms the first step began (timeTakenInSec runs
	// from it).
	Started int64 `json:"started,omitempty"`
	// NotBefore (epoch ms), when set, is the earliest time the work may
	// start: a deleted dataset's job waits until every ingest function has
	// stopped taking rows for it (DatasetSettle).
	NotBefore int64 `json:"notBefore,omitempty"`
	// Records counts the items removed so far (recordsProcessed).
	Records int64 `json:"records"`
	// Identity is the normalised key ("<NS>#<value>") of a profile
	// delete's identity. Never shown or logged.
	Identity string `json:"identity,omitempty"`
	// Resolved is set once a profile delete's members are known; Members
	// are their identity keys, Member the index of the one being deleted.
	Resolved bool     `json:"resolved,omitempty"`
	Members  []string `json:"members,omitempty"`
	Member   int      `json:"member,omitempty"`
	// Idle counts the latest consecutive steps that removed nothing and
	// did not move the cursor (see MaxIdleSteps).
	Idle int `json:"idle,omitempty"`
}

// MaxIdleSteps is how many consecutive steps may make no progress before
// the job ends in ERROR: it keeps a job whose store step cannot advance
// from invoking itself for ever.
const MaxIdleSteps = 20

// DatasetSettle is how long after DELETE /dataSets/{id} its job waits before
// it deletes: the ingest functions keep a dataset's description for up to
// catalog.DefaultFreshness (15 s) and may take rows for it until then.
const DatasetSettle = 17 * time.Second

// Kind is what j deletes: KindEntity, KindBatch or KindDataset.
func (j Job) Kind() string {
	switch {
	case j.Entity != nil:
		return KindEntity
	case j.BatchID != "":
		return KindBatch
	}
	return KindDataset
}

// Metrics are AEP's job metrics, which the API carries JSON-encoded as a
// string.
type Metrics struct {
	RecordsProcessed int64 `json:"recordsProcessed"`
	TimeTakenInSec   int64 `json:"timeTakenInSec"`
}

// SetMetrics stamps j with now: updateEpoch, and metrics from Records and
// the seconds since Started.
func (j *Job) SetMetrics(now time.Time) {
	j.UpdateEpoch = now.Unix()
	taken := int64(0)
	if j.Started > 0 {
		taken = max(now.UnixMilli()-j.Started, 0) / 1000
	}
	b, _ := json.Marshal(Metrics{RecordsProcessed: j.Records, TimeTakenInSec: taken})
	j.Metrics = string(b)
}

// View is a job as the API shows it: AEP's fields, the step count, and the
// reason of an ERROR.
type View struct {
	ID          string  `json:"id"`
	ImsOrgID    string  `json:"imsOrgId,omitempty"`
	DataSetID   string  `json:"dataSetId,omitempty"`
	BatchID     string  `json:"batchId,omitempty"`
	Entity      *Entity `json:"entity,omitempty"`
	JobType     string  `json:"jobType"`
	Status      string  `json:"status"`
	CreateEpoch int64   `json:"createEpoch"`
	UpdateEpoch int64   `json:"updateEpoch"`
	Metrics     string  `json:"metrics,omitempty"`
	Step        int     `json:"step"`
	Error       string  `json:"error,omitempty"`
}

// View returns what the API shows of j.
func (j Job) View() View {
	return View{
		ID: j.ID, ImsOrgID: j.ImsOrgID, DataSetID: j.DataSetID, BatchID: j.BatchID, Entity: j.Entity,
		JobType: j.JobType, Status: j.Status, CreateEpoch: j.CreateEpoch, UpdateEpoch: j.UpdateEpoch,
		Metrics: j.Metrics, Step: j.Step, Error: j.Error,
	}
}

// NewDatasetDelete is the job that deletes all profile data of a dataset.
func NewDatasetDelete(datasetID string) Job { return Job{DataSetID: datasetID} }

// NewBatchDelete is the job that deletes the events of one batch of a
// time-series dataset.
func NewBatchDelete(datasetID, batchID string) Job {
	return Job{DataSetID: datasetID, BatchID: batchID}
}

// NewEntityDelete is the job that deletes the profile of identityKey (the
// normalised "<NS>#<value>" of e's entityId and entityIdNS).
func NewEntityDelete(e Entity, identityKey string) Job {
	return Job{Entity: &e, Identity: identityKey}
}

// NewID returns a new job id: a UUID version 7 (RFC 9562 §5.7), whose first
// 48 bits are the epoch ms of now, so that ids sort by creation time.
func NewID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(now.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	b[6] = 0x70 | b[6]&0x0f // version 7
	b[8] = 0x80 | b[8]&0x3f // variant 10
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// prepare makes j a NEW job created at now: a new id unless it has one,
// AEP's jobType, imsOrgId and epochs.
func prepare(j Job, now time.Time) Job {
	if j.ID == "" {
		j.ID = NewID(now)
	}
	j.ImsOrgID = xdm.ImsOrg
	j.JobType = TypeDelete
	j.Status = StatusNew
	j.Step = 0
	j.Created = now.UnixMilli()
	j.CreateEpoch = now.Unix()
	j.UpdateEpoch = j.CreateEpoch
	return j
}

// taskDir is the folder of a job's task objects.
func taskDir(jobID string) string { return topology.JobsPrefix + jobID + "/" }

// TaskKey is the landing-bucket key of the task object that starts step
// step of job jobID: jobs/<jobId>/<step:06d>.json (topology.JobsPrefix).
func TaskKey(jobID string, step int) string {
	return taskDir(jobID) + fmt.Sprintf("%06d", step) + ".json"
}

// ParseTaskKey is the inverse of TaskKey; ok is false for any other key.
func ParseTaskKey(key string) (jobID string, step int, ok bool) {
	rest, found := strings.CutPrefix(key, topology.JobsPrefix)
	if !found {
		return "", 0, false
	}
	jobID, name, found := strings.Cut(rest, "/")
	if !found || jobID == "" {
		return "", 0, false
	}
	num, found := strings.CutSuffix(name, ".json")
	if !found || len(num) < 6 || strings.Trim(num, "0123456789") != "" {
		return "", 0, false
	}
	step, err := strconv.Atoi(num)
	if err != nil {
		return "", 0, false
	}
	return jobID, step, true
}
