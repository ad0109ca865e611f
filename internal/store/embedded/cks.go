package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/trent-kms/trent/internal/store"
)

const cksColumns = `region, id, account_id, doc`

func scanCustomKeyStore(s interface{ Scan(...any) error }) (store.CustomKeyStore, error) {
	var region, id, account, doc string
	if err := s.Scan(&region, &id, &account, &doc); err != nil {
		return store.CustomKeyStore{}, err
	}
	return store.UnmarshalCustomKeyStore([]byte(doc), region, id, account)
}

// CreateCustomKeyStore adds a custom key store; see
// [store.CustomKeyStores.CreateCustomKeyStore]. The write transaction
// (BEGIN IMMEDIATE) serializes concurrent creates.
func (db *DB) CreateCustomKeyStore(ctx context.Context, c store.CustomKeyStore, max int) error {
	doc, err := store.MarshalCustomKeyStore(c)
	if err != nil {
		return fmt.Errorf("embedded: encode custom key store %s: %w", c.ID, err)
	}
	return db.withTx(ctx, func(tx *sql.Tx) error {
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM custom_key_stores WHERE region = ? AND account_id = ?`,
				c.Region, c.AccountID).Scan(&n); err != nil {
				return fmt.Errorf("embedded: count custom key stores: %w", err)
			}
			if n >= max {
				return store.ErrQuota
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO custom_key_stores (region, id, account_id, name, doc) VALUES (?, ?, ?, ?, ?)`,
			c.Region, c.ID, c.AccountID, c.Name, string(doc))
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("embedded: create custom key store %s: %w", c.ID, err)
		}
		return nil
	})
}

// GetCustomKeyStore returns the custom key store or [store.ErrNotFound].
func (db *DB) GetCustomKeyStore(ctx context.Context, region, id string) (store.CustomKeyStore, error) {
	c, err := scanCustomKeyStore(db.r.QueryRowContext(ctx, `SELECT `+cksColumns+` FROM custom_key_stores
		WHERE region = ? AND id = ?`, region, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.CustomKeyStore{}, store.ErrNotFound
	}
	if err != nil {
		return store.CustomKeyStore{}, fmt.Errorf("embedded: get custom key store %s: %w", id, err)
	}
	return c, nil
}

// ListCustomKeyStores returns custom key stores of the account; see
// [store.CustomKeyStores.ListCustomKeyStores].
func (db *DB) ListCustomKeyStores(ctx context.Context, region, accountID, after string, limit int) ([]store.CustomKeyStore, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+cksColumns+` FROM custom_key_stores
		WHERE region = ? AND account_id = ? AND id > ? ORDER BY id LIMIT ?`, region, accountID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("embedded: list custom key stores: %w", err)
	}
	defer rows.Close()
	var out []store.CustomKeyStore
	for rows.Next() {
		c, err := scanCustomKeyStore(rows)
		if err != nil {
			return nil, fmt.Errorf("embedded: list custom key stores: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("embedded: list custom key stores: %w", err)
	}
	return out, nil
}

// UpdateCustomKeyStore changes a custom key store in one transaction; see
// [store.CustomKeyStores.UpdateCustomKeyStore].
func (db *DB) UpdateCustomKeyStore(ctx context.Context, region, id string, fn func(*store.CustomKeyStore) error) (store.CustomKeyStore, error) {
	var saved store.CustomKeyStore
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		old, err := scanCustomKeyStore(tx.QueryRowContext(ctx, `SELECT `+cksColumns+` FROM custom_key_stores
			WHERE region = ? AND id = ?`, region, id))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("embedded: update custom key store %s: %w", id, err)
		}
		c := store.NormalizeCustomKeyStore(old)
		if err := fn(&c); err != nil {
			return err
		}
		if err := store.CheckCustomKeyStoreUpdate(old, c); err != nil {
			return err
		}
		doc, err := store.MarshalCustomKeyStore(c)
		if err != nil {
			return fmt.Errorf("embedded: encode custom key store %s: %w", id, err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE custom_key_stores SET name = ?, doc = ? WHERE region = ? AND id = ?`,
			c.Name, string(doc), region, id)
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("embedded: update custom key store %s: %w", id, err)
		}
		saved = store.NormalizeCustomKeyStore(c)
		return nil
	})
	if err != nil {
		return store.CustomKeyStore{}, err
	}
	return saved, nil
}

// DeleteCustomKeyStore removes a custom key store that holds no keys; see
// [store.CustomKeyStores.DeleteCustomKeyStore].
func (db *DB) DeleteCustomKeyStore(ctx context.Context, region, id string) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM keys WHERE region = ? AND json_extract(doc, '$.CustomKeyStoreID') = ? LIMIT 1`,
			region, id).Scan(&one)
		if err == nil {
			return store.ErrInUse
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("embedded: delete custom key store %s: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM custom_key_stores WHERE region = ? AND id = ?`, region, id)
		if err != nil {
			return fmt.Errorf("embedded: delete custom key store %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}
