package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/luaproxy/luaproxy/config"
)

// subcommandsUsage ends `luaproxy --help`.
const subcommandsUsage = `
Other commands:
  luaproxy check-config [settings...]  validate the settings as the server would, print "config ok" and exit
  luaproxy lint-functions DIR          load every DIR/*.lua function library in a scratch Lua VM and report errors
  luaproxy healthcheck [PATH]          GET PATH (/healthz) from the admin server of a luaproxy with these settings; exit 0 on 200
`

// checkConfig is `luaproxy check-config [settings...]`: it loads and
// validates the settings exactly as the server does before it starts, and
// opens nothing on the network, so that a deployment pipeline can reject a
// bad configuration before it reaches a running proxy. It prints "config
// ok" and returns exitOK, or prints the first error on one line and
// returns exitUsage.
func checkConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	_, err := loadConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "usage: luaproxy check-config [settings...]: validate the settings and exit")
		config.Usage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "luaproxy: %v\n", err)
		return exitUsage
	}
	fmt.Fprintln(stdout, "config ok")
	return exitOK
}
