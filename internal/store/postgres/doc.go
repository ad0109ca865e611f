// Package postgres stores Trent's state in a PostgreSQL database through
// pgx v5, so that several Trent servers can share it.
//
// # Consistency
//
// Every change that touches more than one row runs in one transaction.
// [DB.UpdateKey] locks the key row with SELECT ... FOR UPDATE before calling
// its function, so concurrent updates of a key queue instead of overwriting
// each other; alias and access-key creation lock the row they depend on with
// FOR SHARE so that it cannot be deleted underneath them. A method that
// returns nil has committed; durability is the server's (synchronous_commit).
//
// # Several nodes
//
// Every write that changes what a node may cache announces it with
// pg_notify in its own transaction, on a channel per schema; [DB.Listen]
// delivers the announcements to a node ([store.Notifier]). [DB.RunLocked]
// runs a background job under a session advisory lock ([store.Locker]).
// Every query and transaction has a deadline ([QueryTimeout]); an
// unreachable database is reported as [ErrUnavailable].
//
// # Schema
//
// Tables live in the connection's search_path (set it in the URL, e.g.
// search_path=trent, to keep them in a schema of their own). The schema is
// versioned in schema_migrations and upgraded by [Open] under an advisory
// lock, so servers starting together do not race; a database written by a
// newer Trent is refused. A key is one row of the keys table: the columns
// queries filter on (region, key_id, account_id, deletion_date, revision)
// plus the whole [store.Key], materials included, as a JSON document, so a
// field added to [store.Key] later needs no migration. Text columns use the
// "C" collation, so lists are ordered bytewise whatever the database locale.
// Timestamp columns keep microseconds; times inside the key document keep
// nanoseconds.
package postgres
