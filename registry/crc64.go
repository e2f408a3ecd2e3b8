package registry

import (
	"hash/crc64"
	"math/bits"
)

// jonesPoly is the CRC-64 polynomial Redis uses for DUMP payloads
// (crc64.c, "Jones"), in normal bit order.
const jonesPoly = 0xad93d23594c935a9

// jonesTable is filled once and only read afterwards.
var jonesTable = crc64.MakeTable(bits.Reverse64(jonesPoly))

// crc64Jones returns Redis's crc64(0, p): the reflected Jones CRC with a zero
// initial value and no final xor. hash/crc64 inverts the value on the way in
// and out, which the two complements undo.
func crc64Jones(p []byte) uint64 {
	return ^crc64.Update(^uint64(0), jonesTable, p)
}
