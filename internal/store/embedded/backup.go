package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
)

// sqliteMagic opens every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// ErrNotEmpty is wrapped by the error [Restore] returns when the target
// already holds a database. Check with errors.Is.
var ErrNotEmpty = errors.New("embedded: the restore target already holds a database")

// Backup writes a consistent snapshot of the database file at path to
// dest, a new file (mode 0600) that must not exist. It uses SQLite's
// VACUUM INTO on a connection of its own, so it works while a server has
// the database open: the snapshot is one read transaction, and in WAL
// mode a reader does not block writers (https://www.sqlite.org/wal.html:
// "Readers do not block writers and a writer does not block readers").
// The snapshot holds what the database holds: key material and secrets
// stay sealed under the root key, which is not in it.
func Backup(ctx context.Context, path, dest string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("embedded: backup: %w", err)
	}
	out, err := filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("embedded: backup: %w", err)
	}
	// VACUUM INTO writes into a missing or empty file; creating it first
	// sets its mode and refuses to overwrite a file that exists.
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("embedded: backup: %w", err)
	}
	f.Close()
	db, err := openReader(path)
	if err == nil {
		_, err = db.ExecContext(ctx, `VACUUM INTO ?`, out)
		db.Close()
	}
	if err != nil {
		os.Remove(out)
		return fmt.Errorf("embedded: backup %s: %w", path, err)
	}
	if err := syncFile(out); err != nil {
		os.Remove(out)
		return fmt.Errorf("embedded: backup: %w", err)
	}
	return nil
}

// openReader opens one connection to an existing database file that
// writes nothing to it.
func openReader(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("mode", "ro") // VACUUM INTO reads its source; _query_only would refuse it
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// IsBackup reports whether the file at path starts like a snapshot made by
// [Backup] (a SQLite database file).
func IsBackup(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(sqliteMagic))
	_, err = io.ReadFull(f, b)
	return err == nil && string(b) == sqliteMagic
}

// Restore brings the snapshot src, made by [Backup], back as the database
// file path. It refuses, with an error wrapping [ErrNotEmpty], when path
// (or its write-ahead log) exists. It checks the snapshot's integrity
// first, copies it with VACUUM INTO (mode 0600), then opens the copy once
// so its schema is brought up to date; on any failure nothing is left at
// path.
func Restore(ctx context.Context, src, path string) error {
	for _, p := range []string{path, path + "-wal"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s exists; restore into an empty data directory", ErrNotEmpty, p)
		}
	}
	if !IsBackup(src) {
		return fmt.Errorf("embedded: restore: %s is not a backup of the embedded store (not a SQLite file)", src)
	}
	db, err := openReader(src)
	if err != nil {
		return fmt.Errorf("embedded: restore: %w", err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		return fmt.Errorf("embedded: restore: %s fails its integrity check (%s%v)", src, ok, errOrNil(err))
	}
	var version int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return fmt.Errorf("embedded: restore: %s is not a Trent database: %w", src, err)
	}
	if version > len(migrations) {
		return fmt.Errorf("embedded: restore: %s has schema version %d, newer than this build supports (%d)", src, version, len(migrations))
	}
	out, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("embedded: restore: %w", err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s exists", ErrNotEmpty, path)
		}
		return fmt.Errorf("embedded: restore: %w", err)
	}
	f.Close()
	fail := func(err error) error {
		os.Remove(out)
		os.Remove(out + "-wal")
		os.Remove(out + "-shm")
		return fmt.Errorf("embedded: restore: %w", err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		return fail(err)
	}
	if err := syncFile(out); err != nil {
		return fail(err)
	}
	restored, err := Open(out) // WAL mode and migrations, as a server would
	if err != nil {
		return fail(err)
	}
	if err := restored.Close(); err != nil {
		return fail(err)
	}
	return nil
}

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
