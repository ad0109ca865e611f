package kms_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
)

// logBuffer collects JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// records returns the records logged at level whose message contains msg.
func (l *logBuffer) records(t *testing.T, level, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["level"] == level && strings.Contains(r["msg"].(string), msg) {
			out = append(out, r)
		}
	}
	return out
}

// checkIntegrityLogged fails unless exactly one integrity error was logged
// for the key, with its id, account and principal, and no secret.
func checkIntegrityLogged(t *testing.T, logs *logBuffer, ak store.AccessKey, secret string) {
	t.Helper()
	recs := logs.records(t, "ERROR", "access key integrity error")
	if len(recs) != 1 {
		t.Fatalf("%d integrity errors logged, want 1; log:\n%s", len(recs), logs)
	}
	r := recs[0]
	if r["access_key_id"] != ak.ID || r["account_id"] != ak.AccountID || r["principal"] != ak.Principal {
		t.Errorf("integrity error names %v/%v/%v, want %s/%s/%s", r["access_key_id"], r["account_id"], r["principal"], ak.ID, ak.AccountID, ak.Principal)
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the log contains the secret access key")
	}
}

type identityEnv struct {
	svc  *kms.Service
	db   store.Store
	root keystore.Root
	logs *logBuffer
}

// newIdentityEnv returns a Service over a fresh embedded store, with its
// root key and a log that the test can read.
func newIdentityEnv(t *testing.T) *identityEnv {
	t.Helper()
	dir := t.TempDir()
	root, err := keystore.OpenFileRoot(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := embedded.Open(filepath.Join(dir, "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := &logBuffer{}
	svc, err := kms.New(kms.Config{Store: db, Root: root, Rand: rand.Reader, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &identityEnv{svc: svc, db: db, root: root, logs: logs}
}

const otherAccount = "444455556666"

// TestIdentityBoundToRow checks that an access key's sealed secret opens
// only in the row it was sealed for: a row moved to another account, given
// another principal or holding another key's secret does not authenticate,
// answers as an unknown key, and is logged as an integrity error.
func TestIdentityBoundToRow(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(k, other *store.AccessKey)
	}{
		{"moved-to-other-account", func(k, _ *store.AccessKey) { k.AccountID = otherAccount }},
		{"moved-with-matching-principal", func(k, _ *store.AccessKey) {
			k.AccountID, k.Principal = otherAccount, "arn:aws:iam::"+otherAccount+":root"
		}},
		{"principal-changed", func(k, _ *store.AccessKey) { k.Principal = "arn:aws:iam::111122223333:user/admin" }},
		{"secret-of-other-key", func(k, other *store.AccessKey) { k.SealedSecret = other.SealedSecret }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newIdentityEnv(t)
			if err := e.svc.ResealAccessKeys(ctx); err != nil {
				t.Fatal(err)
			}
			for _, a := range []string{kms.DefaultAccountID, otherAccount} {
				if err := e.svc.EnsureAccount(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			creds, err := e.svc.CreateAccessKey(ctx, kms.DefaultAccountID, "AKIAMOVEDKEY00000001", "")
			if err != nil {
				t.Fatal(err)
			}
			otherCreds, err := e.svc.CreateAccessKey(ctx, otherAccount, "AKIAOTHERKEY00000001", "")
			if err != nil {
				t.Fatal(err)
			}
			other, err := e.db.GetAccessKey(ctx, otherCreds.AccessKeyID)
			if err != nil {
				t.Fatal(err)
			}
			moved, err := e.db.UpdateAccessKey(ctx, creds.AccessKeyID, func(k *store.AccessKey) error {
				tc.change(k, &other)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}

			id, err := e.svc.Identity(ctx, creds.AccessKeyID)
			if !errors.Is(err, kms.ErrAccessKeyIntegrity) || !errors.Is(err, kms.ErrUnknownAccessKey) || id != nil {
				t.Fatalf("Identity of the changed row = %v, %v; want ErrAccessKeyIntegrity", id, err)
			}
			checkIntegrityLogged(t, e.logs, moved, creds.SecretAccessKey)
			// Refused again on the next request: nothing was cached.
			if _, err := e.svc.Identity(ctx, creds.AccessKeyID); !errors.Is(err, kms.ErrAccessKeyIntegrity) {
				t.Fatalf("second Identity = %v, want ErrAccessKeyIntegrity", err)
			}
			// Bootstrap with the changed key refuses to start the server.
			if moved.AccountID == kms.DefaultAccountID {
				if _, err := e.svc.Bootstrap(ctx, kms.DefaultAccountID, creds.AccessKeyID, creds.SecretAccessKey); !errors.Is(err, kms.ErrAccessKeyIntegrity) {
					t.Fatalf("Bootstrap with the changed key = %v, want ErrAccessKeyIntegrity", err)
				}
			}
			// The untouched key still works.
			got, err := e.svc.Identity(ctx, otherCreds.AccessKeyID)
			if err != nil || got.Secret() != otherCreds.SecretAccessKey || got.AccountID != otherAccount {
				t.Fatalf("Identity of the untouched key = %v, %v", got, err)
			}
		})
	}
}

// TestIdentityRowRestored checks that putting a changed row back as it
// was makes the key work again: only the binding decides.
func TestIdentityRowRestored(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	if err := e.svc.EnsureAccount(ctx, otherAccount); err != nil {
		t.Fatal(err)
	}
	creds, err := e.svc.Bootstrap(ctx, kms.DefaultAccountID, "", "")
	if err != nil {
		t.Fatal(err)
	}
	move := func(account string) {
		if _, err := e.db.UpdateAccessKey(ctx, creds.AccessKeyID, func(k *store.AccessKey) error {
			k.AccountID = account
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	move(otherAccount)
	if _, err := e.svc.Identity(ctx, creds.AccessKeyID); !errors.Is(err, kms.ErrAccessKeyIntegrity) {
		t.Fatalf("Identity of the moved row = %v, want ErrAccessKeyIntegrity", err)
	}
	move(kms.DefaultAccountID)
	id, err := e.svc.Identity(ctx, creds.AccessKeyID)
	if err != nil || id.Secret() != creds.SecretAccessKey || id.AccountID != kms.DefaultAccountID {
		t.Fatalf("Identity of the restored row = %v, %v", id, err)
	}
}

// createV1 stores an access key the way releases before seal version 2
// did: the secret sealed with only its key id as authenticated data.
func createV1(t *testing.T, e *identityEnv, account, id, secret string) store.AccessKey {
	t.Helper()
	if err := e.svc.EnsureAccount(context.Background(), account); err != nil {
		t.Fatal(err)
	}
	sealed, err := e.root.Seal([]byte(secret), []byte("trent/access-key/v1/"+id))
	if err != nil {
		t.Fatal(err)
	}
	ak := store.AccessKey{ID: id, AccountID: account, Principal: "arn:aws:iam::" + account + ":root", SealedSecret: sealed}
	if err := e.db.CreateAccessKey(context.Background(), ak); err != nil {
		t.Fatal(err)
	}
	return ak
}

func v2AAD(ak store.AccessKey) []byte {
	return keystore.BoundAAD("trent/access-key/v2", ak.AccountID, ak.Principal, ak.ID)
}

// TestResealAccessKeys checks that keys sealed with version 1 are re-sealed
// to version 2 at start, keep working with the same secret, no longer open
// with the version 1 data, and that a second run changes nothing.
func TestResealAccessKeys(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	keys := []struct{ account, id, secret string }{
		{kms.DefaultAccountID, "AKIAOLDKEY0000000001", "old-secret-number-one-0123456789"},
		{kms.DefaultAccountID, "AKIAOLDKEY0000000002", "old-secret-number-two-0123456789"},
		{otherAccount, "AKIAOLDKEY0000000003", "old-secret-number-three-01234567"},
	}
	var old []store.AccessKey
	for _, k := range keys {
		old = append(old, createV1(t, e, k.account, k.id, k.secret))
	}
	// A version 1 row is not trusted before it has been re-sealed.
	if _, err := e.svc.Identity(ctx, keys[0].id); !errors.Is(err, kms.ErrAccessKeyIntegrity) {
		t.Fatalf("Identity of a v1 row before reseal = %v, want ErrAccessKeyIntegrity", err)
	}

	if err := e.svc.ResealAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	var after []store.AccessKey
	for i, k := range keys {
		id, err := e.svc.Identity(ctx, k.id)
		if err != nil || id.Secret() != k.secret || id.AccountID != k.account || id.Principal != old[i].Principal {
			t.Fatalf("Identity(%s) after reseal = %v, %v", k.id, id, err)
		}
		ak, err := e.db.GetAccessKey(ctx, k.id)
		if err != nil {
			t.Fatal(err)
		}
		if ak.AccountID != old[i].AccountID || ak.Principal != old[i].Principal {
			t.Fatalf("reseal changed the row of %s: %+v", k.id, ak)
		}
		if _, err := e.root.Open(ak.SealedSecret, []byte("trent/access-key/v1/"+k.id)); !errors.Is(err, keystore.ErrSealed) {
			t.Fatalf("the re-sealed secret of %s still opens with the v1 data: %v", k.id, err)
		}
		got, err := e.root.Open(ak.SealedSecret, v2AAD(ak))
		if err != nil || string(got) != k.secret {
			t.Fatalf("the re-sealed secret of %s does not open with the v2 data: %v", k.id, err)
		}
		after = append(after, ak)
	}

	// Idempotent: a second run leaves every row as it is.
	if err := e.svc.ResealAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		ak, err := e.db.GetAccessKey(ctx, k.id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ak.SealedSecret, after[i].SealedSecret) {
			t.Fatalf("second reseal rewrote %s", k.id)
		}
	}
	if recs := e.logs.records(t, "INFO", "re-sealed access keys"); len(recs) != 1 || recs[0]["count"] != float64(len(keys)) {
		t.Fatalf("reseal log records = %v, want one with count %d", recs, len(keys))
	}
}

// TestResealAccessKeysOnlyOnce checks that once the store records that
// access keys are sealed with version 2, a version 1 value put back into a
// row (from an old backup, with the row moved) is never re-sealed or
// trusted: re-sealing it would bind it to whatever account the row names.
func TestResealAccessKeysOnlyOnce(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	const id, secret = "AKIABACKUP0000000001", "secret-from-an-old-backup-0123456789"
	v1 := createV1(t, e, kms.DefaultAccountID, id, secret)
	if err := e.svc.ResealAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.EnsureAccount(ctx, otherAccount); err != nil {
		t.Fatal(err)
	}
	moved, err := e.db.UpdateAccessKey(ctx, id, func(k *store.AccessKey) error {
		k.AccountID, k.Principal, k.SealedSecret = otherAccount, "arn:aws:iam::"+otherAccount+":root", v1.SealedSecret
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResealAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	ak, err := e.db.GetAccessKey(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ak.SealedSecret, v1.SealedSecret) {
		t.Fatal("a v1 value put back after the re-seal was re-sealed")
	}
	if _, err := e.svc.Identity(ctx, id); !errors.Is(err, kms.ErrAccessKeyIntegrity) {
		t.Fatalf("Identity of a v1 value put back = %v, want ErrAccessKeyIntegrity", err)
	}
	checkIntegrityLogged(t, e.logs, moved, secret)
}

// TestResealAccessKeysSkipsBrokenRow checks that a row that opens with
// neither version is logged as an integrity error and left alone, while the
// others are re-sealed.
func TestResealAccessKeysSkipsBrokenRow(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	good := createV1(t, e, kms.DefaultAccountID, "AKIAGOODKEY000000001", "good-secret-0123456789abcdef")
	bad := createV1(t, e, kms.DefaultAccountID, "AKIABADKEY0000000001", "bad-secret-0123456789abcdefgh")
	// Its v1 secret copied from another key id: it opens with neither version.
	bad, err := e.db.UpdateAccessKey(ctx, bad.ID, func(k *store.AccessKey) error {
		k.SealedSecret = good.SealedSecret
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResealAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	checkIntegrityLogged(t, e.logs, bad, "bad-secret-0123456789abcdefgh")
	if id, err := e.svc.Identity(ctx, good.ID); err != nil || id.Secret() != "good-secret-0123456789abcdef" {
		t.Fatalf("Identity of the good key = %v, %v", id, err)
	}
	if _, err := e.svc.Identity(ctx, bad.ID); !errors.Is(err, kms.ErrAccessKeyIntegrity) {
		t.Fatalf("Identity of the broken key = %v, want ErrAccessKeyIntegrity", err)
	}
	// The seal version is not recorded while a row opens with neither
	// version, so a later start can still re-seal version 1 rows (after a
	// start with the wrong root key file, say).
	if _, err := e.db.GetMeta(ctx, "access-key-seal-version"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("seal version recorded with a broken row: %v", err)
	}
	late := createV1(t, e, kms.DefaultAccountID, "AKIALATEKEY000000001", "late-secret-0123456789abcdef")
	if err := e.db.DeleteAccessKey(ctx, bad.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResealAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if id, err := e.svc.Identity(ctx, late.ID); err != nil || id.Secret() != "late-secret-0123456789abcdef" {
		t.Fatalf("Identity of the key re-sealed at the next start = %v, %v", id, err)
	}
	if v, err := e.db.GetMeta(ctx, "access-key-seal-version"); err != nil || string(v) != "2" {
		t.Fatalf("seal version after the broken row was deleted = %q, %v; want 2", v, err)
	}
}

// TestResealAccessKeysWrongRoot checks that a start with another root key
// file re-seals nothing and records nothing, so the version 1 rows still
// re-seal once the right root key is back.
func TestResealAccessKeysWrongRoot(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	ak := createV1(t, e, kms.DefaultAccountID, "AKIAROOTKEY000000001", "root-secret-0123456789abcdef")
	wrong, err := keystore.OpenFileRoot(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	svc, err := kms.New(kms.Config{Store: e.db, Root: wrong, Rand: rand.Reader, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.ResealAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	checkIntegrityLogged(t, logs, ak, "root-secret-0123456789abcdef")
	if err := e.svc.ResealAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if id, err := e.svc.Identity(ctx, ak.ID); err != nil || id.Secret() != "root-secret-0123456789abcdef" {
		t.Fatalf("Identity after the right root is back = %v, %v", id, err)
	}
}

// TestResealAccessKeysUnknownVersion checks that a store whose access keys
// a newer release sealed is refused rather than misread.
func TestResealAccessKeysUnknownVersion(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	if err := e.db.PutMeta(ctx, "access-key-seal-version", []byte("3")); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResealAccessKeys(ctx); err == nil {
		t.Fatal("ResealAccessKeys accepted an unknown seal version")
	}
}
