package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
)

// CreateKeys adds keys as [DB.CreateKey] does, all in one transaction sent
// as one batch: one round trip and one commit for the lot. It is how
// `trent bench --keys` populates a large store; a request never needs it.
// If any KeyRef is taken it returns [store.ErrExists] and adds none.
func (db *DB) CreateKeys(ctx context.Context, keys []store.Key) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var b pgx.Batch
		for _, k := range keys {
			k = store.Normalize(k)
			k.Revision = 1
			doc, err := store.MarshalKey(k)
			if err != nil {
				return fmt.Errorf("postgres: encode key %s: %w", k.KeyID, err)
			}
			b.Queue(`INSERT INTO keys (region, key_id, account_id, revision, deletion_date, next_rotation_date, doc)
				VALUES ($1, $2, $3, $4, $5, $6, $7::text::json)`,
				k.Region, k.KeyID, k.AccountID, k.Revision, optTime(k.DeletionDate), optTime(k.NextRotationDate), string(doc))
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			if isConflict(err) {
				return store.ErrExists
			}
			return fmt.Errorf("postgres: create keys: %w", err)
		}
		return nil
	})
}
