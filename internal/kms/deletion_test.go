package kms_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/wire"
)

// TestCancelAfterWindowEnded checks that a key whose deletion window has
// ended cannot be saved by CancelKeyDeletion: the sweeper may already be
// deleting it, and a success answer would be a lie.
func TestCancelAfterWindowEnded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	svc, _ := newService(t, kms.Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ScheduleKeyDeletion(ctx, testCaller, &wire.ScheduleKeyDeletionRequest{KeyId: ck.KeyMetadata.KeyId, PendingWindowInDays: wire.Ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(7*24*time.Hour + time.Second)
	_, err = svc.CancelKeyDeletion(ctx, testCaller, &wire.CancelKeyDeletionRequest{KeyId: ck.KeyMetadata.KeyId})
	if wireCode(err) != "NotFoundException" {
		t.Fatalf("CancelKeyDeletion after the window = %v, want NotFoundException", err)
	}
	if n, err := svc.DeleteExpiredKeys(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredKeys = %d, %v", n, err)
	}
}

// listHookStore calls afterList once KeysDueForDeletion has read the list,
// so a test can change a key between the sweeper's list and its delete.
type listHookStore struct {
	store.Store
	afterList func()
}

func (h *listHookStore) KeysDueForDeletion(ctx context.Context, now time.Time) ([]store.KeyRef, error) {
	refs, err := h.Store.KeysDueForDeletion(ctx, now)
	if h.afterList != nil {
		h.afterList()
	}
	return refs, err
}

// TestCancelRacingSweeper checks that a CancelKeyDeletion on another node
// that commits after the sweeper listed the key as due wins: the key
// survives, Disabled, with its alias. The nodes share one store; the
// canceller's clock is a little behind the sweeper's, so for it the window
// has not ended yet.
func TestCancelRacingSweeper(t *testing.T) {
	dir := t.TempDir()
	db, err := embedded.Open(filepath.Join(dir, "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	newNode := func(st store.Store, now func() time.Time) *kms.Service {
		root, err := keystore.OpenFileRoot(filepath.Join(dir, "root.key"))
		if err != nil {
			t.Fatal(err)
		}
		svc, err := kms.New(kms.Config{Store: st, Root: root, Rand: rand.Reader, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(7 * 24 * time.Hour)
	cancelNow := start
	canceller := newNode(db, func() time.Time { return cancelNow })
	hook := &listHookStore{Store: db}
	sweeper := newNode(hook, func() time.Time { return end.Add(time.Second) })
	ctx := context.Background()

	ck, err := canceller.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	if err := canceller.CreateAlias(ctx, testCaller, &wire.CreateAliasRequest{AliasName: wire.Ptr("alias/survivor"), TargetKeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := canceller.ScheduleKeyDeletion(ctx, testCaller, &wire.ScheduleKeyDeletionRequest{KeyId: id, PendingWindowInDays: wire.Ptr(int32(7))}); err != nil {
		t.Fatal(err)
	}
	cancelNow = end.Add(-time.Second)
	cancelled := false
	hook.afterList = func() {
		if _, err := canceller.CancelKeyDeletion(ctx, testCaller, &wire.CancelKeyDeletionRequest{KeyId: id}); err != nil {
			t.Errorf("CancelKeyDeletion: %v", err)
		}
		cancelled = true
	}
	n, err := sweeper.DeleteExpiredKeys(ctx)
	if err != nil || n != 0 {
		t.Fatalf("DeleteExpiredKeys = %d, %v; want 0 keys deleted", n, err)
	}
	if !cancelled {
		t.Fatal("the sweeper did not list the key as due")
	}
	for name, svc := range map[string]*kms.Service{"sweeper": sweeper, "canceller": canceller} {
		d, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: wire.Ptr("alias/survivor")})
		if err != nil {
			t.Fatalf("%s: DescribeKey by alias after the race: %v", name, err)
		}
		if s := wire.Value(d.KeyMetadata.KeyState); s != "Disabled" {
			t.Errorf("%s: key state = %s, want Disabled", name, s)
		}
	}
	// Nothing is due any more.
	hook.afterList = nil
	if n, err := sweeper.DeleteExpiredKeys(ctx); err != nil || n != 0 {
		t.Fatalf("second DeleteExpiredKeys = %d, %v", n, err)
	}
}
