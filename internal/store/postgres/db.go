package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trent-kms/trent/internal/store"
)

var _ store.Store = (*DB)(nil)

// DB is a [store.Store] backed by PostgreSQL. It is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url (a PostgreSQL URL or key=value
// connection string understood by pgx) and brings its schema up to date. It
// fails if the schema was written by a newer version of Trent. The caller
// must Close the returned DB.
func Open(ctx context.Context, url string) (*DB, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Close closes every connection. It waits for connections in use to be
// released.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// migrations are applied in order; migrations[i] brings the schema to
// version i+1. A shipped migration is never edited, only appended to.
var migrations = []string{
	`CREATE TABLE meta (
		name  text COLLATE "C" PRIMARY KEY,
		value bytea NOT NULL
	);
	CREATE TABLE accounts (
		id         text COLLATE "C" PRIMARY KEY,
		created_at timestamptz NOT NULL
	);
	CREATE TABLE access_keys (
		id            text COLLATE "C" PRIMARY KEY,
		account_id    text COLLATE "C" NOT NULL REFERENCES accounts (id),
		principal     text NOT NULL,
		sealed_secret bytea NOT NULL,
		created_at    timestamptz NOT NULL
	);
	CREATE INDEX access_keys_account ON access_keys (account_id, id);
	CREATE TABLE keys (
		region        text COLLATE "C" NOT NULL,
		key_id        text COLLATE "C" NOT NULL,
		account_id    text COLLATE "C" NOT NULL,
		revision      bigint NOT NULL,
		deletion_date timestamptz,
		doc           json NOT NULL,
		PRIMARY KEY (region, key_id)
	);
	CREATE INDEX keys_account ON keys (region, account_id, key_id);
	CREATE INDEX keys_deletion ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
	CREATE TABLE aliases (
		region            text COLLATE "C" NOT NULL,
		account_id        text COLLATE "C" NOT NULL,
		name              text COLLATE "C" NOT NULL,
		target_key_id     text COLLATE "C" NOT NULL,
		creation_date     timestamptz NOT NULL,
		last_updated_date timestamptz NOT NULL,
		PRIMARY KEY (region, account_id, name),
		FOREIGN KEY (region, target_key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
	);
	CREATE INDEX aliases_target ON aliases (region, target_key_id);`,
}

// migrationLock is the advisory lock key that serialises schema upgrades.
const migrationLock = 0x7472656e74 // "trent"

// migrate applies every missing migration in one transaction.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("lock schema: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var v int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this build supports (%d)", v, len(migrations))
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				v+1, time.Now()); err != nil {
				return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
			}
		}
		return nil
	})
}

// withTx runs fn in a transaction and commits if fn returns nil; fn's error
// is returned unchanged.
func (db *DB) withTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// isConflict reports whether err is a unique or primary key violation.
func isConflict(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// optTime returns t, or nil (SQL NULL) for the zero time.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nonNil returns b, or an empty slice for nil, for NOT NULL bytea columns.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// oneRow returns [store.ErrNotFound] if tag reports no affected row.
func oneRow(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}
