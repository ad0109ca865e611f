package seed

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
)

// Result counts what [Apply] found and did.
type Result struct {
	Accounts int // accounts declared
	Keys     int // keys declared
	Created  int // keys created by this Apply; the others existed already
	// Identities counts the policies, users and roles declared.
	Identities int
}

// lineOf returns the line of the key field that a *kms.SeedError names;
// for a material it names, the line of that material.
func (f *File) lineOf(i, j int, se *kms.SeedError) int {
	switch se.Field {
	case "materials":
		for m, d := range f.Accounts[i].Keys[j].Materials {
			if strings.Contains(se.Reason, "material "+d.ID+" ") {
				return f.line("accounts", i, "keys", j, oneOf{"materials", "private_key", "private_key_file"}, m)
			}
		}
		return f.line("accounts", i, "keys", j, oneOf{"materials", "private_key", "private_key_file"})
	case "account":
		return f.line("accounts", i, "id")
	}
	return f.line("accounts", i, "keys", j, se.Field)
}

// Check compares every declaration of the files with the service's store
// and reports every problem, each with its file and line: a declaration
// the service refuses, a key, alias or root access key that exists
// otherwise than declared, and a key, alias or access key declared twice
// across the files. It writes nothing.
//
// ids checks the identities (policies, users, roles); nil refuses a file
// that declares any.
func Check(ctx context.Context, svc *kms.Service, ids *iam.Service, files []*File) error {
	type where struct {
		path string
		line int
	}
	keys, aliases, accessKeys := map[string]where{}, map[string]where{}, map[string]where{}
	var errs []error
	for _, f := range files {
		p := &problems{path: f.Path}
		for i, a := range f.Accounts {
			if a.AccessKeyID != "" {
				line := f.line("accounts", i, "root_access_key", "access_key_id")
				if w, ok := accessKeys[a.AccessKeyID]; ok && w.path != f.Path {
					p.add(line, "access key %s is also declared in %s line %d", a.AccessKeyID, w.path, w.line)
				}
				accessKeys[a.AccessKeyID] = where{f.Path, line}
				if err := checkAccessKey(ctx, svc, a); err != nil {
					p.add(line, "%v", err)
				}
			}
			for j, k := range a.Keys {
				line := f.line("accounts", i, "keys", j, "id")
				ref := k.Region + "/" + k.KeyID
				if w, ok := keys[ref]; ok && w.path != f.Path {
					p.add(line, "key %s in %s is also declared in %s line %d", k.KeyID, k.Region, w.path, w.line)
				}
				keys[ref] = where{f.Path, line}
				for n, name := range k.Aliases {
					ar := k.Region + "/" + a.ID + "/" + name
					aline := f.line("accounts", i, "keys", j, "aliases", n)
					if w, ok := aliases[ar]; ok {
						p.add(aline, "alias %s in %s is also declared at %s line %d", name, k.Region, w.path, w.line)
					}
					aliases[ar] = where{f.Path, aline}
				}
				_, err := svc.CheckSeedKey(ctx, k)
				var se *kms.SeedError
				switch {
				case errors.As(err, &se):
					p.add(f.lineOf(i, j, se), "%v", se)
				case err != nil:
					p.add(line, "key %s: %v", k.KeyID, err)
				}
			}
			for j, u := range a.Users {
				for n, k := range u.AccessKeys {
					line := f.line("accounts", i, "users", j, "access_keys", n, "access_key_id")
					if w, ok := accessKeys[k.ID]; ok {
						p.add(line, "access key %s is also declared in %s line %d", k.ID, w.path, w.line)
					}
					accessKeys[k.ID] = where{f.Path, line}
				}
			}
			if len(a.Policies)+len(a.Users)+len(a.Roles) > 0 {
				if ids == nil {
					p.add(f.line("accounts", i, "id"), "account %s: identities cannot be declared here", a.ID)
				} else {
					f.checkIdentities(ctx, ids, p, i, a)
				}
			}
		}
		if err := p.err(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkAccessKey reports a declared root access key that exists with
// another account or secret.
func checkAccessKey(ctx context.Context, svc *kms.Service, a Account) error {
	id, err := svc.Identity(ctx, a.AccessKeyID)
	switch {
	case errors.Is(err, kms.ErrAccessKeyIntegrity):
		return fmt.Errorf("access key %s exists, and its stored secret does not open (see the log)", a.AccessKeyID)
	case errors.Is(err, kms.ErrUnknownAccessKey):
		return nil
	case err != nil:
		return fmt.Errorf("access key %s: %w", a.AccessKeyID, err)
	case id.AccountID != a.ID:
		return fmt.Errorf("access key %s exists in account %s; a seed file never moves an access key", a.AccessKeyID, id.AccountID)
	case subtle.ConstantTimeCompare([]byte(id.Secret()), []byte(a.SecretAccessKey)) != 1:
		return fmt.Errorf("access key %s exists with another secret; a seed file never changes a secret", a.AccessKeyID)
	}
	return nil
}

// Apply checks the files ([Check]) and, if nothing is wrong, creates what
// they declare and the store lacks: accounts, root access keys, keys,
// aliases, managed policies, users (with their access keys) and roles. What exists as declared is left alone, so applying the same
// files at every start is safe.
func Apply(ctx context.Context, svc *kms.Service, ids *iam.Service, files []*File) (Result, error) {
	var r Result
	if err := Check(ctx, svc, ids, files); err != nil {
		return r, err
	}
	for _, f := range files {
		for i, a := range f.Accounts {
			r.Accounts++
			var err error
			if a.AccessKeyID != "" {
				_, err = svc.Bootstrap(ctx, a.ID, a.AccessKeyID, a.SecretAccessKey)
			} else {
				err = svc.EnsureAccount(ctx, a.ID)
			}
			if err != nil {
				return r, fmt.Errorf("seed file %s: line %d: account %s: %w", f.Path, f.line("accounts", i, "id"), a.ID, err)
			}
			for j, k := range a.Keys {
				r.Keys++
				created, err := svc.ImportSeedKey(ctx, k)
				if created {
					r.Created++
				}
				var se *kms.SeedError
				if errors.As(err, &se) {
					return r, fmt.Errorf("seed file %s: line %d: %w", f.Path, f.lineOf(i, j, se), err)
				}
				if err != nil {
					return r, fmt.Errorf("seed file %s: line %d: key %s: %w", f.Path, f.line("accounts", i, "keys", j, "id"), k.KeyID, err)
				}
			}
			if len(a.Policies)+len(a.Users)+len(a.Roles) > 0 {
				if err := f.applyIdentities(ctx, ids, i, a); err != nil {
					return r, err
				}
				r.Identities += len(a.Policies) + len(a.Users) + len(a.Roles)
			}
		}
	}
	return r, nil
}
