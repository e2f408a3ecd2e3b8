package proxy

import "bytes"

// keyHashSlot is Redis Cluster's hash slot of a key: CRC16 (XMODEM) of
// the key, or of the part between the first '{' and the next '}' when
// that part is not empty, modulo 16384.
func keyHashSlot(key []byte) uint16 {
	if i := bytes.IndexByte(key, '{'); i >= 0 {
		if j := bytes.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return crc16(key) & 16383
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0), as Redis uses.
// It takes two bytes a step: the two table lookups of a step do not wait
// for each other, which halves the time per key on the forwarding path.
func crc16(b []byte) uint16 {
	var crc uint16
	for len(b) >= 2 {
		crc = crc16Tables[1][byte(crc>>8)^b[0]] ^ crc16Tables[0][byte(crc)^b[1]]
		b = b[2:]
	}
	if len(b) == 1 {
		crc = crc<<8 ^ crc16Tables[0][byte(crc>>8)^b[0]]
	}
	return crc
}

// crc16Tables[0] advances the CRC by one byte; crc16Tables[1][x] is the
// contribution of a first byte x after a second step (CRC is linear).
var crc16Tables = func() (t [2][256]uint16) {
	for i := range t[0] {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[0][i] = crc
	}
	for i, v := range t[0] {
		t[1][i] = v<<8 ^ t[0][v>>8]
	}
	return t
}()
