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

	"github.com/trent-kms/trent/internal/store"
)

// ErrUnknownAccessKey is returned by [Service.Identity] for an access key
// id that does not exist.
var ErrUnknownAccessKey = errors.New("kms: unknown access key")

// DefaultAccountID is the account a new server creates.
const DefaultAccountID = "111122223333"

// Identity is an access key with the account and principal it stands for.
type Identity struct {
	AccessKeyID string
	AccountID   string
	Principal   string
	secret      string
	loaded      time.Time // when it was read from the store
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

func secretAAD(accessKeyID string) []byte { return []byte("trent/access-key/v1/" + accessKeyID) }

// Identity returns the access key with the id, from memory when it has been
// seen less than [Config.CacheTTL] ago, so a key deleted from a shared
// store stops working on every node. It returns ErrUnknownAccessKey if
// there is none.
func (s *Service) Identity(ctx context.Context, accessKeyID string) (*Identity, error) {
	s.mu.RLock()
	id, _ := s.idents.get(accessKeyID)
	s.mu.RUnlock()
	if id != nil && s.fresh(id.loaded) {
		return id, nil
	}
	ak, err := s.store.GetAccessKey(ctx, accessKeyID)
	if errors.Is(err, store.ErrNotFound) {
		s.mu.Lock()
		s.idents.del(accessKeyID)
		s.mu.Unlock()
		return nil, ErrUnknownAccessKey
	}
	if err != nil {
		return nil, err
	}
	secret, err := s.root.Open(ak.SealedSecret, secretAAD(ak.ID))
	if err != nil {
		return nil, fmt.Errorf("unseal secret of access key %s: %w", ak.ID, err)
	}
	id = &Identity{AccessKeyID: ak.ID, AccountID: ak.AccountID, Principal: ak.Principal, secret: string(secret), loaded: s.now()}
	s.mu.Lock()
	s.idents.put(accessKeyID, id)
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
	sealed, err := s.root.Seal([]byte(secret), secretAAD(accessKeyID))
	if err != nil {
		return Credentials{}, err
	}
	err = s.store.CreateAccessKey(ctx, store.AccessKey{
		ID:           accessKeyID,
		AccountID:    accountID,
		Principal:    "arn:aws:iam::" + accountID + ":root",
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
			old, err := s.root.Open(ak.SealedSecret, secretAAD(ak.ID))
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
		return &c, err
	}
	keys, err := s.store.ListAccessKeys(ctx, accountID)
	if err != nil || len(keys) > 0 {
		return nil, err
	}
	c, err := s.CreateAccessKey(ctx, accountID, "", "")
	return &c, err
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
