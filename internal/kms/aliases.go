package kms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// checkAliasName enforces the rules AWS applies on top of the model's
// pattern: the "alias/" prefix, and no new names under "alias/aws/".
func checkAliasName(name string) error {
	if !strings.HasPrefix(name, "alias/") || len(name) == len("alias/") {
		return wire.Errorf("ValidationException", "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
	}
	return nil
}

// reservedAlias reports whether name is in the namespace AWS keeps for its
// managed keys.
func reservedAlias(name string) bool { return strings.HasPrefix(name, "alias/aws/") }

// errReservedAlias is the error for an alias name in the namespace AWS
// keeps for its managed keys. AWS answers NotAuthorizedException without
// a message.
func errReservedAlias() error {
	return &wire.Error{Code: "NotAuthorizedException"}
}

// checkAlias checks an AliasName and authorizes the alias operation o on
// the alias itself. An alias has no resource policy: the permission comes
// from the caller's identity policies ("kms:CreateAlias on the alias (IAM
// policy)", the model's "Required permissions"), and the resource is the
// alias ARN ("is not authorized to perform: kms:CreateAlias on resource:
// arn:aws:kms:eu-west-1:***:alias/***", awsdocs/iam-user-guide#119).
func (s *Service) checkAlias(ctx context.Context, c *Caller, o keyOp, name string) error {
	if err := checkAliasName(name); err != nil {
		return err
	}
	if reservedAlias(name) {
		return errReservedAlias()
	}
	arn := AliasARN(c.Region, c.AccountID, name)
	return s.authorize(ctx, c, o.action, arn, nil, nil, arn)
}

// aliasArgs checks the AliasName of CreateAlias and UpdateAlias and
// resolves their TargetKeyId: a key id or key ARN of a key in the caller's
// account that is not pending deletion. The operation is authorized on
// the alias and on the key ("kms:CreateAlias on the KMS key (key
// policy)").
func (s *Service) aliasArgs(ctx context.Context, c *Caller, o keyOp, name, target string) (*cachedKey, error) {
	if err := s.checkAlias(ctx, c, o, name); err != nil {
		return nil, err
	}
	ck, err := s.resolve(ctx, c, target, o, nil)
	if err != nil {
		return nil, err
	}
	if pendingDeletion(ck.meta.KeyState) {
		return nil, errPendingDeletion(ck.arn)
	}
	return ck, nil
}

// CreateAlias gives a key a friendly name, unique in the account and region.
func (s *Service) CreateAlias(ctx context.Context, c *Caller, in *wire.CreateAliasRequest) error {
	name := wire.Value(in.AliasName)
	ck, err := s.aliasArgs(ctx, c, opCreateAlias, name, wire.Value(in.TargetKeyId))
	if err != nil {
		return err
	}
	now := s.now().UTC()
	err = s.countedAliasWrite(ctx, c, ck.meta.KeyID, func() error {
		return s.store.CreateAlias(ctx, store.Alias{
			Region: c.Region, AccountID: c.AccountID, Name: name, TargetKeyID: ck.meta.KeyID,
			CreationDate: now, LastUpdatedDate: now,
		})
	})
	s.forgetAlias(aliasRef{c.Region, c.AccountID, name})
	s.forgetKey(ck.meta.Ref()) // its kms:ResourceAliases changed
	switch {
	case errors.Is(err, store.ErrExists):
		return wire.Errorf("AlreadyExistsException", "An alias with the name %s already exists", AliasARN(c.Region, c.AccountID, name))
	case errors.Is(err, store.ErrNotFound):
		return errKeyNotFound(ck.arn)
	}
	return err
}

// UpdateAlias points an alias at another key of the same type and usage.
// It needs kms:UpdateAlias on the alias, on the key the alias points to
// and on the new key (the model's "Required permissions").
func (s *Service) UpdateAlias(ctx context.Context, c *Caller, in *wire.UpdateAliasRequest) error {
	name := wire.Value(in.AliasName)
	ck, err := s.aliasArgs(ctx, c, opUpdateAlias, name, wire.Value(in.TargetKeyId))
	if err != nil {
		return err
	}
	old, err := s.store.GetAlias(ctx, c.Region, c.AccountID, name)
	if errors.Is(err, store.ErrNotFound) {
		return errAliasNotFound(AliasARN(c.Region, c.AccountID, name))
	}
	if err != nil {
		return err
	}
	if cur, err := s.loadKey(ctx, store.KeyRef{Region: c.Region, KeyID: old.TargetKeyID}); err == nil {
		if err := s.authorizeFound(ctx, c, opUpdateAlias, cur, "", nil); err != nil {
			return err
		}
		if keyType(&cur.meta) != keyType(&ck.meta) || cur.meta.KeyUsage != ck.meta.KeyUsage {
			return validationError(fmt.Sprintf("%s and %s are not the same key type or do not have the same key usage.", cur.arn, ck.arn))
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	update := func() error {
		return s.store.UpdateAlias(ctx, c.Region, c.AccountID, name, ck.meta.KeyID, s.now().UTC())
	}
	if old.TargetKeyID == ck.meta.KeyID {
		err = update()
	} else {
		// Pointing an alias at another key adds an alias to that key: the
		// model lists LimitExceededException for UpdateAlias.
		err = s.countedAliasWrite(ctx, c, ck.meta.KeyID, update)
	}
	s.forgetAlias(aliasRef{c.Region, c.AccountID, name})
	s.forgetKey(ck.meta.Ref())
	s.forgetKey(store.KeyRef{Region: c.Region, KeyID: old.TargetKeyID})
	if errors.Is(err, store.ErrNotFound) {
		return errAliasNotFound(AliasARN(c.Region, c.AccountID, name))
	}
	return err
}

// countedAliasWrite runs write, which adds an alias to keyID, if keyID is
// below its aliases-per-key quota; see Quotas for how concurrent writes
// are counted.
func (s *Service) countedAliasWrite(ctx context.Context, c *Caller, keyID string, write func() error) error {
	if s.quotas.AliasesPerKey > 0 {
		s.quotaMu.Lock()
		defer s.quotaMu.Unlock()
		if err := s.checkAliasQuota(ctx, c, keyID); err != nil {
			return err
		}
	}
	return write()
}

// keyType classifies keys for UpdateAlias: symmetric, HMAC or asymmetric.
func keyType(k *store.Key) string {
	switch {
	case k.KeySpec == specSymmetric:
		return "symmetric"
	case strings.HasPrefix(k.KeySpec, "HMAC_"):
		return "hmac"
	}
	return "asymmetric"
}

// DeleteAlias removes an alias; the key is not affected. It needs
// kms:DeleteAlias on the alias and on the key it points to (the model's
// "Required permissions").
func (s *Service) DeleteAlias(ctx context.Context, c *Caller, in *wire.DeleteAliasRequest) error {
	name := wire.Value(in.AliasName)
	if err := s.checkAlias(ctx, c, opDeleteAlias, name); err != nil {
		return err
	}
	a, err := s.store.GetAlias(ctx, c.Region, c.AccountID, name)
	if errors.Is(err, store.ErrNotFound) {
		return errAliasNotFound(AliasARN(c.Region, c.AccountID, name))
	}
	if err != nil {
		return err
	}
	ref := store.KeyRef{Region: c.Region, KeyID: a.TargetKeyID}
	if ck, err := s.loadKey(ctx, ref); err == nil {
		if err := s.authorizeFound(ctx, c, opDeleteAlias, ck, "", nil); err != nil {
			return err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	err = s.store.DeleteAlias(ctx, c.Region, c.AccountID, name)
	s.forgetAlias(aliasRef{c.Region, c.AccountID, name})
	s.forgetKey(ref)
	if errors.Is(err, store.ErrNotFound) {
		return errAliasNotFound(AliasARN(c.Region, c.AccountID, name))
	}
	return err
}

// ListAliases pages through the caller's aliases in the region, optionally
// only those of one key.
func (s *Service) ListAliases(ctx context.Context, c *Caller, in *wire.ListAliasesRequest) (*wire.ListAliasesResponse, error) {
	if err := s.authorizeAccount(ctx, c, actListAliases, nil); err != nil {
		return nil, err
	}
	limit, after, err := pageArgs(in.Limit, in.Marker, 50)
	if err != nil {
		return nil, err
	}
	target := ""
	if in.KeyId != nil {
		// ListAliases needs kms:ListAliases only (IAM policy); KeyId is a
		// filter, not a resource. Its "Cross-account use: No … does not
		// return aliases in other AWS accounts": a key of another account
		// lists no aliases (inferred).
		ck, _, err := s.find(ctx, c, *in.KeyId, false)
		if err != nil {
			return nil, err
		}
		target = ck.meta.KeyID
	}
	aliases, err := s.store.ListAliases(ctx, c.Region, c.AccountID, target, after, limit+1)
	if err != nil {
		return nil, err
	}
	out := &wire.ListAliasesResponse{Aliases: []wire.AliasListEntry{}, Truncated: wire.Ptr(false)}
	for i := range aliases {
		if i == limit {
			out.Truncated = wire.Ptr(true)
			out.NextMarker = wire.Ptr(encodeMarker(aliases[i-1].Name))
			break
		}
		a := &aliases[i]
		out.Aliases = append(out.Aliases, wire.AliasListEntry{
			AliasName:       wire.Ptr(a.Name),
			AliasArn:        wire.Ptr(AliasARN(a.Region, a.AccountID, a.Name)),
			TargetKeyId:     wire.Ptr(a.TargetKeyID),
			CreationDate:    wire.NewTimestamp(a.CreationDate),
			LastUpdatedDate: wire.NewTimestamp(a.LastUpdatedDate),
		})
	}
	return out, nil
}
