// Package server assembles a Trent node from its configuration: the data
// directory, root key, store, KMS service and HTTP listener, and runs it
// until its context ends.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/trent-kms/trent/internal/api"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/store/postgres"
)

// Files in the data directory.
const (
	RootKeyFile  = "root.key"
	DatabaseFile = "trent.db"
)

// Server is a running Trent node.
type Server struct {
	cfg     *Config
	log     *slog.Logger
	db      store.Store
	svc     *kms.Service
	http    *http.Server
	ln      net.Listener
	scheme  string
	created *kms.Credentials
}

// New opens the data directory and store and binds the listener; it does
// not serve yet. Credentials generated at first start are written to out
// once, and never again.
func New(ctx context.Context, cfg *Config, log *slog.Logger, out io.Writer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	root, err := keystore.OpenFileRoot(filepath.Join(cfg.DataDir, RootKeyFile))
	if err != nil {
		return nil, err
	}
	var db store.Store
	if cfg.DatabaseURL != "" {
		db, err = postgres.Open(ctx, cfg.DatabaseURL)
	} else {
		db, err = embedded.Open(filepath.Join(cfg.DataDir, DatabaseFile))
	}
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, db: db, scheme: "http"}
	fail := func(err error) (*Server, error) {
		db.Close()
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s.svc, err = kms.New(kms.Config{Store: db, Root: root, Rand: rand.Reader, Now: now, Logger: log, Regions: cfg.Regions, CacheTTL: cfg.CacheTTL,
		KeyCacheSize: cfg.KeyCacheSize, Quotas: cfg.Quotas.KMS()})
	if err != nil {
		return fail(err)
	}
	s.created, err = s.svc.Bootstrap(ctx, cfg.AccountID, os.Getenv("TRENT_ROOT_ACCESS_KEY_ID"), os.Getenv("TRENT_ROOT_SECRET_ACCESS_KEY"))
	if err != nil {
		return fail(fmt.Errorf("bootstrap account %s: %w", cfg.AccountID, err))
	}
	if s.created != nil && os.Getenv("TRENT_ROOT_ACCESS_KEY_ID") == "" {
		fmt.Fprintf(out, "Created the root access key of account %s. The secret is shown only this once:\n"+
			"  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n", s.created.AccountID, s.created.AccessKeyID, s.created.SecretAccessKey)
	}

	handler := api.NewHandler(api.Config{Service: s.svc, Logger: log})
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fail(fmt.Errorf("load TLS certificate: %w", err))
		}
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.scheme = "https"
	}
	s.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(err)
	}
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL returns the endpoint URL clients use.
func (s *Server) URL() string { return s.scheme + "://" + s.ln.Addr().String() }

// Service returns the node's KMS service.
func (s *Server) Service() *kms.Service { return s.svc }

// Run serves until ctx is done, then shuts down gracefully: it stops
// accepting connections, lets in-flight requests finish (up to 30s) and
// closes the store.
func (s *Server) Run(ctx context.Context) error {
	delCtx, stopDeleter := context.WithCancel(context.Background())
	deleterDone := make(chan struct{})
	go func() {
		defer close(deleterDone)
		s.svc.RunDeleter(delCtx, s.cfg.DeletionInterval)
	}()

	errc := make(chan error, 1)
	go func() {
		var err error
		if s.http.TLSConfig != nil {
			err = s.http.ServeTLS(s.ln, "", "")
		} else {
			err = s.http.Serve(s.ln)
		}
		errc <- err
	}()
	s.log.Info("serving the KMS API", "url", s.URL(), "data_dir", s.cfg.DataDir, "account_id", s.cfg.AccountID)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shutErr := s.http.Shutdown(shutCtx)
	if shutErr != nil {
		s.http.Close() // requests still running after the grace period are cut off
	}
	stopDeleter()
	<-deleterDone
	closeErr := s.db.Close()
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, shutErr, closeErr)
}
