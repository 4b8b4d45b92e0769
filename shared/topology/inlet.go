package topology

import (
	"crypto/sha256"
	"fmt"
)

// OutputInletID is the app stack output naming the stack's inlet: the
// {inletId} of POST /collection/{inletId} that exists from the first deploy
// (docs/streaming.md, "HTTP streaming endpoint").
const OutputInletID = "InletId"

// DefaultInletID is the id of a stack's own inlet of the HTTP streaming
// endpoint: a UUID (RFC 9562 version 8, name-based on SHA-256) of the
// tenant id ("" is "mosaic", as for EnvTenantID) and the sandbox name.
// It depends on nothing else, so the CDK app, the local cloud and the
// collection-api function compute the same id, and it never changes while
// the stack's tenant and sandbox stay, whatever is redeployed.
func DefaultInletID(tenant, sandbox string) string {
	if tenant == "" {
		tenant = "mosaic"
	}
	sum := sha256.Sum256([]byte("mosaic-inlet\x00" + tenant + "\x00" + sandbox))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // variant 10
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
