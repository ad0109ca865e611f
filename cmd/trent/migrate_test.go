package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/server"
)

const (
	migrateAKID   = "AKIATRENTMIGRATE0001"
	migrateSecret = "trent-migrate-test-secret-0000000000000"
)

// migrateSchema returns the URL of a new schema in the test database,
// dropped when the test ends, or skips without TRENT_TEST_POSTGRES_URL.
func migrateSchema(t *testing.T) string {
	t.Helper()
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
	schema := "trent_migrate_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close(context.Background())
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// runNode runs a server until stop is called, returning a KMS client.
func runNode(t *testing.T, cfg *server.Config) (*kms.Client, func()) {
	t.Helper()
	cfg.Defaults()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	c := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(migrateAKID, migrateSecret, ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second}})
	return c, func() { cancel(); <-done }
}

// TestMigrate copies an embedded deployment with keys, an alias, a grant
// and tags into PostgreSQL; a node on the database with the same root key
// decrypts what the embedded node encrypted. A second migration into the
// same database is refused, and the verification finds a row changed
// behind its back.
func TestMigrate(t *testing.T) {
	dbURL := migrateSchema(t)
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", migrateAKID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", migrateSecret)
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	ctx := context.Background()

	c, stop := runNode(t, &server.Config{Listen: "127.0.0.1:0", DataDir: dir})
	var blobs [][]byte
	var keyIDs []string
	for i := range 3 {
		k, err := c.CreateKey(ctx, &kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("n"), TagValue: aws.String(strings.Repeat("x", i+1))}}})
		if err != nil {
			t.Fatal(err)
		}
		keyIDs = append(keyIDs, *k.KeyMetadata.KeyId)
		enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("secret " + *k.KeyMetadata.KeyId)})
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, enc.CiphertextBlob)
	}
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: &keyIDs[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &keyIDs[1], GranteePrincipal: aws.String("arn:aws:iam::111122223333:root"),
		Operations: []types.GrantOperation{types.GrantOperationDecrypt}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &keyIDs[2], PendingWindowInDays: aws.Int32(30)}); err != nil {
		t.Fatal(err)
	}
	stop()

	var out bytes.Buffer
	if err := migrateStore(ctx, &out, dir, dbURL); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	for _, want := range []string{"copied 3 keys", "copied 1 aliases", "copied 1 grants", "copied 1 access_keys",
		"verified: every record", "verified: 3 key materials and 1 access key secrets open"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// A node on PostgreSQL with the same root key serves the copy.
	pgDir := t.TempDir()
	os.Chmod(pgDir, 0o700)
	key, _ := os.ReadFile(dir + "/" + server.RootKeyFile)
	os.WriteFile(pgDir+"/"+server.RootKeyFile, key, 0o600)
	pc, stop := runNode(t, &server.Config{Listen: "127.0.0.1:0", DataDir: pgDir, DatabaseURL: dbURL})
	for i, b := range blobs[:2] {
		dec, err := pc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: b})
		if err != nil || !strings.HasPrefix(string(dec.Plaintext), "secret ") {
			t.Fatalf("decrypt %d on the PostgreSQL node: %v", i, err)
		}
	}
	d, err := pc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/app")})
	if err != nil || *d.KeyMetadata.KeyId != keyIDs[0] {
		t.Fatalf("alias on the PostgreSQL node: %v", err)
	}
	d, err = pc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyIDs[2]})
	if err != nil || d.KeyMetadata.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("pending deletion on the PostgreSQL node: %v", err)
	}
	stop()

	// Into a database that holds data: refused, nothing changed.
	out.Reset()
	if err := migrateStore(ctx, &out, dir, dbURL); err == nil || !strings.Contains(err.Error(), "already holds Trent data") {
		t.Fatalf("second migrate = %v", err)
	}
}
