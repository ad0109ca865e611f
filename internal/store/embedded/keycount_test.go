package embedded

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/store"
)

// TestKeyCountsBackfilled writes keys into a database at schema version 5,
// before the key counts, then opens it with every migration and checks
// that the upgrade counts the keys it already holds: customer keys only
// for the quota (CountKeys), every key by state and spec (KeyCounts).
func TestKeyCountsBackfilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trent.db")
	all := migrations
	migrations = all[:5]
	db, err := Open(path)
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := db.CreateAccount(ctx, store.Account{ID: "111122223333", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		k := store.Key{Region: "us-east-1", KeyID: fmt.Sprintf("k%d", i), AccountID: "111122223333", KeyState: "Enabled", CreationDate: time.Now()}
		if i == 4 {
			k.KeyManager = "AWS"
		}
		if err := db.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := db.CountKeys(ctx, "us-east-1", "111122223333"); err != nil || n != 4 {
		t.Fatalf("CountKeys after the upgrade = %d, %v; want the 4 customer keys", n, err)
	}
	// Migration 8 counts them by state and spec, AWS managed keys too.
	if c, err := db.KeyCounts(ctx); err != nil || len(c) != 1 || c[0] != (store.KeyCount{KeyState: "Enabled", KeySpec: "", N: 5}) {
		t.Fatalf("KeyCounts after the upgrade = %+v, %v; want the 5 keys Enabled", c, err)
	}
	if err := db.DeleteKey(ctx, store.KeyRef{Region: "us-east-1", KeyID: "k0"}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.CountKeys(ctx, "us-east-1", "111122223333"); err != nil || n != 3 {
		t.Fatalf("CountKeys after a deletion = %d, %v; want 3", n, err)
	}
}
