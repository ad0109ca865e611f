package embedded

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// TestPragmas checks the durability and integrity settings on the write
// connection and the read pool.
func TestPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trent.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		pool, pragma, want string
	}{
		{"write", "journal_mode", "wal"},
		{"write", "synchronous", "2"}, // FULL
		{"write", "foreign_keys", "1"},
		{"write", "busy_timeout", "10000"},
		{"read", "journal_mode", "wal"},
		{"read", "query_only", "1"},
		{"read", "busy_timeout", "10000"},
	} {
		p := db.w
		if c.pool == "read" {
			p = db.r
		}
		var got string
		if err := p.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil {
			t.Fatalf("%s PRAGMA %s: %v", c.pool, c.pragma, err)
		}
		if got != c.want {
			t.Errorf("%s connection: PRAGMA %s = %s, want %s", c.pool, c.pragma, got, c.want)
		}
	}
	// The write connection begins transactions with BEGIN IMMEDIATE: while
	// one is open, even one that has only read, no other connection can
	// start a write transaction.
	tx, err := db.w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM keys").Scan(&n); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec("BEGIN IMMEDIATE"); err == nil {
		t.Error("a second writer began a transaction while the write transaction was open")
	}
}
