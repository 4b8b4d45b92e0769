package identity

// Link joins two identities seen together in one record. It is stored on
// both nodes, so either side can explain why the two are one person.
type Link struct {
	A, B ID
	// AType and BType are the identity types of A and B (COOKIE, EMAIL…),
	// kept on their nodes so that the graph can rank identities without
	// looking namespaces up again.
	AType, BType string
	Dataset      string
	// Source is the batch id or stream position that made the link.
	Source string
	// At is the ordering time of the record that made the link, epoch ms.
	At int64
}

// Linkable reports whether identities of an identity type join the graph:
// non-people and partner identities never link (docs/rules.md#identities; AEP builds no
// graph for them).
func Linkable(idType string) bool {
	return idType != TypeNonPeople && idType != TypePartner
}

// Links are the links a record makes: its primary joined to every other
// identity, a star that keeps the cluster connected with the fewest writes.
// Identities that are not Linkable make none, nor does a record whose
// primary is not linkable.
func Links(ids Extracted, dataset, source string, at int64) []Link {
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
		links = append(links, Link{A: p, B: o.ID, AType: pType, BType: o.Type, Dataset: dataset, Source: source, At: at})
	}
	return links
}
