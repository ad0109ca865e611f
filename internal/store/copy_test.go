package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
)

// TestCopyAndCompare: Copy reproduces a store that Compare finds equal;
// Compare finds a record that differs or is missing; Copy refuses a
// target that holds data.
func TestCopyAndCompare(t *testing.T) {
	ctx := context.Background()
	open := func() *embedded.DB {
		db, err := embedded.OpenMemory()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	src, dst := open(), open()
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(src.PutMeta(ctx, "root_key_check_v1", []byte{1, 2, 3}))
	must(src.CreateAccount(ctx, store.Account{ID: "111122223333", CreatedAt: now}))
	must(src.CreateEntity(ctx, store.Entity{AccountID: "111122223333", Kind: store.KindUser, Name: "alice", Path: "/", ID: "AIDA1", CreatedAt: now}))
	must(src.CreatePolicy(ctx, store.ManagedPolicy{AccountID: "111122223333", Name: "p", Path: "/", ID: "ANPA1", Document: "{}", DefaultVersionID: "v1", CreatedAt: now, UpdatedAt: now}))
	must(src.AttachPolicy(ctx, "111122223333", store.KindUser, "alice", "p"))
	must(src.PutInlinePolicy(ctx, store.InlinePolicy{AccountID: "111122223333", Kind: store.KindUser, EntityName: "alice", Name: "i", Document: "{}"}))
	must(src.CreateAccessKey(ctx, store.AccessKey{ID: "AKIA1", AccountID: "111122223333", Principal: "arn:aws:iam::111122223333:user/alice",
		UserName: "alice", Status: store.StatusInactive, SealedSecret: []byte("sealed"), CreatedAt: now}))
	for _, region := range []string{"eu-west-1", "us-east-1"} {
		must(src.CreateKey(ctx, store.Key{Region: region, KeyID: "k-" + region, AccountID: "111122223333", KeyState: "Enabled", CreationDate: now,
			CurrentMaterialID: "m", Materials: []store.Material{{ID: "m", Sealed: []byte("sealed"), CreatedAt: now}}}))
	}
	// A custom key store in a region without keys is copied too.
	must(src.CreateCustomKeyStore(ctx, store.CustomKeyStore{Region: "ap-south-1", ID: "cks-1234567890abcdef0", AccountID: "111122223333",
		Name: "hsm", Type: store.TypeCloudHSM, CreationDate: now, ConnectionState: store.Connected,
		CloudHsmClusterID: "cluster-2ab3cd4ef5g", TrustAnchorCertificate: "pem", SealedPassword: []byte("sealed")}, 0))
	_, err := src.UpdateKey(ctx, store.KeyRef{Region: "us-east-1", KeyID: "k-us-east-1"}, func(k *store.Key) error { k.Description = "changed"; return nil })
	must(err)
	must(src.CreateAlias(ctx, store.Alias{Region: "eu-west-1", AccountID: "111122223333", Name: "alias/a", TargetKeyID: "k-eu-west-1", CreationDate: now, LastUpdatedDate: now}))
	must(src.CreateGrant(ctx, store.Grant{Region: "eu-west-1", KeyID: "k-eu-west-1", AccountID: "111122223333", GrantID: strings.Repeat("a", 64),
		GranteePrincipal: "arn:aws:iam::111122223333:root", Operations: []string{"Decrypt"}, CreationDate: now}, 0))

	n, err := store.Copy(ctx, dst, src)
	must(err)
	want := map[string]int{"meta": 1, "accounts": 1, "iam_entities": 1, "iam_policies": 1, "iam_inline_policies": 1, "iam_attachments": 1,
		"access_keys": 1, "keys": 2, "aliases": 1, "grants": 1, "custom_key_stores": 1}
	for k, v := range want {
		if n[k] != v {
			t.Errorf("copied %d %s, want %d", n[k], k, v)
		}
	}
	must(store.Compare(ctx, src, dst))

	if _, err := store.Copy(ctx, dst, src); !errors.Is(err, store.ErrTargetNotEmpty) {
		t.Fatalf("second Copy = %v, want ErrTargetNotEmpty", err)
	}
	_, err = dst.UpdateCustomKeyStore(ctx, "ap-south-1", "cks-1234567890abcdef0", func(c *store.CustomKeyStore) error { c.ConnectionState = store.Disconnected; return nil })
	must(err)
	if err := store.Compare(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "custom_key_stores ap-south-1/cks-1234567890abcdef0 differs") {
		t.Fatalf("Compare after a custom key store change = %v", err)
	}
	_, err = dst.UpdateCustomKeyStore(ctx, "ap-south-1", "cks-1234567890abcdef0", func(c *store.CustomKeyStore) error { c.ConnectionState = store.Connected; return nil })
	must(err)
	_, err = dst.UpdateKey(ctx, store.KeyRef{Region: "eu-west-1", KeyID: "k-eu-west-1"}, func(k *store.Key) error { k.Materials[0].Sealed = []byte("other"); return nil })
	must(err)
	if err := store.Compare(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "keys eu-west-1/k-eu-west-1 differs") || strings.Contains(err.Error(), "other") {
		t.Fatalf("Compare after a change = %v", err)
	}
	must(dst.DeleteGrant(ctx, store.KeyRef{Region: "eu-west-1", KeyID: "k-eu-west-1"}, strings.Repeat("a", 64)))
	if err := store.Compare(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "grants: 1 records in one store, 0 in the other") {
		t.Fatalf("Compare after a delete = %v", err)
	}
}
