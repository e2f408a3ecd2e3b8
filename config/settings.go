package config

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// origins maps a setting name to where its value came from.
type origins map[string]string

// setting ties one Config field to its name, help text, parser and check.
// The flag (--name), environment variable (LUAPROXY_NAME) and YAML key
// (name) all derive from the name.
type setting struct {
	name   string
	usage  string
	set    func(c *Config, raw string) error // parse raw into the field
	get    func(c *Config) string            // the field, as a flag default
	check  func(c *Config) error             // nil when any value is fine
	isBool bool
	isList bool // a YAML sequence is accepted as well as a comma-separated string
}

// settings is the one table of luaproxy's settings: adding a setting is a
// Config field plus one line here.
func settings() []setting {
	return []setting{
		def("listen", "client address (host:port)", func(c *Config) *string { return &c.Listen }, parseString, checkAddr(false)),
		def("upstream", "upstream Redis URL: redis://[user:pass@]host:port[/db] or rediss://", func(c *Config) *string { return &c.Upstream }, parseString, checkUpstream),
		def("upstream-tls-ca-file", "PEM file of CAs that verify a rediss:// upstream", func(c *Config) *string { return &c.UpstreamTLSCAFile }, parseString, checkCAFile),
		def("upstream-tls-insecure", "skip verification of a rediss:// upstream's certificate (tests only)", func(c *Config) *bool { return &c.UpstreamTLSInsecure }, parseBool, nil),
		def("upstream-dial-timeout", "bound on one upstream connection attempt (e.g. 5s)", func(c *Config) *time.Duration { return &c.UpstreamDialTimeout }, parseDuration, checkPositive[time.Duration]),
		def("admin-listen", "HTTP address of /healthz, /readyz, /metrics; empty turns it off", func(c *Config) *string { return &c.AdminListen }, parseString, checkAddr(true)),
		def("pprof", "serve net/http/pprof under /debug/pprof/ on the admin address", func(c *Config) *bool { return &c.Pprof }, parseBool, nil),
		def("log-level", "debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }, parseString, checkOneOf("debug", "info", "warn", "error")),
		def("log-format", "json or console", func(c *Config) *string { return &c.LogFormat }, parseString, checkOneOf("json", "console")),
		def("max-clients", "maximum concurrent client connections", func(c *Config) *int { return &c.MaxClients }, parseInt, checkPositive[int]),
		def("client-idle-timeout", "close clients idle this long; 0 never does", func(c *Config) *time.Duration { return &c.ClientIdleTimeout }, parseDuration, checkNonNegative[time.Duration]),
		def("proto-max-bulk-len", "largest bulk string a client may send (bytes, or 512mb, 1gb)", func(c *Config) *int64 { return &c.ProtoMaxBulkLen }, parseSize, checkAtLeast(int64(1<<20), "1mb")),
		def("drain-timeout", "how long shutdown waits for in-flight requests", func(c *Config) *time.Duration { return &c.DrainTimeout }, parseDuration, checkPositive[time.Duration]),
		def("lua-pool-size", "Lua states kept ready for scripts; 0 means twice the CPUs", func(c *Config) *int { return &c.LuaPoolSize }, parseInt, checkNonNegative[int]),
		def("lua-memory-limit", "memory budget of one script (bytes, or 256mb); 0 means none", func(c *Config) *int64 { return &c.LuaMemoryLimit }, parseSize, checkNonNegative[int64]),
		def("lua-time-limit", "end scripts running longer with an error; 0 never does, as Redis", func(c *Config) *time.Duration { return &c.LuaTimeLimit }, parseDuration, checkNonNegative[time.Duration]),
		def("script-cache-size", "scripts added by EVAL kept for EVALSHA (SCRIPT LOAD-ed ones are all kept)", func(c *Config) *int { return &c.ScriptCacheSize }, parseInt, checkPositive[int]),
		def("registry-db", "upstream database of the shared script and library registry; -1 keeps them in-process", func(c *Config) *int { return &c.RegistryDB }, parseInt, checkRegistryDB),
		def("functions-dir", "directory of *.lua function libraries loaded at start and on SIGHUP", func(c *Config) *string { return &c.FunctionsDir }, parseString, checkDir),
		def("import-functions-from-upstream", "at start, copy the upstream's own libraries (FUNCTION DUMP) into luaproxy", func(c *Config) *bool { return &c.ImportFunctionsFromUpstream }, parseBool, nil),
		def("script-upstream-conns", "shared upstream connections that pipeline scripts' redis.call traffic; 0 uses each client's own", func(c *Config) *int { return &c.ScriptUpstreamConns }, parseInt, checkNonNegative[int]),
		def("lock-shards", "shards of the lock manager that makes scripts atomic (keys map to them as to cluster slots)", func(c *Config) *int { return &c.LockShards }, parseInt, checkPositive[int]),
		def("busy-reply-threshold", "after this, commands waiting for a running script's keys get -BUSY (Redis's name)", func(c *Config) *time.Duration { return &c.BusyReplyThreshold }, parseDuration, checkPositive[time.Duration]),
		def("global-lock-scripts", "comma-separated script SHAs and function names that lock the whole keyspace up front", func(c *Config) *[]string { return &c.GlobalLockScripts }, parseList, nil),
		def("slow-script-threshold", "log scripts and function calls slower than this; 0 logs none", func(c *Config) *time.Duration { return &c.SlowScriptThreshold }, parseDuration, checkNonNegative[time.Duration]),
		def("lease-key", "active/standby mode: only the luaproxy holding this upstream key serves; empty turns it off", func(c *Config) *string { return &c.LeaseKey }, parseString, nil),
		def("lease-ttl", "lifetime of the active/standby lease; the holder renews it every third of that", func(c *Config) *time.Duration { return &c.LeaseTTL }, parseDuration, checkAtLeastDuration(time.Second)),
	}
}

// def builds a setting row from typed pieces.
func def[T any](name, usage string, field func(*Config) *T, parse func(string) (T, error), check func(T) error) setting {
	s := setting{
		name:  name,
		usage: usage,
		set: func(c *Config, raw string) error {
			v, err := parse(raw)
			if err != nil {
				return err
			}
			*field(c) = v
			return nil
		},
		get: func(c *Config) string {
			if list, ok := any(*field(c)).([]string); ok {
				return strings.Join(list, ",")
			}
			return fmt.Sprint(*field(c))
		},
	}
	if check != nil {
		s.check = func(c *Config) error { return check(*field(c)) }
	}
	_, s.isBool = any(new(T)).(*bool)
	_, s.isList = any(new(T)).(*[]string)
	return s
}

// EnvName is the environment variable of a setting: LUAPROXY_ADMIN_LISTEN
// for admin-listen.
func EnvName(name string) string {
	return "LUAPROXY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// settingError is the one-line error of a bad setting.
func settingError(name, source string, err error) error {
	return fmt.Errorf("invalid setting %s (from %s): %w", name, source, err)
}

// Load builds the configuration from, in increasing precedence: the
// defaults, the YAML file named by --config or LUAPROXY_CONFIG, the
// LUAPROXY_* environment variables (as getenv reports them; an empty value
// counts as unset) and the command-line flags in args (without the program
// name). It reports unknown flags, unknown YAML keys and values that do not
// parse; Validate checks the values themselves. For -h and --help it
// returns an error that wraps flag.ErrHelp; Usage prints the help.
func Load(args []string, getenv func(string) string) (Config, error) {
	table := settings()
	cfg := Default()
	org := origins{}
	cfg.origins = &org

	// Flags first, recorded raw: --config decides which file to read,
	// and flags are applied last.
	fs := flag.NewFlagSet("luaproxy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	raw := map[string]string{}
	configFile := fs.String("config", "", "")
	for _, s := range table {
		fs.Var(&recorder{raw: raw, name: s.name, isBool: s.isBool}, s.name, s.usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("command line: %w", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("command line: unexpected argument %q (settings are --name value)", fs.Arg(0))
	}

	path, pathSource := *configFile, "--config"
	if path == "" {
		path, pathSource = getenv("LUAPROXY_CONFIG"), "LUAPROXY_CONFIG"
	}
	if path != "" {
		if err := loadFile(&cfg, table, path, pathSource); err != nil {
			return Config{}, err
		}
	}
	for _, s := range table {
		env := EnvName(s.name)
		if v := getenv(env); v != "" {
			if err := s.set(&cfg, v); err != nil {
				return Config{}, settingError(s.name, env, err)
			}
			org[s.name] = env
		}
	}
	for _, s := range table {
		if v, ok := raw[s.name]; ok {
			src := "--" + s.name
			if err := s.set(&cfg, v); err != nil {
				return Config{}, settingError(s.name, src, err)
			}
			org[s.name] = src
		}
	}
	return cfg, nil
}

// recorder is a flag.Value that only remembers the raw text, so that flags
// can be applied after the file and the environment.
type recorder struct {
	raw    map[string]string
	name   string
	isBool bool
	isList bool // a YAML sequence is accepted as well as a comma-separated string
}

func (r *recorder) String() string     { return "" }
func (r *recorder) Set(v string) error { r.raw[r.name] = v; return nil }
func (r *recorder) IsBoolFlag() bool   { return r.isBool }

// loadFile applies a YAML file: a mapping of setting names to scalars.
func loadFile(cfg *Config, table []setting, path, pathSource string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file (from %s): %w", pathSource, err)
	}
	src := "config file " + path
	var doc map[string]yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// One line: yaml lists each problem on its own line.
			return fmt.Errorf("%s: %s", src, strings.Join(te.Errors, "; "))
		}
		return fmt.Errorf("%s: %w", src, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: more than one YAML document", src)
	}
	byName := map[string]setting{}
	for _, s := range table {
		byName[s.name] = s
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := byName[k]
		if !ok {
			return fmt.Errorf("%s: unknown setting %q", src, k)
		}
		node := doc[k]
		if node.Kind == yaml.SequenceNode && s.isList {
			node = joinSequence(node)
		}
		if node.Kind != yaml.ScalarNode {
			return settingError(k, src, fmt.Errorf("line %d: not a single value", node.Line))
		}
		v := node.Value
		if node.Tag == "!!null" {
			v = ""
		}
		if err := s.set(cfg, v); err != nil {
			return settingError(k, src, err)
		}
		(*cfg.origins)[k] = src
	}
	return nil
}

// joinSequence turns a YAML sequence of scalars into one comma-separated
// scalar; anything else nested is left for the caller to refuse.
func joinSequence(n yaml.Node) yaml.Node {
	items := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return n
		}
		items = append(items, c.Value)
	}
	return yaml.Node{Kind: yaml.ScalarNode, Value: strings.Join(items, ","), Line: n.Line}
}

// Validate checks every setting and returns the first bad one as a single
// line naming the setting and where its value came from.
func (c Config) Validate() error {
	for _, s := range settings() {
		if s.check == nil {
			continue
		}
		if err := s.check(&c); err != nil {
			return settingError(s.name, c.Source(s.name), err)
		}
	}
	if c.UpstreamTLSCAFile != "" || c.UpstreamTLSInsecure {
		up, _ := ParseUpstream(c.Upstream) // checked above
		if !up.TLS {
			name := "upstream-tls-ca-file"
			if c.UpstreamTLSCAFile == "" {
				name = "upstream-tls-insecure"
			}
			return settingError(name, c.Source(name), errors.New("is set but upstream is not rediss://"))
		}
	}
	return nil
}

// Usage writes the help text: every flag with its environment variable and
// default.
func Usage(w io.Writer) {
	def := Default()
	fmt.Fprintf(w, "Usage: luaproxy [--name value ...]\n\n")
	fmt.Fprintf(w, "Settings come from, lowest to highest precedence: defaults, the YAML file\n")
	fmt.Fprintf(w, "named by --config or LUAPROXY_CONFIG, LUAPROXY_* environment variables, flags.\n\n")
	fmt.Fprintf(w, "  --config FILE\n\tYAML file of settings (env LUAPROXY_CONFIG)\n")
	fmt.Fprintf(w, "  --version\n\tprint the version and exit\n")
	for _, s := range settings() {
		fmt.Fprintf(w, "  --%s\n\t%s (env %s, default %q)\n", s.name, s.usage, EnvName(s.name), s.get(&def))
	}
}

func parseString(s string) (string, error) { return s, nil }

// parseList reads a comma-separated list; blanks around items are dropped.
func parseList(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out, nil
}

func parseBool(s string) (bool, error) {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", s)
	}
	return v, nil
}

func parseInt(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return v, nil
}

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		if s == "0" {
			return 0, nil
		}
		return 0, fmt.Errorf("%q is not a duration such as 5s or 250ms", s)
	}
	return v, nil
}

// parseSize reads a byte count with Redis's memory units: 1k = 1000,
// 1kb = 1024, likewise m/mb and g/gb, case-insensitive.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is not a size such as 1048576, 512mb or 1gb", s)
	}
	return n * mult, nil
}

func checkAddr(emptyOK bool) func(string) error {
	return func(s string) error {
		if s == "" {
			if emptyOK {
				return nil
			}
			return errors.New("is empty")
		}
		_, port, err := net.SplitHostPort(s)
		if err != nil {
			return fmt.Errorf("%q is not host:port", s)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("%q: port %q is not between 0 and 65535", s, port)
		}
		return nil
	}
}

func checkUpstream(s string) error {
	_, err := ParseUpstream(s)
	return err
}

// checkDir requires an existing directory, if any is given.
func checkDir(path string) error {
	if path == "" {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", path)
	}
	return nil
}

// checkCAFile requires a readable file with at least one PEM certificate.
func checkCAFile(path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("%s contains no PEM certificate", path)
	}
	return nil
}

func checkOneOf(choices ...string) func(string) error {
	return func(s string) error {
		for _, c := range choices {
			if s == c {
				return nil
			}
		}
		last := len(choices) - 1
		return fmt.Errorf("%q is not %s or %s", s, strings.Join(choices[:last], ", "), choices[last])
	}
}

func checkPositive[T int | int64 | time.Duration](v T) error {
	if v <= 0 {
		return fmt.Errorf("%v is not positive", v)
	}
	return nil
}

func checkNonNegative[T int | int64 | time.Duration](v T) error {
	if v < 0 {
		return fmt.Errorf("%v is negative", v)
	}
	return nil
}

func checkAtLeastDuration(min time.Duration) func(time.Duration) error {
	return func(v time.Duration) error {
		if v < min {
			return fmt.Errorf("%s is below the minimum %s", v, min)
		}
		return nil
	}
}

func checkAtLeast(min int64, shown string) func(int64) error {
	return func(v int64) error {
		if v < min {
			return fmt.Errorf("%d is below the minimum %s (%d)", v, shown, min)
		}
		return nil
	}
}

// checkRegistryDB accepts a database number or -1 (no registry).
func checkRegistryDB(v int) error {
	if v < -1 {
		return errors.New("must be a database number, or -1 for none")
	}
	return nil
}
