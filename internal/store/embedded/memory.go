package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
)

// OpenMemory opens a new, empty database that lives only in this process's
// memory, for `trent server --dev`: no file is created, in the working
// directory, the temporary directory or elsewhere, and everything is gone
// when it is closed or the process ends.
//
// It is one SQLite ":memory:" database on a single connection that is
// never closed or recycled while the DB is open (a second connection would
// see a different, empty database). Reads and writes therefore take turns
// on that connection; transactions still begin with BEGIN IMMEDIATE and
// foreign keys are enforced, so it behaves as [Open] does, without the
// durability: the journal is kept in memory (journal_mode MEMORY, the only
// modes SQLite allows for an in-memory database being MEMORY and OFF) and
// so are temporary tables and indices (temp_store MEMORY), which would
// otherwise go to files in TMPDIR.
func OpenMemory() (*DB, error) {
	q := url.Values{}
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "journal_mode(MEMORY)")
	w, err := sql.Open("sqlite", "file::memory:?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("embedded: open in-memory database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(context.Background(), w); err != nil {
		w.Close()
		return nil, fmt.Errorf("embedded: open in-memory database: %w", err)
	}
	return &DB{w: w, r: w, memory: true}, nil
}
