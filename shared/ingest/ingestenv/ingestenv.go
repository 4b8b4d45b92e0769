// Package ingestenv builds what the ingest functions share from their
// environment: the SDK clients, the catalog, the cached spec loader and an
// ingest.Runner whose pipeline writes to the profile table and whose
// refusals go to the failed records of the catalog table (the stream
// path; the batch engine keeps a batch's refusals as its row diagnostics
// in S3 instead, and clears the runner's Failed).
package ingestenv

import (
	"context"
	"time"

	"github.com/mosaic-cdp/mosaic/shared/awsenv"
	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/ingest"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// Env is an ingest function's wiring.
type Env struct {
	Clients *awsenv.Clients
	Catalog *store.Catalog
	Specs   *catalog.SpecLoader
	Runner  *ingest.Runner
}

// Load reads MOSAIC_CATALOG_TABLE and MOSAIC_PROFILE_TABLE (required; the
// error names the missing ones), MOSAIC_MAX_CLOCK_SKEW (see
// ingest.ParseClockSkew) and MOSAIC_CLUSTER_CAP (see
// store.ParseClusterCap). The runner processes rows with the given number
// of workers and stops margin before the invocation deadline. The profile
// store's graph rules take a namespace's uniqueness from the spec
// loader's namespaces, so a namespace made unique through the API is
// enforced once the loader reads it again.
func Load(ctx context.Context, getenv awsenv.Getenv, workers int, margin time.Duration) (*Env, error) {
	env, err := awsenv.Require(getenv, topology.EnvCatalogTable, topology.EnvProfileTable)
	if err != nil {
		return nil, err
	}
	skew, err := ingest.ParseClockSkew(getenv(topology.EnvMaxClockSkew))
	if err != nil {
		return nil, err
	}
	clusterCap, err := store.ParseClusterCap(getenv(topology.EnvClusterCap))
	if err != nil {
		return nil, err
	}
	c, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	cat := store.NewCatalog(c.DynamoDB, env[topology.EnvCatalogTable])
	prof := store.NewProfiles(c.DynamoDB, env[topology.EnvProfileTable])
	specs := catalog.NewSpecLoader(cat)
	prof.SetGraphRules(GraphRules(specs, clusterCap))
	return &Env{
		Clients: c,
		Catalog: cat,
		Specs:   specs,
		Runner: &ingest.Runner{
			Pipeline: &ingest.Pipeline{Fragments: prof, Links: prof, Events: prof, Namespaces: specs, MaxClockSkew: skew},
			Failed:   store.NewFailedRecords(c.DynamoDB, env[topology.EnvCatalogTable]),
			Workers:  workers,
			Margin:   margin,
			Now:      time.Now,
		},
	}, nil
}

// GraphRules are the identity graph's guardrails of an ingest function:
// the cluster cap, and uniqueness read from ns (catalog.SpecLoader's
// Namespace: standard and custom namespaces, as the catalog last said).
// An unknown namespace is not unique.
func GraphRules(ns ingest.NamespaceFinder, clusterCap int) store.GraphRules {
	return store.GraphRules{
		Cap: clusterCap,
		Unique: func(ctx context.Context, code string) (bool, error) {
			n, ok, err := ns.Namespace(ctx, code)
			if err != nil {
				return false, err
			}
			return ok && n.Unique, nil
		},
	}
}
