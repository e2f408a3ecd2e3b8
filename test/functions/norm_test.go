package functions

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
)

// node is a parsed RESP reply, kept with its type byte so that it can be
// written back as it came.
type node struct {
	typ   byte
	line  string // the header or simple value, without the type byte
	bulk  []byte // a bulk payload
	elems []*node
}

func parseNode(r *bufio.Reader) (*node, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 {
		return nil, fmt.Errorf("short line %q", line)
	}
	n := &node{typ: line[0], line: line[1 : len(line)-2]}
	switch n.typ {
	case '$', '=', '!':
		size, _ := strconv.Atoi(n.line)
		if size < 0 {
			return n, nil
		}
		n.bulk = make([]byte, size+2)
		if _, err := ioReadFull(r, n.bulk); err != nil {
			return nil, err
		}
		n.bulk = n.bulk[:size]
	case '*', '~', '%', '>', '|':
		count, _ := strconv.Atoi(n.line)
		if n.typ == '%' || n.typ == '|' {
			count *= 2
		}
		for i := 0; i < count; i++ {
			e, err := parseNode(r)
			if err != nil {
				return nil, err
			}
			n.elems = append(n.elems, e)
		}
	}
	return n, nil
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (n *node) write(b *bytes.Buffer) {
	b.WriteByte(n.typ)
	b.WriteString(n.line)
	b.WriteString("\r\n")
	if n.bulk != nil {
		b.Write(n.bulk)
		b.WriteString("\r\n")
	}
	for _, e := range n.elems {
		e.write(b)
	}
}

func (n *node) bytes() []byte {
	var b bytes.Buffer
	n.write(&b)
	return b.Bytes()
}

// field returns the value after key in a map reply (RESP3 map or RESP2
// flat array).
func (n *node) field(key string) *node {
	for i := 0; i+1 < len(n.elems); i += 2 {
		if string(n.elems[i].bulk) == key {
			return n.elems[i+1]
		}
	}
	return nil
}

// sortedList sorts a FUNCTION LIST reply's libraries by name and each
// library's functions by name: Redis lists both in its hash tables' order,
// which depends on a per-process seed.
func sortedList(b []byte) []byte {
	n, err := parseNode(bufio.NewReader(bytes.NewReader(b)))
	if err != nil || n.typ != '*' {
		return b
	}
	name := func(m *node, key string) string {
		if f := m.field(key); f != nil {
			return string(f.bulk)
		}
		return ""
	}
	for _, lib := range n.elems {
		if fns := lib.field("functions"); fns != nil {
			sort.SliceStable(fns.elems, func(i, j int) bool { return name(fns.elems[i], "name") < name(fns.elems[j], "name") })
		}
	}
	sort.SliceStable(n.elems, func(i, j int) bool { return name(n.elems[i], "library_name") < name(n.elems[j], "library_name") })
	return n.bytes()
}
