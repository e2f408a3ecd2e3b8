package cmsgpack

import (
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/luaproxy/luaproxy/luavm/internal/luadiff"
)

// packCases are Lua expressions whose packed form must match Redis's.
var packCases = []string{
	"nil", "true", "false", "0", "1", "127", "128", "255", "256", "65535", "65536",
	"4294967295", "4294967296", "2^53", "2^53+1", "2^62", "2^63-1024", "2^63", "2^64", "-2^63", "-2^63-4096",
	"-1", "-31", "-32", "-33", "-128", "-129", "-32768", "-32769", "-2147483648", "-2147483649",
	"0.5", "-0.5", "0.1", "1/3", "1e300", "-1e-300", "3.4028234663852886e38", "1e39", "1.5e-45",
	"1/0", "-1/0", "0/0", "-(0/0)", "-0.0", "2^31+0.5", "123456.789",
	"''", "'a'", "string.rep('x', 31)", "string.rep('x', 32)", "string.rep('x', 255)",
	"string.rep('x', 256)", "string.rep('x', 65535)", "string.rep('x', 65536)", "'\\0\\1\\255'",
	"{}", "{1}", "{1,2,3}", "{'a',{'b',{'c'}}}", "{x=1}", "{[1]=1,[3]=3}", "{[0]=1}", "{[-1]=1}",
	"{[1.5]=1}", "{[2]=2}", "{true}", "{{},{}}", "{[1]=1,[2]=2,[3]=3,[4]=4}",
	"{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}", "{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16}",
	"(function() local t={} for i=1,65536 do t[i]=i end return t end)()",
	"(function() local t={} for i=1,3 do t[i]=i end t[2]=nil return t end)()",
	"(function() local t={} local c=t for i=1,20 do c[1]={} c=c[1] end return t end)()",
	"(function() local t={} t[1]=t return t end)()",
	"(function() local t={1} t.self=t return {t} end)()",
	"tostring", "{a=tostring}", "{[true]=1}", "{['k']={1,2}}",
}

func TestPackMatchesRedis(t *testing.T) {
	d := newDiffer(t)
	var cases []luadiff.Case
	for _, e := range packCases {
		cases = append(cases, luadiff.Case{Name: "pack " + e, Script: "return cmsgpack.pack(" + e + ")"})
	}
	for _, c := range []struct{ name, script string }{
		{"varargs", "return cmsgpack.pack(1, 'a', {2}, nil, true)"},
		{"no args", "return cmsgpack.pack()"},
		{"4000 args", "local t={} for i=1,4000 do t[i]=i end return cmsgpack.pack(unpack(t))"},
		{"4001 args", "local t={} for i=1,4001 do t[i]=i end return cmsgpack.pack(unpack(t))"},
		{"3998 args table last", "local t={} for i=1,3997 do t[i]=i end t[3998]={1} return cmsgpack.pack(unpack(t))"},
		{"4000 args table last", "local t={} for i=1,3999 do t[i]=i end t[4000]={1} return cmsgpack.pack(unpack(t))"},
		{"4000 args map last", "local t={} for i=1,3999 do t[i]=i end t[4000]={a=1} return cmsgpack.pack(unpack(t))"},
		{"4000 args nested last", "local t={} for i=1,3999 do t[i]=i end t[4000]={{{1}}} return cmsgpack.pack(unpack(t))"},
		{"meta", "return cmsgpack._NAME..'|'..cmsgpack._VERSION..'|'..cmsgpack._COPYRIGHT..'|'..cmsgpack._DESCRIPTION"},
	} {
		cases = append(cases, luadiff.Case{Name: c.name, Script: c.script})
	}
	d.Run(t, cases)
}

// unpackCases are hex-encoded MessagePack inputs and how to decode them.
var unpackCases = []struct{ fn, hex, extra string }{
	{"unpack", "", ""}, {"unpack", "00", ""}, {"unpack", "7f", ""}, {"unpack", "ff", ""}, {"unpack", "e0", ""},
	{"unpack", "cc80", ""}, {"unpack", "cdffff", ""}, {"unpack", "ceffffffff", ""},
	{"unpack", "cfffffffffffffffff", ""}, {"unpack", "cf7fffffffffffffff", ""}, {"unpack", "cf0000000100000000", ""},
	{"unpack", "d080", ""}, {"unpack", "d18000", ""}, {"unpack", "d1ff7f", ""}, {"unpack", "d280000000", ""},
	{"unpack", "d38000000000000000", ""}, {"unpack", "d3ffffffffffffffff", ""},
	{"unpack", "ca3f000000", ""}, {"unpack", "ca7fc00000", ""}, {"unpack", "cb3fb999999999999a", ""},
	{"unpack", "c0", ""}, {"unpack", "c2", ""}, {"unpack", "c3", ""}, {"unpack", "c1", ""},
	{"unpack", "c40161", ""}, {"unpack", "c5000161", ""}, {"unpack", "c600000161", ""}, {"unpack", "d40102", ""},
	{"unpack", "c7010161", ""}, {"unpack", "a3616263", ""}, {"unpack", "a361", ""}, {"unpack", "d903616263", ""},
	{"unpack", "d9", ""}, {"unpack", "da0003616263", ""}, {"unpack", "da00", ""}, {"unpack", "db00000003616263", ""},
	{"unpack", "dbffffffff61", ""}, {"unpack", "93010203", ""}, {"unpack", "930102", ""}, {"unpack", "dc000101", ""},
	{"unpack", "ddffffffff01", ""}, {"unpack", "dd00000002c001", ""}, {"unpack", "81a16101", ""}, {"unpack", "81c001", ""},
	{"unpack", "81cb7ff8000000000000", ""}, {"unpack", "81cb7ff800000000000001", ""}, {"unpack", "81", ""},
	{"unpack", "de0001a16101", ""}, {"unpack", "df00000001a16101", ""}, {"unpack", "dfffffffff", ""},
	{"unpack", "810102", ""}, {"unpack", "010203", ""}, {"unpack", "0102c1", ""}, {"unpack", "cc", ""}, {"unpack", "cb00", ""},
	{"unpack_one", "010203", ""}, {"unpack_one", "010203", ", 1"}, {"unpack_one", "010203", ", 2"},
	{"unpack_one", "010203", ", 3"}, {"unpack_one", "010203", ", 4"}, {"unpack_one", "010203", ", -1"},
	{"unpack_one", "010203", ", 1.9"}, {"unpack_one", "010203", ", '2'"}, {"unpack_one", "010203", ", 'x'"},
	{"unpack_one", "", ""}, {"unpack_one", "c1", ""},
	{"unpack_limit", "010203", ", 2"}, {"unpack_limit", "010203", ", 0"}, {"unpack_limit", "010203", ", 0, 1"},
	{"unpack_limit", "010203", ", 5"}, {"unpack_limit", "010203", ", -1"}, {"unpack_limit", "010203", ", 1, 2"},
	{"unpack_limit", "010203", ", 2, 5"}, {"unpack_limit", "010203", ""}, {"unpack_limit", "010203", ", nil"},
	{"unpack_limit", "0102", ", 0, -3"},
}

func TestUnpackMatchesRedis(t *testing.T) {
	d := newDiffer(t)
	var cases []luadiff.Case
	for _, c := range unpackCases {
		// The script renders every result: strings and numbers are
		// tostring'ed, tables are re-packed, so the reply is one string.
		raw, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(err)
		}
		script := fmt.Sprintf(`local s = %s
local r = {cmsgpack.%s(s%s)}
local n = select('#', cmsgpack.%s(s%s))
local out = {tostring(n)}
for i = 1, n do
  local v = r[i]
  if type(v) == 'table' then v = 'T' .. cmsgpack.pack(v)
  elseif v ~= v then v = 'nan' elseif type(v) == 'number' then v = string.format('%%.17g', v) else v = type(v) .. ':' .. tostring(v) end
  out[#out+1] = v
end
return table.concat(out, '|')`, luadiff.LuaBytes(raw), c.fn, c.extra, c.fn, c.extra)
		cases = append(cases, luadiff.Case{Name: c.fn + " " + c.hex + c.extra, Script: script})
	}
	for _, c := range []struct{ name, script string }{
		{"number input", "return cmsgpack.unpack(123)"},
		{"inf input", "return {cmsgpack.unpack(-1/0)}"},
		{"fraction input", "return {cmsgpack.unpack(0.1)}"},
		{"offset string", "return {cmsgpack.unpack_one('\\1\\2', ' 0x1 ')}"},
		{"offset inf", "return {cmsgpack.unpack_one('\\1\\2', 'inf')}"},
		{"limit nan", "return {cmsgpack.unpack_limit('\\1\\2', '-nan')}"},
		{"limit 1e400", "return {cmsgpack.unpack_limit('\\1\\2', '1e400')}"},
		{"limit 5 NUL", "return {cmsgpack.unpack_limit('\\1\\2', '1\\0x')}"},
		{"pcall name", "return {pcall(cmsgpack.unpack_limit, '\\1')}"},
		{"no input", "return cmsgpack.unpack()"},
		{"table input", "return cmsgpack.unpack({})"},
		{"7999 values", "return select('#', cmsgpack.unpack(string.rep('\\1', 7999)))"},
		{"8000 values", "return select('#', cmsgpack.unpack(string.rep('\\1', 8000)))"},
		{"7998 values then array", "return select('#', cmsgpack.unpack(string.rep('\\1', 7998)..'\\145\\1'))"},
		{"7997 values then array", "return select('#', cmsgpack.unpack(string.rep('\\1', 7997)..'\\145\\1'))"},
		{"7997 values then map", "return select('#', cmsgpack.unpack(string.rep('\\1', 7997)..'\\129\\1\\1'))"},
		{"7996 values extra args", "return select('#', cmsgpack.unpack(string.rep('\\1', 7996), 1, 2, 3))"},
		{"unpack_limit 7999", "return select('#', cmsgpack.unpack_limit(string.rep('\\1', 8000), 7999))"},
		{"unpack_limit 7998", "return select('#', cmsgpack.unpack_limit(string.rep('\\1', 8000), 7998))"},
		{"deep arrays", "return #cmsgpack.pack(cmsgpack.unpack(string.rep('\\145', 3000)..'\\1'))"},
		{"round trip map", "return cmsgpack.pack(cmsgpack.unpack(cmsgpack.pack({a={b={c=1}}})))"},
	} {
		cases = append(cases, luadiff.Case{Name: c.name, Script: c.script})
	}
	d.Run(t, cases)
}
