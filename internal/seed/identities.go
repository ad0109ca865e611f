package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/store"
)

// Identities of a seed file: managed policies, users, roles and trusted
// OIDC providers under an account (docs/seed.md). Policy documents are
// given as JSON text or as a YAML mapping, which is converted to compact
// JSON (keys in the order written), so that the same file always gives
// the same stored document.

// document returns the JSON text of a policy document node: a string as
// it is, a mapping or sequence converted to JSON.
func document(n *yaml.Node) (string, error) {
	switch n.Kind {
	case 0:
		return "", errors.New("required")
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			return n.Value, nil
		}
		return "", errors.New("give a JSON string or a YAML mapping")
	case yaml.MappingNode:
		var b strings.Builder
		if err := writeJSON(&b, n); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	return "", errors.New("give a JSON string or a YAML mapping")
}

// writeJSON writes a YAML node as JSON, keeping the order of mapping keys.
func writeJSON(b *strings.Builder, n *yaml.Node) error {
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			b.Write(k)
			b.WriteByte(':')
			if err := writeJSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!bool", "!!int", "!!float":
			b.WriteString(n.Value)
		case "!!null":
			b.WriteString("null")
		default:
			v, _ := json.Marshal(n.Value)
			b.Write(v)
		}
	case yaml.AliasNode:
		return writeJSON(b, n.Alias)
	default:
		return fmt.Errorf("line %d: not JSON-compatible", n.Line)
	}
	return nil
}

// parseIdentities reads the identity sections of account i.
func (f *File) parseIdentities(p *problems, a *Account, i int, ad accountDoc) {
	seen := map[string]int{}
	once := func(kind, name string, line int) bool {
		k := kind + "/" + strings.ToLower(name)
		if l := seen[k]; l > 0 {
			p.add(line, "%s %s is declared twice (also line %d; IAM names ignore case)", kind, name, l)
			return false
		}
		seen[k] = line
		return true
	}
	for j, pd := range ad.Policies {
		line := f.line("accounts", i, "policies", j, "name")
		doc, err := document(&pd.Document)
		if err != nil {
			p.add(f.line("accounts", i, "policies", j, "document"), "policy %s: document: %v", pd.Name, err)
			continue
		}
		if once("policy", pd.Name, line) {
			a.Policies = append(a.Policies, iam.SeedPolicy{AccountID: ad.ID, Name: pd.Name, Path: pd.Path, Description: pd.Description, Document: doc})
		}
	}
	for _, kind := range []store.EntityKind{store.KindUser, store.KindRole} {
		docs, section := ad.Users, "users"
		if kind == store.KindRole {
			docs, section = ad.Roles, "roles"
		}
		for j, ed := range docs {
			at := func(field ...any) int { return f.line(append([]any{"accounts", i, section, j}, field...)...) }
			e := iam.SeedEntity{AccountID: ad.ID, Kind: kind, Name: ed.Name, Path: ed.Path, Description: ed.Description,
				Managed: ed.ManagedPolicies, MaxSessionDuration: ed.MaxSessionDuration}
			ok := true
			for _, t := range ed.Tags {
				e.Tags = append(e.Tags, store.Tag{Key: t.Key, Value: t.Value})
			}
			for n, id := range ed.InlinePolicies {
				doc, err := document(&id.Document)
				if err != nil {
					p.add(at("inline_policies", n, "document"), "%s %s: inline policy %s: document: %v", kind, ed.Name, id.Name, err)
					ok = false
				}
				e.Inline = append(e.Inline, iam.SeedInline{Name: id.Name, Document: doc})
			}
			if kind == store.KindUser {
				if ed.TrustPolicy.Kind != 0 || ed.MaxSessionDuration != 0 || ed.Description != "" {
					p.add(at(oneOf{"trust_policy", "max_session_duration", "description"}), "user %s: trust_policy, max_session_duration and description are fields of roles", ed.Name)
					ok = false
				}
				for _, k := range ed.AccessKeys {
					e.AccessKeys = append(e.AccessKeys, iam.SeedAccessKey{ID: k.AccessKeyID, Secret: k.SecretAccessKey})
				}
			} else {
				if len(ed.AccessKeys) > 0 {
					p.add(at("access_keys"), "role %s: roles have no access keys", ed.Name)
					ok = false
				}
				doc, err := document(&ed.TrustPolicy)
				if err != nil {
					p.add(at("trust_policy"), "role %s: trust_policy: %v", ed.Name, err)
					ok = false
				}
				e.TrustPolicy = doc
			}
			if ok && once(string(kind), ed.Name, at("name")) {
				if kind == store.KindUser {
					a.Users = append(a.Users, e)
				} else {
					a.Roles = append(a.Roles, e)
				}
			}
		}
	}
	for j, od := range ad.OIDCProviders {
		line := f.line("accounts", i, "oidc_providers", j, "url")
		jwks := od.JWKSFile
		if jwks != "" && !filepath.IsAbs(jwks) {
			jwks = filepath.Join(filepath.Dir(f.Path), jwks)
		}
		pc := iam.ProviderConfig{AccountID: ad.ID, URL: od.URL, Audiences: append(append([]string(nil), od.Audiences...), od.ClientIDs...),
			JWKSFile: jwks, Fetch: od.Fetch, Source: fmt.Sprintf("seed file %s: line %d", f.Path, line)}
		if err := pc.Check(); err != nil {
			p.add(line, "%v", err)
			continue
		}
		a.OIDCProviders = append(a.OIDCProviders, pc)
	}
}

// OIDCProviders returns the trusted OIDC providers the file declares.
func (f *File) OIDCProviders() []iam.ProviderConfig {
	var out []iam.ProviderConfig
	for _, a := range f.Accounts {
		out = append(out, a.OIDCProviders...)
	}
	return out
}

// lineOfIdentity returns the line of the field an *iam.SeedError names.
func (f *File) lineOfIdentity(i int, section string, j int, se *iam.SeedError) int {
	if se.Field == "" {
		return f.line("accounts", i, section, j, "name")
	}
	if se.Index >= 0 {
		return f.line("accounts", i, section, j, se.Field, se.Index)
	}
	return f.line("accounts", i, section, j, se.Field)
}

// checkIdentities checks the identities of account i against the store.
func (f *File) checkIdentities(ctx context.Context, ids *iam.Service, p *problems, i int, a Account) {
	declared := map[string]bool{}
	for _, pol := range a.Policies {
		declared[strings.ToLower(pol.Name)] = true
	}
	report := func(section string, j int, err error) {
		var se *iam.SeedError
		if errors.As(err, &se) {
			p.add(f.lineOfIdentity(i, section, j, se), "%v", se)
		} else if err != nil {
			p.add(f.line("accounts", i, section, j), "%v", err)
		}
	}
	for j, pol := range a.Policies {
		_, err := ids.CheckSeedPolicy(ctx, pol)
		report("policies", j, err)
	}
	for _, list := range []struct {
		section string
		es      []iam.SeedEntity
	}{{"users", a.Users}, {"roles", a.Roles}} {
		for j, e := range list.es {
			_, err := ids.CheckSeedEntity(ctx, e, func(name string) bool { return declared[strings.ToLower(name)] })
			report(list.section, j, err)
		}
	}
}

// applyIdentities creates the missing identities of account i: managed
// policies first, then users and roles.
func (f *File) applyIdentities(ctx context.Context, ids *iam.Service, i int, a Account) error {
	wrap := func(section string, j int, err error) error {
		var se *iam.SeedError
		if errors.As(err, &se) {
			return fmt.Errorf("seed file %s: line %d: %w", f.Path, f.lineOfIdentity(i, section, j, se), err)
		}
		return fmt.Errorf("seed file %s: line %d: %w", f.Path, f.line("accounts", i, section, j), err)
	}
	for j, pol := range a.Policies {
		if err := ids.ApplySeedPolicy(ctx, pol); err != nil {
			return wrap("policies", j, err)
		}
	}
	for j, e := range a.Users {
		if err := ids.ApplySeedEntity(ctx, e); err != nil {
			return wrap("users", j, err)
		}
	}
	for j, e := range a.Roles {
		if err := ids.ApplySeedEntity(ctx, e); err != nil {
			return wrap("roles", j, err)
		}
	}
	return nil
}
