package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/trent-kms/trent/internal/store"
)

// errIdentity is returned by UpdateKey when fn changed the key's address or
// account.
var errIdentity = errors.New("embedded: UpdateKey cannot change a key's Region, KeyID or AccountID")

// keyColumns are the columns scanKey reads, from keyFrom.
const keyColumns = `region, key_id, k.account_id, k.revision, k.doc, u.at_ns, u.operation, u.request_id`

// keyFrom is a key with its recorded use (RecordKeyUsage), if any.
const keyFrom = `keys k LEFT JOIN key_usage u USING (region, key_id)`

func scanKey(s interface{ Scan(...any) error }) (store.Key, error) {
	var region, keyID, account, doc string
	var rev int64
	var at sql.NullInt64
	var op, reqID sql.NullString
	if err := s.Scan(&region, &keyID, &account, &rev, &doc, &at, &op, &reqID); err != nil {
		return store.Key{}, err
	}
	k, err := store.UnmarshalKey([]byte(doc), region, keyID, account, rev)
	if err != nil {
		return k, err
	}
	store.MergeUsage(&k, at.Int64, op.String, reqID.String, at.Valid)
	return k, nil
}

// CreateKey adds a key with its materials and Revision 1, or returns
// [store.ErrExists] if its KeyRef is taken. The account is not checked.
func (db *DB) CreateKey(ctx context.Context, k store.Key) error {
	k = store.Normalize(k)
	k.Revision = 1
	doc, err := store.MarshalKey(k)
	if err != nil {
		return fmt.Errorf("embedded: encode key %s: %w", k.KeyID, err)
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO keys (region, key_id, account_id, revision, deletion_date, next_rotation_date, material_expiry, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, k.Region, k.KeyID, k.AccountID, k.Revision, fmtOptTime(k.DeletionDate),
		fmtOptTime(k.NextRotationDate), fmtOptTime(k.MaterialExpiry), string(doc))
	if isConflict(err) {
		return store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("embedded: create key %s: %w", k.KeyID, err)
	}
	return nil
}

// GetKey returns the key, materials included, or [store.ErrNotFound].
func (db *DB) GetKey(ctx context.Context, ref store.KeyRef) (store.Key, error) {
	k, err := scanKey(db.r.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM `+keyFrom+` WHERE region = ? AND key_id = ?`,
		ref.Region, ref.KeyID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Key{}, store.ErrNotFound
	}
	if err != nil {
		return store.Key{}, fmt.Errorf("embedded: get key %s: %w", ref.KeyID, err)
	}
	return k, nil
}

// listKeysSQL is ListKeys' query: keyset pagination on the keys_account
// index (region, account_id, key_id), so a page late in a long list costs
// what the first page costs (TestListKeysPlan).
const listKeysSQL = `SELECT region, key_id FROM keys
	WHERE region = ? AND account_id = ? AND key_id > ? ORDER BY key_id LIMIT ?`

// ListKeys returns the refs of up to limit keys (all if limit <= 0) of the
// account in the region whose KeyID sorts after the given one, ordered by
// KeyID bytewise. It reads only the indexed address columns, never the key
// document with its policy and sealed material.
func (db *DB) ListKeys(ctx context.Context, region, accountID, after string, limit int) ([]store.KeyRef, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := db.r.QueryContext(ctx, listKeysSQL, region, accountID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("embedded: list keys: %w", err)
	}
	defer rows.Close()
	var out []store.KeyRef
	for rows.Next() {
		var r store.KeyRef
		if err := rows.Scan(&r.Region, &r.KeyID); err != nil {
			return nil, fmt.Errorf("embedded: list keys: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("embedded: list keys: %w", err)
	}
	return out, nil
}

// CountKeys returns how many customer keys (not AWS managed keys) the
// account has in the region, from the count its triggers keep.
func (db *DB) CountKeys(ctx context.Context, region, accountID string) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT n FROM key_counts WHERE region = ? AND account_id = ?`,
		region, accountID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("embedded: count keys: %w", err)
	}
	return n, nil
}

// KeyCounts counts keys by state and spec with SQLite's JSON functions,
// without decoding the documents in Go.
func (db *DB) KeyCounts(ctx context.Context) ([]store.KeyCount, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT key_state, key_spec, n FROM key_state_counts WHERE n > 0 ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("embedded: count keys by state: %w", err)
	}
	defer rows.Close()
	var out []store.KeyCount
	for rows.Next() {
		var c store.KeyCount
		if err := rows.Scan(&c.KeyState, &c.KeySpec, &c.N); err != nil {
			return nil, fmt.Errorf("embedded: count keys by state: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("embedded: count keys by state: %w", err)
	}
	return out, nil
}

// UpdateKey loads the key, calls fn with it and saves what fn left in it with
// Revision incremented, all in one immediate transaction; fn is called once.
// While fn runs every other writer waits, so fn should be quick and must not
// call a method of db that writes (reads are fine).
// A change fn makes to Revision is ignored. If fn returns an error nothing is
// saved and that error is returned unchanged; if fn changes Region, KeyID or
// AccountID nothing is saved and an error is returned. UpdateKey returns the
// saved key, or [store.ErrNotFound].
func (db *DB) UpdateKey(ctx context.Context, ref store.KeyRef, fn func(*store.Key) error) (store.Key, error) {
	var saved store.Key
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		k, err := scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM `+keyFrom+` WHERE region = ? AND key_id = ?`,
			ref.Region, ref.KeyID))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("embedded: update key %s: %w", ref.KeyID, err)
		}
		account, rev := k.AccountID, k.Revision
		if err := fn(&k); err != nil {
			return err
		}
		if k.Region != ref.Region || k.KeyID != ref.KeyID || k.AccountID != account {
			return errIdentity
		}
		k = store.Normalize(k)
		k.Revision = rev + 1
		doc, err := store.MarshalKey(k)
		if err != nil {
			return fmt.Errorf("embedded: encode key %s: %w", ref.KeyID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE keys SET revision = ?, deletion_date = ?, next_rotation_date = ?, material_expiry = ?, doc = ?
			WHERE region = ? AND key_id = ?`,
			k.Revision, fmtOptTime(k.DeletionDate), fmtOptTime(k.NextRotationDate), fmtOptTime(k.MaterialExpiry), string(doc),
			ref.Region, ref.KeyID); err != nil {
			return fmt.Errorf("embedded: update key %s: %w", ref.KeyID, err)
		}
		saved = k
		return nil
	})
	if err != nil {
		return store.Key{}, err
	}
	return saved, nil
}

// DeleteKey removes the key, its materials and every alias that points to it
// in one transaction, or returns [store.ErrNotFound].
func (db *DB) DeleteKey(ctx context.Context, ref store.KeyRef) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM aliases WHERE region = ? AND target_key_id = ?`,
			ref.Region, ref.KeyID); err != nil {
			return fmt.Errorf("embedded: delete key %s: %w", ref.KeyID, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE region = ? AND key_id = ?`, ref.Region, ref.KeyID)
		if err != nil {
			return fmt.Errorf("embedded: delete key %s: %w", ref.KeyID, err)
		}
		return oneRow(res)
	})
}

// DeleteKeyIfDue removes the key, its materials and its aliases in one
// immediate transaction if the key is still due for deletion at now
// ([store.Key.DueForDeletion]), and reports whether it did. Writers are
// serialised, so a CancelKeyDeletion either commits before the check (and
// the key stays) or waits until the key is gone. A missing key is
// [store.ErrNotFound].
func (db *DB) DeleteKeyIfDue(ctx context.Context, ref store.KeyRef, now time.Time) (bool, error) {
	deleted := false
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		k, err := scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM `+keyFrom+` WHERE region = ? AND key_id = ?`,
			ref.Region, ref.KeyID))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("embedded: delete key %s: %w", ref.KeyID, err)
		}
		if !k.DueForDeletion(now) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM aliases WHERE region = ? AND target_key_id = ?`,
			ref.Region, ref.KeyID); err != nil {
			return fmt.Errorf("embedded: delete key %s: %w", ref.KeyID, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE region = ? AND key_id = ?`, ref.Region, ref.KeyID)
		if err != nil {
			return fmt.Errorf("embedded: delete key %s: %w", ref.KeyID, err)
		}
		if err := oneRow(res); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return deleted, nil
}

// KeysDueForDeletion returns the refs of all keys, in every region and
// account, whose DeletionDate is set and not after now, ordered by region
// and key id.
func (db *DB) KeysDueForDeletion(ctx context.Context, now time.Time) ([]store.KeyRef, error) {
	return db.keysDue(ctx, "deletion_date", "deletion", now)
}

// KeysDueForMaterialExpiry returns the refs of all keys, in every region
// and account, whose MaterialExpiry is set and not after now, ordered by
// region and key id. It reads the indexed material_expiry column only.
func (db *DB) KeysDueForMaterialExpiry(ctx context.Context, now time.Time) ([]store.KeyRef, error) {
	return db.keysDue(ctx, "material_expiry", "material expiry", now)
}

// KeysDueForRotation returns the refs of all keys, in every region and
// account, whose NextRotationDate is set and not after now, ordered by
// region and key id. It reads the indexed next_rotation_date column only.
func (db *DB) KeysDueForRotation(ctx context.Context, now time.Time) ([]store.KeyRef, error) {
	return db.keysDue(ctx, "next_rotation_date", "rotation", now)
}

// keysDue returns the refs of the keys whose date column (a constant of
// this package, never input) is set and not after now.
func (db *DB) keysDue(ctx context.Context, column, what string, now time.Time) ([]store.KeyRef, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT region, key_id FROM keys
		WHERE `+column+` IS NOT NULL AND `+column+` <= ? ORDER BY region, key_id`, fmtTime(now))
	if err != nil {
		return nil, fmt.Errorf("embedded: keys due for %s: %w", what, err)
	}
	defer rows.Close()
	var out []store.KeyRef
	for rows.Next() {
		var r store.KeyRef
		if err := rows.Scan(&r.Region, &r.KeyID); err != nil {
			return nil, fmt.Errorf("embedded: keys due for %s: %w", what, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("embedded: keys due for %s: %w", what, err)
	}
	return out, nil
}
