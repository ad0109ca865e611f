package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// A PostgreSQL backup is a portable text file:
//
//	TRENT-PG-BACKUP 1\n
//	<header: one line of JSON, see backupHeader>\n
//	<for each table in the header's order: its rows, exactly bytes long,
//	 as COPY ... TO STDOUT writes them (text format)>
//	sha256 <hex of SHA-256 of everything before this line>\n
//
// The text format of COPY does not depend on the server's version or
// architecture, so a backup restores into another PostgreSQL release.
const backupMagic = "TRENT-PG-BACKUP 1\n"

// maxBackup bounds what Restore reads into memory.
const maxBackup = 4 << 30

// ErrNotEmpty is wrapped by the error [Restore] returns when the target
// schema already holds Trent data. Check with errors.Is.
var ErrNotEmpty = errors.New("postgres: the restore target already holds data")

type backupHeader struct {
	SchemaVersion int           `json:"schema_version"`
	CreatedAt     time.Time     `json:"created_at"`
	Tables        []backupTable `json:"tables"` // parents before children
}

type backupTable struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Rows    int64    `json:"rows"`
	Bytes   int      `json:"bytes"`
}

// IsBackup reports whether r starts like a backup written by [Backup].
func IsBackup(r io.Reader) bool {
	b := make([]byte, len(backupMagic))
	_, err := io.ReadFull(r, b)
	return err == nil && string(b) == backupMagic
}

// Backup writes a consistent snapshot of Trent's tables in the schema url
// names (its search_path, as for [Open]) to w. All tables are read in one
// REPEATABLE READ, READ ONLY transaction, so the snapshot is the state at
// one instant while the server goes on writing; PostgreSQL readers take
// no locks that block writers. Sealed values stay sealed: the root key is
// not in the database. Backup does not change the database.
func Backup(ctx context.Context, url string, w io.Writer) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("postgres: backup: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := portableSession(ctx, conn); err != nil {
		return fmt.Errorf("postgres: backup: %w", err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: backup: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tables, err := trentTables(ctx, tx)
	if err != nil {
		return fmt.Errorf("postgres: backup: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t backupTable) bool { return t.Name == "schema_migrations" }) {
		return errors.New("postgres: backup: no Trent tables in the schema the URL names (set search_path?)")
	}
	hdr := backupHeader{CreatedAt: time.Now().UTC()}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&hdr.SchemaVersion); err != nil {
		return fmt.Errorf("postgres: backup: %w", err)
	}
	var data [][]byte
	for _, t := range tables {
		var buf bytes.Buffer
		tag, err := tx.Conn().PgConn().CopyTo(ctx, &buf, "COPY "+copyTarget(t)+" TO STDOUT")
		if err != nil {
			return fmt.Errorf("postgres: backup %s: %w", t.Name, err)
		}
		t.Rows, t.Bytes = tag.RowsAffected(), buf.Len()
		hdr.Tables = append(hdr.Tables, t)
		data = append(data, buf.Bytes())
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: backup: %w", err)
	}
	hj, err := json.Marshal(hdr)
	if err != nil {
		return fmt.Errorf("postgres: backup: %w", err)
	}
	sum := sha256.New()
	mw := io.MultiWriter(w, sum)
	if _, err := io.WriteString(mw, backupMagic); err != nil {
		return fmt.Errorf("postgres: backup: %w", err)
	}
	mw.Write(append(hj, '\n'))
	for _, d := range data {
		if _, err := mw.Write(d); err != nil {
			return fmt.Errorf("postgres: backup: %w", err)
		}
	}
	if _, err := fmt.Fprintf(w, "sha256 %x\n", sum.Sum(nil)); err != nil {
		return fmt.Errorf("postgres: backup: %w", err)
	}
	return nil
}

func copyTarget(t backupTable) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	return pgx.Identifier{t.Name}.Sanitize() + " (" + strings.Join(cols, ", ") + ")"
}

// trentTables lists the tables of the current schema with their columns,
// each table after the tables its foreign keys refer to.
func trentTables(ctx context.Context, tx pgx.Tx) ([]backupTable, error) {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, err
	}
	byName := map[string]*backupTable{}
	var names []string
	for rows.Next() {
		var tname, col string
		if err := rows.Scan(&tname, &col); err != nil {
			return nil, err
		}
		if byName[tname] == nil {
			byName[tname] = &backupTable{Name: tname}
			names = append(names, tname)
		}
		byName[tname].Columns = append(byName[tname].Columns, col)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	rows, err = tx.Query(ctx, `SELECT c.relname, p.relname FROM pg_constraint k
		JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE k.contype = 'f' AND n.nspname = current_schema()`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			return nil, err
		}
		if child != parent {
			deps[child] = append(deps[child], parent)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []backupTable
	done := map[string]bool{}
	var visit func(n string, depth int) error
	visit = func(n string, depth int) error {
		if done[n] || byName[n] == nil {
			return nil
		}
		if depth > len(names) {
			return fmt.Errorf("foreign keys form a cycle through %s", n)
		}
		for _, p := range deps[n] {
			if err := visit(p, depth+1); err != nil {
				return err
			}
		}
		done[n] = true
		out = append(out, *byName[n])
		return nil
	}
	for _, n := range names {
		if err := visit(n, 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Restore loads a backup written by [Backup] into the schema url names,
// which must hold no Trent data (an error wrapping [ErrNotEmpty]
// otherwise; a schema that does not exist yet is created as by [Open]).
// The backup must come from the same schema version as this build: restore
// with the Trent version that made it, then upgrade. The checksum is
// verified before anything is written, and all rows go in in one
// transaction, so a failed restore leaves the tables empty.
func Restore(ctx context.Context, url string, r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, maxBackup+1))
	if err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	hdr, data, err := parseBackup(b)
	if err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	if hdr.SchemaVersion != len(migrations) {
		return fmt.Errorf("postgres: restore: the backup has schema version %d and this build %d; restore with the Trent version that made it, then upgrade",
			hdr.SchemaVersion, len(migrations))
	}
	// Check emptiness before Open, so no migration runs on a schema that
	// holds someone's data.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := portableSession(ctx, conn); err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	if err := checkEmpty(ctx, conn); err != nil {
		return err
	}
	db, err := Open(ctx, url)
	if err != nil {
		return err
	}
	db.Close()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Serialise with nodes starting on the same schema.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	if err := checkEmpty(ctx, tx); err != nil {
		return err
	}
	for i, t := range hdr.Tables {
		switch t.Name {
		case "schema_migrations":
			continue // Open wrote this build's, which is the backup's version
		case "key_counts", "key_state_counts":
			continue // derived: the keys' insert triggers count them as they are copied in
		}
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data[i]), "COPY "+copyTarget(t)+" FROM STDIN")
		if err != nil {
			return fmt.Errorf("postgres: restore %s: %w", t.Name, err)
		}
		if tag.RowsAffected() != t.Rows {
			return fmt.Errorf("postgres: restore %s: %d rows loaded, the backup lists %d", t.Name, tag.RowsAffected(), t.Rows)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	return nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// checkEmpty refuses a schema in which any table but schema_migrations
// holds a row.
func checkEmpty(ctx context.Context, q querier) error {
	rows, err := q.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'`)
	if err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: restore: %w", err)
	}
	for _, n := range names {
		var any bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{n}.Sanitize()+`)`).Scan(&any); err != nil {
			return fmt.Errorf("postgres: restore: %w", err)
		}
		if any {
			return fmt.Errorf("%w: table %s has rows; restore into an empty schema or database", ErrNotEmpty, n)
		}
	}
	return nil
}

// parseBackup checks the checksum and framing of a backup and returns its
// header and each table's data.
func parseBackup(b []byte) (*backupHeader, [][]byte, error) {
	if len(b) > maxBackup {
		return nil, nil, errors.New("the backup is larger than 4 GiB")
	}
	if !bytes.HasPrefix(b, []byte(backupMagic)) {
		return nil, nil, errors.New("not a Trent PostgreSQL backup")
	}
	i := bytes.LastIndex(b, []byte("sha256 "))
	if i < 0 || len(b) != i+len("sha256 ")+64+1 || b[len(b)-1] != '\n' {
		return nil, nil, errors.New("the backup is truncated (no checksum line at its end)")
	}
	want, err := hex.DecodeString(string(b[i+7 : len(b)-1]))
	if err != nil {
		return nil, nil, errors.New("the backup's checksum line is malformed")
	}
	if got := sha256.Sum256(b[:i]); !bytes.Equal(got[:], want) {
		return nil, nil, errors.New("the backup's checksum does not match: it is damaged or incomplete")
	}
	body := b[len(backupMagic):i]
	nl := bytes.IndexByte(body, '\n')
	if nl < 0 {
		return nil, nil, errors.New("the backup has no header")
	}
	line := body[:nl]
	body = body[nl+1:]
	var hdr backupHeader
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hdr); err != nil {
		return nil, nil, fmt.Errorf("the backup's header: %w", err)
	}
	var data [][]byte
	for _, t := range hdr.Tables {
		if t.Bytes < 0 || t.Bytes > len(body) {
			return nil, nil, fmt.Errorf("the backup's table %s is shorter than its header says", t.Name)
		}
		data = append(data, body[:t.Bytes])
		body = body[t.Bytes:]
	}
	if len(body) != 0 {
		return nil, nil, errors.New("the backup has data after its last table")
	}
	return &hdr, data, nil
}

// portableSession fixes the session settings that shape COPY's text
// format, so a backup reads back the same whatever the servers' defaults.
func portableSession(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; SET bytea_output = 'hex'; SET extra_float_digits = 3`)
	return err
}
