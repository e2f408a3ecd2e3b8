package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "luaproxy.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, "listen: 127.0.0.1:1001\nlog-level: warn\ndrain-timeout: 3s\nmax-clients: 7\n")
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantListen string
		wantSource string
	}{
		{"default", nil, nil, "127.0.0.1:6380", "default"},
		{"file", []string{"--config", file}, nil, "127.0.0.1:1001", "config file " + file},
		{"file from env", nil, map[string]string{"LUAPROXY_CONFIG": file}, "127.0.0.1:1001", "config file " + file},
		{"env over file", []string{"--config", file}, map[string]string{"LUAPROXY_LISTEN": "127.0.0.1:1002"}, "127.0.0.1:1002", "LUAPROXY_LISTEN"},
		{"flag over env", []string{"--config", file, "--listen", "127.0.0.1:1003"}, map[string]string{"LUAPROXY_LISTEN": "127.0.0.1:1002"}, "127.0.0.1:1003", "--listen"},
		{"flag with =", []string{"-listen=127.0.0.1:1004"}, nil, "127.0.0.1:1004", "--listen"},
		{"empty env is unset", []string{"--config", file}, map[string]string{"LUAPROXY_LISTEN": ""}, "127.0.0.1:1001", "config file " + file},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tt.wantListen {
				t.Errorf("Listen = %q, want %q", cfg.Listen, tt.wantListen)
			}
			if got := cfg.Source("listen"); got != tt.wantSource {
				t.Errorf("Source(listen) = %q, want %q", got, tt.wantSource)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestLoadEverySetting(t *testing.T) {
	ca := writeFile(t, testCA(t))
	args := []string{
		"--listen", "0.0.0.0:7000",
		"--upstream", "rediss://u:p@redis.example:7001/2",
		"--upstream-tls-ca-file", ca,
		"--upstream-tls-insecure",
		"--upstream-dial-timeout", "1500ms",
		"--admin-listen", "",
		"--pprof=true",
		"--log-level", "debug",
		"--log-format", "console",
		"--max-clients", "12",
		"--client-idle-timeout", "1m",
		"--proto-max-bulk-len", "2mb",
		"--drain-timeout", "0.5s",
		"--lua-pool-size", "3",
		"--lua-memory-limit", "64mb",
		"--lua-time-limit", "2s",
		"--script-cache-size", "50",
		"--registry-db", "-1",
		"--script-upstream-conns", "4",
		"--lock-shards", "1024",
		"--busy-reply-threshold", "2s",
		"--global-lock-scripts", "fn1, 0123456789abcdef0123456789abcdef01234567",
		"--slow-script-threshold", "0",
		"--lease-key", "luaproxy:lease",
		"--lease-ttl", "3s",
	}
	cfg, err := Load(args, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen: "0.0.0.0:7000", Upstream: "rediss://u:p@redis.example:7001/2",
		UpstreamTLSCAFile: ca, UpstreamTLSInsecure: true, UpstreamDialTimeout: 1500 * time.Millisecond,
		AdminListen: "", Pprof: true, LogLevel: "debug", LogFormat: "console", MaxClients: 12,
		ClientIdleTimeout: time.Minute, ProtoMaxBulkLen: 2 << 20, DrainTimeout: 500 * time.Millisecond,
		LuaPoolSize: 3, LuaMemoryLimit: 64 << 20, LuaTimeLimit: 2 * time.Second, ScriptCacheSize: 50,
		RegistryDB: -1, ScriptUpstreamConns: 4, LockShards: 1024, BusyReplyThreshold: 2 * time.Second,
		GlobalLockScripts: []string{"fn1", "0123456789abcdef0123456789abcdef01234567"},
		LeaseKey:          "luaproxy:lease", LeaseTTL: 3 * time.Second,
	}
	cfg.origins = nil
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}

	// The same through the environment.
	e := map[string]string{}
	for i := 0; i < len(args); i += 2 {
		name := strings.TrimPrefix(args[i], "--")
		val := ""
		if i+1 < len(args) {
			val = args[i+1]
		}
		if name == "upstream-tls-insecure" {
			i--
			val = "true"
		}
		if n, v, ok := strings.Cut(name, "="); ok {
			name, val = n, v
			i--
		}
		e[EnvName(name)] = val
	}
	cfg2, err := Load(nil, env(e))
	if err != nil {
		t.Fatal(err)
	}
	cfg2.origins = nil
	want.AdminListen = Default().AdminListen // an empty variable counts as unset
	if !reflect.DeepEqual(cfg2, want) {
		t.Errorf("env: got  %+v\nwant %+v", cfg2, want)
	}
}

func TestLoadFileEverySetting(t *testing.T) {
	file := writeFile(t, `
listen: "[::1]:7000"
upstream: redis://:secret@10.0.0.1:7001
upstream-tls-insecure: false
upstream-dial-timeout: 2s
admin-listen: ""
pprof: true
log-level: error
log-format: console
max-clients: 3
client-idle-timeout: 0
proto-max-bulk-len: 1gb
drain-timeout: 1m30s
lua-pool-size: 0
lua-memory-limit: 0
lua-time-limit: 100ms
script-cache-size: 10000
registry-db: 3
script-upstream-conns: 0
lock-shards: 16
busy-reply-threshold: 1s
global-lock-scripts: [a, b]
slow-script-threshold: 10ms
lease-ttl: 1s
`)
	cfg, err := Load([]string{"--config=" + file}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen: "[::1]:7000", Upstream: "redis://:secret@10.0.0.1:7001", UpstreamDialTimeout: 2 * time.Second,
		Pprof: true, LogLevel: "error", LogFormat: "console", MaxClients: 3,
		ProtoMaxBulkLen: 1 << 30, DrainTimeout: 90 * time.Second,
		LuaTimeLimit: 100 * time.Millisecond, ScriptCacheSize: 10000, RegistryDB: 3,
		LockShards: 16, BusyReplyThreshold: time.Second, GlobalLockScripts: []string{"a", "b"},
		SlowScriptThreshold: 10 * time.Millisecond, LeaseTTL: time.Second,
	}
	cfg.origins = nil
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string // contents of --config, if not empty
		want string
	}{
		{"unknown flag", []string{"--nope"}, nil, "", "command line: flag provided but not defined: -nope"},
		{"positional", []string{"extra"}, nil, "", `command line: unexpected argument "extra"`},
		{"missing value", []string{"--listen"}, nil, "", "command line: flag needs an argument: -listen"},
		{"bad int flag", []string{"--max-clients", "ten"}, nil, "", `invalid setting max-clients (from --max-clients): "ten" is not an integer`},
		{"bad duration env", nil, map[string]string{"LUAPROXY_DRAIN_TIMEOUT": "5"}, "", `invalid setting drain-timeout (from LUAPROXY_DRAIN_TIMEOUT): "5" is not a duration such as 5s or 250ms`},
		{"bad bool env", nil, map[string]string{"LUAPROXY_PPROF": "maybe"}, "", `invalid setting pprof (from LUAPROXY_PPROF): "maybe" is not true or false`},
		{"bad size", []string{"--proto-max-bulk-len", "12tb"}, nil, "", `invalid setting proto-max-bulk-len (from --proto-max-bulk-len): "12tb" is not a size such as 1048576, 512mb or 1gb`},
		{"negative size", []string{"--proto-max-bulk-len", "-1"}, nil, "", `"-1" is not a size`},
		{"missing file", []string{"--config", "/nonexistent/luaproxy.yaml"}, nil, "", "config file (from --config): open /nonexistent/luaproxy.yaml: no such file or directory"},
		{"missing file env", nil, map[string]string{"LUAPROXY_CONFIG": "/nonexistent/x.yaml"}, "", "config file (from LUAPROXY_CONFIG): open /nonexistent/x.yaml"},
		{"unknown key", nil, nil, "listen: 127.0.0.1:1\nlisten_addr: x\n", `: unknown setting "listen_addr"`},
		{"not a mapping", nil, nil, "- listen\n", "cannot unmarshal !!seq"},
		{"nested value", nil, nil, "listen:\n  host: x\n", "invalid setting listen (from config file "},
		{"bad yaml", nil, nil, "listen: [\n", "did not find expected node content"},
		{"duplicate key", nil, nil, "listen: a:1\nlisten: b:2\n", `mapping key "listen" already defined`},
		{"two documents", nil, nil, "listen: a:1\n---\nlisten: b:2\n", "more than one YAML document"},
		{"bad file duration", nil, nil, "drain-timeout: 10\n", `invalid setting drain-timeout (from config file `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, tt.file)}, args...)
			}
			_, err := Load(args, env(tt.env))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestLoadHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		if _, err := Load([]string{arg}, env(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: error %v, want flag.ErrHelp", arg, err)
		}
	}
	var b strings.Builder
	Usage(&b)
	for _, s := range settings() {
		if !strings.Contains(b.String(), "--"+s.name+"\n") || !strings.Contains(b.String(), EnvName(s.name)) {
			t.Errorf("usage lacks %s", s.name)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"LUAPROXY_LOG_FORMAT": "xml"}, `invalid setting log-format (from LUAPROXY_LOG_FORMAT): "xml" is not json or console`},
		{[]string{"--log-level", "trace"}, nil, `invalid setting log-level (from --log-level): "trace" is not debug, info, warn or error`},
		{[]string{"--listen", ""}, nil, `invalid setting listen (from --listen): is empty`},
		{[]string{"--listen", "6380"}, nil, `invalid setting listen (from --listen): "6380" is not host:port`},
		{[]string{"--listen", "h:99999"}, nil, `invalid setting listen (from --listen): "h:99999": port "99999" is not between 0 and 65535`},
		{[]string{"--admin-listen", "h:x"}, nil, `invalid setting admin-listen (from --admin-listen): "h:x": port "x" is not between 0 and 65535`},
		{[]string{"--upstream", "http://h:1"}, nil, `invalid setting upstream (from --upstream): upstream "http://h:1": scheme must be redis:// or rediss://`},
		{nil, map[string]string{"LUAPROXY_UPSTREAM": "redis://u:hunter2@h:1/x"}, `invalid setting upstream (from LUAPROXY_UPSTREAM): upstream "redis://u:xxxxx@h:1/x": database "x" is not a number`},
		{[]string{"--upstream-tls-ca-file", "/nonexistent/ca.pem", "--upstream", "rediss://h"}, nil, `invalid setting upstream-tls-ca-file (from --upstream-tls-ca-file): open /nonexistent/ca.pem: no such file or directory`},
		{[]string{"--upstream-tls-ca-file", "config_test.go", "--upstream", "rediss://h"}, nil, `invalid setting upstream-tls-ca-file (from --upstream-tls-ca-file): config_test.go contains no PEM certificate`},
		{[]string{"--upstream-tls-insecure"}, nil, `invalid setting upstream-tls-insecure (from --upstream-tls-insecure): is set but upstream is not rediss://`},
		{[]string{"--upstream-dial-timeout", "0s"}, nil, `invalid setting upstream-dial-timeout (from --upstream-dial-timeout): 0s is not positive`},
		{[]string{"--max-clients", "0"}, nil, `invalid setting max-clients (from --max-clients): 0 is not positive`},
		{[]string{"--client-idle-timeout", "-1s"}, nil, `invalid setting client-idle-timeout (from --client-idle-timeout): -1s is negative`},
		{[]string{"--proto-max-bulk-len", "1000"}, nil, `invalid setting proto-max-bulk-len (from --proto-max-bulk-len): 1000 is below the minimum 1mb (1048576)`},
		{[]string{"--drain-timeout", "0"}, nil, `invalid setting drain-timeout (from --drain-timeout): 0s is not positive`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			cfg, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if err == nil || err.Error() != tt.want {
				t.Errorf("Validate() = %v\nwant %s", err, tt.want)
			}
		})
	}
	// A Config built in code reports its bad settings as defaults.
	c := Default()
	c.LogFormat = "xml"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "(from default)") {
		t.Errorf("Validate() = %v", err)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestFileSourceInValidate(t *testing.T) {
	file := writeFile(t, "log-format: xml\n")
	cfg, err := Load([]string{"--config", file}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `invalid setting log-format (from config file ` + file + `): "xml" is not json or console`
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v\nwant %s", err, want)
	}
}

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		in   string
		want Upstream
		err  string
	}{
		{in: "redis://127.0.0.1:6379", want: Upstream{Addr: "127.0.0.1:6379"}},
		{in: "redis://localhost", want: Upstream{Addr: "localhost:6379"}},
		{in: "redis://localhost:", want: Upstream{Addr: "localhost:6379"}},
		{in: "redis://[::1]", want: Upstream{Addr: "[::1]:6379"}},
		{in: "redis://[::1]:7000/3", want: Upstream{Addr: "[::1]:7000", DB: 3}},
		{in: "redis://user:pass@h:1", want: Upstream{Addr: "h:1", Username: "user", Password: "pass"}},
		{in: "redis://:pass@h:1", want: Upstream{Addr: "h:1", Password: "pass"}},
		{in: "redis://pass@h:1", want: Upstream{Addr: "h:1", Password: "pass"}},
		{in: "redis://u%40x:p%3Aw%2F@h:1", want: Upstream{Addr: "h:1", Username: "u@x", Password: "p:w/"}},
		{in: "redis://h:1/15", want: Upstream{Addr: "h:1", DB: 15}},
		{in: "redis://h:1/", want: Upstream{Addr: "h:1"}},
		{in: "rediss://u:p@h:6380/1", want: Upstream{Addr: "h:6380", Username: "u", Password: "p", DB: 1, TLS: true}},
		{in: "http://h:1", err: `upstream "http://h:1": scheme must be redis:// or rediss://`},
		{in: "h:6379", err: `scheme must be redis:// or rediss://`},
		{in: "127.0.0.1:6379", err: `upstream "127.0.0.1:6379": first path segment in URL cannot contain colon`},
		{in: "redis:h:1", err: `upstream "redis:h:1": no host`},
		{in: "redis://", err: `no host`},
		{in: "redis://::", err: `host ":" is not an IP address or host name`},
		{in: "redis://]", err: `host "]" is not an IP address or host name`},
		{in: "redis://h!x:1", err: `is not an IP address or host name`},
		{in: "redis://:1", err: `no host`},
		{in: "redis://h:1/x", err: `database "x" is not a number`},
		{in: "redis://h:1/-1", err: `database "-1" is not a number`},
		{in: "redis://h:1/+1", err: `database "+1" is not a number`},
		{in: "redis://h:1/1/2", err: `database "1/2" is not a number`},
		{in: "redis://h:0", err: `port "0" is not between 1 and 65535`},
		{in: "redis://h:65536", err: `port "65536" is not between 1 and 65535`},
		{in: "redis://h:1?db=2", err: `query parameters and fragments are not supported`},
		{in: "redis://u:secret@h:x", err: `upstream "redis://u:xxxxx@h:x": invalid port ":x" after host`},
		{in: "redis://secret@h:1/zz", err: `upstream "redis://xxxxx@h:1/zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseUpstream(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUpstreamString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"redis://h:1", "redis://h:1"},
		{"redis://u:secret@h:1/2", "redis://u:xxxxx@h:1/2"},
		{"rediss://:secret@h:1", "rediss://:xxxxx@h:1"},
		{"redis://alice:@h:1", "redis://alice:@h:1"},
	}
	for _, tt := range tests {
		up, err := ParseUpstream(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := up.String(); got != tt.want {
			t.Errorf("%s: String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// testCA returns a freshly made self-signed certificate in PEM.
func testCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
