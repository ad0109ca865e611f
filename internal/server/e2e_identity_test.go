package server_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/server"
	_ "github.com/trent-kms/trent/internal/store/embedded" // registers the "sqlite" driver
)

// clientWith returns an SDK client for the node signed with the given
// credentials.
func (n *node) clientWith(region, accessKeyID, secret string) *kms.Client {
	return kms.New(kms.Options{
		Region:       region,
		BaseEndpoint: aws.String(n.srv.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secret, ""),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	})
}

// rawSQL runs statements on the stopped node's database file directly, as
// someone with write access to the database would.
func rawSQL(t *testing.T, dataDir string, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dataDir, server.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(stmt, args...)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s: %d rows changed, want 1", stmt, n)
	}
}

// TestMovedAccessKeyRefused moves an access key's row to another account
// with SQL while the server is down (UPDATE access_keys SET account_id=...).
// After a restart the key must not act in the other account: its sealed
// secret is bound to the account, principal and key id it was created
// with, so the request is refused as with an unknown key
// (UnrecognizedClientException), while the other account's own key keeps
// working.
func TestMovedAccessKeyRefused(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	svc := n.srv.Service()
	const other = "444455556666"
	mustOK(t, "EnsureAccount", svc.EnsureAccount(ctx, other))
	victim, err := svc.CreateAccessKey(ctx, testAccount, "", "")
	mustOK(t, "CreateAccessKey", err)
	owner, err := svc.CreateAccessKey(ctx, other, "", "")
	mustOK(t, "CreateAccessKey", err)

	_, err = n.clientWith("us-east-1", victim.AccessKeyID, victim.SecretAccessKey).ListKeys(ctx, &kms.ListKeysInput{})
	mustOK(t, "ListKeys with the key before the move", err)
	otherKey := newKey(t, n.clientWith("us-east-1", owner.AccessKeyID, owner.SecretAccessKey))
	n.stop()

	rawSQL(t, n.dataDir, `UPDATE access_keys SET account_id = ?, principal = ? WHERE id = ?`,
		other, "arn:aws:iam::"+other+":root", victim.AccessKeyID)

	n = startNodeIn(t, n.dataDir)
	moved := n.clientWith("us-east-1", victim.AccessKeyID, victim.SecretAccessKey)
	_, err = moved.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: otherKey.KeyId})
	wantAPIError(t, err, "UnrecognizedClientException", "The security token included in the request is invalid.")
	_, err = moved.CreateKey(ctx, &kms.CreateKeyInput{})
	wantAPIError(t, err, "UnrecognizedClientException", "The security token included in the request is invalid.")

	// The other account's own key, and the bootstrap key, still work.
	got := describe(t, n.clientWith("us-east-1", owner.AccessKeyID, owner.SecretAccessKey), *otherKey.KeyId)
	if *got.AWSAccountId != other {
		t.Fatalf("DescribeKey account = %s, want %s", *got.AWSAccountId, other)
	}
	_, err = n.client("us-east-1").ListKeys(ctx, &kms.ListKeysInput{})
	mustOK(t, "ListKeys with the bootstrap key", err)
}

// TestV1AccessKeysResealedAtStart turns a data directory back into what a
// release before seal version 2 left (the bootstrap key's secret sealed
// with only its key id, and no seal version recorded) and checks that the
// server re-seals it at start, before the bootstrap check, and that the
// key keeps working and no longer opens with the old authenticated data.
func TestV1AccessKeysResealedAtStart(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	n.stop()

	root, err := keystore.OpenFileRoot(filepath.Join(n.dataDir, server.RootKeyFile))
	mustOK(t, "OpenFileRoot", err)
	v1AAD := []byte("trent/access-key/v1/" + testAccessKeyID)
	sealed, err := root.Seal([]byte(testSecret), v1AAD)
	mustOK(t, "Seal", err)
	rawSQL(t, n.dataDir, `UPDATE access_keys SET sealed_secret = ? WHERE id = ?`, sealed, testAccessKeyID)
	rawSQL(t, n.dataDir, `DELETE FROM meta WHERE name = 'access-key-seal-version'`)

	n = startNodeIn(t, n.dataDir)
	_, err = n.client("us-east-1").ListKeys(ctx, &kms.ListKeysInput{})
	mustOK(t, "ListKeys with the re-sealed key", err)
	n.stop()

	db, err := sql.Open("sqlite", filepath.Join(n.dataDir, server.DatabaseFile))
	mustOK(t, "open database", err)
	defer db.Close()
	var now []byte
	mustOK(t, "read row", db.QueryRow(`SELECT sealed_secret FROM access_keys WHERE id = ?`, testAccessKeyID).Scan(&now))
	if _, err := root.Open(now, v1AAD); !errors.Is(err, keystore.ErrSealed) {
		t.Fatalf("the re-sealed secret still opens with the v1 data: %v", err)
	}
	aad := keystore.BoundAAD("trent/access-key/v2", testAccount, "arn:aws:iam::"+testAccount+":root", testAccessKeyID)
	if got, err := root.Open(now, aad); err != nil || string(got) != testSecret {
		t.Fatalf("the re-sealed secret does not open with the v2 data: %v", err)
	}
	var version []byte
	mustOK(t, "read meta", db.QueryRow(`SELECT value FROM meta WHERE name = 'access-key-seal-version'`).Scan(&version))
	if string(version) != "2" {
		t.Fatalf("seal version recorded = %q, want 2", version)
	}
}
