package registry

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
)

// RDB constants used by FUNCTION DUMP and FUNCTION RESTORE (Redis 7.0 rdb.h).
const (
	rdbVersion         = 10
	rdbOpcodeFunction2 = 245 // library code, 7.0 GA format
	rdbOpcodeFunction  = 246 // name, engine, description, code: 7.0-rc1/rc2

	rdb6BitLen  = 0
	rdb14BitLen = 1
	rdb32BitLen = 0x80
	rdb64BitLen = 0x81
	rdbEncVal   = 3

	rdbEncInt8  = 0
	rdbEncInt16 = 1
	rdbEncInt32 = 2
	rdbEncLZF   = 3

	dumpFooterLen = 10 // 2-byte RDB version + 8-byte CRC-64
)

// A DumpError is a FUNCTION RESTORE payload that Redis 7.0 would refuse. Its
// message is the exact text Redis replies after the "ERR " prefix.
type DumpError struct{ msg string }

func (e *DumpError) Error() string { return e.msg }

// Texts of Redis's FUNCTION RESTORE errors for a malformed payload.
const (
	msgDumpChecksum       = "DUMP payload version or checksum are wrong"
	msgDumpReadType       = "can not read data type"
	msgDumpNotFunction    = "given type is not a function"
	msgDumpLibraryPayload = "Failed loading library payload"
	msgDumpLibraryName    = "Failed loading library name"
	msgDumpEngineName     = "Failed loading engine name"
	msgDumpDescIndicator  = "Failed loading library description indicator"
	msgDumpDescription    = "Failed loading library description"
	msgDumpLibraryBlob    = "Failed loading library blob"
)

// EncodeDump returns the FUNCTION DUMP payload for the given library codes, in
// that order, byte for byte as Redis 7.0.15 with rdbcompression on (the
// default) produces it: one RDB_OPCODE_FUNCTION2 record per library, the RDB
// version (10) and the CRC-64 of everything before it, both little endian.
//
// Redis writes libraries in its dictionary's order, which depends on a
// per-process random hash seed, so only the set of records is comparable
// between two servers holding several libraries.
func EncodeDump(codes []string) []byte {
	var b []byte
	var htab []int32
	for _, code := range codes {
		if len(code) > 20 && htab == nil {
			htab = make([]int32, lzfHashLen)
		}
		b = append(b, rdbOpcodeFunction2)
		b = appendRDBString(b, []byte(code), htab)
	}
	b = binary.LittleEndian.AppendUint16(b, rdbVersion)
	return binary.LittleEndian.AppendUint64(b, crc64Jones(b))
}

// DecodeDump parses a FUNCTION RESTORE payload into library codes, in payload
// order. It accepts exactly what Redis 7.0.15 accepts before compiling the
// libraries, including the 7.0-rc format (converted to "#!engine name=...\n"
// code as Redis does), and fails with a *DumpError carrying Redis's message.
// It never allocates more than a small multiple of len(payload).
//
// Redis compiles each library as soon as it has read it, so a library that
// does not compile hides a malformed record after it. On a *DumpError other
// than the checksum one, DecodeDump therefore also returns the codes it read
// before the bad record: a caller matching Redis compiles those first and
// reports their error, if any, instead.
func DecodeDump(payload []byte) ([]string, error) {
	n := len(payload)
	if n < dumpFooterLen {
		return nil, &DumpError{msgDumpChecksum}
	}
	footer := payload[n-dumpFooterLen:]
	if binary.LittleEndian.Uint16(footer) > rdbVersion ||
		binary.LittleEndian.Uint64(footer[2:]) != crc64Jones(payload[:n-8]) {
		return nil, &DumpError{msgDumpChecksum}
	}
	// Redis reads records from the whole buffer, footer included, for as
	// long as more than the footer's length remains; a record may therefore
	// end inside the footer.
	r := rdbReader{buf: payload}
	var codes []string
	for n-r.pos > dumpFooterLen {
		typ, ok := r.byte()
		if !ok {
			return codes, &DumpError{msgDumpReadType}
		}
		switch typ {
		case rdbOpcodeFunction2:
			code, ok := r.string()
			if !ok {
				return codes, &DumpError{msgDumpLibraryPayload}
			}
			codes = append(codes, string(code))
		case rdbOpcodeFunction:
			code, err := r.oldFunction()
			if err != nil {
				return codes, err
			}
			codes = append(codes, code)
		default:
			return codes, &DumpError{msgDumpNotFunction}
		}
	}
	return codes, nil
}

// appendRDBString appends s as rdbSaveRawString writes it: short integer
// strings in integer encoding, strings over 20 bytes LZF-compressed when that
// saves at least 4 bytes, the rest verbatim after their length.
//
// htab is the LZF hash table (see lzfCompress); nil allocates one.
func appendRDBString(b, s []byte, htab []int32) []byte {
	if len(s) <= 11 {
		if v, ok := parseStrictInt(s); ok && v >= math.MinInt32 && v <= math.MaxInt32 {
			return appendRDBInt(b, v)
		}
	}
	if len(s) > 20 {
		if c := lzfCompress(s, len(s)-4, htab); c != nil {
			b = append(b, rdbEncVal<<6|rdbEncLZF)
			b = appendRDBLen(b, uint64(len(c)))
			b = appendRDBLen(b, uint64(len(s)))
			return append(b, c...)
		}
	}
	b = appendRDBLen(b, uint64(len(s)))
	return append(b, s...)
}

func appendRDBInt(b []byte, v int64) []byte {
	switch {
	case v >= math.MinInt8 && v <= math.MaxInt8:
		return append(b, rdbEncVal<<6|rdbEncInt8, byte(v))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return append(b, rdbEncVal<<6|rdbEncInt16, byte(v), byte(v>>8))
	default:
		return append(b, rdbEncVal<<6|rdbEncInt32, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
}

func appendRDBLen(b []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(b, byte(n)|rdb6BitLen<<6)
	case n < 1<<14:
		return append(b, byte(n>>8)|rdb14BitLen<<6, byte(n))
	case n <= math.MaxUint32:
		b = append(b, rdb32BitLen)
		return binary.BigEndian.AppendUint32(b, uint32(n))
	default:
		b = append(b, rdb64BitLen)
		return binary.BigEndian.AppendUint64(b, n)
	}
}

// parseStrictInt is Redis's string2ll: an optional '-', no leading zeros, no
// '+', no spaces, and "0" alone.
func parseStrictInt(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) >= 21 {
		return 0, false
	}
	if len(s) == 1 && s[0] == '0' {
		return 0, true
	}
	digits := s
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	return v, err == nil
}

// rdbReader reads RDB primitives from a buffer the way Redis's rio buffer
// reader does: a read that would pass the end fails.
type rdbReader struct {
	buf []byte
	pos int
}

func (r *rdbReader) remaining() int { return len(r.buf) - r.pos }

func (r *rdbReader) byte() (byte, bool) {
	if r.remaining() < 1 {
		return 0, false
	}
	c := r.buf[r.pos]
	r.pos++
	return c, true
}

func (r *rdbReader) bytes(n uint64) ([]byte, bool) {
	if n > uint64(r.remaining()) {
		return nil, false
	}
	p := r.buf[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return p, true
}

// length reads an RDB length. encoded reports the special-encoding form,
// whose 6-bit value is returned as the length, as rdbLoadLenByRef does.
func (r *rdbReader) length() (n uint64, encoded bool, ok bool) {
	c, ok := r.byte()
	if !ok {
		return 0, false, false
	}
	switch {
	case c>>6 == rdbEncVal:
		return uint64(c & 0x3f), true, true
	case c>>6 == rdb6BitLen:
		return uint64(c & 0x3f), false, true
	case c>>6 == rdb14BitLen:
		c2, ok := r.byte()
		return uint64(c&0x3f)<<8 | uint64(c2), false, ok
	case c == rdb32BitLen:
		p, ok := r.bytes(4)
		if !ok {
			return 0, false, false
		}
		return uint64(binary.BigEndian.Uint32(p)), false, true
	case c == rdb64BitLen:
		p, ok := r.bytes(8)
		if !ok {
			return 0, false, false
		}
		n := binary.BigEndian.Uint64(p)
		// Redis's rdbLoadLen signals errors with this value.
		return n, false, n != math.MaxUint64
	default:
		return 0, false, false
	}
}

// string reads a string as rdbGenericLoadStringObject does.
func (r *rdbReader) string() ([]byte, bool) {
	n, encoded, ok := r.length()
	if !ok {
		return nil, false
	}
	if !encoded {
		p, ok := r.bytes(n)
		if !ok {
			return nil, false
		}
		return append([]byte(nil), p...), true
	}
	switch n {
	case rdbEncInt8:
		p, ok := r.bytes(1)
		if !ok {
			return nil, false
		}
		return strconv.AppendInt(nil, int64(int8(p[0])), 10), true
	case rdbEncInt16:
		p, ok := r.bytes(2)
		if !ok {
			return nil, false
		}
		return strconv.AppendInt(nil, int64(int16(binary.LittleEndian.Uint16(p))), 10), true
	case rdbEncInt32:
		p, ok := r.bytes(4)
		if !ok {
			return nil, false
		}
		return strconv.AppendInt(nil, int64(int32(binary.LittleEndian.Uint32(p))), 10), true
	case rdbEncLZF:
		clen, _, ok := r.length()
		if !ok {
			return nil, false
		}
		ulen, _, ok := r.length()
		if !ok {
			return nil, false
		}
		c, ok := r.bytes(clen)
		if !ok {
			return nil, false
		}
		if ulen == 0 {
			// lzf_decompress returns 0 on failure, which Redis cannot
			// tell from a correct empty result.
			return []byte{}, true
		}
		if ulen > math.MaxInt {
			return nil, false
		}
		out, err := lzfDecompress(c, int(ulen))
		return out, err == nil
	default:
		return nil, false
	}
}

// oldFunction reads a 7.0-rc record and rebuilds the code the way
// rdbFunctionLoad does.
func (r *rdbReader) oldFunction() (string, error) {
	name, ok := r.string()
	if !ok {
		return "", &DumpError{msgDumpLibraryName}
	}
	engine, ok := r.string()
	if !ok {
		return "", &DumpError{msgDumpEngineName}
	}
	hasDesc, _, ok := r.length()
	if !ok {
		return "", &DumpError{msgDumpDescIndicator}
	}
	if hasDesc != 0 {
		if _, ok := r.string(); !ok {
			return "", &DumpError{msgDumpDescription}
		}
	}
	blob, ok := r.string()
	if !ok {
		return "", &DumpError{msgDumpLibraryBlob}
	}
	// Redis formats the three with a C string conversion, which stops at
	// the first NUL byte.
	return "#!" + cString(engine) + " name=" + cString(name) + "\n" + cString(blob), nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
