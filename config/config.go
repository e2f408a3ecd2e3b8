// Package config holds luaproxy's settings and where they come from:
// command-line flags win over LUAPROXY_* environment variables, which win
// over a YAML file, which wins over the defaults.
package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of a luaproxy process. Field tags name the YAML
// key; the flag is the same name with dashes (--admin-listen) and the
// environment variable is LUAPROXY_ plus the upper-cased name with
// underscores (LUAPROXY_ADMIN_LISTEN).
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
	}
}

// Upstream is a parsed upstream URL.
type Upstream struct {
	Addr     string // host:port
	Username string // empty for the default user
	Password string // empty for no AUTH
	DB       int
	TLS      bool
}

// ParseUpstream parses redis://[user:pass@]host[:port][/db] and rediss://.
func ParseUpstream(s string) (Upstream, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Upstream{}, fmt.Errorf("upstream %q: %w", s, err)
	}
	var up Upstream
	switch u.Scheme {
	case "redis":
	case "rediss":
		up.TLS = true
	default:
		return Upstream{}, fmt.Errorf("upstream %q: scheme must be redis:// or rediss://", s)
	}
	if u.Host == "" {
		return Upstream{}, fmt.Errorf("upstream %q: no host", s)
	}
	up.Addr = u.Host
	if u.Port() == "" {
		up.Addr = u.Host + ":6379"
	}
	if u.User != nil {
		up.Username = u.User.Username()
		up.Password, _ = u.User.Password()
		if _, ok := u.User.Password(); !ok {
			// redis://:secret@ and redis://secret@ both mean a password
			// for the default user, as redis-cli -u reads them.
			up.Password, up.Username = up.Username, ""
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return Upstream{}, fmt.Errorf("upstream %q: database %q is not a number", s, db)
		}
		up.DB = n
	}
	return up, nil
}
