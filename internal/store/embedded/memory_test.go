package embedded

import (
	"context"
	"os"
	"testing"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := OpenMemory()
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

// TestMemoryWritesNoFile runs a workload on an in-memory database from an
// empty working directory with TMPDIR pointing at another empty directory,
// and checks that both stay empty and that the settings that keep SQLite
// off the disk are in force.
func TestMemoryWritesNoFile(t *testing.T) {
	cwd, tmp := t.TempDir(), t.TempDir()
	t.Chdir(cwd)
	t.Setenv("TMPDIR", tmp)
	t.Setenv("SQLITE_TMPDIR", tmp)
	db, err := OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "memory"},
		{"temp_store", "2"}, // MEMORY
		{"foreign_keys", "1"},
		{"database_list", ""},
	} {
		if c.pragma == "database_list" {
			var seq int
			var name, file string
			if err := db.w.QueryRow("PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
				t.Fatal(err)
			}
			if file != "" {
				t.Errorf("main database file = %q, want none", file)
			}
			continue
		}
		var got string
		if err := db.w.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
	ctx := context.Background()
	if err := db.CreateAccount(ctx, store.Account{ID: "111122223333"}); err != nil {
		t.Fatal(err)
	}
	// A sort too large for memory-only settings to matter still must not
	// spill: force a temporary b-tree with ORDER BY over a large table.
	if _, err := db.w.Exec(`CREATE TEMP TABLE big AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 20000)
		SELECT i, randomblob(200) AS b FROM n`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.w.QueryRow(`SELECT count(*) FROM (SELECT b FROM big ORDER BY b)`).Scan(&n); err != nil || n != 20000 {
		t.Fatalf("count = %d, %v", n, err)
	}
	for i := range 3 {
		k := store.Key{Region: "us-east-1", KeyID: string(rune('a' + i)), AccountID: "111122223333", KeyState: "Enabled"}
		if err := db.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := db.CountKeys(ctx, "us-east-1", "111122223333"); err != nil || got != 3 {
		t.Fatalf("CountKeys = %d, %v", got, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{cwd, tmp} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			t.Errorf("%s: %s was written", dir, e.Name())
		}
	}
	// Each OpenMemory is a database of its own.
	db2, err := OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if accts, err := db2.ListAccounts(ctx); err != nil || len(accts) != 0 {
		t.Fatalf("a new in-memory database holds %v, %v", accts, err)
	}
}
