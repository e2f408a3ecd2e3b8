package structlib

import (
	"testing"

	"github.com/luaproxy/luaproxy/luavm/internal/luadiff"
)

// packCases are struct.pack argument lists whose output must match Redis's.
var packCases = []string{
	"'b', 1", "'b', -1", "'B', 255", "'B', 256", "'b', 128", "'h', -2", "'H', 65535", "'<h', 258", "'>h', 258",
	"'l', -1", "'L', 2^64", "'L', 2^63", "'L', 2^63+2^20", "'l', -2^63", "'l', -2^64", "'l', 1/0", "'L', 1/0",
	"'l', -1/0", "'L', 0/0", "'l', 0/0", "'L', -(0/0)", "'T', 1.9", "'l', -1.9", "'l', -0.5",
	"'i', 7", "'I', 7", "'i1', 300", "'i2', -3", "'i3', 0x123456", "'>i3', 0x123456", "'i8', -1", "'>i9', -1",
	"'<i16', -1", "'>i16', 1", "'i32', 2^62", "'i0', 5", "'i33', 1", "'i99999999999', 1", "'I5', 2^39",
	"'f', 0.1", "'>f', 0.1", "'f', 1e300", "'d', 0.1", "'>d', -2.5", "'d', 0/0", "'f', 1/0",
	"'s', 'abc'", "'s', ''", "'s', 'a\\0b'", "'c', 'abc'", "'c3', 'abc'", "'c3', 'ab'", "'c0', 'xyz'", "'c2', 12",
	"'s', 12.5", "'c', {}", "'s', nil", "'b', 'x'", "'b', '7'", "'b'", "'y', 1", "'=', 1", "'b5', 1",
	"'!4 b i', 1, 2", "'!2 b i', 1, 2", "'!8 b d', 1, 2", "'! b l', 1, 2", "'!3 b', 1", "'!0 b', 1",
	"'!16 b i16', 1, 2", "'!4 b i3 b i3', 1, 2, 3, 4", "'!4 c3 i', 'abc', 1", "'!4 b h b i b', 1, 2, 3, 4, 5",
	"'>!4 b i <i', 1, 2, 3", "'x', 1", "'bxxb', 1, 2", "'b\\0b', 1, 2", "'  b  ', 1", "'\\200', 1",
	"'bhlBHLiIfdsc2', 1, 2, 3, 4, 5, 6, 7, 8, 0.5, 0.25, 'str', 'ab'", "''", "'!'", "'<>'", "'bb', 1", "'bbb', 1", "'bcs', 1",
	// Lua 5.1's number/string coercions: strtod rules and %.14g.
	"'s', 1/0", "'s', -1/0", "'s', 0.1", "'s', 1e100", "'s', -0.0", "'c0', 2^53", "'i', '0x10'", "'i', 'inf'",
	"'d', '-nan'", "'d', '1e400'", "'i', '5\\0junk'", "'i', ' 12 '", "'i', '1e'", "'b', '0x'", "12, 1", "5.5, 1",
}

// unpackCases are struct.unpack argument lists (the data as Lua
// expressions) whose results must match Redis's.
var unpackCases = []string{
	"'b', '\\255'", "'B', '\\255'", "'h', '\\254\\255'", "'>h', '\\254\\255'", "'H', '\\254\\255'",
	"'l', string.rep('\\255', 8)", "'L', string.rep('\\255', 8)", "'<L', '\\1\\0\\0\\0\\0\\0\\0\\128'",
	"'i3', '\\255\\255\\127'", "'i3', '\\255\\255\\255'", "'I3', '\\255\\255\\255'", "'>i9', string.rep('\\255', 9)",
	"'<i9', '\\1'..string.rep('\\0', 7)..'\\128'", "'i16', string.rep('\\255', 16)", "'>I12', string.rep('\\1', 12)",
	"'i0', ''", "'I0', 'abc'", "'i32', string.rep('\\128', 32)",
	"'f', struct.pack('f', 0.1)", "'>f', struct.pack('>f', -3.5)", "'d', struct.pack('d', 1/3)", "'>d', struct.pack('>d', 2^70)",
	"'s', 'abc\\0def'", "'ss', 'abc\\0def\\0'", "'s', 'abc'", "'c3', 'abcdef'", "'c0', 'abc'", "'bc0', '\\3abcd'",
	"'c1c0', '3abcd'", "'c1c0', 'xabcd'", "'bc0', '\\9abc'", "'hc0b', '\\2\\0ab\\7'", "'fc0', struct.pack('f', 2.7)..'abc'",
	"'c', ''", "'b', ''", "'i', 'abc'", "'x', 'a'", "'xb', 'a'", "'bxb', 'a\\0c'",
	"'b', 'abc', 2", "'b', 'abc', 3", "'b', 'abc', 4", "'b', 'abc', 0", "'b', 'abc', -1", "'', 'abc', -5",
	"'', 'abc', 10", "'<', 'abc', 10", "'b', 'abc', 2.9", "'b', 'abc', 'x'", "'b', 'abc', '2'",
	"'!4 b i', struct.pack('!4 b i', 1, 2)", "'!4 b i', 'abcdefgh', 3", "'!8 b d', struct.pack('!8 b d', 1, 0.5)",
	"'!4 b i3 b i3', struct.pack('!4 b i3 b i3', 1, 2, 3, 4)", "'y', 'abc'", "'=b', 'a'", "'b5', 'abc'",
	"'!3', 'a'", "'b'", "nil, 'a'", "'b', nil", "'i99', 'a'",
	"'b', 'abc', '0x2'", "'b', 'abc', ' 3 '", "'b', 'abc', 'inf'", "'b', 123", "'c0', 1/0", "'c1c0', '2\\0abc'", "'c3c0', 'infab'",
	"'bhlBHLiIfdsc2', struct.pack('bhlBHLiIfdsc2', 1, 2, 3, 4, 5, 6, 7, 8, 0.5, 0.25, 'str', 'ab')",
}

// sizeCases are struct.size formats.
var sizeCases = []string{
	"'b'", "'bhl'", "'!4 b i'", "'!8 b d'", "'! b h b l'", "'c10'", "'c0'", "'s'", "'i7'", "'i33'",
	"'x'", "'y'", "'5'", "'yz'", "'='", "'<>'", "'!3'", "'\\200'", "''", "'i3i3'", "'!4 i3 b i3'", "'f d'", "'T'",
}

func TestStructMatchesRedis(t *testing.T) {
	d := newDiffer(t)
	var cases []luadiff.Case
	// Results are rendered into one string so that numbers keep their
	// fractions and nils survive (Redis truncates numbers in replies).
	render := `local function render(...)
  local out = {tostring(select('#', ...))}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    if v ~= v then v = 'nan' elseif type(v) == 'number' then v = string.format('%.17g', v) else v = type(v) .. ':' .. tostring(v) end
    out[#out+1] = v
  end
  return table.concat(out, '|')
end
`
	for _, a := range packCases {
		cases = append(cases, luadiff.Case{Name: "pack(" + a + ")", Script: "return struct.pack(" + a + ")"})
	}
	for _, a := range unpackCases {
		cases = append(cases, luadiff.Case{Name: "unpack(" + a + ")", Script: render + "return render(struct.unpack(" + a + "))"})
	}
	for _, a := range sizeCases {
		cases = append(cases, luadiff.Case{Name: "size(" + a + ")", Script: "return struct.size(" + a + ")"})
	}
	for _, s := range []string{
		"return select('#', struct.unpack(string.rep('b', 7997), string.rep('a', 8000)))",
		"return select('#', struct.unpack(string.rep('b', 7998), string.rep('a', 8000)))",
		"return select('#', struct.unpack(string.rep('b', 7997), string.rep('a', 8000), 1))",
		"return #struct.pack(string.rep('c0', 100), unpack((function() local t = {} for i = 1, 100 do t[i] = string.rep('x', 1000) end return t end)()))",
		"local n = 0 for k in pairs(struct) do n = n + 1 end return n",
	} {
		cases = append(cases, luadiff.Case{Name: s, Script: s})
	}
	d.Run(t, cases)
}
