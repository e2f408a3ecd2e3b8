package luautil

import "github.com/luaproxy/luaproxy/internal/sdsargs"

// SplitArgs splits line as Redis's sdssplitargs does, which is how Redis
// reads a script shebang ("#!lua flags=no-writes") and a library's metadata
// line ("#!lua name=mylib"). Blanks separate arguments; inside "double
// quotes" the escapes \n \r \t \b \a and \xHH are understood and any other
// backslash keeps the byte after it; inside 'single quotes' only \' is an
// escape. Quotes may start in the middle of an argument (name="lib" is
// name=lib), but a closing quote must be followed by a blank or the end of
// the line. ok is false for an unterminated quote or a closing quote
// followed by something else, where sdssplitargs returns NULL.
//
// As in C, the line ends at its first NUL byte. Like sdssplitargs, the
// blanks skipped between arguments are C's isspace set, while an unquoted
// argument ends only at a space, \n, \r or \t: \v and \f belong to it.
func SplitArgs(line string) (args []string, ok bool) {
	buf, ends, ok := sdsargs.Split([]byte(line), nil, nil)
	if !ok {
		return nil, false
	}
	args = make([]string, len(ends))
	start := 0
	for k, end := range ends {
		args[k] = string(buf[start:end])
		start = end
	}
	return args, true
}
