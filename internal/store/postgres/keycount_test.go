package postgres_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// TestKeyStateCountsConcurrent: keys of one state and spec changing state
// at once, in opposite directions, neither deadlock nor lose a count (the
// trigger appends rows instead of updating shared ones), and creations in
// several accounts at once all count.
func TestKeyStateCountsConcurrent(t *testing.T) {
	db := open(t, freshSchema(t))
	ctx := t.Context()
	const workers, flips = 16, 30
	for i := range workers {
		acct := fmt.Sprintf("1111222233%02d", i)
		if err := db.CreateAccount(ctx, store.Account{ID: acct, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		state := "Enabled"
		if i%2 == 1 {
			state = "Disabled"
		}
		if err := db.CreateKey(ctx, store.Key{Region: "us-east-1", KeyID: fmt.Sprintf("k%02d", i), AccountID: acct,
			KeyState: state, KeySpec: "SYMMETRIC_DEFAULT", CreationDate: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := store.KeyRef{Region: "us-east-1", KeyID: fmt.Sprintf("k%02d", i)}
			for j := range flips {
				if _, err := db.UpdateKey(ctx, ref, func(k *store.Key) error {
					k.KeyState = map[string]string{"Enabled": "Disabled", "Disabled": "Enabled"}[k.KeyState]
					return nil
				}); err != nil {
					t.Errorf("flip %d of %s: %v", j, ref.KeyID, err)
					return
				}
				// A new key in the worker's account now and then.
				if j%10 == 0 {
					if err := db.CreateKey(ctx, store.Key{Region: "us-east-1", KeyID: fmt.Sprintf("n%02d-%02d", i, j),
						AccountID: fmt.Sprintf("1111222233%02d", i), KeyState: "Enabled", KeySpec: "SYMMETRIC_DEFAULT", CreationDate: time.Now()}); err != nil {
						t.Errorf("create in worker %d: %v", i, err)
						return
					}
				}
			}
		}()
	}
	// A scrape folding the counts while they change.
	for range 5 {
		if _, err := db.KeyCounts(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	// flips is even: every key is back in its first state; each worker
	// made flips/10 new Enabled keys.
	want := []store.KeyCount{{KeyState: "Disabled", KeySpec: "SYMMETRIC_DEFAULT", N: workers / 2},
		{KeyState: "Enabled", KeySpec: "SYMMETRIC_DEFAULT", N: workers/2 + workers*flips/10}}
	for range 2 { // once folding what the workers appended, once more on the folded rows
		if c, err := db.KeyCounts(ctx); err != nil || fmt.Sprint(c) != fmt.Sprint(want) {
			t.Fatalf("KeyCounts = %+v, %v; want %+v", c, err, want)
		}
	}
}

// TestRecordKeyUsageConcurrentDelete: a key deleted while a usage flush
// records its use is reported missing; the flush does not fail (before,
// the foreign key check failed the whole batch).
func TestRecordKeyUsageConcurrentDelete(t *testing.T) {
	u := freshSchema(t)
	db := open(t, u)
	ctx := t.Context()
	if err := db.CreateAccount(ctx, store.Account{ID: "111122223333", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"gone", "kept"} {
		if err := db.CreateKey(ctx, store.Key{Region: "us-east-1", KeyID: id, AccountID: "111122223333", KeyState: "Enabled", CreationDate: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM keys WHERE region = 'us-east-1' AND key_id = 'gone'`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n       int
		missing []store.KeyRef
		err     error
	}
	done := make(chan result, 1)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	go func() {
		n, missing, err := db.RecordKeyUsage(ctx, []store.KeyUsageRecord{
			{Ref: store.KeyRef{Region: "us-east-1", KeyID: "gone"}, Usage: store.KeyUsage{Time: at, Operation: "Encrypt", RequestID: "r1"}},
			{Ref: store.KeyRef{Region: "us-east-1", KeyID: "kept"}, Usage: store.KeyUsage{Time: at, Operation: "Encrypt", RequestID: "r2"}},
		})
		done <- result{n, missing, err}
	}()
	time.Sleep(200 * time.Millisecond) // let the flush reach the deleted key's row and wait on it
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.n != 1 || len(r.missing) != 1 || r.missing[0].KeyID != "gone" {
		t.Fatalf("RecordKeyUsage = %d, %v, %v; want 1 written and the deleted key missing", r.n, r.missing, r.err)
	}
}
