package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "listen: 127.0.0.1:7000\nupstream: redis://127.0.0.1:1\n")
	badValue := write("bad-value.yaml", "log-format: xml\n")
	badKey := write("bad-key.yaml", "no-such-setting: 1\n")

	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		stdout   string
		stderrRE string // prefix of stderr; "" means empty
	}{
		{"defaults", nil, nil, exitOK, "config ok\n", ""},
		{"good file", []string{"--config", good}, nil, exitOK, "config ok\n", ""},
		{"good file from env", nil, map[string]string{"LUAPROXY_CONFIG": good}, exitOK, "config ok\n", ""},
		// The upstream is not dialled: port 1 refuses, yet the config is fine.
		{"unreachable upstream", []string{"--upstream", "redis://127.0.0.1:1"}, nil, exitOK, "config ok\n", ""},
		// Nor is the listen address bound.
		{"unbindable listen", []string{"--listen", "256.0.0.1:1"}, nil, exitOK, "config ok\n", ""},
		{"bad value in file", []string{"--config", badValue}, nil, exitUsage, "",
			"luaproxy: invalid setting log-format (from config file " + badValue + `): "xml" is not json or console`},
		{"unknown key in file", []string{"--config", badKey}, nil, exitUsage, "", "luaproxy: "},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml")}, nil, exitUsage, "", "luaproxy: config file (from --config): open "},
		{"bad env", nil, map[string]string{"LUAPROXY_LOG_FORMAT": "xml"}, exitUsage, "",
			`luaproxy: invalid setting log-format (from LUAPROXY_LOG_FORMAT): "xml" is not json or console`},
		{"bad flag value", []string{"--upstream", "http://x"}, nil, exitUsage, "",
			`luaproxy: invalid setting upstream (from --upstream): upstream "http://x": scheme must be redis:// or rediss://`},
		{"unknown flag", []string{"--bogus"}, nil, exitUsage, "", "luaproxy: command line: flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errw bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			code := run(append([]string{"check-config"}, tt.args...), getenv, &out, &errw)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errw.String())
			}
			if out.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", out.String(), tt.stdout)
			}
			got := errw.String()
			if tt.stderrRE == "" {
				if got != "" {
					t.Errorf("stderr %q, want empty", got)
				}
				return
			}
			if !strings.HasPrefix(got, tt.stderrRE) || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
				t.Errorf("stderr %q, want one line starting %q", got, tt.stderrRE)
			}
		})
	}
}

func TestCheckConfigHelp(t *testing.T) {
	var out, errw bytes.Buffer
	if code := run([]string{"check-config", "--help"}, noEnv, &out, &errw); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "check-config") || !strings.Contains(out.String(), "--upstream") {
		t.Errorf("help:\n%s", out.String())
	}
}
