package cmdinfo

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Parse reads the raw reply of COMMAND, or of COMMAND INFO (whose nil
// entries are skipped), as RESP2 bytes off the wire; RESP3 maps and sets
// are accepted too. Names of flags, categories and key-spec kinds it does
// not know are ignored, so a newer upstream still parses.
func Parse(reply []byte) (*Table, error) {
	p := respParser{buf: reply}
	v, err := p.value(0)
	if err != nil {
		return nil, fmt.Errorf("cmdinfo: parse COMMAND reply: %w", err)
	}
	if p.pos != len(reply) {
		return nil, fmt.Errorf("cmdinfo: parse COMMAND reply: %d trailing bytes", len(reply)-p.pos)
	}
	if v.kind == kindError {
		return nil, fmt.Errorf("cmdinfo: COMMAND failed: %s", v.str)
	}
	if v.kind != kindArray {
		return nil, errors.New("cmdinfo: COMMAND reply is not an array")
	}
	cmds := make([]*Command, 0, len(v.elems))
	for i, e := range v.elems {
		if e.kind == kindNull {
			continue
		}
		c, err := commandFrom(e)
		if err != nil {
			return nil, fmt.Errorf("cmdinfo: COMMAND entry %d: %w", i, err)
		}
		cmds = append(cmds, c)
	}
	return newTable(cmds), nil
}

// commandFrom reads one entry: name, arity, flags, first key, last key,
// step, then (since 6.0) ACL categories, and (since 7.0) tips, key specs
// and subcommands.
func commandFrom(v *respValue) (*Command, error) {
	if v.kind != kindArray || len(v.elems) < 6 {
		return nil, errors.New("not an array of at least 6 elements")
	}
	e := v.elems
	c := &Command{}
	if !e[0].isString() || len(e[0].str) == 0 {
		return nil, errors.New("no name")
	}
	c.Name = strings.ToLower(e[0].str)
	var ok [4]bool
	c.Arity, ok[0] = e[1].integer()
	c.FirstKey, ok[1] = e[3].integer()
	c.LastKey, ok[2] = e[4].integer()
	c.Step, ok[3] = e[5].integer()
	if ok != [4]bool{true, true, true, true} {
		return nil, fmt.Errorf("%s: arity or key range is not an integer", c.Name)
	}
	for _, f := range e[2].elems {
		c.Flags |= flagNamed(f.str)
	}
	if len(e) > 6 {
		for _, f := range e[6].elems {
			c.Categories |= categoryNamed(strings.TrimPrefix(f.str, "@"))
		}
	}
	if len(e) > 8 {
		for _, s := range e[8].elems {
			c.KeySpecs = append(c.KeySpecs, keySpecFrom(s))
		}
	}
	if len(e) > 9 && len(e[9].elems) > 0 {
		c.Subcommands = make(map[string]*Command, len(e[9].elems))
		for _, s := range e[9].elems {
			if s.kind == kindNull {
				continue
			}
			sub, err := commandFrom(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name, err)
			}
			_, name, found := strings.Cut(sub.Name, "|")
			if !found {
				name = sub.Name
			}
			c.Subcommands[name] = sub
		}
	}
	return c, nil
}

// keySpecFrom reads a key spec, a map (an array of alternating names and
// values in RESP2). What it cannot read stays unknown, which Keys treats
// as keys it cannot find.
func keySpecFrom(v *respValue) KeySpec {
	var ks KeySpec
	v.fields(func(name string, val *respValue) {
		switch name {
		case "flags":
			for _, f := range val.elems {
				ks.Flags |= keyFlagNamed(f.str)
			}
		case "begin_search":
			kind, spec := typeAndSpec(val)
			switch kind {
			case "index":
				ks.Begin = BeginIndex
				spec.fields(func(n string, x *respValue) {
					if n == "index" {
						ks.Index, _ = x.integer()
					}
				})
			case "keyword":
				ks.Begin = BeginKeyword
				spec.fields(func(n string, x *respValue) {
					switch n {
					case "keyword":
						ks.Keyword = x.str
					case "startfrom":
						ks.StartFrom, _ = x.integer()
					}
				})
			}
		case "find_keys":
			kind, spec := typeAndSpec(val)
			switch kind {
			case "range":
				ks.Find = FindRange
				spec.fields(func(n string, x *respValue) {
					switch n {
					case "lastkey":
						ks.LastKey, _ = x.integer()
					case "keystep":
						ks.KeyStep, _ = x.integer()
					case "limit":
						ks.Limit, _ = x.integer()
					}
				})
			case "keynum":
				ks.Find = FindKeynum
				spec.fields(func(n string, x *respValue) {
					switch n {
					case "keynumidx":
						ks.KeyNumIdx, _ = x.integer()
					case "firstkey":
						ks.FirstKey, _ = x.integer()
					case "keystep":
						ks.KeyStep, _ = x.integer()
					}
				})
			}
		}
	})
	return ks
}

func typeAndSpec(v *respValue) (kind string, spec *respValue) {
	spec = &respValue{}
	v.fields(func(n string, x *respValue) {
		switch n {
		case "type":
			kind = x.str
		case "spec":
			spec = x
		}
	})
	return kind, spec
}

type respKind uint8

const (
	kindNull respKind = iota
	kindString
	kindError
	kindInt
	kindArray // arrays, sets, pushes; maps flattened to name, value, ...
)

type respValue struct {
	kind  respKind
	str   string
	num   int64
	elems []*respValue
}

func (v *respValue) isString() bool { return v.kind == kindString }

// integer reads an integer reply, or a string holding one.
func (v *respValue) integer() (int, bool) {
	switch v.kind {
	case kindInt:
		return int(v.num), true
	case kindString:
		n, err := strconv.Atoi(v.str)
		return n, err == nil
	}
	return 0, false
}

// fields calls f for each name/value pair of a map sent as an array.
func (v *respValue) fields(f func(name string, val *respValue)) {
	for i := 0; i+1 < len(v.elems); i += 2 {
		f(v.elems[i].str, v.elems[i+1])
	}
}

// maxDepth bounds nesting: COMMAND's reply is 6 deep at most.
const maxDepth = 16

type respParser struct {
	buf []byte
	pos int
}

func (p *respParser) line() ([]byte, error) {
	i := bytes.Index(p.buf[p.pos:], []byte("\r\n"))
	if i < 0 {
		return nil, errors.New("unterminated line")
	}
	l := p.buf[p.pos : p.pos+i]
	p.pos += i + 2
	return l, nil
}

func (p *respParser) value(depth int) (*respValue, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deep")
	}
	if p.pos >= len(p.buf) {
		return nil, errors.New("unexpected end of reply")
	}
	t := p.buf[p.pos]
	p.pos++
	l, err := p.line()
	if err != nil {
		return nil, err
	}
	switch t {
	case '+', ',', '#', '(':
		return &respValue{kind: kindString, str: string(l)}, nil
	case '-', '!':
		if t == '!' {
			return p.blob(l, kindError)
		}
		return &respValue{kind: kindError, str: string(l)}, nil
	case ':':
		n, err := strconv.ParseInt(string(l), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad integer %q", l)
		}
		return &respValue{kind: kindInt, num: n}, nil
	case '_':
		return &respValue{kind: kindNull}, nil
	case '$', '=':
		return p.blob(l, kindString)
	case '*', '~', '>', '%':
		n, err := strconv.Atoi(string(l))
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad length %q", l)
		}
		if n == -1 {
			return &respValue{kind: kindNull}, nil
		}
		if t == '%' {
			n *= 2
		}
		// Every element takes at least 3 bytes: never trust n for memory.
		if n > (len(p.buf)-p.pos)/3 {
			return nil, errors.New("unexpected end of reply")
		}
		v := &respValue{kind: kindArray, elems: make([]*respValue, 0, n)}
		for i := 0; i < n; i++ {
			e, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v.elems = append(v.elems, e)
		}
		return v, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", t)
}

func (p *respParser) blob(l []byte, kind respKind) (*respValue, error) {
	n, err := strconv.Atoi(string(l))
	if err != nil || n < -1 {
		return nil, fmt.Errorf("bad length %q", l)
	}
	if n == -1 {
		return &respValue{kind: kindNull}, nil
	}
	if n > len(p.buf)-p.pos-2 {
		return nil, errors.New("unexpected end of reply")
	}
	s := string(p.buf[p.pos : p.pos+n])
	if string(p.buf[p.pos+n:p.pos+n+2]) != "\r\n" {
		return nil, errors.New("bulk string not terminated by CRLF")
	}
	p.pos += n + 2
	return &respValue{kind: kind, str: s}, nil
}
