package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/postgres"
)

// TestKeyStateCountsBackfilled writes keys into a schema at version 7,
// before the counts by state and spec, then opens it with every migration
// and checks that the upgrade counts the keys it already holds, and that
// the trigger keeps counting after it.
func TestKeyStateCountsBackfilled(t *testing.T) {
	u := freshSchema(t)
	restore := postgres.UseMigrations(7)
	db, err := postgres.Open(t.Context(), u)
	restore()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := db.CreateAccount(ctx, store.Account{ID: "111122223333", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		k := store.Key{Region: "us-east-1", KeyID: fmt.Sprintf("k%d", i), AccountID: "111122223333", KeyState: "Enabled",
			KeySpec: "SYMMETRIC_DEFAULT", CreationDate: time.Now()}
		if i == 4 {
			k.KeyState = "Disabled"
		}
		if err := db.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	db, err = postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := []store.KeyCount{{KeyState: "Disabled", KeySpec: "SYMMETRIC_DEFAULT", N: 1}, {KeyState: "Enabled", KeySpec: "SYMMETRIC_DEFAULT", N: 4}}
	if c, err := db.KeyCounts(ctx); err != nil || fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("KeyCounts after the upgrade = %+v, %v; want %+v", c, err, want)
	}
	if _, err := db.UpdateKey(ctx, store.KeyRef{Region: "us-east-1", KeyID: "k4"}, func(k *store.Key) error {
		k.KeyState = "Enabled"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want = []store.KeyCount{{KeyState: "Enabled", KeySpec: "SYMMETRIC_DEFAULT", N: 5}}
	if c, err := db.KeyCounts(ctx); err != nil || fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("KeyCounts after enabling the disabled key = %+v, %v; want %+v", c, err, want)
	}
}
