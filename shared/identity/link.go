package identity

// Link joins two identities seen together in one record. It is stored on
// both nodes, so either side can explain why the two are one person
// (docs/rules.md#identities).
type Link struct {
	A, B ID
	// AType and BType are the identity types of A and B (COOKIE, EMAIL…),
	// kept on their nodes so that the graph can rank identities without
	// looking namespaces up again.
	AType, BType string
	// Dataset is the dataset the link is written with (the row's, or the
	// streaming message's identity dataset).
	Dataset string
	// Source is what made the link: the batch id for a row of a batch, the
	// stream position (Src) for a streamed record.
	Source string
	// Src is the row's position: "s3:<key>#<sequencer>:<row>",
	// "batch:<started ms>:<batchId>:<file>:<row>" or
	// "kinesis:<shard>:<seq>[:<sub-sequence>]".
	Src string
	// At is the ordering time of the record that made the link, epoch ms.
	At int64
}

// Linkable reports whether identities of an identity type join the graph:
// non-people and partner identities never link (docs/rules.md#identities; AEP builds no
// graph for them).
func Linkable(idType string) bool {
	return idType != TypeNonPeople && idType != TypePartner
}

// Eviction priorities of identity types: when a cluster passes its cap,
// an identity of the lowest priority leaves first, cookies before devices
// before every other type (AEP, "Identity Service guardrails": deletion
// priority when a graph is full). An unknown type ranks with the rest.
const (
	PriorityCookie = 0
	PriorityDevice = 1
	PriorityOther  = 2
)

// EvictionPriority is the eviction priority of an identity type (see
// PriorityCookie): lower leaves a full cluster first.
func EvictionPriority(idType string) int {
	switch idType {
	case TypeCookie:
		return PriorityCookie
	case TypeDevice:
		return PriorityDevice
	}
	return PriorityOther
}

// Links are the links a record makes: its primary joined to every other
// identity, a star that keeps the cluster connected with the fewest writes.
// Identities that are not Linkable make none, nor does a record whose
// primary is not linkable. dataset, source and src fill the links'
// Dataset, Source and Src; at their At.
func Links(ids Extracted, dataset, source, src string, at int64) []Link {
	if len(ids.Identities) < 2 || !Linkable(ids.Identities[0].Type) {
		return nil
	}
	p, pType := ids.Identities[0].ID, ids.Identities[0].Type
	var links []Link
	for _, o := range ids.Identities[1:] {
		if !Linkable(o.Type) {
			continue
		}
		if links == nil {
			links = make([]Link, 0, len(ids.Identities)-1)
		}
		links = append(links, Link{A: p, B: o.ID, AType: pType, BType: o.Type, Dataset: dataset, Source: source, Src: src, At: at})
	}
	return links
}
