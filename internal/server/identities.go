package server

import (
	"context"
	"strings"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
)

// iamPolicies gives the KMS authorization step the identity policies of
// IAM users and role sessions, read through the IAM service's cache. An
// account's root has no identity policies: its permissions in its own
// account are implicit, and the key policy still decides.
type iamPolicies struct{ iam *iam.Service }

var _ kms.PolicySource = iamPolicies{}

// IdentityPolicies implements [kms.PolicySource]. A principal of another
// type has none, so it is allowed only what a key policy grants it by name.
func (p iamPolicies) IdentityPolicies(ctx context.Context, c *kms.Caller) ([]*policy.Policy, error) {
	switch c.Identity.Type {
	case policy.PrincipalUser:
		return p.iam.CachedIdentityPolicies(ctx, c.Identity.Account, store.KindUser, c.Identity.Username)
	case policy.PrincipalAssumedRole:
		// arn:aws:iam::111122223333:role/path/name: the role's name is
		// the last path element.
		role := c.Identity.RoleARN[strings.LastIndexByte(c.Identity.RoleARN, '/')+1:]
		return p.iam.CachedIdentityPolicies(ctx, c.Identity.Account, store.KindRole, role)
	}
	return nil, nil
}
