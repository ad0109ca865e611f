package iam

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
	"github.com/trent-kms/trent/internal/wire/query/iamapi"
)

// maxAccessKeys is IAM's quota of access keys per user, active or not:
// "LimitExceeded ... Cannot exceed quota for AccessKeysPerUser: 2"
// (bartekj/aws-tools#29, simonw/s3-credentials#64, where deactivating a
// key "wasn't enough").
const maxAccessKeys = 2

// SecretAAD is the authenticated data of an access key's sealed secret:
// the account id, principal ARN and access key id of its row (seal version
// 2). It must equal what package kms opens with (kms.secretAAD); the
// end-to-end tests prove a key created here authenticates there.
func SecretAAD(accountID, principal, accessKeyID string) []byte {
	return keystore.BoundAAD("trent/access-key/v2", accountID, principal, accessKeyID)
}

// Credentials is a newly created access key pair, shown once.
type Credentials struct {
	AccountID       string
	AccessKeyID     string
	SecretAccessKey string
}

// LogValue keeps the secret out of logs.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID), slog.String("account_id", c.AccountID))
}

// newAccessKey generates, seals and stores an access key for principal
// (userName "" for the account's root), after checking the quota.
func (s *Service) newAccessKey(ctx context.Context, accountID, userName, principal string) (store.AccessKey, string, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	keys, err := s.store.ListAccessKeys(ctx, accountID)
	if err != nil {
		return store.AccessKey{}, "", err
	}
	n := 0
	for _, k := range keys {
		if store.NameKey(k.UserName) == store.NameKey(userName) {
			n++
		}
	}
	if n >= maxAccessKeys {
		return store.AccessKey{}, "", wire.Errorf("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: %d", maxAccessKeys)
	}
	b := make([]byte, 10)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return store.AccessKey{}, "", err
	}
	id := "AKIA" + base32.StdEncoding.EncodeToString(b)
	sb := make([]byte, 30)
	if _, err := io.ReadFull(s.rand, sb); err != nil {
		return store.AccessKey{}, "", err
	}
	secret := base64.StdEncoding.EncodeToString(sb)
	sealed, err := s.root.Seal([]byte(secret), SecretAAD(accountID, principal, id))
	if err != nil {
		return store.AccessKey{}, "", err
	}
	k := store.AccessKey{ID: id, AccountID: accountID, Principal: principal, UserName: userName,
		Status: store.StatusActive, SealedSecret: sealed, CreatedAt: s.now().UTC().Truncate(1e9)}
	if err := s.store.CreateAccessKey(ctx, k); err != nil {
		return store.AccessKey{}, "", fmt.Errorf("create access key %s: %w", id, err)
	}
	return k, secret, nil
}

// keyOwner resolves the user an access key operation is about: the named
// user, or without UserName the caller (a user, or the root, whose keys
// have no user name). It authorizes action on that user and returns the
// user's canonical name ("" for the root) and principal ARN.
func (s *Service) keyOwner(ctx context.Context, c *Caller, action string, userName *string) (string, string, error) {
	if userName == nil {
		if c.isRoot() {
			return "", "arn:aws:iam::" + c.AccountID + ":root", nil
		}
		userName = &c.Principal.Username
	}
	e, err := s.entityFor(ctx, c, action, store.KindUser, *userName)
	if err != nil {
		return "", "", err
	}
	return e.Name, UserARN(c.AccountID, e.Path, e.Name), nil
}

// CreateAccessKey creates an access key for a user (at most two per user)
// and returns its secret, which is never shown again.
func (s *Service) CreateAccessKey(ctx context.Context, c *Caller, in *iamapi.CreateAccessKeyRequest) (*iamapi.CreateAccessKeyResponse, error) {
	user, principal, err := s.keyOwner(ctx, c, "iam:CreateAccessKey", in.UserName)
	if err != nil {
		return nil, err
	}
	k, secret, err := s.newAccessKey(ctx, c.AccountID, user, principal)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoEntity(store.KindUser, user)
	}
	if err != nil {
		return nil, err
	}
	ak := &iamapi.AccessKey{AccessKeyId: ptr(k.ID), Status: ptr(k.Status), SecretAccessKey: ptr(secret), CreateDate: timePtr(k.CreatedAt)}
	if user != "" {
		ak.UserName = ptr(user)
	}
	return &iamapi.CreateAccessKeyResponse{AccessKey: ak}, nil
}

// userKeys returns the access keys of user ("" for the root).
func (s *Service) userKeys(ctx context.Context, accountID, user string) ([]store.AccessKey, error) {
	keys, err := s.store.ListAccessKeys(ctx, accountID)
	if err != nil {
		return nil, err
	}
	var out []store.AccessKey
	for _, k := range keys {
		if store.NameKey(k.UserName) == store.NameKey(user) {
			out = append(out, k)
		}
	}
	return out, nil
}

// ListAccessKeys lists a user's access keys without their secrets.
func (s *Service) ListAccessKeys(ctx context.Context, c *Caller, in *iamapi.ListAccessKeysRequest) (*iamapi.ListAccessKeysResponse, error) {
	user, _, err := s.keyOwner(ctx, c, "iam:ListAccessKeys", in.UserName)
	if err != nil {
		return nil, err
	}
	keys, err := s.userKeys(ctx, c.AccountID, user)
	if err != nil {
		return nil, err
	}
	items, more, next, err := page(keys, func(k store.AccessKey) string { return k.ID }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListAccessKeysResponse{AccessKeyMetadata: []iamapi.AccessKeyMetadata{}, IsTruncated: ptr(more), Marker: next}
	for _, k := range items {
		m := iamapi.AccessKeyMetadata{AccessKeyId: ptr(k.ID), Status: ptr(k.Status), CreateDate: timePtr(k.CreatedAt)}
		if user != "" {
			m.UserName = ptr(user)
		}
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, m)
	}
	return out, nil
}

// errNoAccessKey is NoSuchEntity for an access key that the user does not
// have. Wording inferred ("The Access Key with id X cannot be found.", the
// pattern of IAM's other NoSuchEntity messages).
func errNoAccessKey(id string) error {
	return noSuchEntity("The Access Key with id %s cannot be found.", id)
}

// ownKey returns the access key if it belongs to user of the caller's account.
func (s *Service) ownKey(ctx context.Context, c *Caller, user, id string) (store.AccessKey, error) {
	k, err := s.store.GetAccessKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && (k.AccountID != c.AccountID || store.NameKey(k.UserName) != store.NameKey(user)) {
		return store.AccessKey{}, errNoAccessKey(id)
	}
	return k, err
}

// UpdateAccessKey makes an access key Active or Inactive. An Inactive key
// stops authenticating at once on this node, and within the identity
// cache TTL on others.
func (s *Service) UpdateAccessKey(ctx context.Context, c *Caller, in *iamapi.UpdateAccessKeyRequest) error {
	user, _, err := s.keyOwner(ctx, c, "iam:UpdateAccessKey", in.UserName)
	if err != nil {
		return err
	}
	status := val(in.Status)
	if status != store.StatusActive && status != store.StatusInactive {
		// "Expired" is in the model's enum but cannot be set (inferred).
		return wire.Errorf("ValidationError", "1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
	}
	id := val(in.AccessKeyId)
	if _, err := s.ownKey(ctx, c, user, id); err != nil {
		return err
	}
	_, err = s.store.UpdateAccessKey(ctx, id, func(k *store.AccessKey) error {
		k.Status = status
		return nil
	})
	s.forget(id)
	if errors.Is(err, store.ErrNotFound) {
		return errNoAccessKey(id)
	}
	return err
}

// DeleteAccessKey deletes an access key; it stops authenticating at once
// on this node.
func (s *Service) DeleteAccessKey(ctx context.Context, c *Caller, in *iamapi.DeleteAccessKeyRequest) error {
	user, _, err := s.keyOwner(ctx, c, "iam:DeleteAccessKey", in.UserName)
	if err != nil {
		return err
	}
	id := val(in.AccessKeyId)
	if _, err := s.ownKey(ctx, c, user, id); err != nil {
		return err
	}
	err = s.store.DeleteAccessKey(ctx, id)
	s.forget(id)
	if errors.Is(err, store.ErrNotFound) {
		return errNoAccessKey(id)
	}
	return err
}
