// Package embedded stores Trent's state in one SQLite database file, through
// the pure-Go modernc.org/sqlite driver (no cgo).
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL, so a method that
// returns nil has its change on disk: a crash or power loss after the return
// never loses it. Foreign keys are enforced and every change that touches
// more than one row runs in one transaction.
//
// # Concurrency
//
// Writes go through a single connection whose transactions begin with BEGIN
// IMMEDIATE, so a read-then-write such as [DB.UpdateKey] holds the write lock
// from its first read: concurrent writers queue instead of failing with
// SQLITE_BUSY or losing an update. Reads use a separate pool of connections
// and, thanks to WAL, never wait for writers. Another process opening the
// same file waits up to the busy timeout for the write lock.
//
// # Schema
//
// The schema is versioned in the schema_migrations table and upgraded by
// [Open]; a database written by a newer Trent is refused. A key is one row of
// the keys table: its address and the columns that queries filter on
// (region, key_id, account_id, deletion_date, revision) plus the whole
// [store.Key], materials included, as a JSON document. A field added to
// [store.Key] later is therefore persisted without a migration; renaming a
// field needs one. Times are kept in UTC with nanosecond precision (RFC 3339
// text, fixed width in indexed columns so that text order is time order).
package embedded
