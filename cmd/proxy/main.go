// Command luaproxy is a Redis proxy that runs every Lua script and Redis
// Function itself and passes all other commands to an upstream Redis.
//
// Settings come from flags, LUAPROXY_* environment variables and a YAML
// file; run `luaproxy --help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/luavm"
	"github.com/luaproxy/luaproxy/proxy"
	"github.com/luaproxy/luaproxy/registry"
)

// Set at link time: go build -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = ""
	commit  = ""
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the proxy could not start or failed while serving
	exitUsage = 2 // bad command line or settings
)

func main() { os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)) }

// run is main without process globals: it returns the exit code and stops
// on SIGINT or SIGTERM.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	return runUntil(args, getenv, stdout, stderr, sigs, nil)
}

// listening reports where a started proxy listens; tests use it to find
// ports chosen by the kernel.
type listening struct {
	Listen net.Addr
	Admin  net.Addr // nil without an admin server
}

// runUntil runs the proxy until a value arrives on stop. If started is not
// nil it receives the bound addresses once the proxy accepts connections.
func runUntil(args []string, getenv func(string) string, stdout, stderr io.Writer, stop <-chan os.Signal, started chan<- listening) int {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--version" || a == "-version" {
			fmt.Fprintln(stdout, versionLine())
			return exitOK
		}
	}
	if len(args) > 0 {
		switch args[0] {
		case "check-config":
			return checkConfig(args[1:], getenv, stdout, stderr)
		case "lint-functions":
			return lintFunctions(args[1:], stdout, stderr)
		case "healthcheck":
			return healthcheck(args[1:], getenv, stdout, stderr)
		}
	}
	cfg, err := loadConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		config.Usage(stdout)
		fmt.Fprint(stdout, subcommandsUsage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "luaproxy: %v\n", err)
		return exitUsage
	}
	log := newLogger(cfg, stderr)
	defer func() { _ = log.Sync() }()
	if err := serve(cfg, log, stop, started); err != nil {
		log.Error("luaproxy failed", zap.Error(err))
		return exitError
	}
	return exitOK
}

// loadConfig reads the settings from args and getenv and validates them:
// everything the server checks before it opens anything.
func loadConfig(args []string, getenv func(string) string) (config.Config, error) {
	cfg, err := config.Load(args, getenv)
	if err != nil {
		return config.Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, err
	}
	return cfg, nil
}

// serve runs the proxy and the admin server until stop delivers, then
// drains both within cfg.DrainTimeout. In active/standby mode (cfg.LeaseKey)
// the client listener is open only while this process holds the lease,
// and started reports no client address.
func serve(cfg config.Config, log *zap.Logger, stop <-chan os.Signal, started chan<- listening) error {
	up, _ := config.ParseUpstream(cfg.Upstream) // validated
	srv, err := proxy.New(cfg, log)
	if err != nil {
		return fmt.Errorf("create proxy: %w", err)
	}
	closeScripting, err := newScripting(cfg, up, srv, log)
	if err != nil {
		return err
	}
	defer closeScripting()

	var at listening
	var ln net.Listener
	var standby *activeStandby
	adminHandler := srv.AdminHandler()
	if cfg.LeaseKey != "" {
		if standby, err = newActiveStandby(cfg, up, srv, log); err != nil {
			return err
		}
		adminHandler = standby.adminHandler(adminHandler)
	} else {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		at.Listen = ln.Addr()
	}

	var admin *http.Server
	var adminLn net.Listener
	if cfg.AdminListen != "" {
		adminLn, err = net.Listen("tcp", cfg.AdminListen)
		if err != nil {
			if ln != nil {
				ln.Close()
			}
			if standby != nil {
				_ = standby.release(cfg.LeaseTTL)
			}
			return fmt.Errorf("admin listen: %w", err)
		}
		at.Admin = adminLn.Addr()
		admin = newAdminServer(adminHandler, cfg.Pprof, log)
	}

	errc := make(chan error, 3)
	if admin != nil {
		go func() { errc <- admin.Serve(adminLn) }()
	}
	listenAddr := cfg.Listen
	if ln != nil {
		listenAddr = ln.Addr().String()
		go func() { errc <- srv.Serve(ln) }()
	} else {
		standby.start(errc)
	}
	adminAddr := ""
	if at.Admin != nil {
		adminAddr = at.Admin.String()
	}
	log.Info("luaproxy started",
		zap.String("version", versionString()),
		zap.String("listen", listenAddr),
		zap.String("upstream", up.String()),
		zap.String("admin", adminAddr),
		zap.Bool("pprof", cfg.Pprof && admin != nil),
		zap.String("lease_key", cfg.LeaseKey))
	if started != nil {
		started <- at
	}

	var serveErr error
	select {
	case sig := <-stop:
		log.Info("luaproxy stopping", zap.Stringer("signal", sig), zap.Duration("drain_timeout", cfg.DrainTimeout))
	case serveErr = <-errc:
		// A server stopped on its own: shut the other one down too.
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	// A second signal cuts the drain short.
	go func() {
		select {
		case sig := <-stop:
			log.Warn("luaproxy stopping now", zap.Stringer("signal", sig))
			cancel()
		case <-ctx.Done():
		}
	}()
	if standby != nil {
		// Keep the lease while draining (losing it closes what is left),
		// then release it so that a standby takes over at once.
		standby.stop()
	}
	shutdownErr := srv.Shutdown(ctx)
	if standby != nil {
		if err := standby.release(cfg.LeaseTTL); err != nil {
			log.Warn("cannot release the lease; a standby takes over when it expires", zap.Error(err))
		}
	}
	if admin != nil {
		// The admin server outlives the proxy's drain so that /readyz
		// reports the shutdown while it is under way.
		if err := admin.Shutdown(ctx); err != nil && shutdownErr == nil {
			shutdownErr = fmt.Errorf("admin shutdown: %w", err)
		}
	}
	if serveErr != nil && !errors.Is(serveErr, proxy.ErrServerClosed) && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	log.Info("luaproxy stopped")
	return nil
}

// newScripting creates the Lua VM from cfg and installs on srv the
// handler that runs scripts and functions with it, sharing SCRIPT LOAD-ed
// scripts and libraries through the registry in the upstream unless
// cfg.RegistryDB is -1. Scripts see the upstream's version in
// redis.REDIS_VERSION, or luavm's default if the upstream cannot tell now.
// The returned function releases it all after the server has stopped.
func newScripting(cfg config.Config, up config.Upstream, srv *proxy.Server, log *zap.Logger) (func(), error) {
	vmCfg := luavm.Config{
		PoolSize:    cfg.LuaPoolSize,
		MemoryLimit: cfg.LuaMemoryLimit,
		TimeLimit:   cfg.LuaTimeLimit,
		Logger:      log.Named("lua"),
		// One table for what scripts may call and for the keys the
		// lock manager locks.
		Commands: loadCommands(context.Background(), cfg, log),
	}
	srv.SetCommands(vmCfg.Commands)
	if vmCfg.MemoryLimit == 0 {
		vmCfg.MemoryLimit = -1 // luavm reads 0 as its default, -1 as none
	}
	if v, err := srv.UpstreamVersion(); err != nil {
		log.Warn("cannot read the upstream's version; scripts see the default",
			zap.String("version", luavm.DefaultRedisVersion), zap.Error(err))
	} else {
		vmCfg.RedisVersion = v
	}
	vm, err := luavm.New(vmCfg)
	if err != nil && vmCfg.RedisVersion != "" {
		// A version luavm cannot encode (not major.minor.patch, or a
		// part above 255): fall back to the default.
		log.Warn("upstream version unusable for scripts; they see the default",
			zap.String("upstream_version", vmCfg.RedisVersion), zap.Error(err))
		vmCfg.RedisVersion = ""
		vm, err = luavm.New(vmCfg)
	}
	if err != nil {
		return nil, fmt.Errorf("create Lua VM: %w", err)
	}
	if err := proxy.RegisterVMMetrics(srv.Registry(), vm); err != nil {
		vm.Close()
		return nil, fmt.Errorf("register Lua pool metrics: %w", err)
	}

	sopts := proxy.ScriptingOptions{CacheSize: cfg.ScriptCacheSize}
	var fopts proxy.FunctionsOptions
	var store *registry.Store
	if cfg.RegistryDB >= 0 {
		store, err = openRegistry(cfg, up, srv, log)
		if err != nil {
			// Serve anyway: scripts and libraries then live in this
			// process only, as they would with registry-db -1.
			log.Error("cannot open the registry; SCRIPT LOAD and FUNCTION LOAD stay in this process", zap.Error(err))
		} else {
			sopts.Store, fopts.Store = store, store
			registerRegistryVersion(srv.Registry(), store, log)
		}
	}
	fns, err := proxy.NewFunctions(vm, fopts, log.Named("functions"), srv.Registry())
	if err != nil {
		vm.Close()
		if store != nil {
			_ = store.Close()
		}
		return nil, fmt.Errorf("create functions handler: %w", err)
	}
	sopts.Functions = fns
	srv.SetHandler(proxy.NewScripting(vm, sopts, log.Named("scripting"), srv.Registry()))
	stopFunctions := loadFunctions(cfg, srv, fns, log.Named("functions"))
	return func() {
		stopFunctions()
		fns.Close()
		if store != nil {
			_ = store.Close()
		}
		vm.Close()
	}, nil
}

// loadFunctions loads the libraries of cfg.FunctionsDir, then imports
// the upstream's own libraries if cfg.ImportFunctionsFromUpstream (a
// library of the directory wins over one of the same name). It reloads
// the directory on every SIGHUP until the returned function is called.
func loadFunctions(cfg config.Config, srv *proxy.Server, fns *proxy.Functions, log *zap.Logger) (stop func()) {
	ctx := context.Background()
	loadDir := func() {
		if _, _, err := fns.LoadDir(ctx, cfg.FunctionsDir); err != nil {
			log.Error("cannot load the functions directory", zap.Error(err))
		}
	}
	if cfg.FunctionsDir != "" {
		loadDir()
	}
	if cfg.ImportFunctionsFromUpstream {
		if err := fns.ImportUpstream(ctx, srv); err != nil {
			log.Error("cannot import the upstream's function libraries", zap.Error(err))
		}
	}
	if cfg.FunctionsDir == "" {
		return func() {}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: reloading the functions directory", zap.String("dir", cfg.FunctionsDir))
				loadDir()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// openRegistry connects to the registry in the upstream as the sessions
// connect to it.
func openRegistry(cfg config.Config, up config.Upstream, srv *proxy.Server, log *zap.Logger) (*registry.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*cfg.UpstreamDialTimeout)
	defer cancel()
	rlog := log.Named("registry")
	opt := upstreamOptions(cfg, up, srv, cfg.RegistryDB)
	opt.OnError = func(err error) { rlog.Warn("registry", zap.Error(err)) }
	return registry.Open(ctx, opt)
}

// upstreamOptions are the registry connection settings for database db of
// the upstream, reached as the sessions reach it.
func upstreamOptions(cfg config.Config, up config.Upstream, srv *proxy.Server, db int) registry.Options {
	return registry.Options{
		Addr:        up.Addr,
		Username:    up.Username,
		Password:    up.Password,
		TLSConfig:   srv.UpstreamTLSConfig(),
		DB:          db,
		DialTimeout: cfg.UpstreamDialTimeout,
	}
}

// newAdminServer serves the proxy's admin endpoints and, if asked,
// net/http/pprof, with timeouts so that slow clients cannot pin it.
func newAdminServer(h http.Handler, withPprof bool, log *zap.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	write := 30 * time.Second
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		// CPU profiles and traces stream for ?seconds=N.
		write = 5 * time.Minute
	}
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      write,
		IdleTimeout:       time.Minute,
		ErrorLog:          zap.NewStdLog(log.Named("admin")),
	}
}

// newLogger builds the process logger; Validate has checked level and format.
func newLogger(cfg config.Config, w io.Writer) *zap.Logger {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = zapcore.InfoLevel
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	if cfg.LogFormat == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	core := zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(w))))
}

// versionString is the version set at link time, else the module version
// from the build information.
func versionString() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

// commitString is the commit set at link time, else the VCS revision
// stamped by go build, else "unknown".
func commitString() string {
	if commit != "" {
		return commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		rev, modified := "", false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			if modified {
				rev += "-dirty"
			}
			return rev
		}
	}
	return "unknown"
}

func versionLine() string {
	return fmt.Sprintf("luaproxy %s (commit %s, %s)", versionString(), commitString(), runtime.Version())
}
