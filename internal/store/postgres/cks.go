package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
)

const cksColumns = `region, id, account_id, doc`

func scanCustomKeyStore(r pgx.Row) (store.CustomKeyStore, error) {
	var region, id, account string
	var doc []byte
	if err := r.Scan(&region, &id, &account, &doc); err != nil {
		return store.CustomKeyStore{}, err
	}
	return store.UnmarshalCustomKeyStore(doc, region, id, account)
}

// cksLock is the advisory lock key that serialises counted creates of
// custom key stores (the quota), from any node.
const cksLock = 0x7472656e74636b73 // "trentcks"

// CreateCustomKeyStore adds a custom key store; see
// [store.CustomKeyStores.CreateCustomKeyStore]. An advisory lock held
// for the transaction serializes concurrent creates on every node.
func (db *DB) CreateCustomKeyStore(ctx context.Context, c store.CustomKeyStore, max int) error {
	doc, err := store.MarshalCustomKeyStore(c)
	if err != nil {
		return fmt.Errorf("postgres: encode custom key store %s: %w", c.ID, err)
	}
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if max > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(cksLock)); err != nil {
				return fmt.Errorf("postgres: lock custom key stores: %w", err)
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM custom_key_stores WHERE region = $1 AND account_id = $2`,
				c.Region, c.AccountID).Scan(&n); err != nil {
				return fmt.Errorf("postgres: count custom key stores: %w", err)
			}
			if n >= max {
				return store.ErrQuota
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO custom_key_stores (region, id, account_id, name, doc) VALUES ($1, $2, $3, $4, $5::text::json)`,
			c.Region, c.ID, c.AccountID, c.Name, string(doc))
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("postgres: create custom key store %s: %w", c.ID, err)
		}
		return nil
	})
}

// GetCustomKeyStore returns the custom key store or [store.ErrNotFound].
func (db *DB) GetCustomKeyStore(ctx context.Context, region, id string) (store.CustomKeyStore, error) {
	c, err := scanCustomKeyStore(db.pool.QueryRow(ctx, `SELECT `+cksColumns+` FROM custom_key_stores
		WHERE region = $1 AND id = $2`, region, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.CustomKeyStore{}, store.ErrNotFound
	}
	if err != nil {
		return store.CustomKeyStore{}, fmt.Errorf("postgres: get custom key store %s: %w", id, err)
	}
	return c, nil
}

// ListCustomKeyStores returns custom key stores of the account; see
// [store.CustomKeyStores.ListCustomKeyStores].
func (db *DB) ListCustomKeyStores(ctx context.Context, region, accountID, after string, limit int) ([]store.CustomKeyStore, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	rows, _ := db.pool.Query(ctx, `SELECT `+cksColumns+` FROM custom_key_stores
		WHERE region = $1 AND account_id = $2 AND id > $3 ORDER BY id LIMIT $4`, region, accountID, after, lim)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.CustomKeyStore, error) { return scanCustomKeyStore(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list custom key stores: %w", err)
	}
	return out, nil
}

// UpdateCustomKeyStore changes a custom key store in one transaction (its
// row locked); see [store.CustomKeyStores.UpdateCustomKeyStore].
func (db *DB) UpdateCustomKeyStore(ctx context.Context, region, id string, fn func(*store.CustomKeyStore) error) (store.CustomKeyStore, error) {
	var saved store.CustomKeyStore
	err := db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		old, err := scanCustomKeyStore(tx.QueryRow(ctx, `SELECT `+cksColumns+` FROM custom_key_stores
			WHERE region = $1 AND id = $2 FOR UPDATE`, region, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: update custom key store %s: %w", id, err)
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
			return fmt.Errorf("postgres: encode custom key store %s: %w", id, err)
		}
		_, err = tx.Exec(ctx, `UPDATE custom_key_stores SET name = $1, doc = $2::text::json WHERE region = $3 AND id = $4`,
			c.Name, string(doc), region, id)
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("postgres: update custom key store %s: %w", id, err)
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
// [store.CustomKeyStores.DeleteCustomKeyStore]. The store's row is locked
// first, so a key created in it concurrently is either seen or refused.
func (db *DB) DeleteCustomKeyStore(ctx context.Context, region, id string) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM custom_key_stores WHERE region = $1 AND id = $2 FOR UPDATE`, region, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: delete custom key store %s: %w", id, err)
		}
		err = tx.QueryRow(ctx, `SELECT 1 FROM keys WHERE region = $1 AND doc->>'CustomKeyStoreID' = $2 LIMIT 1`,
			region, id).Scan(&one)
		if err == nil {
			return store.ErrInUse
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: delete custom key store %s: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM custom_key_stores WHERE region = $1 AND id = $2`, region, id); err != nil {
			return fmt.Errorf("postgres: delete custom key store %s: %w", id, err)
		}
		return nil
	})
}
