package iam

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire/query/iamapi"
)

// Declarative identities (package seed, docs/seed.md): users, roles and
// managed policies declared in a seed file are created at start when
// missing, left alone when they exist exactly as declared, and refused
// (the start fails) when they exist otherwise. Nothing is ever changed or
// deleted.

// SeedPolicy is a declared customer managed policy.
type SeedPolicy struct {
	AccountID   string
	Name        string
	Path        string // default "/"
	Description string
	Document    string
}

// SeedInline is a declared inline policy.
type SeedInline struct{ Name, Document string }

// SeedAccessKey is a declared access key with a fixed id and secret, for
// test fixtures.
type SeedAccessKey struct{ ID, Secret string }

// SeedEntity is a declared user or role.
type SeedEntity struct {
	AccountID   string
	Kind        store.EntityKind
	Name        string
	Path        string // default "/"
	Description string // roles
	Tags        []store.Tag
	Inline      []SeedInline
	Managed     []string // names of the account's managed policies
	// Roles.
	TrustPolicy        string
	MaxSessionDuration int // default 3600
	// Users.
	AccessKeys []SeedAccessKey
}

// SeedError is a declaration that conflicts with the store or is invalid.
// Field names the declaration's field ("trust_policy", "inline_policies",
// "access_keys", ...), Index the element of a list field (or -1).
type SeedError struct {
	What   string // "user alice", "role app", "policy kms-use"
	Field  string
	Index  int
	Reason string
}

func (e *SeedError) Error() string {
	if e.Field == "" {
		return e.What + ": " + e.Reason
	}
	return e.What + ": " + e.Field + ": " + e.Reason
}

func seedErr(what, field string, index int, format string, args ...any) *SeedError {
	return &SeedError{What: what, Field: field, Index: index, Reason: fmt.Sprintf(format, args...)}
}

func orSlash(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// validationReason returns the message of a generated validator's error.
func validationReason(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if i := strings.Index(msg, "1 validation error detected: "); i >= 0 {
		return msg[i:]
	}
	return msg
}

// CheckSeedPolicy validates a declared managed policy and compares it with
// the store. It reports whether the policy is missing (and would be
// created).
func (s *Service) CheckSeedPolicy(ctx context.Context, p SeedPolicy) (bool, error) {
	what := "policy " + p.Name
	req := iamapi.CreatePolicyRequest{PolicyName: ptr(p.Name), Path: ptr(orSlash(p.Path)), PolicyDocument: ptr(p.Document)}
	if p.Description != "" {
		req.Description = ptr(p.Description)
	}
	if err := req.Validate(); err != nil {
		return false, seedErr(what, "", -1, "%s", validationReason(err))
	}
	if _, err := policy.Parse(p.Document, policy.IdentityPolicy); err != nil {
		return false, seedErr(what, "document", -1, "%v", malformedReason(err))
	}
	old, err := s.store.GetPolicy(ctx, p.AccountID, p.Name)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	switch {
	case old.Name != p.Name:
		return false, seedErr(what, "name", -1, "exists as %s (IAM names ignore case)", old.Name)
	case old.Path != orSlash(p.Path):
		return false, seedErr(what, "path", -1, "exists with path %s", old.Path)
	case old.Description != p.Description:
		return false, seedErr(what, "description", -1, "exists with another description")
	case old.Document != p.Document:
		return false, seedErr(what, "document", -1, "exists with another document; a seed file never changes a policy")
	}
	return false, nil
}

func malformedReason(err error) string {
	var pe *policy.Error
	if errors.As(err, &pe) {
		return "MalformedPolicyDocument: " + pe.Message
	}
	return err.Error()
}

// ApplySeedPolicy creates a declared managed policy that is missing.
func (s *Service) ApplySeedPolicy(ctx context.Context, p SeedPolicy) error {
	missing, err := s.CheckSeedPolicy(ctx, p)
	if err != nil || !missing {
		return err
	}
	id, err := s.generateID("ANPA")
	if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(1e9)
	defer s.forgetPolicies()
	return s.store.CreatePolicy(ctx, store.ManagedPolicy{AccountID: p.AccountID, Name: p.Name, Path: orSlash(p.Path), ID: id,
		Description: p.Description, Document: p.Document, DefaultVersionID: "v1", CreatedAt: now, UpdatedAt: now})
}

// CheckSeedEntity validates a declared user or role and compares it with
// the store. declared reports whether a managed policy name is declared in
// the same seed (and so will exist). It reports whether the entity is
// missing.
func (s *Service) CheckSeedEntity(ctx context.Context, e SeedEntity, declared func(policy string) bool) (bool, error) {
	what := string(e.Kind) + " " + e.Name
	tags := make([]iamapi.Tag, len(e.Tags))
	for i, t := range e.Tags {
		tags[i] = iamapi.Tag{Key: ptr(t.Key), Value: ptr(t.Value)}
	}
	if e.Kind == store.KindUser {
		req := iamapi.CreateUserRequest{UserName: ptr(e.Name), Path: ptr(orSlash(e.Path)), Tags: tags}
		if err := req.Validate(); err != nil {
			return false, seedErr(what, "", -1, "%s", validationReason(err))
		}
	} else {
		req := iamapi.CreateRoleRequest{RoleName: ptr(e.Name), Path: ptr(orSlash(e.Path)), Tags: tags,
			AssumeRolePolicyDocument: ptr(e.TrustPolicy), MaxSessionDuration: ptr(int32(e.maxSession()))}
		if e.Description != "" {
			req.Description = ptr(e.Description)
		}
		if err := req.Validate(); err != nil {
			return false, seedErr(what, "", -1, "%s", validationReason(err))
		}
		if _, err := policy.Parse(e.TrustPolicy, policy.TrustPolicy); err != nil {
			return false, seedErr(what, "trust_policy", -1, "%s", malformedReason(err))
		}
	}
	if _, err := storeTags(tags); err != nil {
		return false, seedErr(what, "tags", -1, "%s", validationReason(err))
	}
	seen := map[string]bool{}
	for i, p := range e.Inline {
		req := iamapi.PutUserPolicyRequest{UserName: ptr("x"), PolicyName: ptr(p.Name), PolicyDocument: ptr(p.Document)}
		if err := req.Validate(); err != nil {
			return false, seedErr(what, "inline_policies", i, "%s", validationReason(err))
		}
		if _, err := policy.Parse(p.Document, policy.IdentityPolicy); err != nil {
			return false, seedErr(what, "inline_policies", i, "policy %s: %s", p.Name, malformedReason(err))
		}
		if seen[strings.ToLower(p.Name)] {
			return false, seedErr(what, "inline_policies", i, "policy %s is declared twice", p.Name)
		}
		seen[strings.ToLower(p.Name)] = true
	}
	for i, m := range e.Managed {
		if declared(m) {
			continue
		}
		if _, err := s.store.GetPolicy(ctx, e.AccountID, m); errors.Is(err, store.ErrNotFound) {
			return false, seedErr(what, "managed_policies", i, "no managed policy %s in account %s (declare it under policies)", m, e.AccountID)
		} else if err != nil {
			return false, err
		}
	}
	if len(e.AccessKeys) > maxAccessKeys {
		return false, seedErr(what, "access_keys", -1, "Cannot exceed quota for AccessKeysPerUser: %d", maxAccessKeys)
	}
	for i, k := range e.AccessKeys {
		if n := len(k.ID); n < 16 || n > 128 {
			return false, seedErr(what, "access_keys", i, "access_key_id must be 16 to 128 characters")
		}
		if IsSessionKey(k.ID) {
			return false, seedErr(what, "access_keys", i, "access_key_id %s: ASIA ids are session keys", k.ID)
		}
		if len(k.Secret) < 16 {
			return false, seedErr(what, "access_keys", i, "secret_access_key must be at least 16 characters")
		}
		if err := s.checkSeedKey(ctx, e, k); err != nil {
			return false, seedErr(what, "access_keys", i, "%v", err)
		}
	}
	old, err := s.store.GetEntity(ctx, e.AccountID, e.Kind, e.Name)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if err := s.compareEntity(ctx, what, e, old); err != nil {
		return false, err
	}
	return false, nil
}

func (e *SeedEntity) maxSession() int {
	if e.MaxSessionDuration == 0 {
		return defaultMaxSessionDuration
	}
	return e.MaxSessionDuration
}

func (e *SeedEntity) principal() string {
	return UserARN(e.AccountID, orSlash(e.Path), e.Name)
}

// checkSeedKey reports a declared access key that exists for another
// principal or with another secret.
func (s *Service) checkSeedKey(ctx context.Context, e SeedEntity, k SeedAccessKey) error {
	old, err := s.store.GetAccessKey(ctx, k.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if old.AccountID != e.AccountID || store.NameKey(old.UserName) != store.NameKey(e.Name) {
		return fmt.Errorf("access key %s exists for %s; a seed file never moves an access key", k.ID, old.Principal)
	}
	secret, err := s.root.Open(old.SealedSecret, SecretAAD(old.AccountID, old.Principal, old.ID))
	if err != nil {
		return fmt.Errorf("access key %s exists, and its stored secret does not open", k.ID)
	}
	defer clear(secret)
	if subtle.ConstantTimeCompare(secret, []byte(k.Secret)) != 1 {
		return fmt.Errorf("access key %s exists with another secret; a seed file never changes a secret", k.ID)
	}
	return nil
}

// compareEntity reports the first declared field in which the stored
// entity differs.
func (s *Service) compareEntity(ctx context.Context, what string, e SeedEntity, old store.Entity) error {
	switch {
	case old.Name != e.Name:
		return seedErr(what, "name", -1, "exists as %s (IAM names ignore case)", old.Name)
	case old.Path != orSlash(e.Path):
		return seedErr(what, "path", -1, "exists with path %s", old.Path)
	case !slices.Equal(old.Tags, e.Tags) && !(len(old.Tags) == 0 && len(e.Tags) == 0):
		return seedErr(what, "tags", -1, "exists with other tags")
	}
	if e.Kind == store.KindRole {
		switch {
		case old.TrustPolicy != e.TrustPolicy:
			return seedErr(what, "trust_policy", -1, "exists with another trust policy; a seed file never changes a role")
		case old.MaxSessionDuration != e.maxSession():
			return seedErr(what, "max_session_duration", -1, "exists with %d", old.MaxSessionDuration)
		case old.Description != e.Description:
			return seedErr(what, "description", -1, "exists with another description")
		}
	}
	inline, err := s.store.ListInlinePolicies(ctx, e.AccountID, e.Kind, e.Name)
	if err != nil {
		return err
	}
	if len(inline) != len(e.Inline) {
		return seedErr(what, "inline_policies", -1, "exists with %d inline policies, %d declared", len(inline), len(e.Inline))
	}
	for i, p := range e.Inline {
		j := slices.IndexFunc(inline, func(x store.InlinePolicy) bool { return strings.EqualFold(x.Name, p.Name) })
		if j < 0 || inline[j].Document != p.Document || inline[j].Name != p.Name {
			return seedErr(what, "inline_policies", i, "policy %s differs from the stored one", p.Name)
		}
	}
	attached, err := s.store.ListAttachedPolicies(ctx, e.AccountID, e.Kind, e.Name)
	if err != nil {
		return err
	}
	var names []string
	for _, a := range attached {
		names = append(names, strings.ToLower(a.Name))
	}
	var want []string
	for _, m := range e.Managed {
		want = append(want, strings.ToLower(m))
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		return seedErr(what, "managed_policies", -1, "exists with other attached policies (%s)", strings.Join(names, ", "))
	}
	if e.Kind == store.KindUser {
		keys, err := s.userKeys(ctx, e.AccountID, e.Name)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if !slices.ContainsFunc(e.AccessKeys, func(d SeedAccessKey) bool { return d.ID == k.ID }) {
				return seedErr(what, "access_keys", -1, "exists with access key %s, which is not declared", k.ID)
			}
		}
	}
	return nil
}

// ApplySeedEntity creates a declared user or role that is missing, with
// its inline and attached policies and access keys, and the declared
// access keys a user lacks. Managed policies must have been applied
// first.
func (s *Service) ApplySeedEntity(ctx context.Context, e SeedEntity) error {
	missing, err := s.CheckSeedEntity(ctx, e, func(string) bool { return false })
	if err != nil {
		return err
	}
	defer s.forgetPolicies()
	if missing {
		prefix := "AIDA"
		if e.Kind == store.KindRole {
			prefix = "AROA"
		}
		id, err := s.generateID(prefix)
		if err != nil {
			return err
		}
		ent := store.Entity{AccountID: e.AccountID, Kind: e.Kind, Name: e.Name, Path: orSlash(e.Path), ID: id,
			CreatedAt: s.now().UTC().Truncate(1e9), Tags: e.Tags}
		if e.Kind == store.KindRole {
			ent.TrustPolicy, ent.MaxSessionDuration, ent.Description = e.TrustPolicy, e.maxSession(), e.Description
		}
		if err := s.store.CreateEntity(ctx, ent); err != nil {
			return fmt.Errorf("create %s %s: %w", e.Kind, e.Name, err)
		}
		for _, p := range e.Inline {
			if err := s.store.PutInlinePolicy(ctx, store.InlinePolicy{AccountID: e.AccountID, Kind: e.Kind, EntityName: e.Name,
				Name: p.Name, Document: p.Document}); err != nil {
				return err
			}
		}
		for _, m := range e.Managed {
			if err := s.store.AttachPolicy(ctx, e.AccountID, e.Kind, e.Name, m); err != nil {
				return fmt.Errorf("attach %s to %s %s: %w", m, e.Kind, e.Name, err)
			}
		}
	}
	for _, k := range e.AccessKeys {
		if _, err := s.store.GetAccessKey(ctx, k.ID); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		principal := e.principal()
		sealed, err := s.root.Seal([]byte(k.Secret), keystore.BoundAAD("trent/access-key/v2", e.AccountID, principal, k.ID))
		if err != nil {
			return err
		}
		if err := s.store.CreateAccessKey(ctx, store.AccessKey{ID: k.ID, AccountID: e.AccountID, Principal: principal, UserName: e.Name,
			Status: store.StatusActive, SealedSecret: sealed, CreatedAt: s.now().UTC().Truncate(1e9)}); err != nil {
			return fmt.Errorf("create access key %s: %w", k.ID, err)
		}
	}
	return nil
}
