package cmdinfo

// index finds commands by name ignoring ASCII case without allocating: an
// open-addressing table whose hash lowers the name as it goes, so a
// lookup reads the name once and compares one candidate, mostly.
type index struct {
	slots []indexSlot
	mask  uint32
}

type indexSlot struct {
	key string // lower case
	cmd *Command
}

func newIndex(m map[string]*Command) index {
	size := 8
	for size < 2*len(m) {
		size *= 2
	}
	ix := index{slots: make([]indexSlot, size), mask: uint32(size - 1)}
	for key, c := range m {
		i := hashLower([]byte(key)) & ix.mask
		for ix.slots[i].cmd != nil {
			i = (i + 1) & ix.mask
		}
		ix.slots[i] = indexSlot{key: key, cmd: c}
	}
	return ix
}

// hashLower is FNV-1a over the lower-cased bytes.
func hashLower(name []byte) uint32 {
	h := uint32(2166136261)
	for _, b := range name {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		h ^= uint32(b)
		h *= 16777619
	}
	return h
}

func (ix *index) find(name []byte) *Command {
	if len(ix.slots) == 0 {
		return nil
	}
	for i := hashLower(name) & ix.mask; ; i = (i + 1) & ix.mask {
		s := &ix.slots[i]
		if s.cmd == nil {
			return nil
		}
		if len(s.key) == len(name) && equalFold(name, s.key) {
			return s.cmd
		}
	}
}
