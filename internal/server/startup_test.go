package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/keystore"
	kmssvc "github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// httpGet returns the status and body of GET url, or 0 if it could not
// connect.
func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitHealthy waits until GET /healthz on addr answers, and fails the test
// if New returned first.
func waitHealthy(t *testing.T, addr string, newErr <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-newErr:
			t.Fatalf("New returned before /healthz answered: %v", err)
		default:
		}
		if code, _ := httpGet("http://" + addr + "/healthz"); code != 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("/healthz never answered")
}

// startAsync runs server.New in the background; its result arrives on the
// returned channels.
func startAsync(ctx context.Context, cfg *server.Config, log io.Writer) (<-chan *server.Server, <-chan error) {
	srvc, errc := make(chan *server.Server, 1), make(chan error, 1)
	go func() {
		srv, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(log, nil)), io.Discard)
		if err != nil {
			errc <- err
			return
		}
		srvc <- srv
	}()
	return srvc, errc
}

// awaitErr waits for New's error; it fails the test if New succeeded or
// never returned.
func awaitErr(t *testing.T, srvc <-chan *server.Server, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-srvc:
		t.Fatal("New succeeded")
	case <-time.After(2 * time.Minute): // a failsafe, not a timing assertion
		t.Fatal("New never returned")
	}
	return nil
}

// kmsPost sends an unsigned KMS request for op and returns the status and
// the decoded error document.
func kmsPost(t *testing.T, addr, op string) (int, http.Header, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "TrentService."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("%s: body is not JSON: %v", op, err)
	}
	return resp.StatusCode, resp.Header, doc
}

// TestWaitsForDatabaseThenGivesUp points a node at PostgreSQL on a closed
// loopback port with a bounded database_wait: while it waits, /healthz is
// 200, /readyz 503 and KMS requests get DependencyTimeoutException; each
// attempt is logged at warn with its number and without the password; then
// New gives up with an error and stops serving.
func TestWaitsForDatabaseThenGivesUp(t *testing.T) {
	const password = "pw-never-logged-91c2"
	addr := freeAddr(t)
	cfg := &server.Config{Listen: addr, DataDir: privateDir(t),
		DatabaseURL:  "postgres://trent:" + password + "@" + closedAddr(t) + "/trent?sslmode=disable&search_path=trent",
		DatabaseWait: 1500 * time.Millisecond}
	cfg.Defaults()
	var logs syncBuffer
	srvc, errc := startAsync(context.Background(), cfg, &logs)
	waitHealthy(t, addr, errc)

	if code, body := httpGet("http://" + addr + "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	if code, body := httpGet("http://" + addr + "/readyz"); code != 503 || body != "not ready: waiting for the database\n" {
		t.Errorf("/readyz = %d %q, want 503 not ready", code, body)
	}
	status, h, doc := kmsPost(t, addr, "Encrypt")
	if status != 503 || doc["__type"] != "DependencyTimeoutException" || doc["message"] == "" {
		t.Errorf("Encrypt before ready = %d %v, want 503 DependencyTimeoutException", status, doc)
	}
	if h.Get("x-amzn-RequestId") == "" || h.Get("Content-Type") != "application/x-amz-json-1.1" {
		t.Errorf("not-ready answer headers %v", h)
	}

	err := awaitErr(t, srvc, errc)
	if !strings.Contains(err.Error(), "gave up waiting for the database postgres://trent:xxxxx@") {
		t.Errorf("New error = %v, want it to give up naming the redacted URL", err)
	}
	if code, _ := httpGet("http://" + addr + "/healthz"); code != 0 {
		t.Errorf("still serving after New failed: /healthz %d", code)
	}
	out := logs.String() + err.Error()
	if strings.Contains(out, password) {
		t.Fatalf("the password reached the logs or the error:\n%s", out)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"cannot reach the database; retrying\" attempt=1 ") {
		t.Errorf("no warn line for attempt 1 in:\n%s", logs.String())
	}
}

// TestNotReadyErrorsFollowTheModel sends every operation of the KMS model
// to a node waiting for its database: the answer is
// DependencyTimeoutException (503) where the model lists that error for
// the operation, KMSInternalException (500) otherwise. Cancelling New's
// context stops the wait.
func TestNotReadyErrorsFollowTheModel(t *testing.T) {
	raw, err := os.ReadFile("../wire/model/kms-api-model.json")
	if err != nil {
		t.Fatal(err)
	}
	var model struct {
		Operations map[string]struct {
			Errors []struct{ Shape string } `json:"errors"`
		} `json:"operations"`
	}
	if err := json.Unmarshal(raw, &model); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfg := &server.Config{Listen: addr, DataDir: privateDir(t),
		DatabaseURL: "postgres://trent@" + closedAddr(t) + "/trent?sslmode=disable"} // database_wait 0: forever
	cfg.Defaults()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvc, errc := startAsync(ctx, cfg, io.Discard)
	waitHealthy(t, addr, errc)
	for op, def := range model.Operations {
		want, wantStatus := "KMSInternalException", 500
		for _, e := range def.Errors {
			if e.Shape == "DependencyTimeoutException" {
				want, wantStatus = e.Shape, 503
			}
		}
		if status, _, doc := kmsPost(t, addr, op); status != wantStatus || doc["__type"] != want {
			t.Errorf("%s before ready = %d %s, want %d %s", op, status, doc["__type"], wantStatus, want)
		}
	}
	cancel()
	if err := awaitErr(t, srvc, errc); !errors.Is(err, context.Canceled) {
		t.Errorf("New after cancel = %v, want context.Canceled", err)
	}
}

// TestHealthAfterReady: a ready node answers /healthz and /readyz, and
// every other path still reaches the KMS handler as before.
func TestHealthAfterReady(t *testing.T) {
	n := startNode(t)
	base := n.srv.URL()
	if code, body := httpGet(base + "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := httpGet(base + "/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz = %d %q", code, body)
	}
	addr := n.srv.Addr().String()
	if status, _, doc := kmsPost(t, addr, "NoSuchOperation"); status != 400 || doc["__type"] != "UnknownOperationException" {
		t.Errorf("unknown operation = %d %v", status, doc)
	}
	if status, _, doc := kmsPost(t, addr, "Encrypt"); status != 400 || doc["__type"] == "DependencyTimeoutException" {
		t.Errorf("unsigned Encrypt on a ready node = %d %v, want an authentication error", status, doc)
	}
}

// pgSchemaURL returns a URL of a schema in the test database that does not
// exist yet, and drops it when the test ends; it skips the test when
// TRENT_TEST_POSTGRES_URL is unset.
func pgSchemaURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TRENT_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TRENT_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable); .ci/run sets it")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "trent_new_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestStartsWhenDatabaseArrives starts a node whose database is not
// reachable yet, on a schema that does not exist yet. Once a proxy to the
// real database opens on the address, the node creates the schema, becomes
// ready and serves.
func TestStartsWhenDatabaseArrives(t *testing.T) {
	dbURL := pgSchemaURL(t)
	u, _ := url.Parse(dbURL)
	target := u.Host
	proxyAddr := closedAddr(t)
	u.Host = proxyAddr
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	addr := freeAddr(t)
	cfg := &server.Config{Listen: addr, DataDir: privateDir(t), DatabaseURL: u.String()}
	cfg.Defaults()
	var logs syncBuffer
	srvc, errc := startAsync(context.Background(), cfg, &logs)
	waitHealthy(t, addr, errc)
	for !strings.Contains(logs.String(), "attempt=1 ") {
		select {
		case err := <-errc:
			t.Fatalf("New failed while the database was away: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if code, _ := httpGet("http://" + addr + "/readyz"); code != 503 {
		t.Fatalf("/readyz = %d while the database is away", code)
	}

	l, err := net.Listen("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				d, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer d.Close()
				go io.Copy(d, c)
				io.Copy(c, d)
			}()
		}
	}()

	var srv *server.Server
	select {
	case srv = <-srvc:
	case err := <-errc:
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if code, body := httpGet("http://" + addr + "/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz after start = %d %q", code, body)
	}
	c := sdkClient(srv.URL(), testAccessKeyID, testSecret, nil)
	if _, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{}); err != nil {
		t.Fatal(err)
	}
}

// replaceRootKey puts a different valid root key at dir/root.key.
func replaceRootKey(t *testing.T, dir string) {
	t.Helper()
	other := filepath.Join(t.TempDir(), "root.key")
	if _, err := keystore.OpenFileRoot(other); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, server.RootKeyFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newErr(t *testing.T, cfg *server.Config) error {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.Defaults()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		srv.Run(ctx)
		t.Fatal("New succeeded")
	}
	return err
}

// TestWrongRootKeyRefused starts a node, then restarts it with another
// root key: it refuses, naming the key file and the database, and changes
// nothing, so the right key still works.
func TestWrongRootKeyRefused(t *testing.T) {
	for _, backend := range []string{"embedded", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var dbURL string
			if backend == "postgres" {
				u, _ := url.Parse(pgSchemaURL(t))
				u.User = url.UserPassword(u.User.Username(), "pw-not-shown-4e1d") // the test database trusts loopback
				dbURL = u.String()
			}
			dir := privateDir(t)
			n := startNodeIn(t, dir, func(c *server.Config) { c.DatabaseURL = dbURL })
			n.stop()
			good, _ := os.ReadFile(filepath.Join(dir, server.RootKeyFile))
			replaceRootKey(t, dir)

			err := newErr(t, &server.Config{DataDir: dir, DatabaseURL: dbURL})
			msg := err.Error()
			if !strings.Contains(msg, "does not match") || !strings.Contains(msg, filepath.Join(dir, server.RootKeyFile)) {
				t.Errorf("error %q does not say the root key %s does not match", msg, filepath.Join(dir, server.RootKeyFile))
			}
			wantDB := filepath.Join(dir, server.DatabaseFile)
			if backend == "postgres" {
				wantDB = "postgres://postgres:xxxxx@"
			}
			if !strings.Contains(msg, wantDB) || strings.Contains(msg, "pw-not-shown-4e1d") {
				t.Errorf("error %q does not name the database %s (password redacted)", msg, wantDB)
			}

			os.WriteFile(filepath.Join(dir, server.RootKeyFile), good, 0o600)
			startNodeIn(t, dir, func(c *server.Config) { c.DatabaseURL = dbURL })
		})
	}
}

// TestMissingRootKeyRefused deletes root.key of a populated store: the node
// refuses to make a new one, for the embedded store and PostgreSQL.
func TestMissingRootKeyRefused(t *testing.T) {
	for _, backend := range []string{"embedded", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var dbURL string
			if backend == "postgres" {
				dbURL = pgSchemaURL(t)
			}
			dir := privateDir(t)
			n := startNodeIn(t, dir, func(c *server.Config) { c.DatabaseURL = dbURL })
			n.stop()
			keyFile := filepath.Join(dir, server.RootKeyFile)
			os.Remove(keyFile)

			err := newErr(t, &server.Config{DataDir: dir, DatabaseURL: dbURL})
			if !strings.Contains(err.Error(), "root key "+keyFile+" is missing") || !strings.Contains(err.Error(), "restore that root.key from backup to "+keyFile) {
				t.Errorf("error %q does not say %s is missing", err, keyFile)
			}
			if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a new root key was created for a populated store: %v", err)
			}
		})
	}
}

// TestLegacyStoreWithoutCheckValue: a store written before check values
// existed holds data and none. The right root key is verified against a
// sealed access key secret and recorded; a wrong one is refused and not
// recorded.
func TestLegacyStoreWithoutCheckValue(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	legacy := func(t *testing.T) string {
		dir := privateDir(t)
		root, err := keystore.OpenFileRoot(filepath.Join(dir, server.RootKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		db, err := embedded.Open(filepath.Join(dir, server.DatabaseFile))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		svc, err := kmssvc.New(kmssvc.Config{Store: db, Root: root, Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Bootstrap(context.Background(), testAccount, testAccessKeyID, testSecret); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	checkValue := func(t *testing.T, dir string) ([]byte, error) {
		db, err := embedded.Open(filepath.Join(dir, server.DatabaseFile))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.GetMeta(context.Background(), server.RootCheckMeta)
	}

	t.Run("right-key-recorded", func(t *testing.T) {
		dir := legacy(t)
		startNodeIn(t, dir).stop()
		root, _ := keystore.LoadFileRoot(filepath.Join(dir, server.RootKeyFile))
		got, err := checkValue(t, dir)
		if err != nil || !bytes.Equal(got, root.CheckValue()) {
			t.Fatalf("recorded check value %x, %v; want %x", got, err, root.CheckValue())
		}
	})
	t.Run("wrong-key-refused", func(t *testing.T) {
		dir := legacy(t)
		replaceRootKey(t, dir)
		err := newErr(t, &server.Config{DataDir: dir})
		if !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("error %q, want a root key mismatch", err)
		}
		if _, err := checkValue(t, dir); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a wrong root key's check value was recorded: %v", err)
		}
	})
}
