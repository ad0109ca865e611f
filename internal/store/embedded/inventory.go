package embedded

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/trent-kms/trent/internal/store"
)

var _ store.Inventory = (*DB)(nil)

// MetaNames returns the names of every meta entry, ordered.
func (db *DB) MetaNames(ctx context.Context) ([]string, error) {
	return strings(ctx, db.r, `SELECT name FROM meta ORDER BY name`)
}

// KeyRegions returns every region that holds a key or a custom key
// store, ordered.
func (db *DB) KeyRegions(ctx context.Context) ([]string, error) {
	return strings(ctx, db.r, `SELECT region FROM keys UNION SELECT region FROM custom_key_stores ORDER BY region`)
}

func strings(ctx context.Context, q *sql.DB, query string) ([]string, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("embedded: %s: %w", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("embedded: %s: %w", query, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
