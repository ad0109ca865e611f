package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/server"
)

// postgresURL returns a URL of a fresh schema in the test database, dropped
// when the test ends, or skips the test when TRENT_TEST_POSTGRES_URL is unset.
func postgresURL(t *testing.T) string {
	base := os.Getenv("TRENT_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TRENT_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable); .ci/run sets it")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "trent_e2e_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close(context.Background())
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

// TestTwoNodesOverPostgres runs two servers on one PostgreSQL database and
// one root key: a key made on one node is usable on the other, and a
// change made on one is seen by the other once its cache entry expires.
func TestTwoNodesOverPostgres(t *testing.T) {
	dbURL := postgresURL(t)
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	dir := privateDir(t)
	start := func() *kms.Client {
		cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir, DatabaseURL: dbURL, CacheTTL: 100 * time.Millisecond}
		cfg.Defaults()
		srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return sdkClient(srv.URL(), testAccessKeyID, testSecret, nil)
	}
	a, b := start(), start()
	ctx := context.Background()

	ck, err := a.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("shared")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/shared"), TargetKeyId: ck.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	enc, err := b.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/shared"), Plaintext: []byte("across nodes")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "across nodes" {
		t.Fatalf("decrypt on the other node: %v", err)
	}
	if _, err := b.DisableKey(ctx, &kms.DisableKeyInput{KeyId: ck.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	// Node a may serve its cached copy until the cache TTL has passed;
	// then it must refuse.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := a.Encrypt(ctx, &kms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("x")})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "DisabledException" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node a still encrypts with a key disabled on node b: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
