package iam

import (
	"context"
	"errors"
	"regexp"

	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Account administration is Trent's own API, not AWS's: it is served as
// TrentAdmin.CreateAccount and TrentAdmin.ListAccounts (awsJson 1.1 on the
// "kms" signing name; see docs/identities.md). Errors use KMS's awsJson
// shapes: AccessDeniedException, AlreadyExistsException,
// ValidationException.

var accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)

// requireManagementRoot refuses every caller but the management account's root.
func (s *Service) requireManagementRoot(c *Caller, action string) error {
	if c.Principal.Type == policy.PrincipalAccount && c.AccountID == s.ManagementAccount() && c.Principal.Account == c.AccountID {
		return nil
	}
	return wire.Errorf("AccessDeniedException", "User: %s is not authorized to perform: %s because only the management account's root user may", c.callerARN(), action)
}

// CreateAccount creates an account and its root access key, whose secret
// is returned once. Only the management account's root may call it.
func (s *Service) CreateAccount(ctx context.Context, c *Caller, accountID string) (Credentials, error) {
	if err := s.requireManagementRoot(c, "trent:CreateAccount"); err != nil {
		return Credentials{}, err
	}
	if !accountIDRE.MatchString(accountID) {
		return Credentials{}, wire.Errorf("ValidationException", "1 validation error detected: Value '%s' at 'accountId' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]{12}", accountID)
	}
	err := s.store.CreateAccount(ctx, store.Account{ID: accountID, CreatedAt: s.now().UTC()})
	if errors.Is(err, store.ErrExists) {
		return Credentials{}, wire.Errorf("AlreadyExistsException", "Account %s already exists.", accountID)
	}
	if err != nil {
		return Credentials{}, err
	}
	k, secret, err := s.newAccessKey(ctx, accountID, "", "arn:aws:iam::"+accountID+":root")
	if err != nil {
		return Credentials{}, err
	}
	s.log.InfoContext(ctx, "account created", "account_id", accountID, "access_key_id", k.ID, "by", c.AccessKeyID)
	return Credentials{AccountID: accountID, AccessKeyID: k.ID, SecretAccessKey: secret}, nil
}

// ListAccounts lists every account. Only the management account's root
// may call it.
func (s *Service) ListAccounts(ctx context.Context, c *Caller) ([]store.Account, error) {
	if err := s.requireManagementRoot(c, "trent:ListAccounts"); err != nil {
		return nil, err
	}
	return s.store.ListAccounts(ctx)
}
