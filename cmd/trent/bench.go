package main

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/bench"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/server"
)

// benchFlags are the options of `trent bench`.
type benchFlags struct {
	endpoint, ops, region, dataDir, dbURL string
	keyID                                 string
	pid, conc, size, keys, cacheSize, ws  int
	rounds                                int
	dur                                   time.Duration
	auditOn, baseline, tls, defaultPool   bool
	opsGiven                              bool
}

// benchCmd runs `trent bench`: without --endpoint it starts `trent server`
// (or, with --baseline, the bare reference server) as a child process on a
// free loopback port, so the server's CPU time can be measured apart from
// the client's. With --endpoint it measures a running deployment with the
// credentials, region and AWS_CA_BUNDLE of the standard AWS configuration,
// and schedules deletion of the keys it created. With --keys it fills the
// server's store with that many keys first and measures at that scale
// (benchkeys.go).
func benchCmd(ctx context.Context, args []string) int {
	var f benchFlags
	fs := flag.NewFlagSet("trent bench", flag.ContinueOnError)
	fs.StringVar(&f.endpoint, "endpoint", "", "measure this endpoint instead of starting a server")
	fs.IntVar(&f.pid, "server-pid", 0, "with --endpoint: the server's process id, to measure its CPU time")
	fs.StringVar(&f.ops, "ops", "Encrypt,Decrypt,GenerateDataKey", "operations to measure, comma-separated: Encrypt, Decrypt, GenerateDataKey, CreateKey, CreateKey:RSA_2048, Sign:ECC_NIST_P256, Sign:RSA_2048, ...")
	fs.IntVar(&f.conc, "concurrency", 16, "concurrent workers")
	fs.DurationVar(&f.dur, "duration", 5*time.Second, "measured time per operation")
	fs.IntVar(&f.size, "size", 32, "plaintext bytes for Encrypt")
	fs.StringVar(&f.region, "region", "", "region to sign requests for (default: AWS_REGION or the profile's region, else us-east-1)")
	fs.BoolVar(&f.auditOn, "audit", true, "with the server bench starts: write the audit trail (--audit=false starts it with audit_disabled, to measure the audit trail's cost)")
	fs.StringVar(&f.keyID, "key-id", "", "with --endpoint: measure this existing key (e.g. one in a custom key store, docs/hsm.md) instead of creating one")
	fs.BoolVar(&f.baseline, "baseline", false, "measure the bare reference server (JSON parse + one AES-GCM seal) with Encrypt")
	fs.IntVar(&f.keys, "keys", 0, "fill the server's store with this many keys in one account, then measure start-up, memory, ListKeys and Encrypt over random keys at that scale")
	fs.IntVar(&f.cacheSize, "key-cache-size", 0, "the started server's key_cache_size (default the server's, 100000)")
	fs.IntVar(&f.ws, "working-set", 0, "with --keys: how many keys the hot Encrypt picks from (default: all keys, at most the key cache size)")
	fs.IntVar(&f.rounds, "rounds", 2, "with --keys: how many times the one-key and hot Encrypt runs alternate")
	fs.StringVar(&f.dataDir, "data-dir", "", "the started server's data directory, kept after the run so a large --keys store is filled once (default: a temporary one)")
	fs.StringVar(&f.dbURL, "database-url", "", "the started server uses this PostgreSQL database (give it a schema of its own: ?search_path=...) instead of the embedded store")
	fs.BoolVar(&f.tls, "tls", false, "serve the started server over TLS, with a self-signed certificate the client trusts")
	fs.BoolVar(&f.defaultPool, "sdk-default-pool", false, "keep the SDK's default HTTP connection pool (10 idle connections per host) instead of sizing it for --concurrency")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fs.Visit(func(fl *flag.Flag) { f.opsGiven = f.opsGiven || fl.Name == "ops" })
	local := f.keys > 0 || f.cacheSize > 0 || f.dataDir != "" || f.dbURL != "" || f.tls
	switch {
	case f.baseline && f.endpoint != "":
		fmt.Fprintln(os.Stderr, "trent bench: --baseline starts its own reference server; it cannot be combined with --endpoint")
		return 2
	case !f.auditOn && (f.endpoint != "" || f.baseline):
		fmt.Fprintln(os.Stderr, "trent bench: --audit=false applies to the server bench starts; it cannot be combined with --endpoint or --baseline")
		return 2
	case local && (f.endpoint != "" || f.baseline):
		fmt.Fprintln(os.Stderr, "trent bench: --keys, --key-cache-size, --data-dir, --database-url and --tls configure the server bench starts; they cannot be combined with --endpoint or --baseline")
		return 2
	}
	// With --endpoint, credentials come from the standard AWS chain
	// (environment, shared files, AWS_PROFILE): see bench.Options.
	o := bench.Options{
		Endpoint: f.endpoint, ServerPID: f.pid, Region: f.region, Ops: strings.Split(f.ops, ","),
		Concurrency: f.conc, Duration: f.dur, PlaintextSize: f.size, Log: os.Stderr, DefaultPool: f.defaultPool,
		KeyID: f.keyID,
	}
	if f.keyID != "" && f.endpoint == "" {
		fmt.Fprintln(os.Stderr, "trent bench: --key-id names a key of the server --endpoint points at")
		return 2
	}
	if f.endpoint != "" {
		return report(bench.Run(ctx, o))
	}
	dir := f.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "trent-bench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "trent bench:", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "data")
	}
	o.AccessKeyID, o.SecretAccessKey = "AKIABENCHMARK0000001", "bench-secret-access-key-000000000000000"
	o.KeepKeys = true // the store is the bench's own
	if f.baseline {
		addr, err := bench.FreePort()
		if err != nil {
			fmt.Fprintln(os.Stderr, "trent bench:", err)
			return 1
		}
		o.Ops, o.KeyID, o.Label = []string{"Encrypt"}, "00000000-0000-4000-8000-000000000000", "baseline"
		fmt.Println("baseline: the bare reference server (JSON parse + one AES-256-GCM seal, no SigV4, no key lookup), not Trent")
		cmd, err := startChild([]string{"bench-baseline", "--listen", addr}, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "trent bench:", err)
			return 1
		}
		defer stopChild(cmd)
		o.Endpoint, o.ServerPID = "http://"+addr, cmd.Process.Pid
		if err := bench.WaitReady(o.Endpoint, 10*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "trent bench:", err)
			return 1
		}
		return report(bench.Run(ctx, o))
	}
	if !f.auditOn {
		o.Label = "no-audit"
	}
	ts, err := newTrentServer(dir, f, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent bench:", err)
		return 1
	}
	o.RootCAs = ts.pool
	if f.keys > 0 {
		return benchKeys(ctx, ts, f, o)
	}
	if _, err := ts.start(); err != nil {
		fmt.Fprintln(os.Stderr, "trent bench:", err)
		return 1
	}
	defer ts.stop()
	o.Endpoint, o.ServerPID = ts.endpoint, ts.pid()
	return report(bench.Run(ctx, o))
}

// report prints the results and returns the exit code.
func report(results []bench.Result, err error) int {
	for _, r := range results {
		fmt.Println(r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent bench:", err)
		return 1
	}
	return 0
}

// trentServer is the `trent server` child a bench runs.
type trentServer struct {
	dir, dbURL string
	args, env  []string
	endpoint   string
	admin      string         // the admin listener's URL, for /metrics
	pool       *x509.CertPool // trusted for --tls; nil otherwise
	cmd        *exec.Cmd
}

// newTrentServer prepares the child's data directory, configuration file
// (key_cache_size, and a key quota that --keys does not reach) and, with
// --tls, certificate.
func newTrentServer(dir string, f benchFlags, o bench.Options) (*trentServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := bench.FreePort()
	if err != nil {
		return nil, err
	}
	// pprof on the admin listener (loopback, a free port) lets a run be
	// profiled: go tool pprof http://ADMIN/debug/pprof/heap.
	conf := "version: 1\nadmin_pprof: true\n"
	if f.cacheSize > 0 {
		conf += fmt.Sprintf("key_cache_size: %d\n", f.cacheSize)
	}
	// AWS's default key quota (100,000 per account and region) stays on,
	// so CreateKey pays for its count as in production, unless --keys
	// needs more.
	conf += fmt.Sprintf("quotas:\n  keys_per_region: %d\n", max(kms.DefaultQuotas.KeysPerRegion, 2*f.keys))
	// Request quotas (AWS's rates: CreateKey 5/s, ECC and RSA operations
	// 1,000/s, symmetric 10,000/s) would measure the quotas, not the
	// server: the bench's own server has none, as a --dev server.
	conf += "request_quotas:\n"
	for _, name := range slices.Sorted(maps.Keys(server.UnlimitedRequestQuotas())) {
		conf += "  " + name + ": 0\n"
	}
	confFile := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	admin, err := bench.FreePort()
	if err != nil {
		return nil, err
	}
	ts := &trentServer{dir: dir, dbURL: f.dbURL, endpoint: "http://" + addr, admin: "http://" + admin,
		args: []string{"server", "--config", confFile, "--listen", addr, "--admin-listen", admin, "--data-dir", dir, "--log-level", "warn"},
		env:  []string{"TRENT_ROOT_ACCESS_KEY_ID=" + o.AccessKeyID, "TRENT_ROOT_SECRET_ACCESS_KEY=" + o.SecretAccessKey}}
	if !f.auditOn {
		ts.args = append(ts.args, "--audit-disabled")
	}
	if f.dbURL != "" {
		// The environment keeps a password off the command line.
		ts.env = append(ts.env, "TRENT_DATABASE_URL="+f.dbURL)
	}
	fmt.Fprintf(os.Stderr, "trent bench: server admin listener (metrics, pprof): %s\n", ts.admin)
	if f.tls {
		cert, key, pool, err := bench.SelfSignedCert(dir)
		if err != nil {
			return nil, err
		}
		ts.args = append(ts.args, "--tls-cert", cert, "--tls-key", key)
		ts.endpoint, ts.pool = "https://"+addr, pool
	}
	return ts, nil
}

// start starts the server and returns how long it took from exec to a
// 200 on /readyz.
func (ts *trentServer) start() (time.Duration, error) {
	t0 := time.Now()
	cmd, err := startChild(ts.args, ts.env)
	if err != nil {
		return 0, err
	}
	ts.cmd = cmd
	if _, err := bench.WaitReadyz(ts.endpoint, bench.HTTPClient(ts.pool), 5*time.Minute); err != nil {
		ts.stop()
		return 0, err
	}
	return time.Since(t0), nil
}

func (ts *trentServer) pid() int { return ts.cmd.Process.Pid }

func (ts *trentServer) stop() {
	if ts.cmd != nil {
		stopChild(ts.cmd)
		ts.cmd = nil
	}
}

// startChild runs this binary with args and env added to the environment.
func startChild(args, env []string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd, cmd.Start()
}

// stopChild interrupts the child and waits for it to exit.
func stopChild(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
}

// baselineCmd serves bench.Baseline; `trent bench --baseline` starts it.
func baselineCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("trent bench-baseline", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8401", "listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	srv := &http.Server{Addr: *listen, Handler: bench.Baseline()}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "trent bench-baseline:", err)
		return 1
	}
	return 0
}
