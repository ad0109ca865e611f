package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/trent-kms/trent/internal/store"
)

// checkTarget returns [store.ErrNotFound] unless the key exists in the region
// and belongs to the account.
func checkTarget(ctx context.Context, tx *sql.Tx, region, accountID, keyID string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM keys WHERE region = ? AND key_id = ? AND account_id = ?`,
		region, keyID, accountID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("embedded: look up alias target %s: %w", keyID, err)
	}
	return nil
}

// CreateAlias adds an alias; [store.ErrNotFound] if the target key does not
// exist in the alias's region and account, [store.ErrExists] if (Region,
// AccountID, Name) is taken. The target is checked first.
func (db *DB) CreateAlias(ctx context.Context, a store.Alias) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		if err := checkTarget(ctx, tx, a.Region, a.AccountID, a.TargetKeyID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO aliases
			(region, account_id, name, target_key_id, creation_date, last_updated_date)
			VALUES (?, ?, ?, ?, ?, ?)`,
			a.Region, a.AccountID, a.Name, a.TargetKeyID, fmtTime(a.CreationDate), fmtTime(a.LastUpdatedDate))
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("embedded: create alias %s: %w", a.Name, err)
		}
		return nil
	})
}

const aliasColumns = `region, account_id, name, target_key_id, creation_date, last_updated_date`

func scanAlias(s interface{ Scan(...any) error }) (store.Alias, error) {
	var a store.Alias
	var created, updated string
	if err := s.Scan(&a.Region, &a.AccountID, &a.Name, &a.TargetKeyID, &created, &updated); err != nil {
		return store.Alias{}, err
	}
	var err error
	if a.CreationDate, err = parseTime(created); err != nil {
		return store.Alias{}, err
	}
	if a.LastUpdatedDate, err = parseTime(updated); err != nil {
		return store.Alias{}, err
	}
	return a, nil
}

// GetAlias returns the alias or [store.ErrNotFound].
func (db *DB) GetAlias(ctx context.Context, region, accountID, name string) (store.Alias, error) {
	a, err := scanAlias(db.r.QueryRowContext(ctx, `SELECT `+aliasColumns+` FROM aliases
		WHERE region = ? AND account_id = ? AND name = ?`, region, accountID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Alias{}, store.ErrNotFound
	}
	if err != nil {
		return store.Alias{}, fmt.Errorf("embedded: get alias %s: %w", name, err)
	}
	return a, nil
}

// UpdateAlias points an existing alias at another key of the same region and
// account and sets its LastUpdatedDate; [store.ErrNotFound] if the alias or
// the key does not exist.
func (db *DB) UpdateAlias(ctx context.Context, region, accountID, name, targetKeyID string, now time.Time) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		if err := checkTarget(ctx, tx, region, accountID, targetKeyID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE aliases SET target_key_id = ?, last_updated_date = ?
			WHERE region = ? AND account_id = ? AND name = ?`, targetKeyID, fmtTime(now), region, accountID, name)
		if err != nil {
			return fmt.Errorf("embedded: update alias %s: %w", name, err)
		}
		return oneRow(res)
	})
}

// DeleteAlias removes the alias or returns [store.ErrNotFound].
func (db *DB) DeleteAlias(ctx context.Context, region, accountID, name string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM aliases WHERE region = ? AND account_id = ? AND name = ?`,
		region, accountID, name)
	if err != nil {
		return fmt.Errorf("embedded: delete alias %s: %w", name, err)
	}
	return oneRow(res)
}

// ListAliases returns up to limit aliases (all if limit <= 0) of the account
// in the region whose Name sorts bytewise after the given one, ordered by
// Name. A non-empty targetKeyID keeps only aliases pointing to that key.
func (db *DB) ListAliases(ctx context.Context, region, accountID, targetKeyID, after string, limit int) ([]store.Alias, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+aliasColumns+` FROM aliases
		WHERE region = ? AND account_id = ? AND (? = '' OR target_key_id = ?) AND name > ?
		ORDER BY name LIMIT ?`, region, accountID, targetKeyID, targetKeyID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("embedded: list aliases: %w", err)
	}
	defer rows.Close()
	var out []store.Alias
	for rows.Next() {
		a, err := scanAlias(rows)
		if err != nil {
			return nil, fmt.Errorf("embedded: list aliases: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("embedded: list aliases: %w", err)
	}
	return out, nil
}

// CountAliases returns how many aliases of the account in the region point
// to targetKeyID.
func (db *DB) CountAliases(ctx context.Context, region, accountID, targetKeyID string) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM aliases
		WHERE region = ? AND target_key_id = ? AND account_id = ?`, region, targetKeyID, accountID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("embedded: count aliases: %w", err)
	}
	return n, nil
}
