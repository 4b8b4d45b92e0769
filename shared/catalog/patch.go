package catalog

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

// patchable are the dataset fields a PATCH may change; the others (id,
// schemaRef, imsOrg, timestamps, …) are set by Mosaic.
var patchable = map[string]bool{"name": true, "description": true, "tags": true, "extensions": true}

// PatchDataset applies a Catalog PATCH to d: a JSON Patch (RFC 6902) whose
// paths lie under /name, /description, /tags or /extensions, as in AEP's
// "Configure a dataset for Profile and Identity Service" tutorial
// ([{"op":"add","path":"/tags/unifiedProfile","value":["enabled:true"]}])
// and its row expiration guide ({"extensions": {"adobe_unifiedProfile":
// {"rowExpiration": {"ttlValue": "P30D"}}}}, which the handler turns into
// an add of /extensions). The patch sees extensions as the dataset shows
// them ({} when none is set), so "add /extensions/adobe_unifiedProfile"
// and, once set, "replace .../rowExpiration/ttlValue" work; removing
// adobe_unifiedProfile removes the row expiration. The patch applies
// whole or not at all. Errors, all Invalid: "CATALOG-PATCH" (no
// operations), "CATALOG-PATCH-PATH" (a path or from outside those
// fields), "XDM-PATCH" (an operation fails), "CATALOG-TAG",
// "CATALOG-NAME", CodeExtensions, CodeTTL (the result is not a valid
// dataset). The caller checks the schema's class with
// CheckRowExpirationClass.
//
// Updated becomes now and the version's last number goes up. Enabling
// unifiedProfile or unifiedIdentity sets ProfileEnabledAt or
// IdentityEnabledAt to now and disabling clears it: as on AEP, rows
// ingested earlier are not backfilled.
func PatchDataset(d Dataset, ops []xdm.PatchOp, now time.Time) (Dataset, error) {
	if len(ops) == 0 {
		return Dataset{}, fault.E(fault.Invalid, "CATALOG-PATCH", "the patch has no operations")
	}
	for _, op := range ops {
		paths := []string{op.Path}
		if op.Op == "move" || op.Op == "copy" {
			paths = append(paths, op.From)
		}
		for _, p := range paths {
			root, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
			if !strings.HasPrefix(p, "/") || !patchable[root] {
				return Dataset{}, fault.Errorf(fault.Invalid, "CATALOG-PATCH-PATH", "a dataset patch may change /name, /description, /tags and /extensions only, not %.100q", p)
			}
		}
	}
	if d.Tags == nil {
		d.Tags = map[string][]string{}
	}
	ext := map[string]any{}
	if d.Extensions != nil {
		b, err := json.Marshal(d.Extensions)
		if err == nil {
			err = json.Unmarshal(b, &ext)
		}
		if err != nil {
			return Dataset{}, fault.Wrap(err, fault.Internal, "CATALOG-PATCH", "the dataset's extensions could not be encoded")
		}
	}
	doc := map[string]any{"name": d.Name, "description": d.Description, "tags": map[string]any{}, "extensions": ext}
	for k, v := range d.Tags {
		vs := make([]any, len(v))
		for i := range v {
			vs[i] = v[i]
		}
		doc["tags"].(map[string]any)[k] = vs
	}
	patched, err := xdm.ApplyPatch(doc, ops)
	if err != nil {
		return Dataset{}, err
	}
	b, err := json.Marshal(patched)
	if err != nil {
		return Dataset{}, fault.Wrap(err, fault.Internal, "CATALOG-PATCH", "patched dataset could not be encoded")
	}
	var out struct {
		Name        *string             `json:"name"`
		Description *string             `json:"description"`
		Tags        map[string][]string `json:"tags"`
		Extensions  json.RawMessage     `json:"extensions"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return Dataset{}, fault.E(fault.Invalid, "CATALOG-PATCH", "name and description must be strings and tags an object of string arrays")
	}
	if out.Name == nil || strings.TrimSpace(*out.Name) == "" {
		return Dataset{}, fault.E(fault.Invalid, "CATALOG-NAME", "name cannot be empty")
	}
	if err := checkTags(out.Tags); err != nil {
		return Dataset{}, err
	}
	newExt, err := decodeExtensions(out.Extensions, d.Extensions, now)
	if err != nil {
		return Dataset{}, err
	}
	before := ParseTags(d.Tags)
	n := d
	n.Name = strings.TrimSpace(*out.Name)
	n.Description = ""
	if out.Description != nil {
		n.Description = *out.Description
	}
	n.Tags = out.Tags
	n.Extensions = newExt
	if n.Tags == nil {
		n.Tags = map[string][]string{}
	}
	ms := now.UnixMilli()
	n.Updated = ms
	n.Version = bumpVersion(d.Version)
	after := ParseTags(n.Tags)
	n.ProfileEnabledAt = enabledAt(before.ProfileEnabled, after.ProfileEnabled, d.ProfileEnabledAt, ms)
	n.IdentityEnabledAt = enabledAt(before.IdentityEnabled, after.IdentityEnabled, d.IdentityEnabledAt, ms)
	return n, nil
}

func enabledAt(was, is bool, at, now int64) int64 {
	switch {
	case !is:
		return 0
	case !was || at == 0:
		return now
	}
	return at
}

// bumpVersion raises the last number of a dotted version ("1.0.0" →
// "1.0.1"); anything else becomes "1.0.1".
func bumpVersion(v string) string {
	i := strings.LastIndex(v, ".")
	n, err := strconv.Atoi(v[i+1:])
	if i < 0 || err != nil || n < 0 {
		return "1.0.1"
	}
	return v[:i+1] + strconv.Itoa(n+1)
}
