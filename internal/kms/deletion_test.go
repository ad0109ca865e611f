package kms_test

import (
	"context"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/kms"
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
