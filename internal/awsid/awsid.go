// Package awsid makes random identifiers in the shapes AWS gives its
// requests and events, for the emulator proxies and the demo that stand in
// for AWS services.
package awsid

import (
	"crypto/rand"
	"encoding/hex"
)

// UUID is a random version 4 UUID, the shape of STS and EC2 request IDs,
// CloudTrail event IDs and EventBridge event IDs.
func UUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
