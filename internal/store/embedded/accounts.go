package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/trent-kms/trent/internal/store"
)

// GetMeta returns the value saved under name, or [store.ErrNotFound].
func (db *DB) GetMeta(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := db.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("embedded: get meta %q: %w", name, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// PutMeta saves value under name, replacing any previous value.
func (db *DB) PutMeta(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err != nil {
		return fmt.Errorf("embedded: put meta %q: %w", name, err)
	}
	return nil
}

// CreateMeta saves value under name if nothing is saved there yet, or
// returns [store.ErrExists].
func (db *DB) CreateMeta(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES (?, ?)`, name, value)
	if isConflict(err) {
		return store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("embedded: create meta %q: %w", name, err)
	}
	return nil
}

// CreateAccount adds an account, or returns [store.ErrExists].
func (db *DB) CreateAccount(ctx context.Context, a store.Account) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO accounts (id, created_at) VALUES (?, ?)`, a.ID, fmtTime(a.CreatedAt))
	if isConflict(err) {
		return store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("embedded: create account %s: %w", a.ID, err)
	}
	return nil
}

// GetAccount returns the account with the id, or [store.ErrNotFound].
func (db *DB) GetAccount(ctx context.Context, id string) (store.Account, error) {
	var created string
	err := db.r.QueryRowContext(ctx, `SELECT created_at FROM accounts WHERE id = ?`, id).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, store.ErrNotFound
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("embedded: get account %s: %w", id, err)
	}
	t, err := parseTime(created)
	if err != nil {
		return store.Account{}, err
	}
	return store.Account{ID: id, CreatedAt: t}, nil
}

// ListAccounts returns every account ordered by id.
func (db *DB) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, created_at FROM accounts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("embedded: list accounts: %w", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		var a store.Account
		var created string
		if err := rows.Scan(&a.ID, &created); err != nil {
			return nil, fmt.Errorf("embedded: list accounts: %w", err)
		}
		if a.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("embedded: list accounts: %w", err)
	}
	return out, nil
}

// CreateAccessKey adds an access key; [store.ErrExists] if its id is taken,
// [store.ErrNotFound] if its account does not exist.
func (db *DB) CreateAccessKey(ctx context.Context, k store.AccessKey) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, k.AccountID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("embedded: create access key %s: %w", k.ID, err)
		}
		if k.UserName != "" {
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM iam_entities WHERE account_id = ? AND kind = ? AND name_key = ?`,
				k.AccountID, store.KindUser, store.NameKey(k.UserName)).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("embedded: create access key %s: %w", k.ID, err)
			}
		}
		secret := k.SealedSecret
		if secret == nil {
			secret = []byte{}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO access_keys (id, account_id, principal, user_name, status, sealed_secret, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, k.ID, k.AccountID, k.Principal, k.UserName, status(k.Status), secret, fmtTime(k.CreatedAt))
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("embedded: create access key %s: %w", k.ID, err)
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

func scanAccessKey(s interface{ Scan(...any) error }) (store.AccessKey, error) {
	var k store.AccessKey
	var created string
	if err := s.Scan(&k.ID, &k.AccountID, &k.Principal, &k.UserName, &k.Status, &k.SealedSecret, &created); err != nil {
		return store.AccessKey{}, err
	}
	t, err := parseTime(created)
	if err != nil {
		return store.AccessKey{}, err
	}
	k.CreatedAt = t
	return k, nil
}

// GetAccessKey returns the access key with the id, or [store.ErrNotFound].
func (db *DB) GetAccessKey(ctx context.Context, id string) (store.AccessKey, error) {
	k, err := scanAccessKey(db.r.QueryRowContext(ctx, `SELECT `+accessKeyColumns+` FROM access_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.AccessKey{}, store.ErrNotFound
	}
	if err != nil {
		return store.AccessKey{}, fmt.Errorf("embedded: get access key %s: %w", id, err)
	}
	return k, nil
}

// ListAccessKeys returns the account's access keys ordered by id. An unknown
// account has none.
func (db *DB) ListAccessKeys(ctx context.Context, accountID string) ([]store.AccessKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+accessKeyColumns+` FROM access_keys WHERE account_id = ? ORDER BY id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("embedded: list access keys: %w", err)
	}
	defer rows.Close()
	var out []store.AccessKey
	for rows.Next() {
		k, err := scanAccessKey(rows)
		if err != nil {
			return nil, fmt.Errorf("embedded: list access keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("embedded: list access keys: %w", err)
	}
	return out, nil
}

// DeleteAccessKey removes an access key, or returns [store.ErrNotFound].
func (db *DB) DeleteAccessKey(ctx context.Context, id string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM access_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("embedded: delete access key %s: %w", id, err)
	}
	return oneRow(res)
}

// errAccessKeyIdentity is returned by UpdateAccessKey when fn changed what
// cannot change.
var errAccessKeyIdentity = errors.New("embedded: UpdateAccessKey cannot change an access key's ID or CreatedAt")

// UpdateAccessKey loads the access key, lets fn change it and saves it in
// one transaction; see [store.Store.UpdateAccessKey].
func (db *DB) UpdateAccessKey(ctx context.Context, id string, fn func(*store.AccessKey) error) (store.AccessKey, error) {
	var saved store.AccessKey
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		k, err := scanAccessKey(tx.QueryRowContext(ctx, `SELECT `+accessKeyColumns+` FROM access_keys WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("embedded: update access key %s: %w", id, err)
		}
		created := k.CreatedAt
		if err := fn(&k); err != nil {
			return err
		}
		if k.ID != id || !k.CreatedAt.Equal(created) {
			return errAccessKeyIdentity
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, k.AccountID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("embedded: update access key %s: %w", id, err)
		}
		if k.SealedSecret == nil {
			k.SealedSecret = []byte{}
		}
		k.Status = status(k.Status)
		if _, err := tx.ExecContext(ctx, `UPDATE access_keys SET account_id = ?, principal = ?, user_name = ?, status = ?, sealed_secret = ?
			WHERE id = ?`, k.AccountID, k.Principal, k.UserName, k.Status, k.SealedSecret, id); err != nil {
			return fmt.Errorf("embedded: update access key %s: %w", id, err)
		}
		k.CreatedAt = created
		saved = k
		return nil
	})
	if err != nil {
		return store.AccessKey{}, err
	}
	return saved, nil
}

// oneRow returns [store.ErrNotFound] if res affected no row.
func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("embedded: %w", err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
