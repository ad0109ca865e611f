package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/trent-kms/trent/internal/server"
)

var version = "dev"

// serverCmd runs `trent server`. Flags override the config file.
func serverCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("trent server", flag.ContinueOnError)
	configFile := fs.String("config", "", "YAML config file")
	listen := fs.String("listen", "", "listen address (default 127.0.0.1:8400)")
	adminListen := fs.String("admin-listen", "", "admin listener for /metrics and pprof, or off (default "+server.DefaultAdminListen+")")
	dataDir := fs.String("data-dir", "", "data directory (default ./trent-data)")
	auditDir := fs.String("audit-dir", "", "audit directory (default <data-dir>/audit; a --dev server writes no audit file)")
	auditStdout := fs.Bool("audit-stdout", false, "copy every audit record to standard output")
	auditDisabled := fs.Bool("audit-disabled", false, "write no audit record at all: for benchmarking and testing only")
	tlsCert := fs.String("tls-cert", "", "TLS certificate chain (PEM)")
	tlsKey := fs.String("tls-key", "", "TLS private key (PEM)")
	var insecure countFlag
	fs.Var(&insecure, "allow-insecure-listen", "allow plain HTTP on a non-loopback address (with --dev: give it twice to listen on one at all)")
	dev := fs.Bool("dev", false, "run a throwaway in-memory server for tests, with well-known credentials: NOT FOR PRODUCTION")
	var seeds listFlag
	fs.Var(&seeds, "seed", "apply this seed file at start (repeatable; see docs/seed.md)")
	credsFile := fs.String("root-credentials-file", "", "write the root access key generated at first start to this file (mode 0600) instead of printing it")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default info)")
	dbURL := fs.String("database-url", "", "PostgreSQL URL, e.g. postgres://trent@db:5432/trent?search_path=trent (default: $TRENT_DATABASE_URL, then database_url, then the embedded store)")
	dbWait := fs.Duration("database-wait", 0, "give up after waiting this long for an unreachable PostgreSQL database (default: wait until it comes)")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	cfg := &server.Config{}
	if *configFile != "" {
		var err error
		if cfg, err = server.LoadConfig(*configFile); err != nil {
			fmt.Fprintln(os.Stderr, "trent:", err)
			return 1
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Listen, *listen)
	set(&cfg.AdminListen, *adminListen)
	if cfg.AdminListen == "" { // neither the flag nor the config file gave one
		cfg.AdminListen = server.DefaultAdminListen
	}
	set(&cfg.DataDir, *dataDir)
	set(&cfg.AuditDir, *auditDir)
	if *auditStdout {
		cfg.AuditStdout = true
	}
	if *auditDisabled {
		cfg.AuditDisabled = true
	}
	set(&cfg.TLSCert, *tlsCert)
	set(&cfg.TLSKey, *tlsKey)
	set(&cfg.RootCredentialsFile, *credsFile)
	set(&cfg.LogLevel, *logLevel)
	// The database URL often holds a password: the environment keeps it
	// off the command line, where other users can read it (ps).
	set(&cfg.DatabaseURL, os.Getenv("TRENT_DATABASE_URL"))
	set(&cfg.DatabaseURL, *dbURL)
	if insecure > 0 {
		cfg.AllowInsecureListen = true
		cfg.InsecureListenAcks = int(insecure)
	}
	cfg.SeedFiles = append(cfg.SeedFiles, seeds...)
	cfg.Dev = *dev
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "database-wait" {
			cfg.DatabaseWait = *dbWait
		}
	})
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "trent: invalid configuration:\n"+err.Error())
		return 1
	}

	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// The collector's floor is the process's, so it is set here rather
	// than by server.New (tests run many servers in one process).
	defer server.StartGCFloor(*cfg.GCMinHeap, log)()
	srv, err := server.New(ctx, cfg, log, os.Stderr)
	if err != nil && ctx.Err() != nil {
		log.Info("stopped before the node was ready", "err", err)
		return 0
	}
	if err != nil && strings.Contains(err.Error(), "\n") {
		// A list of problems (a seed file's) reads better as lines than
		// as one quoted log value, like the configuration's.
		fmt.Fprintln(os.Stderr, "trent: cannot start:\n"+err.Error())
		return 1
	}
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	stopReload := reloadOnHangup(func() {
		if errors.Is(srv.ReloadTLS(), server.ErrNoTLS) && cfg.XKS == nil {
			log.Info("SIGHUP ignored: TLS is not configured")
		}
		// The XKS proxy's key stores (credentials, keys) and certificate
		// come from the config file, read again (docs/xks.md).
		if cfg.XKS != nil && *configFile != "" {
			if fresh, err := server.LoadConfig(*configFile); err != nil {
				log.Error("XKS key stores not reloaded: cannot read the config file", "err", err)
			} else {
				fresh.Defaults()
				srv.ReloadXKS(fresh) // logs its own outcome
			}
		}
	})
	defer stopReload()
	if err := srv.Run(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

// reloadOnHangup calls reload on every SIGHUP until the returned function
// is called, so operators can rotate the TLS certificate without a
// restart. Server.ReloadTLS logs its own outcome.
func reloadOnHangup(reload func()) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				reload()
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

// countFlag is a boolean flag that counts how often it is given:
// --allow-insecure-listen --allow-insecure-listen is 2. Like a flag.Bool it
// takes no value (IsBoolFlag), but --flag=false resets the count.
type countFlag int

func (c *countFlag) String() string { return strconv.Itoa(int(*c)) }

func (c *countFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	if b {
		*c++
	} else {
		*c = 0
	}
	return nil
}

func (c *countFlag) IsBoolFlag() bool { return true }

// listFlag collects every value of a repeated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
