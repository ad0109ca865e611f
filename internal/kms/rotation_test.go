package kms_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/wire"
)

// rotationHookStore calls beforeUpdate before an UpdateKey, so a test can
// act after a rotator has read a key as due and before its transaction.
type rotationHookStore struct {
	store.Store
	beforeUpdate func()
}

func (h *rotationHookStore) UpdateKey(ctx context.Context, ref store.KeyRef, fn func(*store.Key) error) (store.Key, error) {
	if f := h.beforeUpdate; f != nil {
		h.beforeUpdate = nil
		f()
	}
	return h.Store.UpdateKey(ctx, ref, fn)
}

// clock is a settable clock for services that share it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// sharedNodes returns n services over one embedded store and root key, as
// nodes of one deployment; wrap may wrap the store of each.
func sharedNodes(t *testing.T, clk *clock, wrap ...func(store.Store) store.Store) []*kms.Service {
	t.Helper()
	dir := t.TempDir()
	db, err := embedded.Open(filepath.Join(dir, "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := keystore.OpenFileRoot(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*kms.Service
	for _, w := range wrap {
		st := store.Store(db)
		if w != nil {
			st = w(db)
		}
		svc, err := kms.New(kms.Config{Store: st, Root: root, Rand: rand.Reader, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, svc)
	}
	return out
}

func mustKey(t *testing.T, svc *kms.Service, in *wire.CreateKeyRequest) string {
	t.Helper()
	out, err := svc.CreateKey(context.Background(), testCaller, in)
	if err != nil {
		t.Fatal(err)
	}
	return *out.KeyMetadata.KeyId
}

func rotations(t *testing.T, svc *kms.Service, id string) []wire.RotationsListEntry {
	t.Helper()
	out, err := svc.ListKeyRotations(context.Background(), testCaller, &wire.ListKeyRotationsRequest{KeyId: &id, IncludeKeyMaterial: wire.Ptr("ALL_KEY_MATERIAL")})
	if err != nil {
		t.Fatal(err)
	}
	return out.Rotations
}

// TestRotationRacingNodes checks that a key due for rotation is rotated
// once when two nodes sweep at the same time: node B rotates it after node
// A listed and read it as due and before A's transaction, and A, which
// checks again in its transaction, leaves it alone.
func TestRotationRacingNodes(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	hook := &rotationHookStore{}
	nodes := sharedNodes(t, clk, func(s store.Store) store.Store { hook.Store = s; return hook }, nil)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	id := mustKey(t, a, &wire.CreateKeyRequest{})
	if err := a.EnableKeyRotation(ctx, testCaller, &wire.EnableKeyRotationRequest{KeyId: &id, RotationPeriodInDays: wire.Ptr(int32(90))}); err != nil {
		t.Fatal(err)
	}
	if n, err := a.RotateDueKeys(ctx); err != nil || n != 0 {
		t.Fatalf("RotateDueKeys before the date = %d, %v", n, err)
	}
	clk.set(start.Add(90 * 24 * time.Hour))
	var bRotated int
	hook.beforeUpdate = func() {
		var err error
		if bRotated, err = b.RotateDueKeys(ctx); err != nil {
			t.Errorf("node B: %v", err)
		}
	}
	n, err := a.RotateDueKeys(ctx)
	if err != nil || n != 0 || bRotated != 1 {
		t.Fatalf("node A rotated %d (%v), node B %d; want 0 and 1", n, err, bRotated)
	}
	rs := rotations(t, a, id)
	if len(rs) != 2 || wire.Value(rs[1].RotationType) != "AUTOMATIC" || !rs[1].RotationDate.Time().Equal(clk.now()) {
		t.Fatalf("rotations = %+v", rs)
	}
	st, err := a.GetKeyRotationStatus(ctx, testCaller, &wire.GetKeyRotationStatusRequest{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.now().Add(90 * 24 * time.Hour); !st.NextRotationDate.Time().Equal(want) {
		t.Errorf("NextRotationDate = %v, want %v (one period after the rotation)", st.NextRotationDate.Time(), want)
	}
	// Both nodes see the rotated key; nothing is due any more.
	for _, svc := range nodes {
		if n, err := svc.RotateDueKeys(ctx); err != nil || n != 0 {
			t.Fatalf("second sweep = %d, %v", n, err)
		}
	}
}

// TestRotationSkipsDisabledKey checks that a Disabled key is not rotated
// while disabled and is rotated by the first sweep after it is enabled.
func TestRotationSkipsDisabledKey(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	svc := sharedNodes(t, clk, nil)[0]
	ctx := context.Background()
	id := mustKey(t, svc, &wire.CreateKeyRequest{})
	if err := svc.EnableKeyRotation(ctx, testCaller, &wire.EnableKeyRotationRequest{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	if err := svc.DisableKey(ctx, testCaller, &wire.DisableKeyRequest{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	clk.set(start.Add(400 * 24 * time.Hour))
	if n, err := svc.RotateDueKeys(ctx); err != nil || n != 0 {
		t.Fatalf("RotateDueKeys of a disabled key = %d, %v", n, err)
	}
	if err := svc.EnableKey(ctx, testCaller, &wire.EnableKeyRequest{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.RotateDueKeys(ctx); err != nil || n != 1 {
		t.Fatalf("RotateDueKeys after EnableKey = %d, %v; want 1", n, err)
	}
}

// TestRotateOnDemandRules checks the per-key limit of 25 on-demand
// rotations and the ConflictException within 20 minutes of an automatic
// rotation.
func TestRotateOnDemandRules(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	svc := sharedNodes(t, clk, nil)[0]
	ctx := context.Background()

	id := mustKey(t, svc, &wire.CreateKeyRequest{})
	for i := range 25 {
		if _, err := svc.RotateKeyOnDemand(ctx, testCaller, &wire.RotateKeyOnDemandRequest{KeyId: &id}); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
	}
	_, err := svc.RotateKeyOnDemand(ctx, testCaller, &wire.RotateKeyOnDemandRequest{KeyId: &id})
	if wireCode(err) != "LimitExceededException" {
		t.Fatalf("26th on-demand rotation = %v, want LimitExceededException", err)
	}
	if got := len(rotations(t, svc, id)); got != 26 {
		t.Fatalf("%d materials after 25 rotations and a refused one, want 26", got)
	}

	id = mustKey(t, svc, &wire.CreateKeyRequest{})
	if err := svc.EnableKeyRotation(ctx, testCaller, &wire.EnableKeyRotationRequest{KeyId: &id, RotationPeriodInDays: wire.Ptr(int32(90))}); err != nil {
		t.Fatal(err)
	}
	due := start.Add(90 * 24 * time.Hour)
	clk.set(due.Add(-20*time.Minute - time.Millisecond))
	if _, err := svc.RotateKeyOnDemand(ctx, testCaller, &wire.RotateKeyOnDemandRequest{KeyId: &id}); err != nil {
		t.Fatalf("on-demand rotation just over 20 minutes before the automatic one: %v", err)
	}
	clk.set(due.Add(-20 * time.Minute))
	_, err = svc.RotateKeyOnDemand(ctx, testCaller, &wire.RotateKeyOnDemandRequest{KeyId: &id})
	if wireCode(err) != "ConflictException" {
		t.Fatalf("on-demand rotation 20 minutes before the automatic one = %v, want ConflictException", err)
	}
	// The on-demand rotation did not move the schedule.
	st, err := svc.GetKeyRotationStatus(ctx, testCaller, &wire.GetKeyRotationStatusRequest{KeyId: &id})
	if err != nil || !st.NextRotationDate.Time().Equal(due) {
		t.Fatalf("NextRotationDate = %v, %v; want %v", st.NextRotationDate, err, due)
	}
}

// TestEnableKeyRotationChangesPeriod checks that enabling rotation again
// with another period moves the next date by the difference.
func TestEnableKeyRotationChangesPeriod(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	svc := sharedNodes(t, clk, nil)[0]
	ctx := context.Background()
	id := mustKey(t, svc, &wire.CreateKeyRequest{})
	if err := svc.EnableKeyRotation(ctx, testCaller, &wire.EnableKeyRotationRequest{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	clk.set(start.Add(10 * 24 * time.Hour))
	if err := svc.EnableKeyRotation(ctx, testCaller, &wire.EnableKeyRotationRequest{KeyId: &id, RotationPeriodInDays: wire.Ptr(int32(100))}); err != nil {
		t.Fatal(err)
	}
	st, err := svc.GetKeyRotationStatus(ctx, testCaller, &wire.GetKeyRotationStatusRequest{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	if want := start.Add(100 * 24 * time.Hour); !st.NextRotationDate.Time().Equal(want) || wire.Value(st.RotationPeriodInDays) != 100 {
		t.Fatalf("status = %v %d, want %v 100", st.NextRotationDate.Time(), wire.Value(st.RotationPeriodInDays), want)
	}
}

// TestKeyLastUsageMergesNodes checks that the last use of a key is the
// latest one across nodes once they have flushed, whatever the order of
// their flushes, and that flushing writes only what moved.
func TestKeyLastUsageMergesNodes(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	nodes := sharedNodes(t, clk, nil, nil)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	id := mustKey(t, a, &wire.CreateKeyRequest{})
	last := func(svc *kms.Service) *wire.KeyLastUsageData {
		t.Helper()
		out, err := svc.GetKeyLastUsage(ctx, testCaller, &wire.GetKeyLastUsageRequest{KeyId: &id})
		if err != nil {
			t.Fatal(err)
		}
		return out.KeyLastUsage
	}
	if u := last(a); u != nil {
		t.Fatalf("unused key has KeyLastUsage %+v", u)
	}
	ca, cb := *testCaller, *testCaller
	ca.RequestID, cb.RequestID = "req-a", "req-b"

	clk.set(start.Add(time.Minute))
	enc, err := a.Encrypt(ctx, &ca, &wire.EncryptRequest{KeyId: &id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	clk.set(start.Add(2 * time.Minute))
	if _, err := b.Decrypt(ctx, &cb, &wire.DecryptRequest{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatal(err)
	}
	// Each node sees its own use before any flush.
	if u := last(a); wire.Value(u.Operation) != "Encrypt" || wire.Value(u.KmsRequestId) != "req-a" {
		t.Fatalf("node A before flushing: %+v", u)
	}
	// B flushes first, then A: A's older use must not overwrite B's.
	if n, err := b.FlushKeyUsage(ctx); err != nil || n != 1 {
		t.Fatalf("B flush = %d, %v", n, err)
	}
	if n, err := a.FlushKeyUsage(ctx); err != nil || n != 0 {
		t.Fatalf("A flush = %d, %v; want 0 (the stored use is later)", n, err)
	}
	for name, svc := range map[string]*kms.Service{"A": a, "B": b} {
		u := last(svc)
		if wire.Value(u.Operation) != "Decrypt" || wire.Value(u.KmsRequestId) != "req-b" || !u.Timestamp.Time().Equal(start.Add(2*time.Minute)) {
			t.Errorf("node %s after both flushes: %s %s %v", name, wire.Value(u.Operation), wire.Value(u.KmsRequestId), u.Timestamp.Time())
		}
	}
	// Nothing moved: nothing is written, and the idle cell is dropped.
	if n, err := b.FlushKeyUsage(ctx); err != nil || n != 0 {
		t.Fatalf("idle flush = %d, %v", n, err)
	}
	if n := b.UsageCells(); n != 0 {
		t.Fatalf("%d usage cells kept after an idle flush, want 0", n)
	}
	// The cached key held the dropped cell: its next use is still kept.
	clk.set(start.Add(150 * time.Second))
	cb.RequestID = "req-b2"
	if _, err := b.Decrypt(ctx, &cb, &wire.DecryptRequest{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.FlushKeyUsage(ctx); err != nil || n != 1 {
		t.Fatalf("flush after a new use = %d, %v", n, err)
	}
	if u := last(a); wire.Value(u.KmsRequestId) != "req-b2" {
		t.Fatalf("use after the cell was dropped: %+v", u)
	}
	// A failed operation is not a use.
	clk.set(start.Add(3 * time.Minute))
	if _, err := a.Decrypt(ctx, &ca, &wire.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"k": "v"}}); wireCode(err) != "InvalidCiphertextException" {
		t.Fatalf("Decrypt with the wrong context = %v", err)
	}
	if u := last(b); wire.Value(u.KmsRequestId) != "req-b2" {
		t.Fatalf("a failed Decrypt changed the last use: %+v", u)
	}
}

// TestDecryptAfterRotationOnAnotherNode checks that a node whose cached
// copy of a key predates a rotation made by another node decrypts
// ciphertext made with the new material (it reloads the key once), and
// that ciphertext naming material the key does not have costs one store
// read per key revision, not one per request.
func TestDecryptAfterRotationOnAnotherNode(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	dir := t.TempDir()
	db, err := embedded.Open(filepath.Join(dir, "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := keystore.OpenFileRoot(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	ga, gb := newGatedStore(db), newGatedStore(db)
	// A cache TTL far longer than the test: only the reload can refresh.
	a, err := kms.New(kms.Config{Store: ga, Root: root, Rand: rand.Reader, Now: clk.now, CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, err := kms.New(kms.Config{Store: gb, Root: root, Rand: rand.Reader, Now: clk.now, CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := mustKey(t, a, &wire.CreateKeyRequest{})
	old, err := a.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: &id, Plaintext: []byte("old")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.RotateKeyOnDemand(ctx, testCaller, &wire.RotateKeyOnDemandRequest{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	enc, err := b.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: &id, Plaintext: []byte("new")})
	if err != nil {
		t.Fatal(err)
	}
	reads := ga.getKeys.Load()
	dec, err := a.Decrypt(ctx, testCaller, &wire.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "new" {
		t.Fatalf("node A Decrypt of a blob made after B rotated = %v, %v", dec, err)
	}
	if got := ga.getKeys.Load() - reads; got != 1 {
		t.Errorf("node A read the key %d times to find the new material, want 1", got)
	}
	if dec, err := a.Decrypt(ctx, testCaller, &wire.DecryptRequest{CiphertextBlob: old.CiphertextBlob}); err != nil || string(dec.Plaintext) != "old" {
		t.Fatalf("old blob on node A = %v, %v", dec, err)
	}

	// A blob naming material the key never had: same answer every time,
	// and one store read for the revision.
	bogus := append([]byte(nil), enc.CiphertextBlob...)
	bogus[20] ^= 0xff // inside the material id (offset 18..49)
	reads = ga.getKeys.Load()
	for range 5 {
		if _, err := a.Decrypt(ctx, testCaller, &wire.DecryptRequest{CiphertextBlob: bogus}); wireCode(err) != "InvalidCiphertextException" {
			t.Fatalf("Decrypt of unknown material = %v", err)
		}
	}
	if got := ga.getKeys.Load() - reads; got > 1 {
		t.Errorf("5 blobs naming unknown material read the key %d times, want at most 1", got)
	}
}

// TestTrackingStartDate checks GetKeyLastUsage's TrackingStartDate: for
// a key created before the store began tracking usage it is when tracking
// began, which later starts do not move; for a key created after, its
// creation date.
func TestTrackingStartDate(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	nodes := sharedNodes(t, clk, nil, nil)
	ctx := context.Background()
	old := mustKey(t, nodes[0], &wire.CreateKeyRequest{})
	clk.set(start.Add(time.Hour))
	if err := nodes[1].StartUsageTracking(ctx); err != nil {
		t.Fatal(err)
	}
	clk.set(start.Add(2 * time.Hour))
	if err := nodes[0].StartUsageTracking(ctx); err != nil {
		t.Fatal(err)
	}
	clk.set(start.Add(3 * time.Hour))
	fresh := mustKey(t, nodes[0], &wire.CreateKeyRequest{})
	for _, tc := range []struct {
		id              string
		created, starts time.Time
	}{{old, start, start.Add(time.Hour)}, {fresh, start.Add(3 * time.Hour), start.Add(3 * time.Hour)}} {
		for _, svc := range nodes {
			out, err := svc.GetKeyLastUsage(ctx, testCaller, &wire.GetKeyLastUsageRequest{KeyId: &tc.id})
			if err != nil {
				t.Fatal(err)
			}
			if !out.KeyCreationDate.Time().Equal(tc.created) || !out.TrackingStartDate.Time().Equal(tc.starts) || out.KeyLastUsage != nil {
				t.Errorf("key created %v: KeyCreationDate %v, TrackingStartDate %v, want %v", tc.created, out.KeyCreationDate.Time(), out.TrackingStartDate.Time(), tc.starts)
			}
		}
	}
}
