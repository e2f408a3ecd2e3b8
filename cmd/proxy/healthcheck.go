package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheck is `luaproxy healthcheck [PATH]`: it asks the admin server
// of a luaproxy running with the same settings (flags, LUAPROXY_* or the
// config file after --) for PATH (/healthz by default) and exits 0 on 200.
// The image has no shell or curl, so this is what a container HEALTHCHECK
// runs.
func healthcheck(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	path := "/healthz"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] == '/' {
		path, args = args[0], args[1:]
	}
	cfg, err := loadConfig(args, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "luaproxy healthcheck: %v\n", err)
		return exitUsage
	}
	if cfg.AdminListen == "" {
		fmt.Fprintln(stderr, "luaproxy healthcheck: the admin server is off (admin-listen is empty)")
		return exitUsage
	}
	host, port, err := net.SplitHostPort(cfg.AdminListen)
	if err != nil {
		fmt.Fprintf(stderr, "luaproxy healthcheck: admin-listen %q: %v\n", cfg.AdminListen, err)
		return exitUsage
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // listening on every address: ask locally
	}
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + path)
	if err != nil {
		fmt.Fprintf(stderr, "luaproxy healthcheck: %v\n", err)
		return exitError
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "luaproxy healthcheck: %s: %s", resp.Status, body)
		return exitError
	}
	fmt.Fprintf(stdout, "%s", body)
	return exitOK
}
