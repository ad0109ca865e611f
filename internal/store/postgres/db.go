package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trent-kms/trent/internal/store"
)

var _ store.Store = (*DB)(nil)

// DB is a [store.Store] backed by PostgreSQL. It is safe for concurrent use.
type DB struct {
	pool *pool
	// conn configures the connections that Listen and RunLocked make.
	conn *pgx.ConnConfig
	// channel is the LISTEN/NOTIFY channel of the schema: changes are
	// announced per schema, so deployments sharing a database do not hear
	// each other.
	channel string
}

// ErrUnavailable is wrapped by the error [Open] returns when the database
// could not be reached or is not accepting connections yet: the connection
// failed before the server answered (refused, timed out, reset), or the
// server said it is starting up, shutting down or has too many connections.
// Trying again later may succeed; any other error from Open is a
// configuration or permission problem. Every method of [DB] wraps it, too,
// when the database is unreachable or a query passes its deadline
// ([QueryTimeout]). It wraps [store.ErrUnavailable]. Check with errors.Is.
var ErrUnavailable = fmt.Errorf("postgres: database unavailable: %w", store.ErrUnavailable)

// connectTimeout bounds one connection attempt when the URL sets no
// connect_timeout, so an unreachable host fails instead of hanging.
const connectTimeout = 10 * time.Second

// Open connects to the database at url (a PostgreSQL URL or key=value
// connection string understood by pgx) and brings its schema up to date.
//
// If url sets search_path, the first schema named there is where Trent's
// tables go: Open creates it (CREATE SCHEMA, owned by the connecting role)
// when it does not exist yet, and when the role may not create it, the
// error gives the SQL for an administrator to run. "$user" stands for the
// connecting role.
//
// Open fails if the schema was written by a newer version of Trent, and
// wraps [ErrUnavailable] when the database cannot be reached. The caller
// must Close the returned DB.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err) // pgx redacts the password
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	pgPool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	schema := firstSchema(cfg.ConnConfig.RuntimeParams["search_path"])
	current, err := migrate(ctx, pgPool, schema)
	if err != nil {
		pgPool.Close()
		if unavailable(err) {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return &DB{pool: &pool{p: pgPool}, conn: cfg.ConnConfig, channel: channelName(current)}, nil
}

// unavailable reports whether err means the database could not be reached
// or is not accepting connections yet.
func unavailable(err error) bool {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			"53300": // too_many_connections
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection_exception
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// firstSchema returns the first schema named in a search_path setting, as
// PostgreSQL reads it: an unquoted name is folded to lower case, a quoted
// one is taken as written with "" standing for ". It returns "" for an
// empty setting.
func firstSchema(searchPath string) string {
	s := strings.TrimLeft(searchPath, " \t")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == '"' {
				if i+1 < len(s) && s[i+1] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			b.WriteByte(s[i])
		}
		return b.String()
	}
	name, _, _ := strings.Cut(s, ",")
	return strings.ToLower(strings.TrimSpace(name))
}

// ensureSchema creates schema if it does not exist. It checks first, so a
// role that may not create schemas in the database still starts when an
// administrator has created its schema. It runs under the migration lock,
// so nodes starting together do not race.
func ensureSchema(ctx context.Context, tx pgx.Tx, schema string) error {
	if schema == "" {
		return nil
	}
	var user, db string
	if err := tx.QueryRow(ctx, `SELECT current_user, current_database()`).Scan(&user, &db); err != nil {
		return fmt.Errorf("read current user: %w", err)
	}
	if schema == "$user" {
		schema = user
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return fmt.Errorf("look up schema %s: %w", schema, err)
	}
	if exists {
		return nil
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42501" { // insufficient_privilege
			return fmt.Errorf("schema %s (from search_path) does not exist and role %s may not create it; "+
				"as an administrator, run: CREATE SCHEMA %s AUTHORIZATION %s; "+
				"(or let Trent create it: GRANT CREATE ON DATABASE %s TO %s;): %w",
				schema, user, pgx.Identifier{schema}.Sanitize(), pgx.Identifier{user}.Sanitize(),
				pgx.Identifier{db}.Sanitize(), pgx.Identifier{user}.Sanitize(), err)
		}
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}

// Close closes every connection. It waits for connections in use to be
// released.
func (db *DB) Close() error {
	db.pool.p.Close()
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

	// 2: IAM users, roles, managed and inline policies, attachments; the
	// user and status of an access key.
	`ALTER TABLE access_keys ADD COLUMN user_name text COLLATE "C" NOT NULL DEFAULT '';
	ALTER TABLE access_keys ADD COLUMN status text NOT NULL DEFAULT 'Active';
	CREATE INDEX access_keys_user ON access_keys (account_id, user_name);
	CREATE TABLE iam_entities (
		account_id text COLLATE "C" NOT NULL REFERENCES accounts (id),
		kind       text COLLATE "C" NOT NULL,
		name_key   text COLLATE "C" NOT NULL,
		doc        json NOT NULL,
		PRIMARY KEY (account_id, kind, name_key)
	);
	CREATE TABLE iam_policies (
		account_id text COLLATE "C" NOT NULL REFERENCES accounts (id),
		name_key   text COLLATE "C" NOT NULL,
		doc        json NOT NULL,
		PRIMARY KEY (account_id, name_key)
	);
	CREATE TABLE iam_inline_policies (
		account_id text COLLATE "C" NOT NULL,
		kind       text COLLATE "C" NOT NULL,
		entity_key text COLLATE "C" NOT NULL,
		name_key   text COLLATE "C" NOT NULL,
		name       text NOT NULL,
		document   text NOT NULL,
		PRIMARY KEY (account_id, kind, entity_key, name_key),
		FOREIGN KEY (account_id, kind, entity_key) REFERENCES iam_entities (account_id, kind, name_key)
	);
	CREATE TABLE iam_attachments (
		account_id text COLLATE "C" NOT NULL,
		kind       text COLLATE "C" NOT NULL,
		entity_key text COLLATE "C" NOT NULL,
		policy_key text COLLATE "C" NOT NULL,
		PRIMARY KEY (account_id, kind, entity_key, policy_key),
		FOREIGN KEY (account_id, kind, entity_key) REFERENCES iam_entities (account_id, kind, name_key),
		FOREIGN KEY (account_id, policy_key) REFERENCES iam_policies (account_id, name_key)
	);
	CREATE INDEX iam_attachments_policy ON iam_attachments (account_id, policy_key);`,
	// 3: grants (docs/authorization.md). A key's grants go with it.
	`CREATE TABLE grants (
		region        text COLLATE "C" NOT NULL,
		key_id        text COLLATE "C" NOT NULL,
		grant_id      text COLLATE "C" NOT NULL,
		account_id    text COLLATE "C" NOT NULL,
		name          text COLLATE "C" NOT NULL,
		grantee       text COLLATE "C" NOT NULL,
		retiring      text COLLATE "C" NOT NULL,
		creation_date timestamptz NOT NULL,
		doc           json NOT NULL,
		PRIMARY KEY (region, key_id, grant_id),
		FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
	);
	CREATE INDEX grants_retiring ON grants (region, retiring, grant_id, key_id);`,
	// 4: the next automatic rotation date of a key, for the rotation
	// scheduler (KeysDueForRotation). The key document holds it too.
	`ALTER TABLE keys ADD COLUMN next_rotation_date timestamptz;
	CREATE INDEX keys_rotation ON keys (next_rotation_date) WHERE next_rotation_date IS NOT NULL;`,
	// 5: the earliest expiry of a key's imported material, for the expiry
	// sweep (KeysDueForMaterialExpiry). The key document holds it too.
	`ALTER TABLE keys ADD COLUMN material_expiry timestamptz;
	CREATE INDEX keys_material_expiry ON keys (material_expiry) WHERE material_expiry IS NOT NULL;`,
	// 6: the number of customer keys of each account and region, kept by a
	// trigger in the transaction that adds or removes a key, so the key
	// quota (CountKeys) reads one row instead of counting a million. AWS
	// managed keys do not count against the quota.
	`CREATE TABLE key_counts (
		region     text COLLATE "C" NOT NULL,
		account_id text COLLATE "C" NOT NULL,
		n          bigint NOT NULL,
		PRIMARY KEY (region, account_id)
	);
	INSERT INTO key_counts (region, account_id, n)
		SELECT region, account_id, count(*) FROM keys
		WHERE coalesce(doc->>'KeyManager', '') <> 'AWS' GROUP BY region, account_id;
	CREATE FUNCTION keys_count() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF TG_OP = 'INSERT' THEN
			IF coalesce(NEW.doc->>'KeyManager', '') <> 'AWS' THEN
				INSERT INTO key_counts (region, account_id, n) VALUES (NEW.region, NEW.account_id, 1)
					ON CONFLICT (region, account_id) DO UPDATE SET n = key_counts.n + 1;
			END IF;
			RETURN NEW;
		END IF;
		IF coalesce(OLD.doc->>'KeyManager', '') <> 'AWS' THEN
			UPDATE key_counts SET n = n - 1 WHERE region = OLD.region AND account_id = OLD.account_id;
		END IF;
		RETURN OLD;
	END $$;
	CREATE TRIGGER keys_count AFTER INSERT OR DELETE ON keys FOR EACH ROW EXECUTE FUNCTION keys_count();`,
	// 7: custom key stores (CreateCustomKeyStore); the whole record is
	// in doc, secrets sealed. A key names its store in its document.
	`CREATE TABLE custom_key_stores (
		region     text COLLATE "C" NOT NULL,
		id         text COLLATE "C" NOT NULL,
		account_id text COLLATE "C" NOT NULL,
		name       text COLLATE "C" NOT NULL,
		doc        json NOT NULL,
		PRIMARY KEY (region, id),
		UNIQUE (region, account_id, name)
	);
	CREATE INDEX custom_key_stores_account ON custom_key_stores (region, account_id, id);`,
	// 8: the number of keys of each key state and key spec, over every
	// region and account (KeyCounts, for the trent_keys metric), so a
	// metrics scrape reads a few rows instead of every key's document. A
	// trigger appends a +1 or -1 row in the transaction that adds, changes
	// or removes a key, never updating a shared row, so that creations in
	// different accounts do not queue on one row and two state changes
	// cannot deadlock; KeyCounts folds the rows. The upgrade locks out key
	// writes (of nodes not yet upgraded) between its count and the trigger.
	`LOCK TABLE keys IN SHARE ROW EXCLUSIVE MODE;
	CREATE TABLE key_state_counts (
		key_state text COLLATE "C" NOT NULL,
		key_spec  text COLLATE "C" NOT NULL,
		n         bigint NOT NULL
	);
	INSERT INTO key_state_counts (key_state, key_spec, n)
		SELECT coalesce(doc->>'KeyState', ''), coalesce(doc->>'KeySpec', ''), count(*) FROM keys GROUP BY 1, 2;
	CREATE FUNCTION keys_state_count() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF TG_OP = 'UPDATE' AND coalesce(OLD.doc->>'KeyState', '') = coalesce(NEW.doc->>'KeyState', '')
			AND coalesce(OLD.doc->>'KeySpec', '') = coalesce(NEW.doc->>'KeySpec', '') THEN
			RETURN NEW;
		END IF;
		IF TG_OP IN ('UPDATE', 'DELETE') THEN
			INSERT INTO key_state_counts (key_state, key_spec, n)
				VALUES (coalesce(OLD.doc->>'KeyState', ''), coalesce(OLD.doc->>'KeySpec', ''), -1);
		END IF;
		IF TG_OP IN ('UPDATE', 'INSERT') THEN
			INSERT INTO key_state_counts (key_state, key_spec, n)
				VALUES (coalesce(NEW.doc->>'KeyState', ''), coalesce(NEW.doc->>'KeySpec', ''), 1);
			RETURN NEW;
		END IF;
		RETURN OLD;
	END $$;
	CREATE TRIGGER keys_state_count AFTER INSERT OR UPDATE OF doc OR DELETE ON keys FOR EACH ROW EXECUTE FUNCTION keys_state_count();`,
	// 9: the last use of each key (GetKeyLastUsage), written by the
	// usage flush without rewriting the key document; reads of a key
	// merge it into LastUsage. A key's use goes with it.
	`CREATE TABLE key_usage (
		region     text COLLATE "C" NOT NULL,
		key_id     text COLLATE "C" NOT NULL,
		at_ns      bigint NOT NULL,
		operation  text NOT NULL,
		request_id text NOT NULL,
		PRIMARY KEY (region, key_id),
		FOREIGN KEY (region, key_id) REFERENCES keys (region, key_id) ON DELETE CASCADE
	);`,
}

// migrationLock is the advisory lock key that serialises schema upgrades.
const migrationLock = 0x7472656e74 // "trent"

// migrate creates schema if needed, then applies every missing migration,
// in one transaction. It returns the schema the tables are in.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) (current string, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("lock schema: %w", err)
		}
		if err := ensureSchema(ctx, tx, schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "3F000" { // invalid_schema_name
				return fmt.Errorf("create schema_migrations: no schema to create tables in; "+
					"name one in the URL, e.g. ?search_path=trent: %w", err)
			}
			if errors.As(err, &pe) && pe.Code == "42501" {
				return fmt.Errorf("create schema_migrations: the role may not create tables in the schema; "+
					"it must own the schema (ALTER SCHEMA name OWNER TO role;): %w", err)
			}
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
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&current); err != nil {
			return fmt.Errorf("read current schema: %w", err)
		}
		return nil
	})
	return current, err
}

// withTx runs fn in a transaction and commits if fn returns nil; fn's error
// is returned unchanged unless it means the database is unreachable, when
// it is wrapped with [ErrUnavailable]. fn gets ctx with the transaction's
// deadline ([QueryTimeout]) and must use it.
func (db *DB) withTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	tx, err := db.pool.p.Begin(ctx)
	if err != nil {
		return classify(fmt.Errorf("postgres: begin: %w", err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(ctx, tx); err != nil {
		return classify(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return classify(fmt.Errorf("postgres: commit: %w", err))
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
