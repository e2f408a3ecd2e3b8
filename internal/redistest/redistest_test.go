package redistest

import "testing"

func TestStartAndRawReplies(t *testing.T) {
	s := Start(t, ScriptingDisabledArgs()...)
	c := s.Dial(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "+PONG\r\n"},
		{[]string{"SET", "k", "v"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$1\r\nv\r\n"},
		{[]string{"RPUSH", "l", "a", "b"}, ":2\r\n"},
		{[]string{"LRANGE", "l", "0", "-1"}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{[]string{"EVAL", "return 1", "0"}, "-ERR unknown command 'EVAL', with args beginning with: 'return 1' '0' \r\n"},
	}
	for _, tc := range cases {
		if got := string(c.MustDo(t, tc.args...)); got != tc.want {
			t.Errorf("%v: got %q want %q", tc.args, got, tc.want)
		}
	}
}
