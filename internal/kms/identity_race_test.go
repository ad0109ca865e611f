package kms_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
)

// pausingStore holds GetAccessKey after its read until release is closed,
// so a test can deactivate the key while a load is under way.
type pausingStore struct {
	store.Store
	read    chan struct{}
	release chan struct{}
}

func (p *pausingStore) GetAccessKey(ctx context.Context, id string) (store.AccessKey, error) {
	ak, err := p.Store.GetAccessKey(ctx, id)
	if p.read != nil {
		close(p.read)
		<-p.release
		p.read = nil
	}
	return ak, err
}

// TestIdentityLoadRacingDeactivation checks that a load which read an
// access key before it was deactivated does not put the old, active key
// back in the cache after the deactivation was forgotten: the next
// request is refused at once, not after the cache TTL.
func TestIdentityLoadRacingDeactivation(t *testing.T) {
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
	ps := &pausingStore{Store: db}
	svc, err := kms.New(kms.Config{Store: ps, Root: root, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := svc.EnsureAccount(ctx, kms.DefaultAccountID); err != nil {
		t.Fatal(err)
	}
	creds, err := svc.CreateAccessKey(ctx, kms.DefaultAccountID, "", "")
	if err != nil {
		t.Fatal(err)
	}

	ps.read, ps.release = make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() { _, err := svc.Identity(ctx, creds.AccessKeyID); done <- err }()
	<-ps.read
	// The key is deactivated and forgotten while the load holds the
	// active row it read.
	if _, err := db.UpdateAccessKey(ctx, creds.AccessKeyID, func(k *store.AccessKey) error {
		k.Status = store.StatusInactive
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	svc.ForgetAccessKey(creds.AccessKeyID)
	close(ps.release)
	if err := <-done; err != nil {
		t.Fatalf("the racing load: %v (it read the key while it was active)", err)
	}

	if _, err := svc.Identity(ctx, creds.AccessKeyID); !errors.Is(err, kms.ErrUnknownAccessKey) {
		t.Fatalf("Identity after deactivation = %v, want ErrUnknownAccessKey (a stale load was cached)", err)
	}
}
