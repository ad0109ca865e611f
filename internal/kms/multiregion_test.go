package kms_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// failingUpdateStore fails the UpdateKey calls for which fail returns
// true, as a server that stops between two writes would leave the store.
type failingUpdateStore struct {
	store.Store
	fail func(store.KeyRef) bool
}

var errStopped = errors.New("test: server stopped here")

func (f *failingUpdateStore) UpdateKey(ctx context.Context, ref store.KeyRef, fn func(*store.Key) error) (store.Key, error) {
	if f.fail != nil && f.fail(ref) {
		return store.Key{}, errStopped
	}
	return f.Store.UpdateKey(ctx, ref, fn)
}

func inRegion(region string) *kms.Caller {
	c := *testCaller
	c.Region = region
	return &c
}

func replicaRegions(t *testing.T, svc *kms.Service, region, id string) (string, []string) {
	t.Helper()
	out, err := svc.DescribeKey(context.Background(), inRegion(region), &wire.DescribeKeyRequest{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	cfg := out.KeyMetadata.MultiRegionConfiguration
	var rs []string
	for _, r := range cfg.ReplicaKeys {
		rs = append(rs, *r.Region)
	}
	return *out.KeyMetadata.KeyState, rs
}

// TestReplicateKeyStoppedHalfway: the replica's document is written but
// the server stops before the primary lists it. The replica is still
// Creating; its first read, on another node, adds it to the set and makes
// it Enabled.
func TestReplicateKeyStoppedHalfway(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	fs := &failingUpdateStore{}
	nodes := sharedNodes(t, clk, func(s store.Store) store.Store { fs.Store = s; return fs }, nil)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	id := mustKey(t, a, &wire.CreateKeyRequest{MultiRegion: wire.Ptr(true)})

	fs.fail = func(ref store.KeyRef) bool { return ref.Region == "us-east-1" }
	_, err := a.ReplicateKey(ctx, testCaller, &wire.ReplicateKeyRequest{KeyId: &id, ReplicaRegion: wire.Ptr("eu-west-1")})
	if !errors.Is(err, errStopped) {
		t.Fatalf("ReplicateKey = %v, want the stop", err)
	}
	fs.fail = nil
	if _, rs := replicaRegions(t, b, "us-east-1", id); len(rs) != 0 {
		t.Fatalf("primary lists %v before the replica is read", rs)
	}
	state, rs := replicaRegions(t, b, "eu-west-1", id)
	if state != "Enabled" || !slices.Equal(rs, []string{"eu-west-1"}) {
		t.Fatalf("replica after its first read: %s, %v", state, rs)
	}
	// What the first read completed is not cached: a change applied while
	// it was being completed could otherwise stay cached, past the TTL
	// while the change listener confirms (Service.Synced). The next read
	// loads it from the store, and the one after is a cache hit.
	misses := b.CacheStats().KeyMisses
	replicaRegions(t, b, "eu-west-1", id)
	if got := b.CacheStats().KeyMisses - misses; got != 1 {
		t.Fatalf("the read after the replica was completed: %d store loads, want 1", got)
	}
	replicaRegions(t, b, "eu-west-1", id)
	if got := b.CacheStats().KeyMisses - misses; got != 1 {
		t.Fatalf("the second read after the replica was completed: %d store loads in all, want 1 (cached)", got)
	}
	if _, rs := replicaRegions(t, b, "us-east-1", id); !slices.Equal(rs, []string{"eu-west-1"}) {
		t.Fatalf("primary after the replica's first read lists %v", rs)
	}
	// Replicating again is refused: the region has the key.
	_, err = a.ReplicateKey(ctx, testCaller, &wire.ReplicateKeyRequest{KeyId: &id, ReplicaRegion: wire.Ptr("eu-west-1")})
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != "AlreadyExistsException" {
		t.Fatalf("ReplicateKey again = %v", err)
	}
}

// TestRotationStagesMaterialOnReplicas: when the primary's own update
// fails after the new material was staged, the replica holds the material
// but does not use it, and keeps encrypting with the old one.
func TestRotationStagesMaterialOnReplicas(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	fs := &failingUpdateStore{}
	nodes := sharedNodes(t, clk, func(s store.Store) store.Store { fs.Store = s; return fs })
	a := nodes[0]
	ctx := context.Background()
	id := mustKey(t, a, &wire.CreateKeyRequest{MultiRegion: wire.Ptr(true)})
	if _, err := a.ReplicateKey(ctx, testCaller, &wire.ReplicateKeyRequest{KeyId: &id, ReplicaRegion: wire.Ptr("eu-west-1")}); err != nil {
		t.Fatal(err)
	}
	eu := inRegion("eu-west-1")
	before, err := a.DescribeKey(ctx, eu, &wire.DescribeKeyRequest{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	fs.fail = func(ref store.KeyRef) bool { return ref.Region == "us-east-1" }
	if _, err := a.RotateKeyOnDemand(ctx, testCaller, &wire.RotateKeyOnDemandRequest{KeyId: &id}); !errors.Is(err, errStopped) {
		t.Fatalf("RotateKeyOnDemand = %v, want the stop", err)
	}
	fs.fail = nil
	after, err := a.DescribeKey(ctx, eu, &wire.DescribeKeyRequest{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	if *after.KeyMetadata.CurrentKeyMaterialId != *before.KeyMetadata.CurrentKeyMaterialId {
		t.Fatal("the replica uses material its primary never made current")
	}
	enc, err := a.Encrypt(ctx, eu, &wire.EncryptRequest{KeyId: &id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := a.Decrypt(ctx, testCaller, &wire.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "x" {
		t.Fatalf("Decrypt in the primary region = %v, %v", dec, err)
	}
	// The next rotation succeeds and reaches the replica.
	if _, err := a.RotateKeyOnDemand(ctx, testCaller, &wire.RotateKeyOnDemandRequest{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	p, _ := a.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: &id})
	r, _ := a.DescribeKey(ctx, eu, &wire.DescribeKeyRequest{KeyId: &id})
	if *p.KeyMetadata.CurrentKeyMaterialId != *r.KeyMetadata.CurrentKeyMaterialId {
		t.Fatal("primary and replica disagree on the current material")
	}
}

// TestMultiRegionKeyConditionKeys: kms:MultiRegionKeyType tells a replica
// from its primary (multi-region-keys-auth.md).
func TestMultiRegionKeyConditionKeys(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a := sharedNodes(t, clk, nil)[0]
	ctx := context.Background()
	// The root caller is governed by the key policy, which refuses
	// Encrypt with replicas only.
	pol := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"},
	 {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*",
	  "Condition":{"StringEquals":{"kms:MultiRegionKeyType":"REPLICA"}}}]}`
	id := mustKey(t, a, &wire.CreateKeyRequest{MultiRegion: wire.Ptr(true), Policy: &pol})
	if _, err := a.ReplicateKey(ctx, testCaller, &wire.ReplicateKeyRequest{KeyId: &id, ReplicaRegion: wire.Ptr("eu-west-1"), Policy: &pol}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: &id, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("Encrypt with the primary: %v", err)
	}
	_, err := a.Encrypt(ctx, inRegion("eu-west-1"), &wire.EncryptRequest{KeyId: &id, Plaintext: []byte("x")})
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != "AccessDeniedException" {
		t.Fatalf("Encrypt with the replica = %v, want AccessDeniedException", err)
	}
}
