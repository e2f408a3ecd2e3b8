package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/cmdinfo"
)

// loadCommands returns the command table scripts and locks use: the
// upstream's own (COMMAND, so module commands and the upstream's exact
// flags and key specs count) merged over Redis 7.0.15's, which keeps what
// the upstream hides or renamed away (EVAL, FCALL, SCRIPT, FUNCTION). Any
// failure to fetch or parse it is logged and leaves the built-in table: the
// proxy still works, only module commands stay unknown.
func loadCommands(ctx context.Context, cfg config.Config, log *zap.Logger) *cmdinfo.Table {
	builtin := cmdinfo.Builtin()
	upstream, err := fetchCommands(ctx, cfg)
	if err != nil {
		log.Warn("cannot read the upstream's command table (COMMAND); using Redis 7.0.15's", zap.Error(err))
		return builtin
	}
	log.Info("command table loaded from the upstream", zap.Int("commands", upstream.Len()))
	return builtin.Merge(upstream)
}

// fetchCommands sends COMMAND to the upstream on a connection of its own,
// dialled and authenticated as the sessions' are, and parses the reply.
func fetchCommands(ctx context.Context, cfg config.Config) (*cmdinfo.Table, error) {
	up, err := config.ParseUpstream(cfg.Upstream)
	if err != nil {
		return nil, err
	}
	tlsConf, err := upstreamTLS(cfg, up)
	if err != nil {
		return nil, err
	}
	if cfg.UpstreamDialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*cfg.UpstreamDialTimeout)
		defer cancel()
	}
	rdb := redis.NewClient(&redis.Options{
		Addr:            up.Addr,
		Username:        up.Username,
		Password:        up.Password,
		TLSConfig:       tlsConf,
		DB:              up.DB,
		Protocol:        2,
		DisableIdentity: true,
		ClientName:      "luaproxy-commands",
		DialTimeout:     cfg.UpstreamDialTimeout,
		PoolSize:        1,
		MaxRetries:      -1,
	})
	defer rdb.Close()
	reply, err := rdb.DoRaw(ctx, "COMMAND").Result()
	if err != nil {
		return nil, fmt.Errorf("upstream COMMAND: %w", err)
	}
	return cmdinfo.Parse(reply)
}

// upstreamTLS is the TLS configuration sessions reach a rediss:// upstream
// with (nil for plain TCP), built from the same settings.
func upstreamTLS(cfg config.Config, up config.Upstream) (*tls.Config, error) {
	if !up.TLS {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(up.Addr)
	if err != nil {
		return nil, fmt.Errorf("upstream address %q: %w", up.Addr, err)
	}
	conf := &tls.Config{ServerName: host, InsecureSkipVerify: cfg.UpstreamTLSInsecure, MinVersion: tls.VersionTLS12}
	if cfg.UpstreamTLSCAFile != "" {
		pem, err := os.ReadFile(cfg.UpstreamTLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("upstream TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("upstream TLS CA file %s: no certificates", cfg.UpstreamTLSCAFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}
