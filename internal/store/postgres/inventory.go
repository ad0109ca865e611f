package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
)

var _ store.Inventory = (*DB)(nil)

// MetaNames returns the names of every meta entry, ordered.
func (db *DB) MetaNames(ctx context.Context) ([]string, error) {
	return db.strings(ctx, `SELECT name FROM meta ORDER BY name`)
}

// KeyRegions returns every region that holds a key or a custom key
// store, ordered.
func (db *DB) KeyRegions(ctx context.Context) ([]string, error) {
	return db.strings(ctx, `SELECT region FROM keys UNION SELECT region FROM custom_key_stores ORDER BY region`)
}

func (db *DB) strings(ctx context.Context, query string) ([]string, error) {
	rows, _ := db.pool.Query(ctx, query)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", query, err)
	}
	return out, nil
}
