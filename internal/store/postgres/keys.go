package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
)

// errIdentity is returned by UpdateKey when fn changed the key's address or
// account.
var errIdentity = errors.New("postgres: UpdateKey cannot change a key's Region, KeyID or AccountID")

// keyColumns are the columns scanKey reads, from keyFrom.
const keyColumns = `region, key_id, k.account_id, k.revision, k.doc::text, u.at_ns, u.operation, u.request_id`

// keyFrom is a key with its recorded use (RecordKeyUsage), if any. A
// query that locks the key says FOR UPDATE OF k.
const keyFrom = `keys k LEFT JOIN key_usage u USING (region, key_id)`

func scanKey(r pgx.Row) (store.Key, error) {
	var region, keyID, account, doc string
	var rev int64
	var at *int64
	var op, reqID *string
	if err := r.Scan(&region, &keyID, &account, &rev, &doc, &at, &op, &reqID); err != nil {
		return store.Key{}, err
	}
	k, err := store.UnmarshalKey([]byte(doc), region, keyID, account, rev)
	if err != nil || at == nil {
		return k, err
	}
	store.MergeUsage(&k, *at, deref(op), deref(reqID), true)
	return k, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CreateKey adds a key with its materials and Revision 1, or returns
// [store.ErrExists] if its KeyRef is taken. The account is not checked.
func (db *DB) CreateKey(ctx context.Context, k store.Key) error {
	k = store.Normalize(k)
	k.Revision = 1
	doc, err := store.MarshalKey(k)
	if err != nil {
		return fmt.Errorf("postgres: encode key %s: %w", k.KeyID, err)
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO keys (region, key_id, account_id, revision, deletion_date, next_rotation_date, material_expiry, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::json)`,
		k.Region, k.KeyID, k.AccountID, k.Revision, optTime(k.DeletionDate), optTime(k.NextRotationDate),
		optTime(k.MaterialExpiry), string(doc))
	if isConflict(err) {
		return store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("postgres: create key %s: %w", k.KeyID, err)
	}
	return nil
}

// keyChange announces a change of the key, its aliases or its grants.
func keyChange(ref store.KeyRef) store.Change {
	return store.Change{Kind: store.ChangeKey, Region: ref.Region, KeyID: ref.KeyID}
}

// keyDeleted announces that the key is gone, with its aliases and grants.
func keyDeleted(ref store.KeyRef) store.Change {
	c := keyChange(ref)
	c.Deleted = true
	return c
}

// GetKey returns the key, materials included, or [store.ErrNotFound].
func (db *DB) GetKey(ctx context.Context, ref store.KeyRef) (store.Key, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM `+keyFrom+` WHERE region = $1 AND key_id = $2`,
		ref.Region, ref.KeyID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Key{}, store.ErrNotFound
	}
	if err != nil {
		return store.Key{}, fmt.Errorf("postgres: get key %s: %w", ref.KeyID, err)
	}
	return k, nil
}

// listKeysSQL is ListKeys' query: keyset pagination on the keys_account
// index (region, account_id, key_id), so a page late in a long list costs
// what the first page costs (TestListKeysPlan).
const listKeysSQL = `SELECT region, key_id FROM keys
	WHERE region = $1 AND account_id = $2 AND key_id > $3 ORDER BY key_id LIMIT $4`

// ListKeys returns the refs of up to limit keys (all if limit <= 0) of the
// account in the region whose KeyID sorts after the given one, ordered by
// KeyID bytewise. It reads only the indexed address columns, never the key
// document with its policy and sealed material.
func (db *DB) ListKeys(ctx context.Context, region, accountID, after string, limit int) ([]store.KeyRef, error) {
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	rows, _ := db.pool.Query(ctx, listKeysSQL, region, accountID, after, lim)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.KeyRef, error) {
		var ref store.KeyRef
		err := r.Scan(&ref.Region, &ref.KeyID)
		return ref, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	return out, nil
}

// CountKeys returns how many customer keys (not AWS managed keys) the
// account has in the region, from the count its triggers keep.
func (db *DB) CountKeys(ctx context.Context, region, accountID string) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT n FROM key_counts WHERE region = $1 AND account_id = $2`,
		region, accountID).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: count keys: %w", err)
	}
	return n, nil
}

// KeyCounts counts keys by state and spec from the JSON documents.
func (db *DB) KeyCounts(ctx context.Context) ([]store.KeyCount, error) {
	// Fold the +1 and -1 rows the trigger appended since the last call
	// into one row per state and spec (atomically: a row appended
	// meanwhile stays for the next fold), then add up what is there.
	if _, err := db.pool.Exec(ctx, `WITH d AS (DELETE FROM key_state_counts RETURNING key_state, key_spec, n)
		INSERT INTO key_state_counts (key_state, key_spec, n)
		SELECT key_state, key_spec, sum(n) FROM d GROUP BY 1, 2 HAVING sum(n) <> 0`); err != nil {
		return nil, fmt.Errorf("postgres: count keys by state: %w", err)
	}
	rows, err := db.pool.Query(ctx, `SELECT key_state, key_spec, sum(n)::bigint FROM key_state_counts
		GROUP BY 1, 2 HAVING sum(n) > 0 ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("postgres: count keys by state: %w", err)
	}
	defer rows.Close()
	var out []store.KeyCount
	for rows.Next() {
		var c store.KeyCount
		if err := rows.Scan(&c.KeyState, &c.KeySpec, &c.N); err != nil {
			return nil, fmt.Errorf("postgres: count keys by state: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: count keys by state: %w", err)
	}
	return out, nil
}

// UpdateKey loads and locks the key (SELECT ... FOR UPDATE), calls fn with
// it and saves what fn left in it with Revision incremented, all in one
// transaction; fn is called once, and other updates of the key wait while it
// runs. A change fn makes to Revision is ignored. If fn returns an error
// nothing is saved and that error is returned unchanged; if fn changes
// Region, KeyID or AccountID nothing is saved and an error is returned.
// UpdateKey returns the saved key, or [store.ErrNotFound].
func (db *DB) UpdateKey(ctx context.Context, ref store.KeyRef, fn func(*store.Key) error) (store.Key, error) {
	var saved store.Key
	err := db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		k, err := scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM `+keyFrom+` WHERE region = $1 AND key_id = $2 FOR UPDATE OF k`,
			ref.Region, ref.KeyID))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: update key %s: %w", ref.KeyID, err)
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
			return fmt.Errorf("postgres: encode key %s: %w", ref.KeyID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE keys SET revision = $1, deletion_date = $2, next_rotation_date = $3, material_expiry = $4,
			doc = $5::text::json WHERE region = $6 AND key_id = $7`,
			k.Revision, optTime(k.DeletionDate), optTime(k.NextRotationDate), optTime(k.MaterialExpiry), string(doc),
			ref.Region, ref.KeyID); err != nil {
			return fmt.Errorf("postgres: update key %s: %w", ref.KeyID, err)
		}
		saved = k
		return db.notify(ctx, tx, keyChange(ref))
	})
	if err != nil {
		return store.Key{}, err
	}
	return saved, nil
}

// DeleteKey removes the key, its materials and every alias that points to it
// in one transaction, or returns [store.ErrNotFound].
func (db *DB) DeleteKey(ctx context.Context, ref store.KeyRef) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM aliases WHERE region = $1 AND target_key_id = $2`,
			ref.Region, ref.KeyID); err != nil {
			return fmt.Errorf("postgres: delete key %s: %w", ref.KeyID, err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM keys WHERE region = $1 AND key_id = $2`, ref.Region, ref.KeyID)
		if err != nil {
			return fmt.Errorf("postgres: delete key %s: %w", ref.KeyID, err)
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		return db.notify(ctx, tx, keyDeleted(ref))
	})
}

// DeleteKeyIfDue locks the key (SELECT ... FOR UPDATE) and, if it is still
// due for deletion at now ([store.Key.DueForDeletion]), removes it, its
// materials and its aliases, all in one transaction; it reports whether it
// deleted the key. A concurrent CancelKeyDeletion (an UpdateKey) either
// commits first, and the key is then not due and stays, or waits until the
// key is gone. A missing key is [store.ErrNotFound].
func (db *DB) DeleteKeyIfDue(ctx context.Context, ref store.KeyRef, now time.Time) (bool, error) {
	deleted := false
	err := db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		k, err := scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM `+keyFrom+` WHERE region = $1 AND key_id = $2 FOR UPDATE OF k`,
			ref.Region, ref.KeyID))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: delete key %s: %w", ref.KeyID, err)
		}
		if !k.DueForDeletion(now) {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM aliases WHERE region = $1 AND target_key_id = $2`,
			ref.Region, ref.KeyID); err != nil {
			return fmt.Errorf("postgres: delete key %s: %w", ref.KeyID, err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM keys WHERE region = $1 AND key_id = $2`, ref.Region, ref.KeyID)
		if err != nil {
			return fmt.Errorf("postgres: delete key %s: %w", ref.KeyID, err)
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		deleted = true
		return db.notify(ctx, tx, keyDeleted(ref))
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
	rows, _ := db.pool.Query(ctx, `SELECT region, key_id FROM keys
		WHERE `+column+` IS NOT NULL AND `+column+` <= $1 ORDER BY region, key_id`, now)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.KeyRef, error) {
		var ref store.KeyRef
		err := r.Scan(&ref.Region, &ref.KeyID)
		return ref, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: keys due for %s: %w", what, err)
	}
	return out, nil
}
