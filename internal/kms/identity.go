package kms

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
)

// ErrUnknownAccessKey is returned by [Service.Identity] for an access key
// id that does not exist.
var ErrUnknownAccessKey = errors.New("kms: unknown access key")

// ErrAccessKeyIntegrity is returned by [Service.Identity] for an access key
// whose sealed secret does not open with the account, principal and id of
// its row: the row was changed outside Trent (moved to another account,
// given another principal, or its secret copied from another row), or the
// root key is not the one that sealed it. Such a key never authenticates.
// The error also matches ErrUnknownAccessKey, so the caller is answered
// exactly as for a key that does not exist (UnrecognizedClientException)
// and learns nothing about the row; the detail is logged at error level
// for the operator.
//
// AWS has no such case; it answers an access key it does not accept with
// "UnrecognizedClientException: The security token included in the request
// is invalid." (KMS, in aws/aws-encryption-sdk-java#9,
// https://github.com/aws/aws-encryption-sdk-java/issues/9). Answering a
// tampered row the same way, rather than with a retryable
// KMSInternalException, is our strict choice (inferred, not AWS behaviour):
// the key must not authenticate, and retrying cannot help.
var ErrAccessKeyIntegrity = fmt.Errorf("%w: integrity error: the sealed secret does not open with the row's account, principal and id", ErrUnknownAccessKey)

// DefaultAccountID is the account a new server creates.
const DefaultAccountID = "111122223333"

// Identity is an access key with the account and principal it stands for.
// For an IAM user's key it carries the user's id, name and tags, loaded
// from the store with the key and cached with it.
type Identity struct {
	AccessKeyID string
	AccountID   string
	Principal   string // principal ARN: the account's root or an IAM user
	UserName    string // "" for the account's root
	UserID      string // "AIDA..." for a user; "" for the root
	Tags        []policy.Tag
	secret      string
	loaded      time.Time // when it was read from the store
}

// PolicyPrincipal returns the principal of the access key as policies see
// it: the account's root user, or an IAM user with its id, name and tags.
func (id *Identity) PolicyPrincipal() policy.Principal {
	if id.UserName != "" {
		return policy.Principal{Type: policy.PrincipalUser, ARN: id.Principal, Account: id.AccountID, UserID: id.UserID,
			Username: id.UserName, Tags: id.Tags}
	}
	return policy.Principal{Type: policy.PrincipalAccount, ARN: id.Principal, Account: id.AccountID, UserID: id.AccountID}
}

// ForgetAccessKey drops an access key from the identity cache, so a key
// that was deactivated or deleted, or whose user changed, is reloaded (and
// refused) on its next use on this node.
func (s *Service) ForgetAccessKey(accessKeyID string) {
	s.mu.Lock()
	s.gen++ // a load under way must not cache what it read before this
	s.idents.del(accessKeyID)
	s.mu.Unlock()
}

// Secret returns the secret access key, for SigV4 verification only.
func (id *Identity) Secret() string { return id.secret }

// LogValue keeps the secret out of logs.
func (id *Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", id.AccessKeyID), slog.String("account_id", id.AccountID))
}

// Credentials is a newly created access key pair, shown to the operator once.
type Credentials struct {
	AccountID       string
	AccessKeyID     string
	SecretAccessKey string
}

// LogValue keeps the secret out of logs.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID), slog.String("account_id", c.AccountID))
}

// secretAAD is the authenticated data of an access key's sealed secret
// (seal version 2): the account id, principal ARN and access key id of its
// row, so the secret opens only in the row it was sealed for.
func secretAAD(accountID, principal, accessKeyID string) []byte {
	return keystore.BoundAAD("trent/access-key/v2", accountID, principal, accessKeyID)
}

// secretAADv1 is the authenticated data of seal version 1, which bound the
// secret to its key id only. It is read by [Service.ResealAccessKeys] and
// nothing else.
func secretAADv1(accessKeyID string) []byte { return []byte("trent/access-key/v1/" + accessKeyID) }

// openSecret opens the sealed secret of ak with its row's account,
// principal and id. A value that does not open is logged as an integrity
// error and returned as ErrAccessKeyIntegrity; any other failure of the
// root is returned as it is.
func (s *Service) openSecret(ctx context.Context, ak store.AccessKey) ([]byte, error) {
	secret, err := s.root.Open(ak.SealedSecret, secretAAD(ak.AccountID, ak.Principal, ak.ID))
	if errors.Is(err, keystore.ErrSealed) {
		s.logIntegrity(ctx, ak, err)
		return nil, fmt.Errorf("access key %s: %w", ak.ID, ErrAccessKeyIntegrity)
	}
	if err != nil {
		return nil, fmt.Errorf("unseal secret of access key %s: %w", ak.ID, err)
	}
	return secret, nil
}

// logIntegrity logs, at error level, an access key whose sealed secret does
// not open for its row. The secret is never logged.
func (s *Service) logIntegrity(ctx context.Context, ak store.AccessKey, err error) {
	s.log.ErrorContext(ctx, "access key integrity error: its sealed secret does not open with the account, principal and id of its row; "+
		"the row was changed outside Trent or the root key differs; the key is refused",
		"access_key_id", ak.ID, "account_id", ak.AccountID, "principal", ak.Principal, "err", err)
}

// Identity returns the access key with the id, from memory when it has been
// seen less than [Config.CacheTTL] ago, so a key deleted from a shared
// store stops working on every node. It returns ErrUnknownAccessKey if
// there is none, and ErrAccessKeyIntegrity (which also matches
// ErrUnknownAccessKey) if its row does not match its sealed secret.
func (s *Service) Identity(ctx context.Context, accessKeyID string) (*Identity, error) {
	s.mu.RLock()
	id, _ := s.idents.get(accessKeyID)
	gen := s.gen
	s.mu.RUnlock()
	if id != nil && s.fresh(id.loaded) {
		return id, nil
	}
	ak, err := s.store.GetAccessKey(ctx, accessKeyID)
	var user store.Entity
	if err == nil && ak.UserName != "" {
		// A user's key stands for the user as it is now; a key whose user
		// is gone does not authenticate.
		user, err = s.store.GetEntity(ctx, ak.AccountID, store.KindUser, ak.UserName)
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && ak.Status == store.StatusInactive {
		// An Inactive key is refused exactly as an unknown one, as AWS
		// answers it ("The security token included in the request is
		// invalid.", inferred for Inactive keys).
		s.mu.Lock()
		s.idents.del(accessKeyID)
		s.mu.Unlock()
		return nil, ErrUnknownAccessKey
	}
	if err != nil {
		return nil, err
	}
	secret, err := s.openSecret(ctx, ak)
	if err != nil {
		s.mu.Lock()
		s.idents.del(accessKeyID)
		s.mu.Unlock()
		return nil, err
	}
	id = &Identity{AccessKeyID: ak.ID, AccountID: ak.AccountID, Principal: ak.Principal, secret: string(secret), loaded: s.now()}
	if ak.UserName != "" {
		id.UserName, id.UserID = user.Name, user.ID
		for _, t := range user.Tags {
			id.Tags = append(id.Tags, policy.Tag{Key: t.Key, Value: t.Value})
		}
	}
	s.mu.Lock()
	if s.gen == gen {
		// Nothing was forgotten since the read began: what was read is
		// not older than what the cache was told.
		s.idents.put(accessKeyID, id)
	}
	s.mu.Unlock()
	return id, nil
}

// EnsureAccount creates the account if it does not exist yet.
func (s *Service) EnsureAccount(ctx context.Context, accountID string) error {
	if !isAccountID(accountID) {
		return fmt.Errorf("kms: account id %q is not 12 digits", accountID)
	}
	err := s.store.CreateAccount(ctx, store.Account{ID: accountID, CreatedAt: s.now().UTC()})
	if errors.Is(err, store.ErrExists) {
		return nil
	}
	return err
}

// CreateAccessKey adds an access key for the account's root principal. An
// empty accessKeyID or secret is generated. The secret is sealed by the
// root key before it is stored.
func (s *Service) CreateAccessKey(ctx context.Context, accountID, accessKeyID, secret string) (Credentials, error) {
	var err error
	if accessKeyID == "" {
		if accessKeyID, err = generateAccessKeyID(s.rand); err != nil {
			return Credentials{}, err
		}
	}
	if secret == "" {
		if secret, err = generateSecret(s.rand); err != nil {
			return Credentials{}, err
		}
	}
	if len(accessKeyID) < 16 || len(accessKeyID) > 128 || len(secret) < 16 {
		return Credentials{}, errors.New("kms: access key id must be 16-128 characters and the secret at least 16")
	}
	principal := "arn:aws:iam::" + accountID + ":root"
	sealed, err := s.root.Seal([]byte(secret), secretAAD(accountID, principal, accessKeyID))
	if err != nil {
		return Credentials{}, err
	}
	err = s.store.CreateAccessKey(ctx, store.AccessKey{
		ID:           accessKeyID,
		AccountID:    accountID,
		Principal:    principal,
		SealedSecret: sealed,
		CreatedAt:    s.now().UTC(),
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("create access key %s: %w", accessKeyID, err)
	}
	return Credentials{AccountID: accountID, AccessKeyID: accessKeyID, SecretAccessKey: secret}, nil
}

// Bootstrap makes sure the account exists and has an access key. When
// accessKeyID is set and unknown it is created with secret; when it is
// empty and the account has no key yet, a key pair is generated. It
// returns the credentials it created, if any, so the operator can be shown
// a generated secret once.
func (s *Service) Bootstrap(ctx context.Context, accountID, accessKeyID, secret string) (*Credentials, error) {
	if err := s.EnsureAccount(ctx, accountID); err != nil {
		return nil, err
	}
	if accessKeyID != "" {
		ak, err := s.store.GetAccessKey(ctx, accessKeyID)
		if err == nil {
			if ak.AccountID != accountID {
				return nil, fmt.Errorf("kms: access key %s belongs to account %s", accessKeyID, ak.AccountID)
			}
			old, err := s.openSecret(ctx, ak)
			if err != nil {
				return nil, err
			}
			if string(old) != secret {
				return nil, fmt.Errorf("kms: access key %s exists with a different secret", accessKeyID)
			}
			return nil, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		c, err := s.CreateAccessKey(ctx, accountID, accessKeyID, secret)
		if errors.Is(err, store.ErrExists) {
			// Another node starting at the same time on a shared store
			// created it first: check it as above.
			return s.Bootstrap(ctx, accountID, accessKeyID, secret)
		}
		return &c, err
	}
	keys, err := s.store.ListAccessKeys(ctx, accountID)
	if err != nil || len(keys) > 0 {
		return nil, err
	}
	c, err := s.CreateAccessKey(ctx, accountID, "", "")
	return &c, err
}

// accessKeySealMeta is the store meta entry that records the seal version
// every access key has been brought to by [Service.ResealAccessKeys].
const (
	accessKeySealMeta    = "access-key-seal-version"
	accessKeySealVersion = "2"
)

// errSealedV2 stops UpdateAccessKey from saving a row that needs nothing.
var errSealedV2 = errors.New("kms: access key already sealed with version 2")

// ResealAccessKeys brings every access key sealed with version 1 (bound to
// its key id only) to version 2 (bound to its account id, principal and key
// id), each in its own transaction, trusting the row's account and
// principal as they are at that moment. The server calls it after opening
// the store and before serving. It is idempotent and safe to run on several
// nodes at once: a row that already opens with version 2 is left alone.
//
// Once every row opens with version 2 it records, in the store's meta, that
// access keys are sealed with version 2; later calls return at once, so a
// version 1 value put back into a row afterwards (from an old backup, or by
// a node of an older release) is never trusted again: it does not
// authenticate and is logged as an integrity error. A row that opens with
// neither version is logged as an integrity error and left as it is
// ([Service.Identity] refuses it), and the version is not recorded, so the
// next start tries again: started once with the wrong root key file, the
// server must not give up the version 1 rows for good. Any store or root
// failure is returned and the version is not recorded.
func (s *Service) ResealAccessKeys(ctx context.Context) error {
	v, err := s.store.GetMeta(ctx, accessKeySealMeta)
	switch {
	case err == nil && string(v) == accessKeySealVersion:
		return nil
	case err == nil:
		return fmt.Errorf("kms: access keys are sealed with version %q, which this release does not know", v)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("read access key seal version: %w", err)
	}
	accounts, err := s.store.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("reseal access keys: %w", err)
	}
	resealed, broken := 0, 0
	for _, a := range accounts {
		keys, err := s.store.ListAccessKeys(ctx, a.ID)
		if err != nil {
			return fmt.Errorf("reseal access keys of account %s: %w", a.ID, err)
		}
		for _, k := range keys {
			done, err := s.resealAccessKey(ctx, k.ID)
			switch {
			case errors.Is(err, ErrAccessKeyIntegrity):
				broken++
			case err != nil:
				return err
			case done:
				resealed++
			}
		}
	}
	if resealed > 0 {
		s.log.InfoContext(ctx, "re-sealed access keys bound to their account and principal", "count", resealed)
	}
	if broken > 0 {
		// Not recorded: with the wrong root key file every row fails, and
		// recording would lose the good version 1 rows for ever.
		s.log.WarnContext(ctx, "access key re-seal not finished: some keys open with neither seal version and are refused; "+
			"the re-seal runs again at the next start until they are restored or deleted", "count", broken)
		return nil
	}
	if err := s.store.PutMeta(ctx, accessKeySealMeta, []byte(accessKeySealVersion)); err != nil {
		return fmt.Errorf("record access key seal version: %w", err)
	}
	return nil
}

// resealAccessKey re-seals one access key from version 1 to version 2 in a
// transaction. It reports whether it changed the row. A row that opens with
// neither version is logged and returned as ErrAccessKeyIntegrity; a row
// deleted meanwhile is skipped.
func (s *Service) resealAccessKey(ctx context.Context, id string) (bool, error) {
	var bad *store.AccessKey
	_, err := s.store.UpdateAccessKey(ctx, id, func(k *store.AccessKey) error {
		aad := secretAAD(k.AccountID, k.Principal, k.ID)
		secret, err := s.root.Open(k.SealedSecret, aad)
		if err == nil {
			clear(secret)
			return errSealedV2
		}
		if !errors.Is(err, keystore.ErrSealed) {
			return fmt.Errorf("unseal secret of access key %s: %w", k.ID, err)
		}
		secret, err = s.root.Open(k.SealedSecret, secretAADv1(k.ID))
		if errors.Is(err, keystore.ErrSealed) {
			c := *k
			bad = &c
			return ErrAccessKeyIntegrity
		}
		if err != nil {
			return fmt.Errorf("unseal secret of access key %s: %w", k.ID, err)
		}
		defer clear(secret)
		sealed, err := s.root.Seal(secret, aad)
		if err != nil {
			return fmt.Errorf("seal secret of access key %s: %w", k.ID, err)
		}
		k.SealedSecret = sealed
		return nil
	})
	switch {
	case err == nil:
		s.mu.Lock()
		s.idents.del(id)
		s.mu.Unlock()
		return true, nil
	case errors.Is(err, errSealedV2), errors.Is(err, store.ErrNotFound):
		return false, nil
	case errors.Is(err, ErrAccessKeyIntegrity):
		s.logIntegrity(ctx, *bad, keystore.ErrSealed)
		return false, ErrAccessKeyIntegrity
	}
	return false, fmt.Errorf("reseal access key %s: %w", id, err)
}

// generateAccessKeyID returns an id shaped like AWS's: "AKIA" and 16
// characters of base32.
func generateAccessKeyID(rand io.Reader) (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", err
	}
	return "AKIA" + base32.StdEncoding.EncodeToString(b), nil
}

// generateSecret returns 40 characters of base64 from 30 random bytes.
func generateSecret(rand io.Reader) (string, error) {
	b := make([]byte, 30)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
