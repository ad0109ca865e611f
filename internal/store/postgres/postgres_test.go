package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/postgres"
	"github.com/trent-kms/trent/internal/store/storetest"
)

// testURL returns the database URL from TRENT_TEST_POSTGRES_URL, or skips.
func testURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TRENT_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("TRENT_TEST_POSTGRES_URL is not set; skipping the PostgreSQL store tests " +
			"(e.g. TRENT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return u
}

// freshSchema creates a schema of its own for the test, drops it when the
// test ends, and returns a URL whose search_path points at it.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := testURL(t)
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "trent_test_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect for cleanup: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		t.Fatalf("TRENT_TEST_POSTGRES_URL must be a postgres:// URL: %q", base)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := postgres.Open(t.Context(), freshSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestReopenAndConcurrentOpen(t *testing.T) {
	u := freshSchema(t)
	ctx := context.Background()
	// Servers starting together must not race on the schema.
	errs := make(chan error, 4)
	dbs := make(chan *postgres.DB, 4)
	for range 4 {
		go func() {
			db, err := postgres.Open(ctx, u)
			errs <- err
			dbs <- db
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
		db := <-dbs
		defer db.Close()
	}
	db, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutMeta(ctx, "m", []byte("v")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.GetMeta(ctx, "m"); err != nil || string(v) != "v" {
		t.Fatalf("GetMeta after reopen = %q, %v", v, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	u := freshSchema(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, now())`)
	c.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if db, err := postgres.Open(ctx, u); err == nil {
		db.Close()
		t.Fatal("Open accepted a schema newer than this build")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open error = %v, want it to say the schema is newer", err)
	}
}
