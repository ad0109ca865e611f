package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/trent-kms/trent/internal/server"
)

const (
	testAccessKeyID = "AKIATRENTTESTKEY0001"
	testSecret      = "trent-test-secret-access-key-0000000000"
)

// node is a running server with SDK clients for it.
type node struct {
	srv     *server.Server
	dataDir string
	stop    func()
}

// startNode starts a server with the embedded store in a temporary data
// directory on a loopback port, and stops it when the test ends.
func startNode(t testing.TB) *node {
	t.Helper()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	return startNodeIn(t, privateDir(t))
}

// privateDir returns a new temporary directory with mode 0700, as the
// server requires of its data directory (t.TempDir gives 0777 minus the
// umask).
func privateDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startNodeIn starts a node on the data directory dir. Each opt may
// change the configuration before the node starts.
func startNodeIn(t testing.TB, dir string, opts ...func(*server.Config)) *node {
	t.Helper()
	if err := os.Chmod(dir, 0o700); err != nil { // the server refuses a data directory others may read
		t.Fatal(err)
	}
	// Request quotas are AWS's by default, some as low as one request a
	// second (GenerateDataKeyPair with RSA_4096): the tests of other
	// features run without them; the throttling tests set their own.
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir, LogLevel: "error", RequestQuotas: server.UnlimitedRequestQuotas()}
	cfg.Defaults()
	for _, o := range opts {
		o(cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(context.Background(), cfg, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	n := &node{srv: srv, dataDir: dir}
	var once bool
	n.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with: %v", err)
		}
	}
	t.Cleanup(n.stop)
	return n
}

// client returns an SDK client for the node in region, signed with the
// test credentials. Retries stay on (see DEVELOPERS.md on the SDK's
// plain-HTTP connection race).
func (n *node) client(region string) *kms.Client {
	return kms.New(kms.Options{
		Region:       region,
		BaseEndpoint: aws.String(n.srv.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKeyID, testSecret, ""),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	})
}

// wantAPIError checks that err is an AWS API error with the code and,
// when msg is not "*", exactly the message.
func wantAPIError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want API error %s", err, code)
	}
	if code != "*" && ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%q), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	if msg != "*" && ae.ErrorMessage() != msg {
		t.Fatalf("%s message = %q, want %q", code, ae.ErrorMessage(), msg)
	}
}

// startNodeWithClock starts a node whose KMS service reads time from the
// returned clock. The background deleter is slowed to once an hour so a
// test that moves the clock decides itself when expired keys are deleted.
func startNodeWithClock(t testing.TB) (*node, *testClock) {
	t.Helper()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	n := startNodeIn(t, privateDir(t), func(c *server.Config) {
		c.Now = clk.Now
		c.DeletionInterval = time.Hour
		c.RotationInterval = time.Hour
		c.UsageFlushInterval = time.Hour
	})
	return n, clk
}

// testClock is a clock that stands still until a test moves it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testAccount = "111122223333"

// arnOf returns the key ARN of id in region for the test account.
func arnOf(region, id string) string {
	partition := "aws"
	if strings.HasPrefix(region, "cn-") {
		partition = "aws-cn"
	}
	return "arn:" + partition + ":kms:" + region + ":" + testAccount + ":key/" + id
}

// aliasARNOf returns the ARN of the alias name ("alias/...") in region.
func aliasARNOf(region, name string) string {
	return strings.TrimSuffix(arnOf(region, ""), "key/") + name
}

// newKey creates a symmetric encryption key and returns its metadata.
func newKey(t *testing.T, c *kms.Client) *types.KeyMetadata {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return out.KeyMetadata
}

// newAlias creates the alias name for the key id.
func newAlias(t *testing.T, c *kms.Client, name, keyID string) {
	t.Helper()
	if _, err := c.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: &name, TargetKeyId: &keyID}); err != nil {
		t.Fatalf("CreateAlias %s: %v", name, err)
	}
}

// describe returns a key's metadata.
func describe(t *testing.T, c *kms.Client, id string) *types.KeyMetadata {
	t.Helper()
	out, err := c.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: &id})
	if err != nil {
		t.Fatalf("DescribeKey %s: %v", id, err)
	}
	return out.KeyMetadata
}

// mustOK fails the test if err is not nil.
func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// apiMessage returns the message of an AWS API error, or "" for other errors.
func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}
