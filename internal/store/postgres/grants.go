package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
)

const grantColumns = `region, key_id, grant_id, account_id, name, grantee, retiring, creation_date, doc`

func scanGrant(r pgx.Row) (store.Grant, error) {
	var g store.Grant
	var grantee, retiring string
	var doc []byte
	if err := r.Scan(&g.Region, &g.KeyID, &g.GrantID, &g.AccountID, &g.Name, &grantee, &retiring, &g.CreationDate, &doc); err != nil {
		return store.Grant{}, err
	}
	if err := store.UnmarshalGrantDoc(doc, &g); err != nil {
		return store.Grant{}, err
	}
	if g.GranteeServicePrincipal == "" {
		g.GranteePrincipal = grantee
	}
	if g.RetiringServicePrincipal == "" {
		g.RetiringPrincipal = retiring
	}
	return g, nil
}

// CreateGrant adds a grant to its key; see [store.Store.CreateGrant]. The
// key's row is locked (FOR UPDATE) while the grants are counted, so
// concurrent creates on one key, from any node, are serialized.
func (db *DB) CreateGrant(ctx context.Context, g store.Grant, max int) error {
	doc, err := store.MarshalGrantDoc(g)
	if err != nil {
		return fmt.Errorf("postgres: encode grant %s: %w", g.GrantID, err)
	}
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM keys WHERE region = $1 AND key_id = $2 AND account_id = $3 FOR UPDATE`,
			g.Region, g.KeyID, g.AccountID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: lock key %s: %w", g.KeyID, err)
		}
		if max > 0 {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM grants WHERE region = $1 AND key_id = $2`,
				g.Region, g.KeyID).Scan(&n); err != nil {
				return fmt.Errorf("postgres: count grants of %s: %w", g.KeyID, err)
			}
			if n >= max {
				return store.ErrQuota
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO grants (`+grantColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			g.Region, g.KeyID, g.GrantID, g.AccountID, g.Name, g.Grantee(), g.Retiring(), store.UTC(g.CreationDate), string(doc))
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("postgres: create grant %s: %w", g.GrantID, err)
		}
		return db.notify(ctx, tx, grantChange(g.Ref()))
	})
}

// GetGrant returns the grant or [store.ErrNotFound].
func (db *DB) GetGrant(ctx context.Context, ref store.KeyRef, grantID string) (store.Grant, error) {
	g, err := scanGrant(db.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE region = $1 AND key_id = $2 AND grant_id = $3`, ref.Region, ref.KeyID, grantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Grant{}, store.ErrNotFound
	}
	if err != nil {
		return store.Grant{}, fmt.Errorf("postgres: get grant %s: %w", grantID, err)
	}
	return g, nil
}

// ListGrants returns grants of the key; see [store.Store.ListGrants].
func (db *DB) ListGrants(ctx context.Context, ref store.KeyRef, f store.GrantFilter) ([]store.Grant, error) {
	var lim any
	if f.Limit > 0 {
		lim = f.Limit
	}
	rows, _ := db.pool.Query(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE region = $1 AND key_id = $2 AND grant_id > $3
		AND ($4 = '' OR grant_id = $4) AND ($5 = '' OR name = $5) AND ($6 = '' OR grantee = $6)
		ORDER BY grant_id LIMIT $7`, ref.Region, ref.KeyID, f.After, f.GrantID, f.Name, f.Grantee, lim)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Grant, error) { return scanGrant(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list grants: %w", err)
	}
	return out, nil
}

// ListRetirableGrants returns grants by retiring principal; see
// [store.Store.ListRetirableGrants].
func (db *DB) ListRetirableGrants(ctx context.Context, region, retiring, afterGrantID, afterKeyID string, limit int) ([]store.Grant, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	rows, _ := db.pool.Query(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE region = $1 AND retiring = $2 AND (grant_id, key_id) > ($3, $4)
		ORDER BY grant_id, key_id LIMIT $5`, region, retiring, afterGrantID, afterKeyID, lim)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Grant, error) { return scanGrant(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list retirable grants: %w", err)
	}
	return out, nil
}

// DeleteGrant removes the grant or returns [store.ErrNotFound].
func (db *DB) DeleteGrant(ctx context.Context, ref store.KeyRef, grantID string) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM grants WHERE region = $1 AND key_id = $2 AND grant_id = $3`,
			ref.Region, ref.KeyID, grantID)
		if err != nil {
			return fmt.Errorf("postgres: delete grant %s: %w", grantID, err)
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		return db.notify(ctx, tx, grantChange(ref))
	})
}

// grantChange announces a change of the key's grants.
func grantChange(ref store.KeyRef) store.Change {
	return store.Change{Kind: store.ChangeGrant, Region: ref.Region, KeyID: ref.KeyID}
}
