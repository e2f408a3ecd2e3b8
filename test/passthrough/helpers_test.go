package passthrough

import "github.com/luaproxy/luaproxy/test/harness"

// Short names for the scenario tables.
type (
	step     = harness.Step
	scenario = harness.Scenario
)

func cmd(args ...string) step          { return step{Cmd: args} }
func on(conn int, args ...string) step { return step{Conn: conn, Cmd: args} }
