package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
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
	dir := t.TempDir()
	return startNodeIn(t, dir)
}

func startNodeIn(t testing.TB, dir string) *node {
	t.Helper()
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir, LogLevel: "error"}
	cfg.Defaults()
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
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%q), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	if msg != "*" && ae.ErrorMessage() != msg {
		t.Fatalf("%s message = %q, want %q", code, ae.ErrorMessage(), msg)
	}
}
