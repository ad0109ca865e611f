// Package server assembles a Trent node from its configuration: the data
// directory, root key, store, KMS service and HTTP listener, and runs it
// until its context ends.
//
// # Health and readiness
//
// A node answers on its listener from the start: GET /healthz is 200 "ok"
// while the process runs; GET /readyz is 200 "ready" once the store is open
// and the KMS service built, and 503 "not ready: waiting for the database"
// before, or "not ready: sealed (run trent operator unseal)" while a
// protected root key file waits to be unlocked (see [UnsealSocket]). KMS requests that arrive before then get a retryable AWS error,
// DependencyTimeoutException (see notReady for why). Once ready, a node
// on PostgreSQL answers 503 "not ready: the database does not answer"
// while a ping of the database fails; its requests that need the
// database then fail fast with DependencyTimeoutException too, and it
// recovers by itself when the database returns.
//
// # Several nodes
//
// Nodes sharing a PostgreSQL database hear every committed change
// through LISTEN/NOTIFY and drop what they cached of it (cluster.go);
// background jobs run on one node at a time ([Server.every]). See
// docs/operations.md.
//
// # Root key and store
//
// The store records the root key's check value ([keystore.FileRoot.CheckValue])
// under the meta name [RootCheckMeta]. A node refuses to start with a root
// key that does not match it, and never makes a new root key for a store
// that already holds data.
package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trent-kms/trent/internal/api"
	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/console"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/quota"
	"github.com/trent-kms/trent/internal/seed"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/store/postgres"
	"github.com/trent-kms/trent/internal/wire"
	"github.com/trent-kms/trent/internal/xks/proxy"
)

// Files in the data directory.
const (
	RootKeyFile  = "root.key"
	DatabaseFile = "trent.db"
)

// RootCheckMeta is the store meta name under which the root key's check
// value is recorded.
const RootCheckMeta = "root_key_check_v1"

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
	certs   *certificate // nil without TLS
	seeds   []*seed.File
	seeded  seed.Result

	audit  *audit.Log                  // set before kmsAPI
	kmsAPI atomic.Pointer[api.Handler] // set when the node is ready
	served chan error                  // what serving returned, once it ends

	bg  *background // change listener and periodic jobs (cluster.go)
	raw store.Store // the store itself, under db's metrics wrapper: its optional interfaces (store.Notifier, Pinger, Locker) are not the wrapper's

	sealed  atomic.Bool  // waiting for `trent operator unseal` (seal.go)
	ctl     *http.Server // the unseal socket's server, nil without one
	ctlLn   net.Listener
	ctlPath string

	// Metrics: the registry served on the admin listener, and the KMS API's
	// request metrics (set before kmsAPI).
	reg     *prometheus.Registry
	metrics *api.Metrics
	admin   *http.Server // nil without an admin listener
	adminLn net.Listener

	peering *peering // links to peer deployments (peering.go), nil without
	// The XKS proxy listener (xks.go), nil without an xks section.
	xksProxy  *proxy.Proxy
	xksHTTP   *http.Server
	xksLn     net.Listener
	xksCerts  *certificate
	xksServed chan error
}

// New binds the listener and starts answering at once: health checks, and
// KMS requests with a retryable error until the node is ready. It then
// opens the store (waiting for PostgreSQL as [Config.DatabaseWait] says),
// checks the root key against it, builds the KMS service and returns with
// the node ready; [Server.Run] serves it until its context ends. If New
// fails it has stopped serving. Credentials generated at first start are
// written to out once, and never again.
func New(ctx context.Context, cfg *Config, log *slog.Logger, out io.Writer) (*Server, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, scheme: "http", served: make(chan error, 1), reg: newRegistry(), bg: newBackground()}
	for _, path := range cfg.SeedFiles {
		f, err := seed.Load(path)
		if err != nil {
			return nil, err
		}
		s.seeds = append(s.seeds, f)
	}
	if cfg.Dev {
		if os.Getenv("TRENT_ROOT_ACCESS_KEY_ID") != "" && os.Getenv("TRENT_ROOT_SECRET_ACCESS_KEY") == "" {
			return nil, errors.New("TRENT_ROOT_ACCESS_KEY_ID is set without TRENT_ROOT_SECRET_ACCESS_KEY; a --dev server needs both, or neither for its default credentials")
		}
	} else {
		if err := prepareDataDir(cfg.DataDir, os.Geteuid()); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.countConnections()
	if cfg.TLSCert != "" {
		var err error
		if s.http.TLSConfig, s.certs, err = newTLSConfig(cfg, log); err != nil {
			return nil, err
		}
		s.scheme = "https"
	}
	var err error
	s.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	go func() {
		if s.http.TLSConfig != nil {
			s.served <- s.http.ServeTLS(s.ln, "", "")
		} else {
			s.served <- s.http.Serve(s.ln)
		}
	}()
	s.startAdmin(s.reg)
	if err := s.open(ctx, out); err != nil {
		s.bg.stop()
		s.closeControl()
		if s.admin != nil {
			s.admin.Close()
		}
		s.http.Close()
		<-s.served
		return nil, err
	}
	if err := s.startXKS(); err != nil {
		s.bg.stop()
		s.closeControl()
		if s.admin != nil {
			s.admin.Close()
		}
		s.http.Close()
		<-s.served
		if s.audit != nil {
			s.audit.Close()
		}
		s.db.Close()
		return nil, err
	}
	if cfg.Dev {
		s.devBanner(out, time.Since(start))
	}
	return s, nil
}

// open opens the store, checks the root key against it, builds the KMS
// service, bootstraps the default account and makes the node ready.
func (s *Server) open(ctx context.Context, out io.Writer) error {
	cfg, log := s.cfg, s.log
	raw, err := s.openStore(ctx)
	if err != nil {
		return err
	}
	s.raw = raw
	db := instrumentStore(raw, s.reg)
	fail := func(err error) error {
		s.bg.stop()
		s.peering.close()
		db.Close()
		return err
	}
	root, recorded, err := s.openRoot(ctx, db)
	if err != nil {
		return fail(err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	limiter := quota.New(quota.Config{Rates: cfg.RequestQuotas, Now: cfg.QuotaClock})
	// IAM comes first: KMS asks it for identity policies and whether a
	// principal named in a key policy exists; it tells KMS which access
	// keys to forget.
	provCfgs := cfg.providerConfigs()
	for _, f := range s.seeds {
		provCfgs = append(provCfgs, f.OIDCProviders()...)
	}
	providers, err := iam.NewProviders(provCfgs)
	if err != nil {
		return fail(err)
	}
	ids, err := iam.New(iam.Config{Store: db, Root: root, Rand: rand.Reader, Now: now, Logger: slog.New(kms.LogHandler(log.Handler())),
		ManagementAccount: cfg.AccountID, CacheTTL: cfg.CacheTTL, OIDC: providers,
		Forget: func(id string) { s.svc.ForgetAccessKey(id) }})
	if err != nil {
		return fail(err)
	}
	backends, err := keyStoreBackends(cfg)
	if err != nil {
		return fail(err)
	}
	xksBackends, err := s.xksBackends(root)
	if err != nil {
		return fail(err)
	}
	backends[store.TypeExternal] = xksBackends[store.TypeExternal]
	if s.peering, err = newPeerLink(cfg, log); err != nil {
		return fail(err)
	}
	s.svc, err = kms.New(kms.Config{Store: db, Root: root, Rand: rand.Reader, Now: now, Logger: log, Regions: cfg.Regions, CacheTTL: cfg.CacheTTL,
		KeyCacheSize: cfg.KeyCacheSize, Quotas: cfg.Quotas.KMS(), Policies: iamPolicies{ids}, PrincipalExists: ids.PrincipalExists,
		Throttle: api.KeyThrottle(limiter), Peers: s.peering.peers(), KeyStoreBackends: backends})
	if err != nil {
		return fail(err)
	}
	s.peering.serve(s.svc, log, cfg.Peering)
	// Listen before anything is cached: changes other nodes commit from
	// now on reach the caches.
	s.listenChanges(raw, s.svc, ids)
	// Secrets sealed by older releases are re-sealed first, so that the
	// root key check below can open them.
	if err := s.svc.ResealAccessKeys(ctx); err != nil {
		return fail(err)
	}
	if err := s.svc.StartUsageTracking(ctx); err != nil {
		return fail(err)
	}
	if !recorded {
		if err := s.recordRoot(ctx, db, root); err != nil {
			return fail(err)
		}
	}
	creds, err := openRootCredentials(ctx, cfg, db)
	if err != nil {
		return fail(err)
	}
	defer creds.close()
	// Seeds come before the default account's bootstrap, so a root access
	// key they declare for it is there and none is generated.
	if len(s.seeds) > 0 {
		if s.seeded, err = seed.Apply(ctx, s.svc, ids, s.seeds); err != nil {
			return fail(err)
		}
		log.Info("applied seed files", "files", len(s.seeds), "accounts", s.seeded.Accounts, "keys", s.seeded.Keys, "created", s.seeded.Created)
	}
	accessKeyID, secret := s.rootAccessKey()
	s.created, err = s.svc.Bootstrap(ctx, cfg.AccountID, accessKeyID, secret)
	if err != nil {
		return fail(fmt.Errorf("bootstrap account %s: %w", cfg.AccountID, err))
	}
	if !cfg.Dev { // the dev banner shows the credentials
		if err := creds.report(s.created, out); err != nil {
			return fail(err)
		}
	}
	warnExampleCredentials(ctx, s.svc, db, cfg.AccountID, log)
	if err := s.openAudit(ctx, db, root); err != nil {
		return fail(err)
	}
	s.db = db
	if err := ids.RecordManagementAccount(ctx); err != nil {
		return fail(err)
	}
	_, shared := s.raw.(store.Notifier)
	s.reg.MustRegister(newNodeCollector(s.svc, db, limiter, shared))
	if s.audit != nil {
		s.reg.MustRegister(newAuditCollector(s.audit))
	}
	s.metrics = api.NewMetrics(s.reg)
	// Custom key stores that were CONNECTED stay connected across a
	// restart; one that cannot be reached now is retried on first use.
	if err := s.svc.ReconnectKeyStores(ctx); err != nil {
		return fail(err)
	}
	s.kmsAPI.Store(api.NewHandler(api.Config{Service: s.svc, IAM: ids, Logger: log, Audit: s.audit, Quotas: limiter, EventClock: cfg.Now, Store: db}))
	return nil
}

// Backoff between attempts to reach PostgreSQL at start: it doubles from
// the first to the largest, with up to 20% jitter so nodes started
// together do not retry in step.
const (
	firstDatabaseBackoff = 500 * time.Millisecond
	maxDatabaseBackoff   = 30 * time.Second
)

// openStore opens the embedded store, or PostgreSQL, retrying while the
// database is unreachable for up to cfg.DatabaseWait (0: until ctx ends).
// Each failed attempt is logged at warn with its number; the URL's password
// never appears.
func (s *Server) openStore(ctx context.Context) (store.Store, error) {
	if s.cfg.Dev {
		return embedded.OpenMemory()
	}
	if s.cfg.DatabaseURL == "" {
		return embedded.Open(filepath.Join(s.cfg.DataDir, DatabaseFile))
	}
	where := redactURL(s.cfg.DatabaseURL)
	waitCtx := ctx
	if s.cfg.DatabaseWait > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, s.cfg.DatabaseWait)
		defer cancel()
	}
	backoff := firstDatabaseBackoff
	for attempt := 1; ; attempt++ {
		db, err := postgres.Open(waitCtx, s.cfg.DatabaseURL)
		if err == nil {
			if attempt > 1 {
				s.log.Info("database reachable", "database", where, "attempt", attempt)
			}
			return db, nil
		}
		if waitCtx.Err() == nil && !errors.Is(err, postgres.ErrUnavailable) {
			return nil, fmt.Errorf("database %s: %s", where, s.scrub(err))
		}
		if waitCtx.Err() == nil {
			wait := backoff + time.Duration(mathrand.Int64N(int64(backoff)/5+1))
			s.log.Warn("cannot reach the database; retrying", "attempt", attempt, "retry_in", wait.Round(time.Millisecond),
				"database", where, "err", s.scrub(err))
			t := time.NewTimer(wait)
			select {
			case <-waitCtx.Done():
				t.Stop()
			case <-t.C:
			}
			backoff = min(2*backoff, maxDatabaseBackoff)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("stopped while waiting for the database %s: %w", where, ctx.Err())
		}
		if waitCtx.Err() != nil {
			return nil, fmt.Errorf("gave up waiting for the database %s after %s (database_wait) and %d attempts; last error: %s",
				where, s.cfg.DatabaseWait, attempt, s.scrub(err))
		}
	}
}

// scrub returns err's text with the database password, if any, replaced.
// The PostgreSQL driver already leaves it out; this makes sure.
func (s *Server) scrub(err error) string {
	msg := err.Error()
	if u, perr := url.Parse(s.cfg.DatabaseURL); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
		if pw := u.Query().Get("password"); pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// redactURL returns a database URL fit for logs and errors: the password,
// in the user info or a password parameter, is replaced by "xxxxx".
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable database URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// where names the root key file and the store for errors.
func (s *Server) where() (rootPath, database string) {
	if s.cfg.Dev {
		return "(in-memory root key)", "the in-memory database"
	}
	rootPath = filepath.Join(s.cfg.DataDir, RootKeyFile)
	if abs, err := filepath.Abs(rootPath); err == nil {
		rootPath = abs
	}
	if s.cfg.DatabaseURL != "" {
		return rootPath, "the PostgreSQL database " + redactURL(s.cfg.DatabaseURL)
	}
	db := filepath.Join(s.cfg.DataDir, DatabaseFile)
	if abs, err := filepath.Abs(db); err == nil {
		db = abs
	}
	return rootPath, "the database " + db
}

// openRoot loads the root key and checks it against the check value the
// store recorded; recorded reports whether there was one. It creates a
// root key only for a store that holds no data: no recorded check value
// and no account (keys and access keys belong to accounts).
func (s *Server) openRoot(ctx context.Context, db store.Store) (root *keystore.FileRoot, recorded bool, err error) {
	rootPath, database := s.where()
	check, err := db.GetMeta(ctx, RootCheckMeta)
	switch {
	case err == nil:
		recorded = true
	case !errors.Is(err, store.ErrNotFound):
		return nil, false, fmt.Errorf("read the root key check value from %s: %w", database, err)
	}
	accounts, err := db.ListAccounts(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("list accounts in %s: %w", database, err)
	}
	if s.cfg.Dev {
		// A new, empty in-memory store: a new in-memory root key, whose
		// check value is recorded like any other.
		if recorded || len(accounts) > 0 {
			return nil, false, errors.New("the in-memory database is not empty")
		}
		root, err = keystore.GenerateMemoryRoot(rand.Reader)
		return root, false, err
	}
	root, err = keystore.LoadFileRoot(filepath.Join(s.cfg.DataDir, RootKeyFile))
	if errors.Is(err, keystore.ErrProtected) {
		var want []byte
		if recorded {
			want = check
		}
		root, err = s.waitUnseal(ctx, filepath.Join(s.cfg.DataDir, RootKeyFile), want, database)
	}
	if errors.Is(err, fs.ErrNotExist) {
		if recorded || len(accounts) > 0 {
			return nil, false, fmt.Errorf("root key %s is missing, but %s already holds data sealed under a root key; "+
				"restore that root.key from backup to %s (Trent makes a new root key only for an empty database)",
				rootPath, database, rootPath)
		}
		root, err = keystore.OpenFileRoot(filepath.Join(s.cfg.DataDir, RootKeyFile))
	}
	if err != nil {
		return nil, false, err
	}
	if recorded && subtle.ConstantTimeCompare(check, root.CheckValue()) != 1 {
		return nil, false, mismatch(rootPath, database)
	}
	return root, recorded, nil
}

func mismatch(rootPath, database string) error {
	return fmt.Errorf("root key %s does not match %s, whose data is sealed under another root key; "+
		"start with the root.key that belongs to this database (restore it from backup), or point the node at the database of this root key",
		rootPath, database)
}

// recordRoot records the root key's check value in a store that has none.
// A store written by an older version may hold data without one: the root
// key must first open a sealed access key secret, so a wrong key is never
// recorded.
func (s *Server) recordRoot(ctx context.Context, db store.Store, root *keystore.FileRoot) error {
	rootPath, database := s.where()
	accounts, err := db.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("list accounts in %s: %w", database, err)
	}
	// The key is verified when it opens any sealed secret access key; it
	// is refused when there are some and it opens none. A single row that
	// does not open may have been tampered with, so one failure alone does
	// not decide.
	verified, tried := len(accounts) == 0, 0
	for _, a := range accounts {
		aks, err := db.ListAccessKeys(ctx, a.ID)
		if err != nil {
			return fmt.Errorf("list access keys in %s: %w", database, err)
		}
		for _, ak := range aks {
			tried++
			_, err = s.svc.Identity(ctx, ak.ID)
			if errors.Is(err, keystore.ErrSealed) || errors.Is(err, kms.ErrAccessKeyIntegrity) {
				continue
			}
			if err != nil {
				return fmt.Errorf("check the root key against %s: %w", database, err)
			}
			verified = true
			break
		}
		if verified {
			break
		}
	}
	if !verified && tried > 0 {
		return mismatch(rootPath, database)
	}
	if !verified {
		// Inferred safe: accounts without any access key hold nothing a
		// client could use; the check value is recorded so later starts are
		// checked.
		s.log.Warn("no sealed value to check the root key against; recording it as this database's root key", "root_key", rootPath)
	}
	// Two nodes starting together on an empty shared database with
	// different root keys: the first to record its check value wins, and
	// every other node stops with the mismatch instead of going on with
	// its own key.
	err = db.CreateMeta(ctx, RootCheckMeta, root.CheckValue())
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("record the root key check value in %s: %w", database, err)
	}
	got, err := db.GetMeta(ctx, RootCheckMeta)
	if err != nil {
		return fmt.Errorf("read the root key check value from %s: %w", database, err)
	}
	if subtle.ConstantTimeCompare(got, root.CheckValue()) != 1 {
		return mismatch(rootPath, database)
	}
	return nil
}

// serveHTTP answers /healthz and /readyz itself, serves the web console's
// static files (GET /console/...), and passes every other request to the
// KMS API once the node is ready.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, console.Prefix) {
			consoleHandler.ServeHTTP(w, r)
			return
		}
		switch r.URL.Path {
		case "/healthz":
			writeText(w, http.StatusOK, "ok\n")
			return
		case "/readyz":
			if msg := s.auditNotReady(); msg != "" {
				writeText(w, http.StatusServiceUnavailable, msg)
			} else if s.kmsAPI.Load() != nil && !s.databaseReachable(r.Context()) {
				writeText(w, http.StatusServiceUnavailable, "not ready: the database does not answer\n")
			} else if s.kmsAPI.Load() != nil {
				writeText(w, http.StatusOK, "ready\n")
			} else if s.sealed.Load() {
				writeText(w, http.StatusServiceUnavailable, "not ready: sealed (run trent operator unseal)\n")
			} else {
				writeText(w, http.StatusServiceUnavailable, "not ready: waiting for the database\n")
			}
			return
		}
	}
	if h := s.kmsAPI.Load(); h != nil {
		s.metrics.Serve(h, w, r)
		return
	}
	notReady(w, r, s.sealed.Load())
}

// consoleHandler serves the web console (package console).
var consoleHandler = console.Handler()

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// withoutDependencyTimeout lists the operations whose errors in the KMS
// model (internal/wire/model/kms-api-model.json) do not include
// DependencyTimeoutException; every operation lists KMSInternalException.
// TestNotReadyErrorsFollowTheModel keeps the list in step with the model.
var withoutDependencyTimeout = map[string]bool{
	"ConnectCustomKeyStore": true, "CreateCustomKeyStore": true, "DeleteCustomKeyStore": true,
	"DescribeCustomKeyStores": true, "DisconnectCustomKeyStore": true, "GenerateMac": true,
	"ListKeyRotations": true, "ListResourceTags": true, "ReplicateKey": true, "TagResource": true,
	"UntagResource": true, "UpdateCustomKeyStore": true, "UpdatePrimaryRegion": true, "VerifyMac": true,
}

// notReady answers a KMS request that arrives before the node is ready.
// It is DependencyTimeoutException (HTTP 503), which the KMS model
// documents as "The system timed out while trying to fulfill the request.
// You can retry the request." — a dependency, the database, is what the
// node waits for. For operations whose model does not list that error it
// is KMSInternalException (500), "The request was rejected because an
// internal exception occurred. The request can be retried.", which every
// operation lists. Both are faults the AWS SDKs retry: aws-sdk-go-v2
// retries HTTP 500, 502, 503 and 504 (aws/retry/standard.go,
// DefaultRetryableHTTPStatusCodes). The request is not authenticated:
// checking a signature needs the store.
//
// A sealed node (its root key file protected by a passphrase or shares,
// see seal.go) answers the same way, with a message that says so: the
// root key is the dependency it waits for, and a client that retries
// succeeds once an operator has unsealed it.
func notReady(w http.ResponseWriter, r *http.Request, sealed bool) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	code, msg := "DependencyTimeoutException", "The service is starting and cannot reach its database yet. You can retry the request."
	if sealed {
		msg = "The service is sealed: an operator must unseal its root key (trent operator unseal). You can retry the request."
	}
	if withoutDependencyTimeout[op] {
		code = "KMSInternalException"
	}
	body := `{"__type":"` + code + `","message":"` + msg + `"}`
	var id [16]byte
	rand.Read(id[:])
	h := w.Header()
	h.Set("x-amzn-RequestId", hex.EncodeToString(id[:4])+"-"+hex.EncodeToString(id[4:6])+"-"+hex.EncodeToString(id[6:8])+"-"+
		hex.EncodeToString(id[8:10])+"-"+hex.EncodeToString(id[10:]))
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(wire.Status(code))
	io.WriteString(w, body)
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
	// Deleting a key at the end of its window is conditional on it still
	// being due (store.DeleteKeyIfDue), so a cancellation racing it wins,
	// and a deletion another node made first is skipped.
	s.every("delete-expired-keys", s.cfg.DeletionInterval, func(ctx context.Context) error {
		_, err := s.svc.DeleteExpiredKeys(ctx)
		return err
	})
	// Automatic rotation is conditional too (the key must still be due
	// in the transaction that rotates it), and runs on one node at a time.
	s.every("rotate-due-keys", s.cfg.RotationInterval, func(ctx context.Context) error {
		_, err := s.svc.RotateDueKeys(ctx)
		return err
	})
	// Imported key material whose ValidTo has passed is deleted in a
	// transaction that checks again that it is due (kms/import.go), at
	// the rotation interval.
	s.every("delete-expired-material", s.cfg.RotationInterval, func(ctx context.Context) error {
		_, err := s.svc.DeleteExpiredMaterial(ctx)
		return err
	})
	// Every node flushes the key usage it saw (merged by latest use); the
	// flusher writes what it holds once more when the node stops, before
	// the store is closed.
	s.bg.goRun(func(ctx context.Context) { s.svc.RunUsageFlusher(ctx, s.cfg.UsageFlushInterval) })
	s.runPeeringSync() // peering.go: multi-Region keys in peer deployments
	dataDir := s.cfg.DataDir
	if s.cfg.Dev {
		dataDir = "(none: --dev keeps everything in memory)"
	}
	s.log.Info("serving the KMS API", "url", s.URL(), "data_dir", dataDir, "account_id", s.cfg.AccountID)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-s.served:
	}
	s.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shutErr := s.http.Shutdown(shutCtx)
	if shutErr != nil {
		s.http.Close() // requests still running after the grace period are cut off
	}
	shutErr = errors.Join(shutErr, s.stopXKS(shutCtx))
	if s.admin != nil {
		s.admin.Close()
	}
	s.peering.close()
	s.bg.stop()
	s.svc.CloseKeyStores() // logs out of HSMs; the stores stay CONNECTED
	s.closeControl()
	var auditErr error
	if s.audit != nil { // nil with audit_disabled
		auditErr = s.audit.Close() // after the last request: signs the current file
	}
	closeErr := s.db.Close()
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, shutErr, auditErr, closeErr)
}
