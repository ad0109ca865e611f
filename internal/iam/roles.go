package iam

import (
	"context"
	"errors"
	"slices"

	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire/query/iamapi"
)

// defaultMaxSessionDuration is a role's MaxSessionDuration when CreateRole
// gives none: "If you do not specify a value for this setting, the default
// value of one hour is applied." (the model, CreateRoleRequest).
const defaultMaxSessionDuration = 3600

// RoleARN returns a role's ARN in the "aws" partition.
func RoleARN(accountID, path, name string) string {
	return "arn:aws:iam::" + accountID + ":role" + path + name
}

func (c *Caller) wireRole(e store.Entity, withTags bool) iamapi.Role {
	r := iamapi.Role{Path: ptr(e.Path), RoleName: ptr(e.Name), RoleId: ptr(e.ID),
		Arn: ptr(c.entityARN(store.KindRole, e.Path, e.Name)), CreateDate: timePtr(e.CreatedAt),
		AssumeRolePolicyDocument: ptr(encodeDocument(e.TrustPolicy)), MaxSessionDuration: ptr(int32(e.MaxSessionDuration))}
	if e.Description != "" {
		r.Description = ptr(e.Description)
	}
	if withTags && len(e.Tags) > 0 {
		r.Tags = wireTags(e.Tags)
	}
	return r
}

// CreateRole creates a role. Its trust policy is validated as a role trust
// policy (MalformedPolicyDocument otherwise); MaxSessionDuration must lie
// in 3600..43200 (checked by the model's constraints).
func (s *Service) CreateRole(ctx context.Context, c *Caller, in *iamapi.CreateRoleRequest) (*iamapi.CreateRoleResponse, error) {
	name, path := val(in.RoleName), pathOr(in.Path)
	if err := s.authorize(ctx, c, "iam:CreateRole", c.entityARN(store.KindRole, path, name)); err != nil {
		return nil, err
	}
	doc := val(in.AssumeRolePolicyDocument)
	if _, err := policy.Parse(doc, policy.TrustPolicy); err != nil {
		return nil, malformed(err)
	}
	tags, err := storeTags(in.Tags)
	if err != nil {
		return nil, err
	}
	id, err := s.generateID("AROA")
	if err != nil {
		return nil, err
	}
	maxSession := defaultMaxSessionDuration
	if in.MaxSessionDuration != nil {
		maxSession = int(*in.MaxSessionDuration)
	}
	e := store.Entity{AccountID: c.AccountID, Kind: store.KindRole, Name: name, Path: path, ID: id,
		CreatedAt: s.now().UTC().Truncate(1e9), Tags: tags, TrustPolicy: doc, MaxSessionDuration: maxSession,
		Description: val(in.Description)}
	if err := s.store.CreateEntity(ctx, e); errors.Is(err, store.ErrExists) {
		return nil, errEntityExists(store.KindRole, name)
	} else if err != nil {
		return nil, err
	}
	r := c.wireRole(e, true)
	return &iamapi.CreateRoleResponse{Role: &r}, nil
}

// GetRole returns a role with its tags.
func (s *Service) GetRole(ctx context.Context, c *Caller, in *iamapi.GetRoleRequest) (*iamapi.GetRoleResponse, error) {
	e, err := s.entityFor(ctx, c, "iam:GetRole", store.KindRole, val(in.RoleName))
	if err != nil {
		return nil, err
	}
	r := c.wireRole(e, true)
	return &iamapi.GetRoleResponse{Role: &r}, nil
}

// ListRoles lists the account's roles whose path starts with PathPrefix.
func (s *Service) ListRoles(ctx context.Context, c *Caller, in *iamapi.ListRolesRequest) (*iamapi.ListRolesResponse, error) {
	if err := s.authorize(ctx, c, "iam:ListRoles", c.arn("role/")); err != nil {
		return nil, err
	}
	all, err := s.store.ListEntities(ctx, c.AccountID, store.KindRole)
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(e store.Entity) bool { return !pathPrefixed(e.Path, in.PathPrefix) })
	items, more, next, err := page(all, func(e store.Entity) string { return e.Name }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListRolesResponse{Roles: []iamapi.Role{}, IsTruncated: ptr(more), Marker: next}
	for _, e := range items {
		out.Roles = append(out.Roles, c.wireRole(e, false))
	}
	return out, nil
}

// DeleteRole deletes a role that has no policies.
func (s *Service) DeleteRole(ctx context.Context, c *Caller, in *iamapi.DeleteRoleRequest) error {
	return s.deleteEntity(ctx, c, "iam:DeleteRole", store.KindRole, val(in.RoleName))
}

// UpdateAssumeRolePolicy replaces a role's trust policy.
func (s *Service) UpdateAssumeRolePolicy(ctx context.Context, c *Caller, in *iamapi.UpdateAssumeRolePolicyRequest) error {
	doc := val(in.PolicyDocument)
	name := val(in.RoleName)
	if _, err := s.entityFor(ctx, c, "iam:UpdateAssumeRolePolicy", store.KindRole, name); err != nil {
		return err
	}
	if _, err := policy.Parse(doc, policy.TrustPolicy); err != nil {
		return malformed(err)
	}
	_, err := s.store.UpdateEntity(ctx, c.AccountID, store.KindRole, name, func(e *store.Entity) error {
		e.TrustPolicy = doc
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNoEntity(store.KindRole, name)
	}
	return err
}

// TagRole adds or replaces tags of a role.
func (s *Service) TagRole(ctx context.Context, c *Caller, in *iamapi.TagRoleRequest) error {
	return s.tagEntity(ctx, c, "iam:TagRole", store.KindRole, val(in.RoleName), func(e *store.Entity) error {
		t, err := mergeTags(e.Tags, in.Tags)
		e.Tags = t
		return err
	})
}

// UntagRole removes tags of a role by key.
func (s *Service) UntagRole(ctx context.Context, c *Caller, in *iamapi.UntagRoleRequest) error {
	return s.tagEntity(ctx, c, "iam:UntagRole", store.KindRole, val(in.RoleName), func(e *store.Entity) error {
		e.Tags = removeTags(e.Tags, in.TagKeys)
		return nil
	})
}

// ListRoleTags lists a role's tags.
func (s *Service) ListRoleTags(ctx context.Context, c *Caller, in *iamapi.ListRoleTagsRequest) (*iamapi.ListRoleTagsResponse, error) {
	e, err := s.entityFor(ctx, c, "iam:ListRoleTags", store.KindRole, val(in.RoleName))
	if err != nil {
		return nil, err
	}
	tags, more, next, err := page(e.Tags, func(t store.Tag) string { return t.Key }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListRoleTagsResponse{Tags: wireTags(tags), IsTruncated: ptr(more), Marker: next}, nil
}
