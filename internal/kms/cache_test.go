package kms_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/wire"
)

// gatedStore pauses the next GetKey or GetAlias after it has read from the
// store, so a test can change the record while a load is in flight.
type gatedStore struct {
	store.Store
	getKeys    atomic.Int64 // GetKey calls
	aliasReads atomic.Int64 // GetAlias calls
	opens      atomic.Int64 // root key Open calls of the Service
	root       keystore.Root
	rand       io.Reader
	armed      atomic.Bool
	loaded     chan struct{} // receives when a gated read has finished
	release    chan struct{} // closed to let the gated read return
}

func newGatedStore(st store.Store) *gatedStore {
	return &gatedStore{Store: st, loaded: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedStore) gate() {
	if g.armed.CompareAndSwap(true, false) {
		g.loaded <- struct{}{}
		<-g.release
	}
}

func (g *gatedStore) GetKey(ctx context.Context, ref store.KeyRef) (store.Key, error) {
	g.getKeys.Add(1)
	k, err := g.Store.GetKey(ctx, ref)
	g.gate()
	return k, err
}

func (g *gatedStore) GetAlias(ctx context.Context, region, accountID, name string) (store.Alias, error) {
	g.aliasReads.Add(1)
	a, err := g.Store.GetAlias(ctx, region, accountID, name)
	g.gate()
	return a, err
}

// countingRoot counts Open calls: each is an unseal of key material or an
// access key secret.
type countingRoot struct {
	keystore.Root
	n *atomic.Int64
}

func (r countingRoot) Open(sealed, aad []byte) ([]byte, error) {
	r.n.Add(1)
	return r.Root.Open(sealed, aad)
}

// newService returns a Service over a fresh embedded store wrapped in a
// gatedStore, whose counters also count the Service's root key Opens.
func newService(t testing.TB, cfg kms.Config) (*kms.Service, *gatedStore) {
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
	g := newGatedStore(db)
	g.root, g.rand = root, rand.Reader
	cfg.Store, cfg.Root, cfg.Rand = g, countingRoot{root, &g.opens}, rand.Reader
	svc, err := kms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc, g
}

var testCaller = &kms.Caller{AccountID: kms.DefaultAccountID, Principal: "arn:aws:iam::111122223333:root", Region: "us-east-1",
	Identity: policy.Principal{Type: policy.PrincipalAccount, ARN: "arn:aws:iam::111122223333:root", Account: kms.DefaultAccountID}}

func wireCode(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return ""
}

// raceLoad starts op, waits until its store read has finished, runs change,
// then lets op go on and waits for it.
func raceLoad(t *testing.T, g *gatedStore, op func(), change func()) {
	t.Helper()
	var wg sync.WaitGroup
	g.armed.Store(true)
	wg.Go(op)
	select {
	case <-g.loaded:
	case <-time.After(10 * time.Second):
		t.Fatal("the operation never read the store")
	}
	change()
	close(g.release)
	wg.Wait()
}

// TestCacheLoadRacingDisable checks that a key loaded from the store while
// DisableKey runs is not left in the cache: the load read the key as
// Enabled, DisableKey then committed and dropped the cache entry, and the
// load must not put its stale copy back, or the disabled key would keep
// encrypting on this node forever.
func TestCacheLoadRacingDisable(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(svc *kms.Service, keyID string) error
		want   string
	}{
		{"disable", func(svc *kms.Service, keyID string) error {
			return svc.DisableKey(ctx, testCaller, &wire.DisableKeyRequest{KeyId: &keyID})
		}, "DisabledException"},
		{"schedule-deletion", func(svc *kms.Service, keyID string) error {
			_, err := svc.ScheduleKeyDeletion(ctx, testCaller, &wire.ScheduleKeyDeletionRequest{KeyId: &keyID})
			return err
		}, "KMSInvalidStateException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, g := newService(t, kms.Config{})
			ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
			if err != nil {
				t.Fatal(err)
			}
			keyID := *ck.KeyMetadata.KeyId
			encrypt := func() error {
				_, err := svc.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: &keyID, Plaintext: []byte("x")})
				return err
			}
			raceLoad(t, g, func() { encrypt() }, func() {
				if err := tc.change(svc, keyID); err != nil {
					t.Error(err)
				}
			})
			if err := encrypt(); wireCode(err) != tc.want {
				t.Fatalf("Encrypt after %s: err = %v, want %s", tc.name, err, tc.want)
			}
		})
	}
}

// TestCacheAliasLoadRacingUpdate checks the same for alias targets: an
// alias read while UpdateAlias repoints it must not be cached with its old
// target.
func TestCacheAliasLoadRacingUpdate(t *testing.T) {
	ctx := context.Background()
	svc, g := newService(t, kms.Config{})
	var ids []string
	for range 2 {
		ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *ck.KeyMetadata.KeyId)
	}
	alias := "alias/racing"
	if err := svc.CreateAlias(ctx, testCaller, &wire.CreateAliasRequest{AliasName: &alias, TargetKeyId: &ids[0]}); err != nil {
		t.Fatal(err)
	}
	describe := func() (string, error) {
		out, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: &alias})
		if err != nil {
			return "", err
		}
		return *out.KeyMetadata.KeyId, nil
	}
	raceLoad(t, g, func() { describe() }, func() {
		if err := svc.UpdateAlias(ctx, testCaller, &wire.UpdateAliasRequest{AliasName: &alias, TargetKeyId: &ids[1]}); err != nil {
			t.Error(err)
		}
	})
	got, err := describe()
	if err != nil {
		t.Fatal(err)
	}
	if got != ids[1] {
		t.Fatalf("alias resolves to %s after UpdateAlias, want %s", got, ids[1])
	}
}

// TestIdentityRefreshedAfterTTL checks that a node sharing its store with
// others notices a deleted access key once CacheTTL has passed, as it does
// for keys and aliases; otherwise a revoked credential would keep working
// on every node that had seen it until restart.
func TestIdentityRefreshedAfterTTL(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	svc, g := newService(t, kms.Config{CacheTTL: time.Second, Now: func() time.Time { return now }})
	creds, err := svc.Bootstrap(ctx, kms.DefaultAccountID, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Identity(ctx, creds.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	// Another node (or the operator) revokes the key in the shared store.
	if err := g.DeleteAccessKey(ctx, creds.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	if _, err := svc.Identity(ctx, creds.AccessKeyID); !errors.Is(err, kms.ErrUnknownAccessKey) {
		t.Fatalf("Identity of a deleted access key after CacheTTL: err = %v, want ErrUnknownAccessKey", err)
	}
}

// TestCacheTrustedWhileSynced: with a TTL, a cached key and alias older
// than the TTL are reloaded, unless the node's change listener has
// confirmed within the TTL that every committed change has reached it
// (Synced, from store.ChangeSynced); a reset (Invalidate with
// ChangeReset) withdraws that confirmation. A change announced meanwhile
// still drops the entry. Access keys keep the TTL alone.
func TestCacheTrustedWhileSynced(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	svc, g := newService(t, kms.Config{CacheTTL: time.Minute, Now: func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		return now
	}})
	advance := func() { // past the TTL of everything loaded so far
		clock.Lock()
		now = now.Add(2 * time.Minute)
		clock.Unlock()
	}
	if _, err := svc.Bootstrap(ctx, kms.DefaultAccountID, "", ""); err != nil {
		t.Fatal(err)
	}
	out, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := *out.KeyMetadata.KeyId
	if err := svc.CreateAlias(ctx, testCaller, &wire.CreateAliasRequest{AliasName: wire.Ptr("alias/synced"), TargetKeyId: &id}); err != nil {
		t.Fatal(err)
	}
	encrypt := func() {
		t.Helper()
		if _, err := svc.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: wire.Ptr("alias/synced"), Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	aliasReads := func() int64 { return g.aliasReads.Load() }
	encrypt() // cached
	reads, aliases := g.getKeys.Load(), aliasReads()
	encrypt()
	if g.getKeys.Load() != reads || aliasReads() != aliases {
		t.Fatal("a key used within the TTL was read from the store again")
	}

	advance()
	encrypt()
	if g.getKeys.Load() != reads+1 || aliasReads() != aliases+1 {
		t.Fatalf("past the TTL, not synced: %d key and %d alias reads, want 1 each", g.getKeys.Load()-reads, aliasReads()-aliases)
	}

	svc.Invalidate(store.Change{Kind: store.ChangeSynced, Synced: time.Now()})
	advance()
	reads, aliases = g.getKeys.Load(), aliasReads()
	encrypt()
	if g.getKeys.Load() != reads || aliasReads() != aliases {
		t.Fatal("past the TTL but synced within it: the key or alias was read from the store again")
	}

	// A change announced while synced still drops the key.
	svc.Invalidate(store.Change{Kind: store.ChangeKey, Region: "us-east-1", KeyID: id})
	encrypt()
	if g.getKeys.Load() != reads+1 {
		t.Fatal("a key change announced while synced did not drop the cached key")
	}

	// A reset withdraws the confirmation: past the TTL, entries reload.
	encrypt()
	svc.Invalidate(store.Change{Kind: store.ChangeReset})
	encrypt() // reloaded after the reset (it dropped everything)
	advance()
	reads, aliases = g.getKeys.Load(), aliasReads()
	encrypt()
	if g.getKeys.Load() != reads+1 || aliasReads() != aliases+1 {
		t.Fatal("after a reset, an entry past the TTL was trusted")
	}

	// A confirmation older than the TTL (real time) is not enough.
	svc.Invalidate(store.Change{Kind: store.ChangeSynced, Synced: time.Now().Add(-2 * time.Minute)})
	advance()
	reads = g.getKeys.Load()
	encrypt()
	if g.getKeys.Load() != reads+1 {
		t.Fatal("a confirmation older than the TTL kept an entry past the TTL")
	}
}
