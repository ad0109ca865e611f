package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/trent-kms/trent/internal/store"
)

var _ store.Store = (*DB)(nil)

// busyTimeout is how long a connection waits for a lock held by another
// connection or process before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// DB is a [store.Store] backed by one SQLite database file. It is safe for
// concurrent use.
type DB struct {
	w *sql.DB // the single write connection; transactions BEGIN IMMEDIATE
	r *sql.DB // read-only pool; the write connection itself for OpenMemory
	// memory reports a database opened by OpenMemory: w and r are the
	// same pool and there is no write-ahead log to checkpoint.
	memory bool
}

// Open opens the database file at path, creating it with mode 0600 if it is
// missing (whatever the umask; its -wal and -shm files get the same mode), and brings its schema up to date. It fails if the file was written
// by a newer version of Trent. The caller must Close the returned DB.
func Open(path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	if err := create0600(abs); err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}

	name := "file:" + (&url.URL{Path: abs}).EscapedPath()
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", name+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(context.Background(), w); err != nil {
		w.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}

	q.Del("_txlock")
	q.Del("_journal_mode") // already persistent in the file; needs a write lock to set
	q.Set("_query_only", "1")
	r, err := sql.Open("sqlite", name+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	if err := r.Ping(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	return &DB{w: w, r: r}, nil
}

// create0600 creates the database file with mode 0600, whatever the umask,
// if it does not exist. SQLite creates the -wal and -shm files with the
// mode of the database file, so they are 0600 too.
func create0600(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chmod(0o600) // the umask may have taken bits away
}

// Close checkpoints the write-ahead log into the database file and closes
// every connection. It must not be called while other methods are running.
func (db *DB) Close() error {
	if db.memory {
		if err := db.w.Close(); err != nil {
			return fmt.Errorf("embedded: close: %w", err)
		}
		return nil
	}
	errR := db.r.Close()
	_, errC := db.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	errW := db.w.Close()
	if err := errors.Join(errR, errC, errW); err != nil {
		return fmt.Errorf("embedded: close: %w", err)
	}
	return nil
}

// migrations are applied in order; migrations[i] brings the schema to
// version i+1. A shipped migration is never edited, only appended to.
var migrations = []string{
	`CREATE TABLE meta (
		name  TEXT PRIMARY KEY,
		value BLOB NOT NULL
	);
	CREATE TABLE accounts (
		id         TEXT PRIMARY KEY,
		created_at TEXT NOT NULL
	);
	CREATE TABLE access_keys (
		id            TEXT PRIMARY KEY,
		account_id    TEXT NOT NULL REFERENCES accounts (id),
		principal     TEXT NOT NULL,
		sealed_secret BLOB NOT NULL,
		created_at    TEXT NOT NULL
	);
	CREATE INDEX access_keys_account ON access_keys (account_id, id);
	CREATE TABLE keys (
		region        TEXT NOT NULL,
		key_id        TEXT NOT NULL,
		account_id    TEXT NOT NULL,
		revision      INTEGER NOT NULL,
		deletion_date TEXT,
		doc           TEXT NOT NULL,
		PRIMARY KEY (region, key_id)
	);
	CREATE INDEX keys_account ON keys (region, account_id, key_id);
	CREATE INDEX keys_deletion ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
	CREATE TABLE aliases (
		region            TEXT NOT NULL,
		account_id        TEXT NOT NULL,
		name              TEXT NOT NULL,
		target_key_id     TEXT NOT NULL,
		creation_date     TEXT NOT NULL,
		last_updated_date TEXT NOT NULL,
		PRIMARY KEY (region, account_id, name),
		FOREIGN KEY (region, target_key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
	);
	CREATE INDEX aliases_target ON aliases (region, target_key_id);`,

	// 2: IAM users, roles, managed and inline policies, attachments; the
	// user and status of an access key.
	`ALTER TABLE access_keys ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
	ALTER TABLE access_keys ADD COLUMN status TEXT NOT NULL DEFAULT 'Active';
	CREATE INDEX access_keys_user ON access_keys (account_id, user_name);
	CREATE TABLE iam_entities (
		account_id TEXT NOT NULL REFERENCES accounts (id),
		kind       TEXT NOT NULL,
		name_key   TEXT NOT NULL,
		doc        TEXT NOT NULL,
		PRIMARY KEY (account_id, kind, name_key)
	);
	CREATE TABLE iam_policies (
		account_id TEXT NOT NULL REFERENCES accounts (id),
		name_key   TEXT NOT NULL,
		doc        TEXT NOT NULL,
		PRIMARY KEY (account_id, name_key)
	);
	CREATE TABLE iam_inline_policies (
		account_id TEXT NOT NULL,
		kind       TEXT NOT NULL,
		entity_key TEXT NOT NULL,
		name_key   TEXT NOT NULL,
		name       TEXT NOT NULL,
		document   TEXT NOT NULL,
		PRIMARY KEY (account_id, kind, entity_key, name_key),
		FOREIGN KEY (account_id, kind, entity_key) REFERENCES iam_entities (account_id, kind, name_key)
	);
	CREATE TABLE iam_attachments (
		account_id TEXT NOT NULL,
		kind       TEXT NOT NULL,
		entity_key TEXT NOT NULL,
		policy_key TEXT NOT NULL,
		PRIMARY KEY (account_id, kind, entity_key, policy_key),
		FOREIGN KEY (account_id, kind, entity_key) REFERENCES iam_entities (account_id, kind, name_key),
		FOREIGN KEY (account_id, policy_key) REFERENCES iam_policies (account_id, name_key)
	);
	CREATE INDEX iam_attachments_policy ON iam_attachments (account_id, policy_key);`,
	// 3: grants (docs/authorization.md). A key's grants go with it.
	`CREATE TABLE grants (
		region        TEXT NOT NULL,
		key_id        TEXT NOT NULL,
		grant_id      TEXT NOT NULL,
		account_id    TEXT NOT NULL,
		name          TEXT NOT NULL,
		grantee       TEXT NOT NULL,
		retiring      TEXT NOT NULL,
		creation_date TEXT NOT NULL,
		doc           TEXT NOT NULL,
		PRIMARY KEY (region, key_id, grant_id),
		FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
	);
	CREATE INDEX grants_retiring ON grants (region, retiring, grant_id, key_id);`,
	// 4: the next automatic rotation date of a key, for the rotation
	// scheduler (KeysDueForRotation). The key document holds it too.
	`ALTER TABLE keys ADD COLUMN next_rotation_date TEXT;
	CREATE INDEX keys_rotation ON keys (next_rotation_date) WHERE next_rotation_date IS NOT NULL;`,
	// 5: the earliest expiry of a key's imported material, for the expiry
	// sweep (KeysDueForMaterialExpiry). The key document holds it too.
	`ALTER TABLE keys ADD COLUMN material_expiry TEXT;
	CREATE INDEX keys_material_expiry ON keys (material_expiry) WHERE material_expiry IS NOT NULL;`,
	// 6: the number of customer keys of each account and region, kept by
	// triggers in the transaction that adds or removes a key, so the key
	// quota (CountKeys) reads one row instead of counting a million. AWS
	// managed keys do not count against the quota.
	`CREATE TABLE key_counts (
		region     TEXT NOT NULL,
		account_id TEXT NOT NULL,
		n          INTEGER NOT NULL,
		PRIMARY KEY (region, account_id)
	);
	INSERT INTO key_counts (region, account_id, n)
		SELECT region, account_id, count(*) FROM keys
		WHERE coalesce(json_extract(doc, '$.KeyManager'), '') <> 'AWS' GROUP BY region, account_id;
	CREATE TRIGGER keys_count_insert AFTER INSERT ON keys
		WHEN coalesce(json_extract(NEW.doc, '$.KeyManager'), '') <> 'AWS'
	BEGIN
		INSERT INTO key_counts (region, account_id, n) VALUES (NEW.region, NEW.account_id, 1)
			ON CONFLICT (region, account_id) DO UPDATE SET n = n + 1;
	END;
	CREATE TRIGGER keys_count_delete AFTER DELETE ON keys
		WHEN coalesce(json_extract(OLD.doc, '$.KeyManager'), '') <> 'AWS'
	BEGIN
		UPDATE key_counts SET n = n - 1 WHERE region = OLD.region AND account_id = OLD.account_id;
	END;`,
	// 7: custom key stores (CreateCustomKeyStore); the whole record is
	// in doc, secrets sealed. A key names its store in its document.
	`CREATE TABLE custom_key_stores (
		region        TEXT NOT NULL,
		id            TEXT NOT NULL,
		account_id    TEXT NOT NULL,
		name          TEXT NOT NULL,
		doc           TEXT NOT NULL,
		PRIMARY KEY (region, id),
		UNIQUE (region, account_id, name)
	);
	CREATE INDEX custom_key_stores_account ON custom_key_stores (region, account_id, id);`,
	// 8: the number of keys of each key state and key spec, over every
	// region and account (KeyCounts, for the trent_keys metric), kept by
	// triggers in the transaction that adds, changes or removes a key, so
	// a metrics scrape reads a few rows instead of every key's document.
	`CREATE TABLE key_state_counts (
		key_state TEXT NOT NULL,
		key_spec  TEXT NOT NULL,
		n         INTEGER NOT NULL,
		PRIMARY KEY (key_state, key_spec)
	);
	INSERT INTO key_state_counts (key_state, key_spec, n)
		SELECT coalesce(json_extract(doc, '$.KeyState'), ''), coalesce(json_extract(doc, '$.KeySpec'), ''), count(*)
		FROM keys GROUP BY 1, 2;
	CREATE TRIGGER keys_state_count_insert AFTER INSERT ON keys
	BEGIN
		INSERT INTO key_state_counts (key_state, key_spec, n)
			VALUES (coalesce(json_extract(NEW.doc, '$.KeyState'), ''), coalesce(json_extract(NEW.doc, '$.KeySpec'), ''), 1)
			ON CONFLICT (key_state, key_spec) DO UPDATE SET n = n + 1;
	END;
	CREATE TRIGGER keys_state_count_delete AFTER DELETE ON keys
	BEGIN
		UPDATE key_state_counts SET n = n - 1
			WHERE key_state = coalesce(json_extract(OLD.doc, '$.KeyState'), '') AND key_spec = coalesce(json_extract(OLD.doc, '$.KeySpec'), '');
	END;
	CREATE TRIGGER keys_state_count_update AFTER UPDATE OF doc ON keys
		WHEN coalesce(json_extract(OLD.doc, '$.KeyState'), '') <> coalesce(json_extract(NEW.doc, '$.KeyState'), '')
			OR coalesce(json_extract(OLD.doc, '$.KeySpec'), '') <> coalesce(json_extract(NEW.doc, '$.KeySpec'), '')
	BEGIN
		UPDATE key_state_counts SET n = n - 1
			WHERE key_state = coalesce(json_extract(OLD.doc, '$.KeyState'), '') AND key_spec = coalesce(json_extract(OLD.doc, '$.KeySpec'), '');
		INSERT INTO key_state_counts (key_state, key_spec, n)
			VALUES (coalesce(json_extract(NEW.doc, '$.KeyState'), ''), coalesce(json_extract(NEW.doc, '$.KeySpec'), ''), 1)
			ON CONFLICT (key_state, key_spec) DO UPDATE SET n = n + 1;
	END;`,
	// 9: the last use of each key (GetKeyLastUsage), written by the
	// usage flush without rewriting the key document; reads of a key
	// merge it into LastUsage. A key's use goes with it.
	`CREATE TABLE key_usage (
		region     TEXT NOT NULL,
		key_id     TEXT NOT NULL,
		at_ns      INTEGER NOT NULL,
		operation  TEXT NOT NULL,
		request_id TEXT NOT NULL,
		PRIMARY KEY (region, key_id),
		FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
	);`,
}

// migrate creates the migrations table if needed and applies every missing
// migration, each in its own transaction together with its version row.
func migrate(ctx context.Context, w *sql.DB) error {
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for {
		done, err := migrateOne(ctx, w)
		if err != nil || done {
			return err
		}
	}
}

func migrateOne(ctx context.Context, w *sql.DB) (done bool, err error) {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case v > len(migrations):
		return false, fmt.Errorf("schema version %d is newer than this build supports (%d)", v, len(migrations))
	case v == len(migrations):
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		v+1, fmtTime(time.Now())); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
	}
	return false, tx.Commit()
}

// withTx runs fn in an immediate transaction on the write connection and
// commits if fn returns nil.
func (db *DB) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("embedded: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("embedded: commit: %w", err)
	}
	return nil
}

// isConstraint reports whether err is a primary key or unique violation.
func isConflict(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// timeLayout is RFC 3339 in UTC with a fixed-width fraction, so that text
// order is time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// fmtTime formats t for a TEXT column.
func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// fmtOptTime formats t, or returns nil (SQL NULL) for the zero time.
func fmtOptTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

// parseTime parses a TEXT column written by fmtTime.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("embedded: bad time %q in database: %w", s, err)
	}
	return t.UTC(), nil
}
