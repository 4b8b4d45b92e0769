package identity

// Link joins two identities seen together in one record. It is stored on
// both nodes, so either side can explain why the two are one person.
type Link struct {
	A, B    ID
	Dataset string
	// Source is the batch id or stream position that made the link.
	Source string
	// At is the ordering time of the record that made the link, epoch ms.
	At int64
}
