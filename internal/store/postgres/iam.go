package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
)

// CreateEntity adds a user or role; see [store.IAMStore.CreateEntity].
func (db *DB) CreateEntity(ctx context.Context, e store.Entity) error {
	doc, err := store.MarshalEntity(e)
	if err != nil {
		return err
	}
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := accountExists(ctx, tx, e.AccountID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO iam_entities (account_id, kind, name_key, doc) VALUES ($1, $2, $3, $4)`,
			e.AccountID, e.Kind, store.NameKey(e.Name), string(doc))
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("postgres: create %s %s: %w", e.Kind, e.Name, err)
		}
		return nil
	})
}

// iamChange announces a change of an IAM user's or role's policies, tags
// or existence (kind and name empty: of any in the account).
func iamChange(accountID string, kind store.EntityKind, name string) store.Change {
	return store.Change{Kind: store.ChangeIAM, AccountID: accountID, Entity: kind, Name: name}
}

func accountExists(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR SHARE`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: look up account %s: %w", id, err)
	}
	return nil
}

type queryer interface {
	QueryRow(ctx context.Context, query string, args ...any) pgx.Row
}

func getEntity(ctx context.Context, q queryer, accountID string, kind store.EntityKind, name string) (store.Entity, error) {
	lock := ""
	if _, ok := q.(pgx.Tx); ok {
		lock = " FOR UPDATE" // keeps the entity from changing or going until the transaction ends
	}
	var doc string
	err := q.QueryRow(ctx, `SELECT doc FROM iam_entities WHERE account_id = $1 AND kind = $2 AND name_key = $3`+lock,
		accountID, kind, store.NameKey(name)).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Entity{}, store.ErrNotFound
	}
	if err != nil {
		return store.Entity{}, fmt.Errorf("postgres: get %s %s: %w", kind, name, err)
	}
	return store.UnmarshalEntity([]byte(doc))
}

// GetEntity returns the entity, or [store.ErrNotFound].
func (db *DB) GetEntity(ctx context.Context, accountID string, kind store.EntityKind, name string) (store.Entity, error) {
	return getEntity(ctx, db.pool, accountID, kind, name)
}

// ListEntities returns the account's entities of the kind.
func (db *DB) ListEntities(ctx context.Context, accountID string, kind store.EntityKind) ([]store.Entity, error) {
	rows, err := db.pool.Query(ctx, `SELECT doc FROM iam_entities WHERE account_id = $1 AND kind = $2 ORDER BY name_key`, accountID, kind)
	if err != nil {
		return nil, fmt.Errorf("postgres: list %ss: %w", kind, err)
	}
	defer rows.Close()
	var out []store.Entity
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("postgres: list %ss: %w", kind, err)
		}
		e, err := store.UnmarshalEntity([]byte(doc))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list %ss: %w", kind, err)
	}
	return out, nil
}

// UpdateEntity changes an entity in one transaction; see
// [store.IAMStore.UpdateEntity].
func (db *DB) UpdateEntity(ctx context.Context, accountID string, kind store.EntityKind, name string, fn func(*store.Entity) error) (store.Entity, error) {
	var saved store.Entity
	err := db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		e, err := getEntity(ctx, tx, accountID, kind, name)
		if err != nil {
			return err
		}
		before := e
		if err := fn(&e); err != nil {
			return err
		}
		if err := store.CheckEntityUpdate(before, e); err != nil {
			return err
		}
		doc, err := store.MarshalEntity(e)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE iam_entities SET doc = $1 WHERE account_id = $2 AND kind = $3 AND name_key = $4`,
			string(doc), accountID, kind, store.NameKey(name)); err != nil {
			return fmt.Errorf("postgres: update %s %s: %w", kind, name, err)
		}
		if saved, err = store.UnmarshalEntity(doc); err != nil {
			return err
		}
		return db.notify(ctx, tx, iamChange(accountID, kind, name))
	})
	return saved, err
}

// DeleteEntity removes an entity that nothing uses; see
// [store.IAMStore.DeleteEntity].
func (db *DB) DeleteEntity(ctx context.Context, accountID string, kind store.EntityKind, name string) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		e, err := getEntity(ctx, tx, accountID, kind, name)
		if err != nil {
			return err
		}
		key := store.NameKey(name)
		checks := []struct{ by, q string }{
			{store.UsedByInlinePolicies, `SELECT COUNT(*) FROM iam_inline_policies WHERE account_id = $1 AND kind = $2 AND entity_key = $3`},
			{store.UsedByAttachedPolicies, `SELECT COUNT(*) FROM iam_attachments WHERE account_id = $1 AND kind = $2 AND entity_key = $3`},
		}
		if kind == store.KindUser {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM access_keys WHERE account_id = $1 AND user_name = $2`,
				accountID, e.Name).Scan(&n); err != nil {
				return fmt.Errorf("postgres: delete %s %s: %w", kind, name, err)
			}
			if n > 0 {
				return &store.InUseError{By: store.UsedByAccessKeys}
			}
		}
		for _, c := range checks {
			var n int
			if err := tx.QueryRow(ctx, c.q, accountID, kind, key).Scan(&n); err != nil {
				return fmt.Errorf("postgres: delete %s %s: %w", kind, name, err)
			}
			if n > 0 {
				return &store.InUseError{By: c.by}
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM iam_entities WHERE account_id = $1 AND kind = $2 AND name_key = $3`,
			accountID, kind, key); err != nil {
			return fmt.Errorf("postgres: delete %s %s: %w", kind, name, err)
		}
		return db.notify(ctx, tx, iamChange(accountID, kind, name))
	})
}

// PutInlinePolicy adds or replaces an inline policy.
func (db *DB) PutInlinePolicy(ctx context.Context, p store.InlinePolicy) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := getEntity(ctx, tx, p.AccountID, p.Kind, p.EntityName); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO iam_inline_policies (account_id, kind, entity_key, name_key, name, document)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (account_id, kind, entity_key, name_key) DO UPDATE SET document = excluded.document`,
			p.AccountID, p.Kind, store.NameKey(p.EntityName), store.NameKey(p.Name), p.Name, p.Document)
		if err != nil {
			return fmt.Errorf("postgres: put inline policy %s: %w", p.Name, err)
		}
		return db.notify(ctx, tx, iamChange(p.AccountID, p.Kind, p.EntityName))
	})
}

// GetInlinePolicy returns an inline policy, or [store.ErrNotFound].
func (db *DB) GetInlinePolicy(ctx context.Context, accountID string, kind store.EntityKind, entity, name string) (store.InlinePolicy, error) {
	p := store.InlinePolicy{AccountID: accountID, Kind: kind}
	var ek string
	err := db.pool.QueryRow(ctx, `SELECT i.name, i.document, e.doc FROM iam_inline_policies i
		JOIN iam_entities e ON e.account_id = i.account_id AND e.kind = i.kind AND e.name_key = i.entity_key
		WHERE i.account_id = $1 AND i.kind = $2 AND i.entity_key = $3 AND i.name_key = $4`,
		accountID, kind, store.NameKey(entity), store.NameKey(name)).Scan(&p.Name, &p.Document, &ek)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.InlinePolicy{}, store.ErrNotFound
	}
	if err != nil {
		return store.InlinePolicy{}, fmt.Errorf("postgres: get inline policy %s: %w", name, err)
	}
	e, err := store.UnmarshalEntity([]byte(ek))
	if err != nil {
		return store.InlinePolicy{}, err
	}
	p.EntityName = e.Name
	return p, nil
}

// ListInlinePolicies returns an entity's inline policies.
func (db *DB) ListInlinePolicies(ctx context.Context, accountID string, kind store.EntityKind, entity string) ([]store.InlinePolicy, error) {
	e, err := db.GetEntity(ctx, accountID, kind, entity)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT name, document FROM iam_inline_policies
		WHERE account_id = $1 AND kind = $2 AND entity_key = $3 ORDER BY name_key`, accountID, kind, store.NameKey(entity))
	if err != nil {
		return nil, fmt.Errorf("postgres: list inline policies: %w", err)
	}
	defer rows.Close()
	var out []store.InlinePolicy
	for rows.Next() {
		p := store.InlinePolicy{AccountID: accountID, Kind: kind, EntityName: e.Name}
		if err := rows.Scan(&p.Name, &p.Document); err != nil {
			return nil, fmt.Errorf("postgres: list inline policies: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list inline policies: %w", err)
	}
	return out, nil
}

// DeleteInlinePolicy removes an inline policy, or returns [store.ErrNotFound].
func (db *DB) DeleteInlinePolicy(ctx context.Context, accountID string, kind store.EntityKind, entity, name string) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM iam_inline_policies WHERE account_id = $1 AND kind = $2 AND entity_key = $3 AND name_key = $4`,
			accountID, kind, store.NameKey(entity), store.NameKey(name))
		if err != nil {
			return fmt.Errorf("postgres: delete inline policy %s: %w", name, err)
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		return db.notify(ctx, tx, iamChange(accountID, kind, entity))
	})
}

// CreatePolicy adds a managed policy.
func (db *DB) CreatePolicy(ctx context.Context, p store.ManagedPolicy) error {
	doc, err := store.MarshalPolicy(p)
	if err != nil {
		return err
	}
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := accountExists(ctx, tx, p.AccountID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO iam_policies (account_id, name_key, doc) VALUES ($1, $2, $3)`,
			p.AccountID, store.NameKey(p.Name), string(doc))
		if isConflict(err) {
			return store.ErrExists
		}
		if err != nil {
			return fmt.Errorf("postgres: create policy %s: %w", p.Name, err)
		}
		return nil
	})
}

const policyColumns = `doc, (SELECT COUNT(*) FROM iam_attachments a WHERE a.account_id = p.account_id AND a.policy_key = p.name_key)`

func scanPolicy(s interface{ Scan(...any) error }) (store.ManagedPolicy, error) {
	var doc string
	var n int
	if err := s.Scan(&doc, &n); err != nil {
		return store.ManagedPolicy{}, err
	}
	p, err := store.UnmarshalPolicy([]byte(doc))
	p.AttachmentCount = n
	return p, err
}

// GetPolicy returns a managed policy, or [store.ErrNotFound].
func (db *DB) GetPolicy(ctx context.Context, accountID, name string) (store.ManagedPolicy, error) {
	p, err := scanPolicy(db.pool.QueryRow(ctx, `SELECT `+policyColumns+` FROM iam_policies p WHERE account_id = $1 AND name_key = $2`,
		accountID, store.NameKey(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ManagedPolicy{}, store.ErrNotFound
	}
	if err != nil {
		return store.ManagedPolicy{}, fmt.Errorf("postgres: get policy %s: %w", name, err)
	}
	return p, nil
}

func (db *DB) listPolicies(ctx context.Context, query string, args ...any) ([]store.ManagedPolicy, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list policies: %w", err)
	}
	defer rows.Close()
	var out []store.ManagedPolicy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list policies: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list policies: %w", err)
	}
	return out, nil
}

// ListPolicies returns the account's managed policies.
func (db *DB) ListPolicies(ctx context.Context, accountID string) ([]store.ManagedPolicy, error) {
	return db.listPolicies(ctx, `SELECT `+policyColumns+` FROM iam_policies p WHERE account_id = $1 ORDER BY name_key`, accountID)
}

// DeletePolicy removes a managed policy that is not attached.
func (db *DB) DeletePolicy(ctx context.Context, accountID, name string) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var n int
		err := tx.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM iam_attachments a WHERE a.account_id = p.account_id AND a.policy_key = p.name_key)
			FROM iam_policies p WHERE account_id = $1 AND name_key = $2 FOR UPDATE`, accountID, store.NameKey(name)).Scan(&n)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: delete policy %s: %w", name, err)
		}
		if n > 0 {
			return &store.InUseError{By: store.UsedByAttachments}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM iam_policies WHERE account_id = $1 AND name_key = $2`, accountID, store.NameKey(name)); err != nil {
			return fmt.Errorf("postgres: delete policy %s: %w", name, err)
		}
		return db.notify(ctx, tx, iamChange(accountID, "", ""))
	})
}

// AttachPolicy attaches a managed policy to an entity.
func (db *DB) AttachPolicy(ctx context.Context, accountID string, kind store.EntityKind, entity, policy string) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := getEntity(ctx, tx, accountID, kind, entity); err != nil {
			return err
		}
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM iam_policies WHERE account_id = $1 AND name_key = $2 FOR SHARE`, accountID, store.NameKey(policy)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: attach policy %s: %w", policy, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO iam_attachments (account_id, kind, entity_key, policy_key) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, accountID, kind, store.NameKey(entity), store.NameKey(policy)); err != nil {
			return fmt.Errorf("postgres: attach policy %s: %w", policy, err)
		}
		return db.notify(ctx, tx, iamChange(accountID, kind, entity))
	})
}

// DetachPolicy detaches a managed policy from an entity.
func (db *DB) DetachPolicy(ctx context.Context, accountID string, kind store.EntityKind, entity, policy string) error {
	return db.withTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM iam_attachments WHERE account_id = $1 AND kind = $2 AND entity_key = $3 AND policy_key = $4`,
			accountID, kind, store.NameKey(entity), store.NameKey(policy))
		if err != nil {
			return fmt.Errorf("postgres: detach policy %s: %w", policy, err)
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		return db.notify(ctx, tx, iamChange(accountID, kind, entity))
	})
}

// ListAttachedPolicies returns the managed policies attached to an entity.
func (db *DB) ListAttachedPolicies(ctx context.Context, accountID string, kind store.EntityKind, entity string) ([]store.ManagedPolicy, error) {
	return db.listPolicies(ctx, `SELECT `+policyColumns+` FROM iam_policies p
		JOIN iam_attachments t ON t.account_id = p.account_id AND t.policy_key = p.name_key
		WHERE t.account_id = $1 AND t.kind = $2 AND t.entity_key = $3 ORDER BY p.name_key`, accountID, kind, store.NameKey(entity))
}
