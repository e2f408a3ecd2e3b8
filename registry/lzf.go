package registry

import "errors"

// LZF parameters as Redis 7.0 compiles liblzf (lzfP.h): a 2^16-entry hash
// table, the VERY_FAST variant, literal runs of up to 32 bytes, back
// references up to 8 KiB behind and 264 bytes long.
const (
	lzfHashLog = 16
	lzfHashLen = 1 << lzfHashLog
	lzfMaxLit  = 1 << 5
	lzfMaxOff  = 1 << 13
	lzfMaxRef  = (1 << 8) + (1 << 3)
)

// errLZFCorrupt reports compressed data that does not decode to the length
// its header declares.
var errLZFCorrupt = errors.New("invalid LZF compressed string")

func lzfHashIndex(h uint32) uint32 {
	return ((h >> (3*8 - lzfHashLog)) - h*5) & (lzfHashLen - 1)
}

// lzfCompress compresses in into at most outLen bytes and returns the result,
// or nil when the output would not fit (Redis then stores the string
// verbatim). It follows liblzf's lzf_compress step by step, including its
// hash function, its skipping after a match and its buffer-size checks,
// because FUNCTION DUMP output must match Redis byte for byte.
//
// The C version leaves its hash table uninitialised. Redis's output equals
// that of a zeroed table, which this function uses: a stale slot either
// points at or after the current position (rejected by the offset test) or
// at a position the current pass has already overwritten.
//
// htab, of lzfHashLen entries, is the hash table, passed in so that a caller
// compressing several strings allocates it once; lzfCompress clears it. Nil
// allocates one.
func lzfCompress(in []byte, outLen int, htab []int32) []byte {
	inLen := len(in)
	if inLen == 0 || outLen == 0 {
		return nil
	}
	// htab holds position+1 of the last input position with a given hash;
	// 0 means empty (the C code's NULL).
	if htab == nil {
		htab = make([]int32, lzfHashLen)
	} else {
		clear(htab)
	}
	out := make([]byte, outLen+4)
	ip, op := 0, 0
	lit := 0
	op++ // start a literal run

	hval := uint32(in[0]) << 8
	if inLen > 1 {
		hval |= uint32(in[1])
	}
	for ip < inLen-2 {
		hval = hval<<8 | uint32(in[ip+2])
		slot := &htab[lzfHashIndex(hval)]
		ref := int(*slot) - 1 // -1 when empty
		*slot = int32(ip + 1)

		off := ip - ref - 1
		if ref > 0 && off >= 0 && off < lzfMaxOff &&
			in[ref+2] == in[ip+2] && in[ref] == in[ip] && in[ref+1] == in[ip+1] {
			length := 2
			maxlen := inLen - ip - length
			if maxlen > lzfMaxRef {
				maxlen = lzfMaxRef
			}
			if op+3+1 >= outLen {
				notLit := 0
				if lit == 0 {
					notLit = 1
				}
				if op-notLit+3+1 >= outLen {
					return nil
				}
			}
			out[op-lit-1] = byte(lit - 1)
			if lit == 0 {
				op--
			}
			if maxlen > 16 {
				matched := true
				for i := 0; i < 16; i++ {
					length++
					if in[ref+length] != in[ip+length] {
						matched = false
						break
					}
				}
				if matched {
					for {
						length++
						if !(length < maxlen && in[ref+length] == in[ip+length]) {
							break
						}
					}
				}
			} else {
				for {
					length++
					if !(length < maxlen && in[ref+length] == in[ip+length]) {
						break
					}
				}
			}
			length -= 2 // now the number of octets minus one
			ip++
			if length < 7 {
				out[op] = byte(off>>8) + byte(length<<5)
				op++
			} else {
				out[op] = byte(off>>8) + 7<<5
				out[op+1] = byte(length - 7)
				op += 2
			}
			out[op] = byte(off)
			op++
			lit = 0
			op++ // start a literal run
			ip += length + 1
			if ip >= inLen-2 {
				break
			}
			// VERY_FAST: hash the two positions before the new one.
			ip -= 2
			hval = uint32(in[ip])<<8 | uint32(in[ip+1])
			hval = hval<<8 | uint32(in[ip+2])
			htab[lzfHashIndex(hval)] = int32(ip + 1)
			ip++
			hval = hval<<8 | uint32(in[ip+2])
			htab[lzfHashIndex(hval)] = int32(ip + 1)
			ip++
		} else {
			if op >= outLen {
				return nil
			}
			lit++
			out[op] = in[ip]
			op++
			ip++
			if lit == lzfMaxLit {
				out[op-lit-1] = byte(lit - 1)
				lit = 0
				op++
			}
		}
	}
	if op+3 > outLen {
		return nil
	}
	for ip < inLen {
		lit++
		out[op] = in[ip]
		op++
		ip++
		if lit == lzfMaxLit {
			out[op-lit-1] = byte(lit - 1)
			lit = 0
			op++
		}
	}
	out[op-lit-1] = byte(lit - 1)
	if lit == 0 {
		op--
	}
	return out[:op]
}

// lzfDecompress expands in into exactly outLen bytes. Like liblzf it fails
// on a reference before the start of the output, on truncated input, and on
// output that would exceed outLen; unlike Redis's caller it also fails when
// the output comes out shorter than outLen, which Redis reports the same way.
// It allocates only after checking outLen against what in can expand to.
func lzfDecompress(in []byte, outLen int) ([]byte, error) {
	// The largest expansion is a 3-byte back reference producing 264
	// bytes, so no valid input expands beyond 88 times its size.
	if outLen < 0 || outLen > len(in)*(lzfMaxRef/3+1) {
		return nil, errLZFCorrupt
	}
	out := make([]byte, 0, outLen)
	ip := 0
	for ip < len(in) {
		ctrl := int(in[ip])
		ip++
		if ctrl < 1<<5 {
			n := ctrl + 1
			if len(out)+n > outLen || ip+n > len(in) {
				return nil, errLZFCorrupt
			}
			out = append(out, in[ip:ip+n]...)
			ip += n
			continue
		}
		n := ctrl >> 5
		ref := len(out) - (ctrl&0x1f)<<8 - 1
		if ip >= len(in) {
			return nil, errLZFCorrupt
		}
		if n == 7 {
			n += int(in[ip])
			ip++
			if ip >= len(in) {
				return nil, errLZFCorrupt
			}
		}
		ref -= int(in[ip])
		ip++
		if len(out)+n+2 > outLen || ref < 0 {
			return nil, errLZFCorrupt
		}
		for i := 0; i < n+2; i++ {
			out = append(out, out[ref+i])
		}
	}
	if len(out) != outLen {
		return nil, errLZFCorrupt
	}
	return out, nil
}
