package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Inventory is implemented by backends that can list what the [Store]
// interface reaches only by address, so that a whole store can be copied
// ([Copy]) and compared ([Compare]).
type Inventory interface {
	// MetaNames returns the names of every meta entry, ordered.
	MetaNames(ctx context.Context) ([]string, error)
	// KeyRegions returns every region that holds a key or a custom key
	// store, ordered.
	KeyRegions(ctx context.Context) ([]string, error)
}

// ErrTargetNotEmpty is returned by Copy when the target holds data.
var ErrTargetNotEmpty = errors.New("store: the copy target already holds data")

// Copy copies everything in src into dst, which must be empty: meta
// entries, accounts, IAM users, roles, policies and attachments, access
// keys, custom key stores, keys with their sealed material, aliases and grants. Sealed values
// are copied as they are: they stay sealed under the same root key. A
// key's Revision starts again at 1 in dst. Both stores must implement
// [Inventory]. Copy is not atomic: if it fails, dst holds part of src and
// must be emptied before trying again. It returns how many records of
// each kind it copied.
func Copy(ctx context.Context, dst, src Store) (map[string]int, error) {
	si, ok1 := src.(Inventory)
	di, ok2 := dst.(Inventory)
	if !ok1 || !ok2 {
		return nil, errors.New("store: copy needs backends that can list their contents")
	}
	accts, err := dst.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	metas, err := di.MetaNames(ctx)
	if err != nil {
		return nil, err
	}
	if len(accts) > 0 || len(metas) > 0 {
		return nil, ErrTargetNotEmpty
	}
	n := map[string]int{}
	err = walk(ctx, src, si, visitor{
		meta:    func(name string, v []byte) error { n["meta"]++; return dst.PutMeta(ctx, name, v) },
		account: func(a Account) error { n["accounts"]++; return dst.CreateAccount(ctx, a) },
		entity:  func(e Entity) error { n["iam_entities"]++; return dst.CreateEntity(ctx, e) },
		policy:  func(p ManagedPolicy) error { n["iam_policies"]++; return dst.CreatePolicy(ctx, p) },
		inline:  func(p InlinePolicy) error { n["iam_inline_policies"]++; return dst.PutInlinePolicy(ctx, p) },
		attach: func(e Entity, p ManagedPolicy) error {
			n["iam_attachments"]++
			return dst.AttachPolicy(ctx, e.AccountID, e.Kind, e.Name, p.Name)
		},
		accessKey: func(k AccessKey) error { n["access_keys"]++; return dst.CreateAccessKey(ctx, k) },
		cks:       func(c CustomKeyStore) error { n["custom_key_stores"]++; return dst.CreateCustomKeyStore(ctx, c, 0) },
		key:       func(k Key) error { n["keys"]++; return dst.CreateKey(ctx, k) },
		alias:     func(a Alias) error { n["aliases"]++; return dst.CreateAlias(ctx, a) },
		grant:     func(g Grant) error { n["grants"]++; return dst.CreateGrant(ctx, g, 0) },
	})
	return n, err
}

// Compare reads every record of a and b, as Copy copies them, and returns
// nil if both hold the same records, or an error naming the first kind of
// record that differs (by id, never with its sealed values). Times are
// compared to the millisecond (every backend keeps at least that) and a
// key's Revision is not compared (Copy starts it again). Both stores
// must implement [Inventory].
func Compare(ctx context.Context, a, b Store) error {
	da, err := dump(ctx, a)
	if err != nil {
		return err
	}
	db, err := dump(ctx, b)
	if err != nil {
		return err
	}
	for _, kind := range sortedKeys(mapsKeys(da, db)) {
		ra, rb := da[kind], db[kind]
		if len(ra) != len(rb) {
			return fmt.Errorf("store: %s: %d records in one store, %d in the other", kind, len(ra), len(rb))
		}
		for i := range ra {
			if ra[i].doc != rb[i].doc {
				return fmt.Errorf("store: %s %s differs (or is missing from one store)", kind, ra[i].id)
			}
		}
	}
	return nil
}

type record struct{ id, doc string }

func mapsKeys(ms ...map[string][]record) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// dump returns every record of st by kind, in a canonical form.
func dump(ctx context.Context, st Store) (map[string][]record, error) {
	inv, ok := st.(Inventory)
	if !ok {
		return nil, errors.New("store: compare needs backends that can list their contents")
	}
	out := map[string][]record{}
	add := func(kind, id string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		out[kind] = append(out[kind], record{id, string(b)})
		return nil
	}
	ms := func(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
	err := walk(ctx, st, inv, visitor{
		meta: func(name string, v []byte) error { return add("meta", name, v) },
		account: func(a Account) error {
			a.CreatedAt = ms(a.CreatedAt)
			return add("accounts", a.ID, a)
		},
		entity: func(e Entity) error {
			e.CreatedAt = ms(e.CreatedAt)
			return add("iam_entities", e.AccountID+"/"+string(e.Kind)+"/"+e.Name, e)
		},
		policy: func(p ManagedPolicy) error {
			p.CreatedAt, p.UpdatedAt = ms(p.CreatedAt), ms(p.UpdatedAt)
			return add("iam_policies", p.AccountID+"/"+p.Name, p)
		},
		inline: func(p InlinePolicy) error {
			return add("iam_inline_policies", p.AccountID+"/"+string(p.Kind)+"/"+p.EntityName+"/"+p.Name, p)
		},
		attach: func(e Entity, p ManagedPolicy) error {
			return add("iam_attachments", e.AccountID+"/"+string(e.Kind)+"/"+e.Name+"/"+p.Name, nil)
		},
		accessKey: func(k AccessKey) error {
			k.CreatedAt = ms(k.CreatedAt)
			k.Status = orActive(k.Status)
			return add("access_keys", k.ID, k)
		},
		cks: func(c CustomKeyStore) error {
			c.CreationDate = ms(c.CreationDate)
			return add("custom_key_stores", c.Region+"/"+c.ID, c)
		},
		key: func(k Key) error {
			k.Revision = 0
			k.CreationDate, k.DeletionDate = ms(k.CreationDate), msOrZero(k.DeletionDate)
			for i := range k.Materials {
				k.Materials[i].CreatedAt = ms(k.Materials[i].CreatedAt)
			}
			return add("keys", k.Region+"/"+k.KeyID, k)
		},
		alias: func(a Alias) error {
			a.CreationDate, a.LastUpdatedDate = ms(a.CreationDate), ms(a.LastUpdatedDate)
			return add("aliases", a.Region+"/"+a.AccountID+"/"+a.Name, a)
		},
		grant: func(g Grant) error {
			g.CreationDate = ms(g.CreationDate)
			return add("grants", g.Region+"/"+g.KeyID+"/"+g.GrantID, g)
		},
	})
	return out, err
}

func msOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

func orActive(s string) string {
	if s == "" {
		return StatusActive
	}
	return s
}

// visitor receives every record walk finds.
type visitor struct {
	meta      func(name string, v []byte) error
	account   func(Account) error
	entity    func(Entity) error
	policy    func(ManagedPolicy) error
	inline    func(InlinePolicy) error
	attach    func(Entity, ManagedPolicy) error
	accessKey func(AccessKey) error
	cks       func(CustomKeyStore) error
	key       func(Key) error
	alias     func(Alias) error
	grant     func(Grant) error
}

// walk visits every record of st, parents before the records that need
// them: meta, accounts, then per account its users and roles, managed
// policies, inline policies, attachments and access keys; then per
// region and account its custom key stores, keys, aliases and grants.
func walk(ctx context.Context, st Store, inv Inventory, v visitor) error {
	names, err := inv.MetaNames(ctx)
	if err != nil {
		return err
	}
	for _, name := range names {
		val, err := st.GetMeta(ctx, name)
		if err != nil {
			return fmt.Errorf("meta %s: %w", name, err)
		}
		if err := v.meta(name, val); err != nil {
			return fmt.Errorf("meta %s: %w", name, err)
		}
	}
	accts, err := st.ListAccounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if err := v.account(a); err != nil {
			return fmt.Errorf("account %s: %w", a.ID, err)
		}
	}
	for _, a := range accts {
		var entities []Entity
		for _, kind := range []EntityKind{KindUser, KindRole} {
			es, err := st.ListEntities(ctx, a.ID, kind)
			if err != nil {
				return err
			}
			entities = append(entities, es...)
		}
		for _, e := range entities {
			if err := v.entity(e); err != nil {
				return fmt.Errorf("%s %s: %w", e.Kind, e.Name, err)
			}
		}
		pols, err := st.ListPolicies(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, p := range pols {
			p.AttachmentCount = 0
			if err := v.policy(p); err != nil {
				return fmt.Errorf("policy %s: %w", p.Name, err)
			}
		}
		for _, e := range entities {
			ips, err := st.ListInlinePolicies(ctx, a.ID, e.Kind, e.Name)
			if err != nil {
				return err
			}
			for _, p := range ips {
				if err := v.inline(p); err != nil {
					return fmt.Errorf("inline policy %s of %s: %w", p.Name, e.Name, err)
				}
			}
			aps, err := st.ListAttachedPolicies(ctx, a.ID, e.Kind, e.Name)
			if err != nil {
				return err
			}
			for _, p := range aps {
				if err := v.attach(e, p); err != nil {
					return fmt.Errorf("attach %s to %s: %w", p.Name, e.Name, err)
				}
			}
		}
		aks, err := st.ListAccessKeys(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, k := range aks {
			if err := v.accessKey(k); err != nil {
				return fmt.Errorf("access key %s: %w", k.ID, err)
			}
		}
	}
	regions, err := inv.KeyRegions(ctx)
	if err != nil {
		return err
	}
	for _, region := range regions {
		for _, a := range accts {
			stores, err := st.ListCustomKeyStores(ctx, region, a.ID, "", 0)
			if err != nil {
				return err
			}
			for _, c := range stores {
				if err := v.cks(c); err != nil {
					return fmt.Errorf("custom key store %s: %w", c.ID, err)
				}
			}
			refs, err := st.ListKeys(ctx, region, a.ID, "", 0)
			if err != nil {
				return err
			}
			for _, ref := range refs {
				k, err := st.GetKey(ctx, ref)
				if err != nil {
					return fmt.Errorf("key %s: %w", ref.KeyID, err)
				}
				if err := v.key(k); err != nil {
					return fmt.Errorf("key %s: %w", ref.KeyID, err)
				}
			}
			aliases, err := st.ListAliases(ctx, region, a.ID, "", "", 0)
			if err != nil {
				return err
			}
			for _, al := range aliases {
				if err := v.alias(al); err != nil {
					return fmt.Errorf("alias %s: %w", al.Name, err)
				}
			}
			for _, ref := range refs {
				gs, err := st.ListGrants(ctx, ref, GrantFilter{})
				if err != nil {
					return err
				}
				for _, g := range gs {
					if err := v.grant(g); err != nil {
						return fmt.Errorf("grant %s: %w", g.GrantID, err)
					}
				}
			}
		}
	}
	return nil
}
