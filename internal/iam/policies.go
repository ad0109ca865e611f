package iam

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
	"github.com/trent-kms/trent/internal/wire/query/iamapi"
)

// Inline policies: one implementation for users and roles.

func (s *Service) putInline(ctx context.Context, c *Caller, action string, kind store.EntityKind, entity, name, doc string) error {
	e, err := s.entityFor(ctx, c, action, kind, entity)
	if err != nil {
		return err
	}
	if _, err := policy.Parse(doc, policy.IdentityPolicy); err != nil {
		return malformed(err)
	}
	defer s.forgetPolicies()
	err = s.store.PutInlinePolicy(ctx, store.InlinePolicy{AccountID: c.AccountID, Kind: kind, EntityName: e.Name, Name: name, Document: doc})
	if errors.Is(err, store.ErrNotFound) {
		return errNoEntity(kind, entity)
	}
	return err
}

// errNoInline is NoSuchEntity for an inline policy: "The user policy with
// name CUMULUS-name cannot be found." (lucidsoftware/cumulus#71), "The role
// policy with name AWSLambdaBasicExecutionRole cannot be found."
// (aws/aws-cli#6139).
func errNoInline(kind store.EntityKind, name string) error {
	return noSuchEntity("The %s policy with name %s cannot be found.", kind, name)
}

func (s *Service) getInline(ctx context.Context, c *Caller, action string, kind store.EntityKind, entity, name string) (store.InlinePolicy, error) {
	if _, err := s.entityFor(ctx, c, action, kind, entity); err != nil {
		return store.InlinePolicy{}, err
	}
	p, err := s.store.GetInlinePolicy(ctx, c.AccountID, kind, entity, name)
	if errors.Is(err, store.ErrNotFound) {
		return p, errNoInline(kind, name)
	}
	return p, err
}

func (s *Service) listInline(ctx context.Context, c *Caller, action string, kind store.EntityKind, entity string, marker *string, maxItems *int32) ([]string, bool, *string, error) {
	if _, err := s.entityFor(ctx, c, action, kind, entity); err != nil {
		return nil, false, nil, err
	}
	ps, err := s.store.ListInlinePolicies(ctx, c.AccountID, kind, entity)
	if err != nil {
		return nil, false, nil, err
	}
	items, more, next, err := page(ps, func(p store.InlinePolicy) string { return p.Name }, marker, maxItems)
	names := []string{}
	for _, p := range items {
		names = append(names, p.Name)
	}
	return names, more, next, err
}

func (s *Service) deleteInline(ctx context.Context, c *Caller, action string, kind store.EntityKind, entity, name string) error {
	if _, err := s.entityFor(ctx, c, action, kind, entity); err != nil {
		return err
	}
	defer s.forgetPolicies()
	err := s.store.DeleteInlinePolicy(ctx, c.AccountID, kind, entity, name)
	if errors.Is(err, store.ErrNotFound) {
		return errNoInline(kind, name)
	}
	return err
}

// PutUserPolicy adds or replaces an inline policy of a user. The document
// is validated as an identity policy (MalformedPolicyDocument otherwise).
func (s *Service) PutUserPolicy(ctx context.Context, c *Caller, in *iamapi.PutUserPolicyRequest) error {
	return s.putInline(ctx, c, "iam:PutUserPolicy", store.KindUser, val(in.UserName), val(in.PolicyName), val(in.PolicyDocument))
}

// GetUserPolicy returns a user's inline policy, URL-encoded as IAM does.
func (s *Service) GetUserPolicy(ctx context.Context, c *Caller, in *iamapi.GetUserPolicyRequest) (*iamapi.GetUserPolicyResponse, error) {
	p, err := s.getInline(ctx, c, "iam:GetUserPolicy", store.KindUser, val(in.UserName), val(in.PolicyName))
	if err != nil {
		return nil, err
	}
	return &iamapi.GetUserPolicyResponse{UserName: ptr(p.EntityName), PolicyName: ptr(p.Name), PolicyDocument: ptr(encodeDocument(p.Document))}, nil
}

// ListUserPolicies lists the names of a user's inline policies.
func (s *Service) ListUserPolicies(ctx context.Context, c *Caller, in *iamapi.ListUserPoliciesRequest) (*iamapi.ListUserPoliciesResponse, error) {
	names, more, next, err := s.listInline(ctx, c, "iam:ListUserPolicies", store.KindUser, val(in.UserName), in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListUserPoliciesResponse{PolicyNames: names, IsTruncated: ptr(more), Marker: next}, nil
}

// DeleteUserPolicy deletes a user's inline policy.
func (s *Service) DeleteUserPolicy(ctx context.Context, c *Caller, in *iamapi.DeleteUserPolicyRequest) error {
	return s.deleteInline(ctx, c, "iam:DeleteUserPolicy", store.KindUser, val(in.UserName), val(in.PolicyName))
}

// PutRolePolicy adds or replaces an inline policy of a role.
func (s *Service) PutRolePolicy(ctx context.Context, c *Caller, in *iamapi.PutRolePolicyRequest) error {
	return s.putInline(ctx, c, "iam:PutRolePolicy", store.KindRole, val(in.RoleName), val(in.PolicyName), val(in.PolicyDocument))
}

// GetRolePolicy returns a role's inline policy, URL-encoded.
func (s *Service) GetRolePolicy(ctx context.Context, c *Caller, in *iamapi.GetRolePolicyRequest) (*iamapi.GetRolePolicyResponse, error) {
	p, err := s.getInline(ctx, c, "iam:GetRolePolicy", store.KindRole, val(in.RoleName), val(in.PolicyName))
	if err != nil {
		return nil, err
	}
	return &iamapi.GetRolePolicyResponse{RoleName: ptr(p.EntityName), PolicyName: ptr(p.Name), PolicyDocument: ptr(encodeDocument(p.Document))}, nil
}

// ListRolePolicies lists the names of a role's inline policies.
func (s *Service) ListRolePolicies(ctx context.Context, c *Caller, in *iamapi.ListRolePoliciesRequest) (*iamapi.ListRolePoliciesResponse, error) {
	names, more, next, err := s.listInline(ctx, c, "iam:ListRolePolicies", store.KindRole, val(in.RoleName), in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListRolePoliciesResponse{PolicyNames: names, IsTruncated: ptr(more), Marker: next}, nil
}

// DeleteRolePolicy deletes a role's inline policy.
func (s *Service) DeleteRolePolicy(ctx context.Context, c *Caller, in *iamapi.DeleteRolePolicyRequest) error {
	return s.deleteInline(ctx, c, "iam:DeleteRolePolicy", store.KindRole, val(in.RoleName), val(in.PolicyName))
}

// Managed policies.

func (c *Caller) policyARN(path, name string) string { return c.arn("policy" + path + name) }

func (c *Caller) wirePolicy(p store.ManagedPolicy) iamapi.Policy {
	w := iamapi.Policy{PolicyName: ptr(p.Name), PolicyId: ptr(p.ID), Arn: ptr(c.policyARN(p.Path, p.Name)), Path: ptr(p.Path),
		DefaultVersionId: ptr(p.DefaultVersionID), AttachmentCount: ptr(int32(p.AttachmentCount)),
		PermissionsBoundaryUsageCount: ptr(int32(0)), IsAttachable: ptr(true),
		CreateDate: timePtr(p.CreatedAt), UpdateDate: timePtr(p.UpdatedAt)}
	if p.Description != "" {
		w.Description = ptr(p.Description)
	}
	if len(p.Tags) > 0 {
		w.Tags = wireTags(p.Tags)
	}
	return w
}

// errNoPolicy is NoSuchEntity for a managed policy ARN: "Policy
// arn:aws:iam::aws:policy/AWSLambdaFullAccess does not exist or is not
// attachable." (pulumi/pulumi#7419; the same words for a customer policy
// in getmoto/moto#6482, quoting AWS). Used for every operation on a policy
// ARN (inferred for GetPolicy and DeletePolicy).
func errNoPolicy(arn string) error {
	return noSuchEntity("Policy %s does not exist or is not attachable.", arn)
}

// resolvePolicy parses a managed policy ARN of the caller's account and
// returns the stored policy. An ARN of another account or of an AWS
// managed policy (arn:aws:iam::aws:policy/...) is NoSuchEntity: Trent has
// no AWS managed policies, and accounts are isolated.
func (s *Service) resolvePolicy(ctx context.Context, c *Caller, arn string) (store.ManagedPolicy, error) {
	prefix := c.arn("policy")
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok || !strings.HasPrefix(rest, "/") {
		return store.ManagedPolicy{}, errNoPolicy(arn)
	}
	i := strings.LastIndexByte(rest, '/')
	path, name := rest[:i+1], rest[i+1:]
	p, err := s.store.GetPolicy(ctx, c.AccountID, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && p.Path != path {
		return store.ManagedPolicy{}, errNoPolicy(arn)
	}
	return p, err
}

// CreatePolicy creates a customer managed policy with version v1.
func (s *Service) CreatePolicy(ctx context.Context, c *Caller, in *iamapi.CreatePolicyRequest) (*iamapi.CreatePolicyResponse, error) {
	name, path := val(in.PolicyName), pathOr(in.Path)
	if err := s.authorize(ctx, c, "iam:CreatePolicy", c.policyARN(path, name)); err != nil {
		return nil, err
	}
	doc := val(in.PolicyDocument)
	if _, err := policy.Parse(doc, policy.IdentityPolicy); err != nil {
		return nil, malformed(err)
	}
	tags, err := storeTags(in.Tags)
	if err != nil {
		return nil, err
	}
	id, err := s.generateID("ANPA")
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(1e9)
	p := store.ManagedPolicy{AccountID: c.AccountID, Name: name, Path: path, ID: id, Description: val(in.Description),
		Document: doc, DefaultVersionID: "v1", CreatedAt: now, UpdatedAt: now, Tags: tags}
	if err := s.store.CreatePolicy(ctx, p); errors.Is(err, store.ErrExists) {
		// "A policy called ssm_policy already exists. Duplicate names are
		// not allowed." (Aabyss-Team/awsKeyTools#13)
		return nil, wire.Errorf("EntityAlreadyExists", "A policy called %s already exists. Duplicate names are not allowed.", name)
	} else if err != nil {
		return nil, err
	}
	w := c.wirePolicy(p)
	w.Description = nil // "This element is included in the response to the GetPolicy operation" (the model, Policy.Description)
	return &iamapi.CreatePolicyResponse{Policy: &w}, nil
}

// GetPolicy returns a managed policy's metadata.
func (s *Service) GetPolicy(ctx context.Context, c *Caller, in *iamapi.GetPolicyRequest) (*iamapi.GetPolicyResponse, error) {
	arn := val(in.PolicyArn)
	if err := s.authorize(ctx, c, "iam:GetPolicy", arn); err != nil {
		return nil, err
	}
	p, err := s.resolvePolicy(ctx, c, arn)
	if err != nil {
		return nil, err
	}
	w := c.wirePolicy(p)
	return &iamapi.GetPolicyResponse{Policy: &w}, nil
}

// GetPolicyVersion returns the document of a managed policy's version;
// Trent keeps one version, v1.
func (s *Service) GetPolicyVersion(ctx context.Context, c *Caller, in *iamapi.GetPolicyVersionRequest) (*iamapi.GetPolicyVersionResponse, error) {
	arn := val(in.PolicyArn)
	if err := s.authorize(ctx, c, "iam:GetPolicyVersion", arn); err != nil {
		return nil, err
	}
	p, err := s.resolvePolicy(ctx, c, arn)
	if err != nil {
		return nil, err
	}
	v := val(in.VersionId)
	if v != p.DefaultVersionID {
		// Wording inferred from the NoSuchEntity pattern.
		return nil, noSuchEntity("Policy %s version %s does not exist or is not attachable.", arn, v)
	}
	return &iamapi.GetPolicyVersionResponse{PolicyVersion: &iamapi.PolicyVersion{Document: ptr(encodeDocument(p.Document)),
		VersionId: ptr(v), IsDefaultVersion: ptr(true), CreateDate: timePtr(p.CreatedAt)}}, nil
}

// ListPolicies lists the account's customer managed policies. Trent has no
// AWS managed policies, so Scope=AWS lists none.
func (s *Service) ListPolicies(ctx context.Context, c *Caller, in *iamapi.ListPoliciesRequest) (*iamapi.ListPoliciesResponse, error) {
	if err := s.authorize(ctx, c, "iam:ListPolicies", c.arn("policy/")); err != nil {
		return nil, err
	}
	all, err := s.store.ListPolicies(ctx, c.AccountID)
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(p store.ManagedPolicy) bool {
		return val(in.Scope) == "AWS" || !pathPrefixed(p.Path, in.PathPrefix) ||
			val(in.OnlyAttached) && p.AttachmentCount == 0
	})
	items, more, next, err := page(all, func(p store.ManagedPolicy) string { return p.Name }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListPoliciesResponse{Policies: []iamapi.Policy{}, IsTruncated: ptr(more), Marker: next}
	for _, p := range items {
		w := c.wirePolicy(p)
		w.Description, w.Tags = nil, nil
		out.Policies = append(out.Policies, w)
	}
	return out, nil
}

// DeletePolicy deletes a managed policy that is attached to nothing.
func (s *Service) DeletePolicy(ctx context.Context, c *Caller, in *iamapi.DeletePolicyRequest) error {
	arn := val(in.PolicyArn)
	if err := s.authorize(ctx, c, "iam:DeletePolicy", arn); err != nil {
		return err
	}
	p, err := s.resolvePolicy(ctx, c, arn)
	if err != nil {
		return err
	}
	defer s.forgetPolicies()
	err = s.store.DeletePolicy(ctx, c.AccountID, p.Name)
	var iu *store.InUseError
	switch {
	case errors.As(err, &iu):
		return errDeleteConflict(iu.By)
	case errors.Is(err, store.ErrNotFound):
		return errNoPolicy(arn)
	}
	return err
}

func (s *Service) attach(ctx context.Context, c *Caller, action string, kind store.EntityKind, entity, arn string) error {
	e, err := s.entityFor(ctx, c, action, kind, entity)
	if err != nil {
		return err
	}
	p, err := s.resolvePolicy(ctx, c, arn)
	if err != nil {
		return err
	}
	defer s.forgetPolicies()
	err = s.store.AttachPolicy(ctx, c.AccountID, kind, e.Name, p.Name)
	if errors.Is(err, store.ErrNotFound) {
		return errNoPolicy(arn)
	}
	return err
}

func (s *Service) detach(ctx context.Context, c *Caller, action string, kind store.EntityKind, entity, arn string) error {
	e, err := s.entityFor(ctx, c, action, kind, entity)
	if err != nil {
		return err
	}
	p, err := s.resolvePolicy(ctx, c, arn)
	if err != nil {
		return err
	}
	defer s.forgetPolicies()
	err = s.store.DetachPolicy(ctx, c.AccountID, kind, e.Name, p.Name)
	if errors.Is(err, store.ErrNotFound) {
		// "Policy ... was not found." is IAM's for a policy that is not
		// attached (inferred from moto, which mirrors AWS).
		return noSuchEntity("Policy %s was not found.", arn)
	}
	return err
}

func (s *Service) listAttached(ctx context.Context, c *Caller, action string, kind store.EntityKind, entity string, prefix, marker *string, maxItems *int32) ([]iamapi.AttachedPolicy, bool, *string, error) {
	if _, err := s.entityFor(ctx, c, action, kind, entity); err != nil {
		return nil, false, nil, err
	}
	ps, err := s.store.ListAttachedPolicies(ctx, c.AccountID, kind, entity)
	if err != nil {
		return nil, false, nil, err
	}
	ps = slices.DeleteFunc(ps, func(p store.ManagedPolicy) bool { return !pathPrefixed(p.Path, prefix) })
	items, more, next, err := page(ps, func(p store.ManagedPolicy) string { return p.Name }, marker, maxItems)
	out := []iamapi.AttachedPolicy{}
	for _, p := range items {
		out = append(out, iamapi.AttachedPolicy{PolicyName: ptr(p.Name), PolicyArn: ptr(c.policyARN(p.Path, p.Name))})
	}
	return out, more, next, err
}

// AttachUserPolicy attaches a managed policy to a user.
func (s *Service) AttachUserPolicy(ctx context.Context, c *Caller, in *iamapi.AttachUserPolicyRequest) error {
	return s.attach(ctx, c, "iam:AttachUserPolicy", store.KindUser, val(in.UserName), val(in.PolicyArn))
}

// DetachUserPolicy detaches a managed policy from a user.
func (s *Service) DetachUserPolicy(ctx context.Context, c *Caller, in *iamapi.DetachUserPolicyRequest) error {
	return s.detach(ctx, c, "iam:DetachUserPolicy", store.KindUser, val(in.UserName), val(in.PolicyArn))
}

// ListAttachedUserPolicies lists the managed policies attached to a user.
func (s *Service) ListAttachedUserPolicies(ctx context.Context, c *Caller, in *iamapi.ListAttachedUserPoliciesRequest) (*iamapi.ListAttachedUserPoliciesResponse, error) {
	ps, more, next, err := s.listAttached(ctx, c, "iam:ListAttachedUserPolicies", store.KindUser, val(in.UserName), in.PathPrefix, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListAttachedUserPoliciesResponse{AttachedPolicies: ps, IsTruncated: ptr(more), Marker: next}, nil
}

// AttachRolePolicy attaches a managed policy to a role.
func (s *Service) AttachRolePolicy(ctx context.Context, c *Caller, in *iamapi.AttachRolePolicyRequest) error {
	return s.attach(ctx, c, "iam:AttachRolePolicy", store.KindRole, val(in.RoleName), val(in.PolicyArn))
}

// DetachRolePolicy detaches a managed policy from a role.
func (s *Service) DetachRolePolicy(ctx context.Context, c *Caller, in *iamapi.DetachRolePolicyRequest) error {
	return s.detach(ctx, c, "iam:DetachRolePolicy", store.KindRole, val(in.RoleName), val(in.PolicyArn))
}

// ListAttachedRolePolicies lists the managed policies attached to a role.
func (s *Service) ListAttachedRolePolicies(ctx context.Context, c *Caller, in *iamapi.ListAttachedRolePoliciesRequest) (*iamapi.ListAttachedRolePoliciesResponse, error) {
	ps, more, next, err := s.listAttached(ctx, c, "iam:ListAttachedRolePolicies", store.KindRole, val(in.RoleName), in.PathPrefix, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListAttachedRolePoliciesResponse{AttachedPolicies: ps, IsTruncated: ptr(more), Marker: next}, nil
}
