package main

import (
	"bytes"
	"strings"
	"syscall"
	"testing"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

func TestHealthcheck(t *testing.T) {
	up := redistest.Start(t)
	at, _, stop, done := startRun(t, []string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream", "redis://" + up.Addr, "--registry-db", "-1"})
	t.Cleanup(func() { stop <- syscall.SIGTERM; <-done })
	env := noEnv
	var out, errOut bytes.Buffer
	admin := at.Admin.String()
	if code := runUntil([]string{"healthcheck", "--admin-listen", admin}, env, &out, &errOut, nil, nil); code != exitOK || out.String() != "ok\n" {
		t.Fatalf("healthcheck: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := runUntil([]string{"healthcheck", "/readyz", "--admin-listen", admin}, env, &out, &errOut, nil, nil); code != exitOK {
		t.Fatalf("healthcheck /readyz: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := runUntil([]string{"healthcheck", "/nope", "--admin-listen", admin}, env, &out, &errOut, nil, nil); code != exitError || !strings.Contains(errOut.String(), "404") {
		t.Fatalf("healthcheck /nope: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := runUntil([]string{"healthcheck", "--admin-listen", ""}, env, &out, &errOut, nil, nil); code != exitUsage {
		t.Fatalf("healthcheck without admin server: exit %d, stderr %q", code, errOut.String())
	}
}
