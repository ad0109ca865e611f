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

var _ store.KeyUsageRecorder = (*DB)(nil)

// RecordKeyUsage keeps the use of each key whose recorded use is earlier
// (or absent) in key_usage, in one transaction, without touching the key
// documents, and returns how many keys it changed and which do not exist.
// It holds each key it finds with FOR KEY SHARE, as the foreign key check
// would, so that a key deleted meanwhile is reported missing instead of
// failing the batch. It announces no change: no node caches a key's last
// use.
func (db *DB) RecordKeyUsage(ctx context.Context, uses []store.KeyUsageRecord) (int, []store.KeyRef, error) {
	written := 0
	var missing []store.KeyRef
	err := db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		written, missing = 0, nil
		for _, u := range uses {
			tag, err := tx.Exec(ctx, `INSERT INTO key_usage (region, key_id, at_ns, operation, request_id)
				SELECT region, key_id, $1, $2, $3 FROM keys WHERE region = $4 AND key_id = $5 FOR KEY SHARE
				ON CONFLICT (region, key_id) DO UPDATE SET at_ns = excluded.at_ns, operation = excluded.operation, request_id = excluded.request_id
				WHERE excluded.at_ns > key_usage.at_ns`,
				u.Usage.Time.UnixNano(), u.Usage.Operation, u.Usage.RequestID, u.Ref.Region, u.Ref.KeyID)
			if err != nil {
				return fmt.Errorf("postgres: record usage of key %s: %w", u.Ref.KeyID, err)
			}
			if tag.RowsAffected() > 0 {
				written++
				continue
			}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keys WHERE region = $1 AND key_id = $2)`, u.Ref.Region, u.Ref.KeyID).Scan(&exists); err != nil {
				return fmt.Errorf("postgres: record usage of key %s: %w", u.Ref.KeyID, err)
			}
			if !exists {
				missing = append(missing, u.Ref)
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return written, missing, nil
}
