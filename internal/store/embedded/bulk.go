package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/trent-kms/trent/internal/store"
)

// CreateKeys adds keys as [DB.CreateKey] does, all in one transaction: one
// commit (and one fsync) for the lot. It is how `trent bench --keys`
// populates a large store; a request never needs it. If any KeyRef is
// taken it returns [store.ErrExists] and adds none.
func (db *DB) CreateKeys(ctx context.Context, keys []store.Key) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO keys (region, key_id, account_id, revision, deletion_date, next_rotation_date, doc)
			VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("embedded: create keys: %w", err)
		}
		defer stmt.Close()
		for _, k := range keys {
			k = store.Normalize(k)
			k.Revision = 1
			doc, err := store.MarshalKey(k)
			if err != nil {
				return fmt.Errorf("embedded: encode key %s: %w", k.KeyID, err)
			}
			_, err = stmt.ExecContext(ctx, k.Region, k.KeyID, k.AccountID, k.Revision, fmtOptTime(k.DeletionDate),
				fmtOptTime(k.NextRotationDate), string(doc))
			if isConflict(err) {
				return store.ErrExists
			}
			if err != nil {
				return fmt.Errorf("embedded: create key %s: %w", k.KeyID, err)
			}
		}
		return nil
	})
}

var _ store.KeyUsageRecorder = (*DB)(nil)

// RecordKeyUsage keeps the use of each key whose recorded use is earlier
// (or absent) in key_usage, in one immediate transaction (one fsync for
// the lot), without touching the key documents, and returns how many keys
// it changed and which do not exist.
func (db *DB) RecordKeyUsage(ctx context.Context, uses []store.KeyUsageRecord) (int, []store.KeyRef, error) {
	written := 0
	var missing []store.KeyRef
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		written, missing = 0, nil
		for _, u := range uses {
			res, err := tx.ExecContext(ctx, `INSERT INTO key_usage (region, key_id, at_ns, operation, request_id)
				SELECT region, key_id, ?, ?, ? FROM keys WHERE region = ? AND key_id = ?
				ON CONFLICT (region, key_id) DO UPDATE SET at_ns = excluded.at_ns, operation = excluded.operation, request_id = excluded.request_id
				WHERE excluded.at_ns > key_usage.at_ns`,
				u.Usage.Time.UnixNano(), u.Usage.Operation, u.Usage.RequestID, u.Ref.Region, u.Ref.KeyID)
			if err != nil {
				return fmt.Errorf("embedded: record usage of key %s: %w", u.Ref.KeyID, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				written++
				continue
			}
			var one int
			switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM keys WHERE region = ? AND key_id = ?`, u.Ref.Region, u.Ref.KeyID).Scan(&one); {
			case errors.Is(err, sql.ErrNoRows):
				missing = append(missing, u.Ref)
			case err != nil:
				return fmt.Errorf("embedded: record usage of key %s: %w", u.Ref.KeyID, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return written, missing, nil
}
