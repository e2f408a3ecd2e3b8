// Package config holds luaproxy's settings and where they come from:
// command-line flags win over LUAPROXY_* environment variables, which win
// over a YAML file, which wins over the defaults.
package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of a luaproxy process. Field tags name the YAML
// key; the flag is the same name with dashes (--admin-listen) and the
// environment variable is LUAPROXY_ plus the upper-cased name with
// underscores (LUAPROXY_ADMIN_LISTEN). The table in settings.go ties the
// three together.
type Config struct {
	// Listen is the address clients connect to.
	Listen string `yaml:"listen"`
	// Upstream is the Redis behind luaproxy:
	// redis://[user:pass@]host:port[/db] or rediss:// for TLS.
	Upstream string `yaml:"upstream"`
	// UpstreamTLSCAFile, if set, is a PEM bundle that verifies a rediss://
	// upstream instead of the system roots.
	UpstreamTLSCAFile string `yaml:"upstream-tls-ca-file"`
	// UpstreamTLSInsecure skips verification of a rediss:// upstream's
	// certificate. For tests only.
	UpstreamTLSInsecure bool `yaml:"upstream-tls-insecure"`
	// UpstreamDialTimeout bounds one connection attempt to the upstream.
	UpstreamDialTimeout time.Duration `yaml:"upstream-dial-timeout"`

	// AdminListen is the HTTP address of /healthz, /readyz and /metrics;
	// empty turns the admin server off.
	AdminListen string `yaml:"admin-listen"`
	// Pprof adds net/http/pprof under /debug/pprof/ to the admin server.
	// Off by default: profiles expose internals and cost CPU when taken.
	Pprof bool `yaml:"pprof"`

	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log-level"`
	// LogFormat is json or console.
	LogFormat string `yaml:"log-format"`

	// MaxClients caps concurrent client connections, as Redis's maxclients.
	MaxClients int `yaml:"max-clients"`
	// ClientIdleTimeout closes clients idle this long; 0 never does, as
	// Redis's timeout 0.
	ClientIdleTimeout time.Duration `yaml:"client-idle-timeout"`
	// ProtoMaxBulkLen is the largest bulk string a client may send, as
	// Redis's proto-max-bulk-len.
	ProtoMaxBulkLen int64 `yaml:"proto-max-bulk-len"`
	// DrainTimeout bounds how long shutdown waits for in-flight requests.
	DrainTimeout time.Duration `yaml:"drain-timeout"`

	// LuaPoolSize is how many Lua states are kept ready for scripts; 0
	// means twice the number of CPUs.
	LuaPoolSize int `yaml:"lua-pool-size"`
	// LuaMemoryLimit is each script's memory budget in bytes; 0 means
	// none.
	LuaMemoryLimit int64 `yaml:"lua-memory-limit"`
	// LuaTimeLimit ends a script that runs longer with an error; 0 means
	// never, as Redis never ends a script by time (it answers BUSY to
	// other clients and waits for SCRIPT KILL).
	LuaTimeLimit time.Duration `yaml:"lua-time-limit"`
	// ScriptCacheSize bounds the scripts added by EVAL that EVALSHA can
	// find, least recently used first out; SCRIPT LOAD-ed scripts are kept.
	ScriptCacheSize int `yaml:"script-cache-size"`
	// RegistryDB is the upstream database that holds the registry of
	// SCRIPT LOAD-ed scripts and function libraries shared by every
	// luaproxy in front of the upstream (package registry); -1 keeps
	// them in this process only.
	RegistryDB int `yaml:"registry-db"`
	// FunctionsDir, if set, is a directory whose *.lua files are loaded as
	// function libraries at start and on SIGHUP.
	FunctionsDir string `yaml:"functions-dir"`
	// ImportFunctionsFromUpstream copies the upstream's own function
	// libraries (FUNCTION DUMP) into luaproxy at start: the way off a Redis
	// that ran them itself.
	ImportFunctionsFromUpstream bool `yaml:"import-functions-from-upstream"`
	// ScriptUpstreamConns is how many shared upstream connections carry
	// scripts' redis.call traffic, pipelined across scripts; 0 sends each
	// script's calls on its client's own upstream connection.
	ScriptUpstreamConns int `yaml:"script-upstream-conns"`

	// LockShards is how many shards the lock manager has: keys map to
	// them as Redis Cluster maps keys to hash slots (CRC16, {hashtags}).
	LockShards int `yaml:"lock-shards"`
	// BusyReplyThreshold is Redis's busy-reply-threshold: once a script has
	// run this long, commands that need its shards get -BUSY instead of
	// waiting, and SCRIPT KILL or FUNCTION KILL may stop it.
	BusyReplyThreshold time.Duration `yaml:"busy-reply-threshold"`
	// GlobalLockScripts lists script SHAs and function names that touch
	// keys they do not declare: they lock the whole keyspace from the
	// start instead of learning it on their first run.
	GlobalLockScripts []string `yaml:"global-lock-scripts"`
	// SlowScriptThreshold logs every script or function call that runs
	// longer; 0 logs none.
	SlowScriptThreshold time.Duration `yaml:"slow-script-threshold"`

	// LeaseKey, if set, turns on active/standby mode: only the luaproxy
	// holding this key in the upstream serves clients; the others are
	// not ready and take over when the lease expires.
	LeaseKey string `yaml:"lease-key"`
	// LeaseTTL is how long a lease lasts without renewal; the holder
	// renews it every third of that and stops serving before it expires.
	LeaseTTL time.Duration `yaml:"lease-ttl"`

	// origins records where each non-default setting came from, for
	// error messages. It is a pointer so that Config stays comparable.
	origins *origins
}

// Default returns the settings luaproxy runs with when nothing is set.
func Default() Config {
	return Config{
		Listen:              "127.0.0.1:6380",
		Upstream:            "redis://127.0.0.1:6379",
		UpstreamDialTimeout: 5 * time.Second,
		AdminListen:         "127.0.0.1:9180",
		LogLevel:            "info",
		LogFormat:           "json",
		MaxClients:          10000,
		ProtoMaxBulkLen:     512 << 20,
		DrainTimeout:        10 * time.Second,
		LuaMemoryLimit:      256 << 20,
		ScriptCacheSize:     500,
		RegistryDB:          15,
		ScriptUpstreamConns: 2,
		LockShards:          16384,
		BusyReplyThreshold:  5 * time.Second,
		SlowScriptThreshold: 100 * time.Millisecond,
		LeaseTTL:            10 * time.Second,
	}
}

// Source names where a setting's value came from: "default",
// "config file luaproxy.yaml", "LUAPROXY_LISTEN" or "--listen".
func (c Config) Source(name string) string {
	if c.origins != nil {
		if s, ok := (*c.origins)[name]; ok {
			return s
		}
	}
	return "default"
}

// Upstream is a parsed upstream URL.
type Upstream struct {
	Addr     string // host:port
	Username string // empty for the default user
	Password string // empty for no AUTH
	DB       int
	TLS      bool
}

// String returns the upstream as a URL with the password masked, for logs.
func (u Upstream) String() string {
	scheme := "redis"
	if u.TLS {
		scheme = "rediss"
	}
	v := url.URL{Scheme: scheme, Host: u.Addr}
	switch {
	case u.Password != "":
		v.User = url.UserPassword(u.Username, "xxxxx")
	case u.Username != "":
		// user:@ keeps the name a user name (user@ is a password).
		v.User = url.UserPassword(u.Username, "")
	}
	if u.DB != 0 {
		v.Path = "/" + strconv.Itoa(u.DB)
	}
	return v.String()
}

// ParseUpstream parses redis://[user:pass@]host[:port][/db] and rediss://.
// Error messages never contain the password.
func ParseUpstream(s string) (Upstream, error) {
	shown := redactURL(s)
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the whole URL, password included: keep only
		// the reason.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return Upstream{}, fmt.Errorf("upstream %q: %v", shown, err)
	}
	var up Upstream
	switch u.Scheme {
	case "redis":
	case "rediss":
		up.TLS = true
	default:
		return Upstream{}, fmt.Errorf("upstream %q: scheme must be redis:// or rediss://", shown)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return Upstream{}, fmt.Errorf("upstream %q: no host", shown)
	}
	if h := u.Hostname(); !validHost(h) {
		return Upstream{}, fmt.Errorf("upstream %q: host %q is not an IP address or host name", shown, h)
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Upstream{}, fmt.Errorf("upstream %q: port %q is not between 1 and 65535", shown, port)
	}
	up.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		up.Username = u.User.Username()
		if pass, ok := u.User.Password(); ok {
			up.Password = pass
		} else {
			// redis://secret@host means a password for the default
			// user, as redis-cli -u reads it.
			up.Password, up.Username = up.Username, ""
		}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Upstream{}, fmt.Errorf("upstream %q: query parameters and fragments are not supported", shown)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 || strings.TrimLeft(db, "0123456789") != "" {
			return Upstream{}, fmt.Errorf("upstream %q: database %q is not a number", shown, db)
		}
		up.DB = n
	}
	return up, nil
}

// validHost accepts IP addresses and names made of letters, digits, dots,
// dashes and underscores; url.Parse lets through hosts such as "]".
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// redactURL masks the password of a URL-like string, even one that
// url.Parse rejects.
func redactURL(s string) string {
	rest := s
	prefix := ""
	if i := strings.Index(s, "//"); i >= 0 {
		prefix, rest = s[:i+2], s[i+2:]
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	user := rest[:at]
	if c := strings.Index(user, ":"); c >= 0 {
		user = user[:c+1] + "xxxxx"
	} else {
		// A lone userinfo is a password (see ParseUpstream).
		user = "xxxxx"
	}
	return prefix + user + rest[at:]
}
