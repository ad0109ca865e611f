package postgres

// ListKeysSQL is ListKeys' query, for the test of its plan.
const ListKeysSQL = listKeysSQL

// UseMigrations makes Open apply only the first n migrations until the
// returned function restores them all.
func UseMigrations(n int) (restore func()) {
	all := migrations
	migrations = all[:n]
	return func() { migrations = all }
}

// Channel returns the schema's LISTEN/NOTIFY channel.
func Channel(db *DB) string { return db.channel }
