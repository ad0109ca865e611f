package iam

import (
	"context"
	"errors"
	"slices"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire/query/iamapi"
)

// entityARN returns the ARN of a user or role in the request's partition.
func (c *Caller) entityARN(kind store.EntityKind, path, name string) string {
	return c.arn(string(kind) + path + name)
}

// UserARN returns a user's ARN in the "aws" partition, the form access key
// rows and policies' principals use.
func UserARN(accountID, path, name string) string {
	return "arn:aws:iam::" + accountID + ":user" + path + name
}

func (c *Caller) wireUser(e store.Entity) iamapi.User {
	u := iamapi.User{Path: ptr(e.Path), UserName: ptr(e.Name), UserId: ptr(e.ID),
		Arn: ptr(c.entityARN(store.KindUser, e.Path, e.Name)), CreateDate: timePtr(e.CreatedAt)}
	if len(e.Tags) > 0 {
		u.Tags = wireTags(e.Tags)
	}
	return u
}

// loadEntity returns the entity, the ARN to authorize against (with its
// path when it exists, "/" otherwise, so a missing entity is refused as
// AccessDenied before NoSuchEntity is revealed) and whether it exists.
func (s *Service) loadEntity(ctx context.Context, c *Caller, kind store.EntityKind, name string) (store.Entity, string, error) {
	e, err := s.store.GetEntity(ctx, c.AccountID, kind, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Entity{}, c.entityARN(kind, "/", name), errNoEntity(kind, name)
	}
	if err != nil {
		return store.Entity{}, "", err
	}
	return e, c.entityARN(kind, e.Path, e.Name), nil
}

// entityFor authorizes action on the named entity and returns it.
func (s *Service) entityFor(ctx context.Context, c *Caller, action string, kind store.EntityKind, name string) (store.Entity, error) {
	e, arn, lerr := s.loadEntity(ctx, c, kind, name)
	if arn == "" {
		return e, lerr
	}
	if err := s.authorize(ctx, c, action, arn); err != nil {
		return e, err
	}
	return e, lerr
}

// CreateUser creates an IAM user with the given path and tags.
func (s *Service) CreateUser(ctx context.Context, c *Caller, in *iamapi.CreateUserRequest) (*iamapi.CreateUserResponse, error) {
	name, path := val(in.UserName), pathOr(in.Path)
	if err := s.authorize(ctx, c, "iam:CreateUser", c.entityARN(store.KindUser, path, name)); err != nil {
		return nil, err
	}
	tags, err := storeTags(in.Tags)
	if err != nil {
		return nil, err
	}
	id, err := s.generateID("AIDA")
	if err != nil {
		return nil, err
	}
	e := store.Entity{AccountID: c.AccountID, Kind: store.KindUser, Name: name, Path: path, ID: id,
		CreatedAt: s.now().UTC().Truncate(1e9), Tags: tags}
	if err := s.store.CreateEntity(ctx, e); errors.Is(err, store.ErrExists) {
		return nil, errEntityExists(store.KindUser, name)
	} else if err != nil {
		return nil, err
	}
	u := c.wireUser(e)
	return &iamapi.CreateUserResponse{User: &u}, nil
}

// GetUser returns the named user, or without UserName the caller: an IAM
// user, or the account's root, for which IAM answers with the account id
// as UserId and the root ARN (inferred from the GetUser documentation:
// "If you do not specify a user name, IAM determines the user name
// implicitly based on the Amazon Web Services access key ID used to sign
// the request").
func (s *Service) GetUser(ctx context.Context, c *Caller, in *iamapi.GetUserRequest) (*iamapi.GetUserResponse, error) {
	name := val(in.UserName)
	if in.UserName == nil {
		if c.isRoot() {
			a, err := s.store.GetAccount(ctx, c.AccountID)
			if err != nil {
				return nil, err
			}
			return &iamapi.GetUserResponse{User: &iamapi.User{UserId: ptr(c.AccountID), Arn: ptr(c.arn("root")),
				CreateDate: timePtr(a.CreatedAt.Truncate(1e9))}}, nil
		}
		name = c.Principal.Username
	}
	e, err := s.entityFor(ctx, c, "iam:GetUser", store.KindUser, name)
	if err != nil {
		return nil, err
	}
	u := c.wireUser(e)
	return &iamapi.GetUserResponse{User: &u}, nil
}

// ListUsers lists the account's users whose path starts with PathPrefix,
// ordered by name; tags are not returned, as in IAM.
func (s *Service) ListUsers(ctx context.Context, c *Caller, in *iamapi.ListUsersRequest) (*iamapi.ListUsersResponse, error) {
	if err := s.authorize(ctx, c, "iam:ListUsers", c.arn("user/")); err != nil {
		return nil, err
	}
	all, err := s.store.ListEntities(ctx, c.AccountID, store.KindUser)
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(e store.Entity) bool { return !pathPrefixed(e.Path, in.PathPrefix) })
	items, more, next, err := page(all, func(e store.Entity) string { return e.Name }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListUsersResponse{Users: []iamapi.User{}, IsTruncated: ptr(more), Marker: next}
	for _, e := range items {
		e.Tags = nil
		out.Users = append(out.Users, c.wireUser(e))
	}
	return out, nil
}

// DeleteUser deletes a user that has no access keys and no policies.
func (s *Service) DeleteUser(ctx context.Context, c *Caller, in *iamapi.DeleteUserRequest) error {
	return s.deleteEntity(ctx, c, "iam:DeleteUser", store.KindUser, val(in.UserName))
}

func (s *Service) deleteEntity(ctx context.Context, c *Caller, action string, kind store.EntityKind, name string) error {
	if _, err := s.entityFor(ctx, c, action, kind, name); err != nil {
		return err
	}
	defer s.forgetPolicies()
	err := s.store.DeleteEntity(ctx, c.AccountID, kind, name)
	var iu *store.InUseError
	switch {
	case errors.As(err, &iu):
		return errDeleteConflict(iu.By)
	case errors.Is(err, store.ErrNotFound):
		return errNoEntity(kind, name)
	}
	return err
}

// TagUser adds or replaces tags of a user.
func (s *Service) TagUser(ctx context.Context, c *Caller, in *iamapi.TagUserRequest) error {
	return s.tagEntity(ctx, c, "iam:TagUser", store.KindUser, val(in.UserName), func(e *store.Entity) error {
		t, err := mergeTags(e.Tags, in.Tags)
		e.Tags = t
		return err
	})
}

// UntagUser removes tags of a user by key.
func (s *Service) UntagUser(ctx context.Context, c *Caller, in *iamapi.UntagUserRequest) error {
	return s.tagEntity(ctx, c, "iam:UntagUser", store.KindUser, val(in.UserName), func(e *store.Entity) error {
		e.Tags = removeTags(e.Tags, in.TagKeys)
		return nil
	})
}

func (s *Service) tagEntity(ctx context.Context, c *Caller, action string, kind store.EntityKind, name string, fn func(*store.Entity) error) error {
	if _, err := s.entityFor(ctx, c, action, kind, name); err != nil {
		return err
	}
	e, err := s.store.UpdateEntity(ctx, c.AccountID, kind, name, fn)
	if errors.Is(err, store.ErrNotFound) {
		return errNoEntity(kind, name)
	}
	if err != nil {
		return err
	}
	if kind == store.KindUser {
		// Principal tags travel with the identity: drop cached identities.
		s.forgetUserKeys(ctx, c.AccountID, e.Name)
	} else {
		s.forgetPolicies() // the role cache of sessions holds its tags
	}
	return nil
}

// ListUserTags lists a user's tags in the order they were set.
func (s *Service) ListUserTags(ctx context.Context, c *Caller, in *iamapi.ListUserTagsRequest) (*iamapi.ListUserTagsResponse, error) {
	e, err := s.entityFor(ctx, c, "iam:ListUserTags", store.KindUser, val(in.UserName))
	if err != nil {
		return nil, err
	}
	tags, more, next, err := page(e.Tags, func(t store.Tag) string { return t.Key }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListUserTagsResponse{Tags: wireTags(tags), IsTruncated: ptr(more), Marker: next}, nil
}

// forgetUserKeys drops the user's access keys from the identity cache.
func (s *Service) forgetUserKeys(ctx context.Context, accountID, user string) {
	keys, err := s.store.ListAccessKeys(ctx, accountID)
	if err != nil {
		s.log.WarnContext(ctx, "list access keys to refresh cached identities", "account_id", accountID, "err", err)
		return
	}
	for _, k := range keys {
		if k.UserName != "" && store.NameKey(k.UserName) == store.NameKey(user) {
			s.forget(k.ID)
		}
	}
}
