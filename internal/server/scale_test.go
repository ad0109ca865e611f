package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/bench"
	kmssvc "github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/server"
)

// scaleNode is a data directory a node starts on again and again.
type scaleNode struct {
	dir string
}

// start starts a node on the directory, with an admin listener, and
// returns it and a function that stops it.
func (n scaleNode) start(t testing.TB) (*server.Server, func()) {
	t.Helper()
	cfg := &server.Config{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DataDir: n.dir}
	cfg.Defaults()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	return srv, func() {
		go func() { done <- srv.Run(ctx) }()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// populate fills the directory's store up to keys keys, with the node
// stopped.
func (n scaleNode) populate(t testing.TB, keys int) {
	t.Helper()
	if _, err := bench.Populate(context.Background(), bench.PopulateOptions{DataDir: n.dir, AccountID: kmssvc.DefaultAccountID,
		Region: "us-east-1", Keys: keys}); err != nil {
		t.Fatal(err)
	}
}

// storeCalls scrapes the node's trent_store_duration_seconds counts: how
// many times each store method was called since the node started.
func storeCalls(t *testing.T, srv *server.Server) map[string]int {
	t.Helper()
	resp, err := http.Get("http://" + srv.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	calls := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `trent_store_duration_seconds_count{method="`)
		if !ok {
			continue
		}
		method, count, _ := strings.Cut(rest, `"} `)
		n, err := strconv.Atoi(count)
		if err != nil {
			t.Fatalf("metric line %q", sc.Text())
		}
		// The scrape itself counts the keys (KeyCounts, at most every
		// 30 s, for trent_keys): that is the scrape's cost, not start-up's.
		if n > 0 && method != "KeyCounts" {
			calls[method] = n
		}
	}
	return calls
}

// TestStartupReadsNoKeys checks that start-up does not grow with the
// number of keys: a node starting on a store with 400 keys makes exactly
// the store calls it makes on a store with one, and none of them reads a
// key (GetKey) or lists keys. Keys are loaded on first use, into a cache
// bounded by key_cache_size (TestKeyCacheBounded in internal/kms).
// `trent bench --keys` measures the start-up time with up to a million
// keys (docs/performance.md).
func TestStartupReadsNoKeys(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "AKIASCALETEST0000001")
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "scale-test-secret-access-key-0000000000")
	n := scaleNode{dir: filepath.Join(t.TempDir(), "data")}
	_, stop := n.start(t) // first start: root key, account, access key
	stop()

	startCalls := func(keys int) map[string]int {
		n.populate(t, keys)
		srv, stop := n.start(t)
		defer stop()
		return storeCalls(t, srv)
	}
	one := startCalls(1)
	many := startCalls(400)
	if !maps.Equal(one, many) {
		t.Errorf("store calls at start-up with 1 key: %v\nwith 400 keys: %v\nwant the same", one, many)
	}
	for _, m := range []string{"GetKey", "ListKeys", "CountKeys", "UpdateKey"} {
		if many[m] != 0 {
			t.Errorf("start-up called %s %d times; it must not touch keys", m, many[m])
		}
	}
	t.Logf("store calls at start-up: %v", many)
}

// BenchmarkStartup measures server.New (open the store, check the root
// key, build the services, bootstrap the account, open the audit trail)
// on stores of 1 and 20,000 keys. The time is the same (docs/performance.md
// has it for up to a million keys with `trent bench --keys`).
func BenchmarkStartup(b *testing.B) {
	b.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "AKIASCALETEST0000001")
	b.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "scale-test-secret-access-key-0000000000")
	for _, keys := range []int{1, 20_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			n := scaleNode{dir: filepath.Join(b.TempDir(), "data")}
			_, stop := n.start(b)
			stop()
			n.populate(b, keys)
			for b.Loop() {
				_, stop := n.start(b)
				b.StopTimer()
				stop()
				b.StartTimer()
			}
		})
	}
}

// TestTLSConnectionsReused checks that an SDK client over TLS, with the
// SDK's default connection pool (10 idle connections per host), reuses its
// connections: 4 workers making 200 requests open at most 4 connections,
// so TLS handshakes are not paid per request. The server counts the
// connections it accepts (trent_http_connections_total, ConnState).
func TestTLSConnectionsReused(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool, err := bench.SelfSignedCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	cfg := &server.Config{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), TLSCert: certFile, TLSKey: keyFile}
	cfg.Defaults()
	srv := startConfigured(t, cfg, io.Discard, io.Discard)
	opened := func() int {
		t.Helper()
		resp, err := http.Get("http://" + srv.AdminAddr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "trent_http_connections_total "); ok {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				return int(n)
			}
		}
		t.Fatal("no trent_http_connections_total in /metrics")
		return 0
	}
	before := opened()
	const workers = 4
	// bench.NewClient with DefaultPool is the SDK's own HTTP client
	// (awshttp.NewBuildableClient) with only the CA added.
	c, err := bench.NewClient(t.Context(), bench.Options{Endpoint: srv.URL(), Region: "us-east-1", AccessKeyID: testAccessKeyID,
		SecretAccessKey: testSecret, Concurrency: workers, DefaultPool: true, RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := c.CreateKey(t.Context(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range 50 {
				if _, err := c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	n := opened() - before
	if n < 1 || n > workers {
		t.Fatalf("%d connections accepted for %d requests from %d workers, want 1 to %d: connections are not reused", n, 1+workers*50, workers, workers)
	}
	t.Logf("%d connections for %d requests", n, 1+workers*50)
}
