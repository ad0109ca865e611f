package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/trent-kms/trent/internal/store"
)

const grantColumns = `region, key_id, grant_id, account_id, name, grantee, retiring, creation_date, doc`

func scanGrant(s interface{ Scan(...any) error }) (store.Grant, error) {
	var g store.Grant
	var grantee, retiring, created, doc string
	if err := s.Scan(&g.Region, &g.KeyID, &g.GrantID, &g.AccountID, &g.Name, &grantee, &retiring, &created, &doc); err != nil {
		return store.Grant{}, err
	}
	var err error
	if g.CreationDate, err = parseTime(created); err != nil {
		return store.Grant{}, err
	}
	if err := store.UnmarshalGrantDoc([]byte(doc), &g); err != nil {
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
// write transaction (BEGIN IMMEDIATE) serializes concurrent creates.
func (db *DB) CreateGrant(ctx context.Context, g store.Grant, max int) error {
	doc, err := store.MarshalGrantDoc(g)
	if err != nil {
		return fmt.Errorf("embedded: encode grant %s: %w", g.GrantID, err)
	}
	return db.withTx(ctx, func(tx *sql.Tx) error {
		if err := checkTarget(ctx, tx, g.Region, g.AccountID, g.KeyID); err != nil {
			return err
		}
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM grants WHERE region = ? AND key_id = ?`,
				g.Region, g.KeyID).Scan(&n); err != nil {
				return fmt.Errorf("embedded: count grants of %s: %w", g.KeyID, err)
			}
			if n >= max {
				return store.ErrQuota
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO grants (`+grantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.Region, g.KeyID, g.GrantID, g.AccountID, g.Name, g.Grantee(), g.Retiring(), fmtTime(g.CreationDate), string(doc))
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("embedded: create grant %s: %w", g.GrantID, err)
		}
		return nil
	})
}

// GetGrant returns the grant or [store.ErrNotFound].
func (db *DB) GetGrant(ctx context.Context, ref store.KeyRef, grantID string) (store.Grant, error) {
	g, err := scanGrant(db.r.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE region = ? AND key_id = ? AND grant_id = ?`, ref.Region, ref.KeyID, grantID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Grant{}, store.ErrNotFound
	}
	if err != nil {
		return store.Grant{}, fmt.Errorf("embedded: get grant %s: %w", grantID, err)
	}
	return g, nil
}

// ListGrants returns grants of the key; see [store.Store.ListGrants].
func (db *DB) ListGrants(ctx context.Context, ref store.KeyRef, f store.GrantFilter) ([]store.Grant, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE region = ? AND key_id = ? AND grant_id > ?
		AND (? = '' OR grant_id = ?) AND (? = '' OR name = ?) AND (? = '' OR grantee = ?)
		ORDER BY grant_id LIMIT ?`, ref.Region, ref.KeyID, f.After,
		f.GrantID, f.GrantID, f.Name, f.Name, f.Grantee, f.Grantee, limit)
	if err != nil {
		return nil, fmt.Errorf("embedded: list grants: %w", err)
	}
	return collectGrants(rows)
}

// ListRetirableGrants returns grants by retiring principal; see
// [store.Store.ListRetirableGrants].
func (db *DB) ListRetirableGrants(ctx context.Context, region, retiring, afterGrantID, afterKeyID string, limit int) ([]store.Grant, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE region = ? AND retiring = ? AND (grant_id, key_id) > (?, ?)
		ORDER BY grant_id, key_id LIMIT ?`, region, retiring, afterGrantID, afterKeyID, limit)
	if err != nil {
		return nil, fmt.Errorf("embedded: list retirable grants: %w", err)
	}
	return collectGrants(rows)
}

func collectGrants(rows *sql.Rows) ([]store.Grant, error) {
	defer rows.Close()
	var out []store.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("embedded: list grants: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("embedded: list grants: %w", err)
	}
	return out, nil
}

// DeleteGrant removes the grant or returns [store.ErrNotFound].
func (db *DB) DeleteGrant(ctx context.Context, ref store.KeyRef, grantID string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM grants WHERE region = ? AND key_id = ? AND grant_id = ?`,
		ref.Region, ref.KeyID, grantID)
	if err != nil {
		return fmt.Errorf("embedded: delete grant %s: %w", grantID, err)
	}
	return oneRow(res)
}
