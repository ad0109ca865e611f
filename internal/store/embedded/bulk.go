package embedded

import (
	"context"
	"database/sql"
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
