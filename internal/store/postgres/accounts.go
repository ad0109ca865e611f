package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
)

// GetMeta returns the value saved under name, or [store.ErrNotFound].
func (db *DB) GetMeta(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT value FROM meta WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get meta %q: %w", name, err)
	}
	return nonNil(v), nil
}

// PutMeta saves value under name, replacing any previous value.
func (db *DB) PutMeta(ctx context.Context, name string, value []byte) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO meta (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, nonNil(value))
	if err != nil {
		return fmt.Errorf("postgres: put meta %q: %w", name, err)
	}
	return nil
}

// CreateMeta saves value under name if nothing is saved there yet, or
// returns [store.ErrExists].
func (db *DB) CreateMeta(ctx context.Context, name string, value []byte) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO meta (name, value) VALUES ($1, $2)`, name, nonNil(value))
	if isConflict(err) {
		return store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("postgres: create meta %q: %w", name, err)
	}
	return nil
}

// CreateAccount adds an account, or returns [store.ErrExists].
func (db *DB) CreateAccount(ctx context.Context, a store.Account) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO accounts (id, created_at) VALUES ($1, $2)`, a.ID, a.CreatedAt)
	if isConflict(err) {
		return store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("postgres: create account %s: %w", a.ID, err)
	}
	return nil
}

// GetAccount returns the account with the id, or [store.ErrNotFound].
func (db *DB) GetAccount(ctx context.Context, id string) (store.Account, error) {
	var created time.Time
	err := db.pool.QueryRow(ctx, `SELECT created_at FROM accounts WHERE id = $1`, id).Scan(&created)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Account{}, store.ErrNotFound
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("postgres: get account %s: %w", id, err)
	}
	return store.Account{ID: id, CreatedAt: store.UTC(created)}, nil
}

// ListAccounts returns every account ordered by id.
func (db *DB) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, _ := db.pool.Query(ctx, `SELECT id, created_at FROM accounts ORDER BY id`)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Account, error) {
		var a store.Account
		err := r.Scan(&a.ID, &a.CreatedAt)
		a.CreatedAt = store.UTC(a.CreatedAt)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list accounts: %w", err)
	}
	return out, nil
}

// lockAccount returns [store.ErrNotFound] unless the account exists, and
// keeps it from being deleted until tx ends.
func lockAccount(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR SHARE`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// CreateAccessKey adds an access key; [store.ErrExists] if its id is taken,
// [store.ErrNotFound] if its account does not exist.
func (db *DB) CreateAccessKey(ctx context.Context, k store.AccessKey) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, k.AccountID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return err
			}
			return fmt.Errorf("postgres: create access key %s: %w", k.ID, err)
		}
		if k.UserName != "" {
			if _, err := getEntity(ctx, tx, k.AccountID, store.KindUser, k.UserName); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO access_keys (id, account_id, principal, user_name, status, sealed_secret, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.AccountID, k.Principal, k.UserName, status(k.Status), nonNil(k.SealedSecret), k.CreatedAt)
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("postgres: create access key %s: %w", k.ID, err)
		}
		return nil
	})
}

const accessKeyColumns = `id, account_id, principal, user_name, status, sealed_secret, created_at`

// status returns the stored form of an access key status: "" is Active.
func status(s string) string {
	if s == "" {
		return store.StatusActive
	}
	return s
}

func scanAccessKey(r pgx.Row) (store.AccessKey, error) {
	var k store.AccessKey
	err := r.Scan(&k.ID, &k.AccountID, &k.Principal, &k.UserName, &k.Status, &k.SealedSecret, &k.CreatedAt)
	k.CreatedAt = store.UTC(k.CreatedAt)
	k.SealedSecret = nonNil(k.SealedSecret)
	return k, err
}

// GetAccessKey returns the access key with the id, or [store.ErrNotFound].
func (db *DB) GetAccessKey(ctx context.Context, id string) (store.AccessKey, error) {
	k, err := scanAccessKey(db.pool.QueryRow(ctx, `SELECT `+accessKeyColumns+` FROM access_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.AccessKey{}, store.ErrNotFound
	}
	if err != nil {
		return store.AccessKey{}, fmt.Errorf("postgres: get access key %s: %w", id, err)
	}
	return k, nil
}

// ListAccessKeys returns the account's access keys ordered by id. An unknown
// account has none.
func (db *DB) ListAccessKeys(ctx context.Context, accountID string) ([]store.AccessKey, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+accessKeyColumns+` FROM access_keys WHERE account_id = $1 ORDER BY id`, accountID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AccessKey, error) { return scanAccessKey(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list access keys: %w", err)
	}
	return out, nil
}

// DeleteAccessKey removes an access key, or returns [store.ErrNotFound].
func (db *DB) DeleteAccessKey(ctx context.Context, id string) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM access_keys WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("postgres: delete access key %s: %w", id, err)
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		return db.notify(ctx, tx, store.Change{Kind: store.ChangeAccessKey, AccessKeyID: id})
	})
}

// errAccessKeyIdentity is returned by UpdateAccessKey when fn changed what
// cannot change.
var errAccessKeyIdentity = errors.New("postgres: UpdateAccessKey cannot change an access key's ID or CreatedAt")

// UpdateAccessKey loads the access key, lets fn change it and saves it in
// one transaction; see [store.Store.UpdateAccessKey].
func (db *DB) UpdateAccessKey(ctx context.Context, id string, fn func(*store.AccessKey) error) (store.AccessKey, error) {
	var saved store.AccessKey
	err := db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		k, err := scanAccessKey(tx.QueryRow(ctx, `SELECT `+accessKeyColumns+` FROM access_keys WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: update access key %s: %w", id, err)
		}
		created := k.CreatedAt
		if err := fn(&k); err != nil {
			return err
		}
		if k.ID != id || !k.CreatedAt.Equal(created) {
			return errAccessKeyIdentity
		}
		if err := lockAccount(ctx, tx, k.AccountID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return err
			}
			return fmt.Errorf("postgres: update access key %s: %w", id, err)
		}
		k.Status = status(k.Status)
		if _, err := tx.Exec(ctx, `UPDATE access_keys SET account_id = $1, principal = $2, user_name = $3, status = $4, sealed_secret = $5
			WHERE id = $6`, k.AccountID, k.Principal, k.UserName, k.Status, nonNil(k.SealedSecret), id); err != nil {
			return fmt.Errorf("postgres: update access key %s: %w", id, err)
		}
		k.CreatedAt = created
		k.SealedSecret = nonNil(k.SealedSecret)
		saved = k
		return db.notify(ctx, tx, store.Change{Kind: store.ChangeAccessKey, AccessKeyID: id})
	})
	if err != nil {
		return store.AccessKey{}, err
	}
	return saved, nil
}
