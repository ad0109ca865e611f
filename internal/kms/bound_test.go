package kms_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/wire"
)

// TestKeyCacheBounded checks that with KeyCacheSize N, creating and using
// 10N keys keeps at most N keys in memory, that every key still encrypts
// and decrypts (an evicted key is reloaded from the store), and that the
// eviction is least-recently-used: a key used between every two new keys
// is never evicted, so it is read from the store once.
func TestKeyCacheBounded(t *testing.T) {
	const n = 16
	ctx := context.Background()
	svc, g := newService(t, kms.Config{KeyCacheSize: n})
	create := func() string {
		t.Helper()
		ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return *ck.KeyMetadata.KeyId
	}
	encrypt := func(id string) []byte {
		t.Helper()
		out, err := svc.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: &id, Plaintext: []byte(id)})
		if err != nil {
			t.Fatalf("Encrypt with %s: %v", id, err)
		}
		return out.CiphertextBlob
	}
	checkBound := func(when string) {
		t.Helper()
		if keys, _, _ := svc.CacheLens(); keys > n {
			t.Fatalf("%s: %d keys cached, bound is %d", when, keys, n)
		}
	}

	hot := create()
	encrypt(hot)
	hotLoads := g.getKeys.Load()
	ids := make([]string, 10*n)
	blobs := make([][]byte, len(ids))
	for i := range ids {
		ids[i] = create()
		blobs[i] = encrypt(ids[i])
		encrypt(hot)
		checkBound(fmt.Sprintf("after key %d", i))
	}
	// Every key's GetKey is one load; the hot key must not have been
	// loaded again.
	if got, want := g.getKeys.Load()-hotLoads, int64(len(ids)); got != want {
		t.Errorf("%d store reads while using %d new keys and the hot key, want %d: the hot key was evicted", got, len(ids), want)
	}
	for i, id := range ids {
		out, err := svc.Decrypt(ctx, testCaller, &wire.DecryptRequest{CiphertextBlob: blobs[i]})
		if err != nil {
			t.Fatalf("Decrypt under evicted key %s: %v", id, err)
		}
		if string(out.Plaintext) != id {
			t.Fatalf("Decrypt under %s = %q", id, out.Plaintext)
		}
		checkBound(fmt.Sprintf("after decrypt %d", i))
	}
	if keys, _, _ := svc.CacheLens(); keys != n {
		t.Errorf("%d keys cached after using %d, want the cache full at %d", keys, len(ids)+1, n)
	}
}

// TestKeyCacheEvictionKeepsInvalidation checks that a key written while
// evicted, then reloaded, is seen in its new state: eviction and the
// generation logic together never bring back a stale copy.
func TestKeyCacheEvictionKeepsInvalidation(t *testing.T) {
	const n = 2
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{KeyCacheSize: n})
	var ids []string
	for range 3 * n {
		ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *ck.KeyMetadata.KeyId)
	}
	for _, id := range ids {
		if _, err := svc.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: &id, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if err := svc.DisableKey(ctx, testCaller, &wire.DisableKeyRequest{KeyId: &id}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		_, err := svc.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: &id, Plaintext: []byte("x")})
		if wireCode(err) != "DisabledException" {
			t.Fatalf("Encrypt with disabled key %s: %v, want DisabledException", id, err)
		}
	}
}

// TestAliasAndIdentityCachesBounded checks that the alias and access key
// caches are bounded by KeyCacheSize too: resolving many aliases or
// authenticating with many access keys cannot grow memory without limit.
func TestAliasAndIdentityCachesBounded(t *testing.T) {
	const n = 4
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{KeyCacheSize: n})
	ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.EnsureAccount(ctx, kms.DefaultAccountID); err != nil {
		t.Fatal(err)
	}
	// The aliases-per-key quota (50) allows 10n aliases of one key.
	for i := range 10 * n {
		name := fmt.Sprintf("alias/a%02d", i)
		if err := svc.CreateAlias(ctx, testCaller, &wire.CreateAliasRequest{AliasName: &name, TargetKeyId: ck.KeyMetadata.KeyId}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: &name}); err != nil {
			t.Fatal(err)
		}
		creds, err := svc.CreateAccessKey(ctx, kms.DefaultAccountID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		id, err := svc.Identity(ctx, creds.AccessKeyID)
		if err != nil || id.Secret() != creds.SecretAccessKey {
			t.Fatalf("Identity(%s) = %v, %v", creds.AccessKeyID, id, err)
		}
		if _, aliases, idents := svc.CacheLens(); aliases > n || idents > n {
			t.Fatalf("after %d aliases and access keys: %d aliases and %d identities cached, bound is %d", i+1, aliases, idents, n)
		}
	}
}

// TestListKeysReadsNoMaterial checks that ListKeys and ListAliases neither
// read a key from the store nor unseal anything: listing 50 keys that are
// not cached costs no GetKey and no root key Open.
func TestListKeysReadsNoMaterial(t *testing.T) {
	ctx := context.Background()
	svc, g := newService(t, kms.Config{})
	for i := range 50 {
		ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("alias/l%02d", i)
		if err := svc.CreateAlias(ctx, testCaller, &wire.CreateAliasRequest{AliasName: &name, TargetKeyId: ck.KeyMetadata.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh Service over the same store has nothing cached.
	svc2, err := kms.New(kms.Config{Store: g, Root: countingRoot{g.root, &g.opens}, Rand: g.rand})
	if err != nil {
		t.Fatal(err)
	}
	reads, opens := g.getKeys.Load(), g.opens.Load()
	keys, err := svc2.ListKeys(ctx, testCaller, &wire.ListKeysRequest{})
	if err != nil || len(keys.Keys) != 50 {
		t.Fatalf("ListKeys = %d keys, %v", len(keys.Keys), err)
	}
	aliases, err := svc2.ListAliases(ctx, testCaller, &wire.ListAliasesRequest{})
	if err != nil || len(aliases.Aliases) != 50 {
		t.Fatalf("ListAliases = %d aliases, %v", len(aliases.Aliases), err)
	}
	if r, o := g.getKeys.Load()-reads, g.opens.Load()-opens; r != 0 || o != 0 {
		t.Fatalf("listing read %d keys from the store and unsealed %d values, want none", r, o)
	}
	if keys, _, _ := svc2.CacheLens(); keys != 0 {
		t.Fatalf("listing cached %d keys", keys)
	}
}
