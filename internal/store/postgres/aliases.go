package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
)

// lockTarget returns [store.ErrNotFound] unless the key exists in the region
// and belongs to the account, and keeps it from being deleted until tx ends.
func lockTarget(ctx context.Context, tx pgx.Tx, region, accountID, keyID string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM keys WHERE region = $1 AND key_id = $2 AND account_id = $3 FOR SHARE`,
		region, keyID, accountID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: look up alias target %s: %w", keyID, err)
	}
	return nil
}

// CreateAlias adds an alias; [store.ErrNotFound] if the target key does not
// exist in the alias's region and account, [store.ErrExists] if (Region,
// AccountID, Name) is taken. The target is checked first.
func (db *DB) CreateAlias(ctx context.Context, a store.Alias) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := lockTarget(ctx, tx, a.Region, a.AccountID, a.TargetKeyID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO aliases
			(region, account_id, name, target_key_id, creation_date, last_updated_date)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			a.Region, a.AccountID, a.Name, a.TargetKeyID, a.CreationDate, a.LastUpdatedDate)
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("postgres: create alias %s: %w", a.Name, err)
		}
		return db.notify(ctx, tx, aliasChange(a.Region, a.AccountID, a.Name, a.TargetKeyID))
	})
}

const aliasColumns = `region, account_id, name, target_key_id, creation_date, last_updated_date`

func scanAlias(r pgx.Row) (store.Alias, error) {
	var a store.Alias
	err := r.Scan(&a.Region, &a.AccountID, &a.Name, &a.TargetKeyID, &a.CreationDate, &a.LastUpdatedDate)
	a.CreationDate, a.LastUpdatedDate = store.UTC(a.CreationDate), store.UTC(a.LastUpdatedDate)
	return a, err
}

// GetAlias returns the alias or [store.ErrNotFound].
func (db *DB) GetAlias(ctx context.Context, region, accountID, name string) (store.Alias, error) {
	a, err := scanAlias(db.pool.QueryRow(ctx, `SELECT `+aliasColumns+` FROM aliases
		WHERE region = $1 AND account_id = $2 AND name = $3`, region, accountID, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Alias{}, store.ErrNotFound
	}
	if err != nil {
		return store.Alias{}, fmt.Errorf("postgres: get alias %s: %w", name, err)
	}
	return a, nil
}

// UpdateAlias points an existing alias at another key of the same region and
// account and sets its LastUpdatedDate; [store.ErrNotFound] if the alias or
// the key does not exist.
func (db *DB) UpdateAlias(ctx context.Context, region, accountID, name, targetKeyID string, now time.Time) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := lockTarget(ctx, tx, region, accountID, targetKeyID); err != nil {
			return err
		}
		var old string
		err := tx.QueryRow(ctx, `SELECT target_key_id FROM aliases
			WHERE region = $1 AND account_id = $2 AND name = $3 FOR UPDATE`, region, accountID, name).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: update alias %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE aliases SET target_key_id = $1, last_updated_date = $2
			WHERE region = $3 AND account_id = $4 AND name = $5`, targetKeyID, now, region, accountID, name); err != nil {
			return fmt.Errorf("postgres: update alias %s: %w", name, err)
		}
		return db.notify(ctx, tx, aliasChange(region, accountID, name, old, targetKeyID))
	})
}

// DeleteAlias removes the alias or returns [store.ErrNotFound].
func (db *DB) DeleteAlias(ctx context.Context, region, accountID, name string) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var old string
		err := tx.QueryRow(ctx, `DELETE FROM aliases WHERE region = $1 AND account_id = $2 AND name = $3
			RETURNING target_key_id`, region, accountID, name).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: delete alias %s: %w", name, err)
		}
		return db.notify(ctx, tx, aliasChange(region, accountID, name, old))
	})
}

// aliasChange announces a change of the alias and of the alias lists of
// the keys it pointed to.
func aliasChange(region, accountID, name string, keyIDs ...string) store.Change {
	return store.Change{Kind: store.ChangeAlias, Region: region, AccountID: accountID, Name: name, KeyIDs: keyIDs}
}

// ListAliases returns up to limit aliases (all if limit <= 0) of the account
// in the region whose Name sorts bytewise after the given one, ordered by
// Name. A non-empty targetKeyID keeps only aliases pointing to that key.
func (db *DB) ListAliases(ctx context.Context, region, accountID, targetKeyID, after string, limit int) ([]store.Alias, error) {
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	rows, _ := db.pool.Query(ctx, `SELECT `+aliasColumns+` FROM aliases
		WHERE region = $1 AND account_id = $2 AND ($3 = '' OR target_key_id = $3) AND name > $4
		ORDER BY name LIMIT $5`, region, accountID, targetKeyID, after, lim)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Alias, error) { return scanAlias(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list aliases: %w", err)
	}
	return out, nil
}

// CountAliases returns how many aliases of the account in the region point
// to targetKeyID.
func (db *DB) CountAliases(ctx context.Context, region, accountID, targetKeyID string) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM aliases
		WHERE region = $1 AND target_key_id = $2 AND account_id = $3`, region, targetKeyID, accountID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count aliases: %w", err)
	}
	return n, nil
}
