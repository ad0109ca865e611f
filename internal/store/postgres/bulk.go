package postgres

import (
	"context"
	"errors"
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

// RecordKeyUsage sets the LastUsage of each key whose stored use is
// earlier, in one transaction, locking each key as UpdateKey does, and
// returns how many keys it changed and which do not exist. It announces
// no change: no node caches a key's last use.
func (db *DB) RecordKeyUsage(ctx context.Context, uses []store.KeyUsageRecord) (int, []store.KeyRef, error) {
	written := 0
	var missing []store.KeyRef
	err := db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		written, missing = 0, nil
		for _, u := range uses {
			k, err := scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM keys WHERE region = $1 AND key_id = $2 FOR UPDATE`,
				u.Ref.Region, u.Ref.KeyID))
			if errors.Is(err, pgx.ErrNoRows) {
				missing = append(missing, u.Ref)
				continue
			}
			if err != nil {
				return fmt.Errorf("postgres: record usage of key %s: %w", u.Ref.KeyID, err)
			}
			if !u.Usage.Later(k.LastUsage) {
				continue
			}
			use := u.Usage
			k.LastUsage = &use
			k.Revision++
			doc, err := store.MarshalKey(store.Normalize(k))
			if err != nil {
				return fmt.Errorf("postgres: encode key %s: %w", u.Ref.KeyID, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE keys SET revision = $1, doc = $2::text::json WHERE region = $3 AND key_id = $4`,
				k.Revision, string(doc), u.Ref.Region, u.Ref.KeyID); err != nil {
				return fmt.Errorf("postgres: record usage of key %s: %w", u.Ref.KeyID, err)
			}
			written++
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return written, missing, nil
}
