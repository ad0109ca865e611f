package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/trent-kms/trent/internal/keystore"
)

// SigningKeyMeta is the store meta name under which the audit signing key
// is kept, sealed under the root key.
const SigningKeyMeta = "audit_signing_key_v1"

// signingKeyAAD binds the sealed signing key to its purpose, so that no
// other sealed value can be swapped in for it.
var signingKeyAAD = keystore.BoundAAD("trent/audit-signing-key/v1", SigningKeyMeta)

// Signer signs digest files with an Ed25519 key. Its private key never
// leaves memory unsealed.
type Signer struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

// Sealer seals and opens values under the root key ([keystore.Root]).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Meta is the part of the store that keeps the sealed signing key.
type Meta interface {
	GetMeta(ctx context.Context, name string) ([]byte, error)
	// CreateMeta saves value only if nothing is saved under name yet, and
	// fails otherwise.
	CreateMeta(ctx context.Context, name string, value []byte) error
}

// LoadSigner returns the audit signing key kept in meta, unsealing it with
// root, or, when there is none (isNotFound reports the store's not-found
// error), generates one from rand, seals it and stores it.
func LoadSigner(ctx context.Context, meta Meta, root Sealer, rand io.Reader, isNotFound func(error) bool) (*Signer, error) {
	sealed, err := meta.GetMeta(ctx, SigningKeyMeta)
	switch {
	case err == nil:
		seed, err := root.Open(sealed, signingKeyAAD)
		if err != nil {
			return nil, fmt.Errorf("audit: open the audit signing key: %w", err)
		}
		defer clear(seed)
		if len(seed) != ed25519.SeedSize {
			return nil, errors.New("audit: the sealed audit signing key has the wrong length")
		}
		return newSigner(seed), nil
	case !isNotFound(err):
		return nil, fmt.Errorf("audit: read the audit signing key: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, err
	}
	sealed, err = root.Seal(seed, signingKeyAAD)
	if err != nil {
		return nil, fmt.Errorf("audit: seal the audit signing key: %w", err)
	}
	if err := meta.CreateMeta(ctx, SigningKeyMeta, sealed); err != nil {
		// Two nodes starting together: the first key stored wins, and
		// every node signs with it.
		if s, lerr := LoadSigner(ctx, meta, root, rand, func(error) bool { return false }); lerr == nil {
			return s, nil
		}
		return nil, fmt.Errorf("audit: store the audit signing key: %w", err)
	}
	return newSigner(seed), nil
}

// GenerateSigner returns a signer with a fresh key that is kept nowhere,
// for a --dev server and tests.
func GenerateSigner(rand io.Reader) (*Signer, error) {
	seed := make([]byte, ed25519.SeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, err
	}
	return newSigner(seed), nil
}

func newSigner(seed []byte) *Signer {
	priv := ed25519.NewKeyFromSeed(seed)
	return &Signer{priv: priv, pub: priv.Public().(ed25519.PublicKey)}
}

// Public returns the public key.
func (s *Signer) Public() ed25519.PublicKey { return s.pub }

// PublicPEM returns the public key as a PEM "PUBLIC KEY" block (PKIX).
func (s *Signer) PublicPEM() []byte { return PublicKeyPEM(s.pub) }

// Fingerprint returns the hex SHA-256 of the public key's PKIX encoding.
func (s *Signer) Fingerprint() string { return Fingerprint(s.pub) }

func (s *Signer) sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// LogValue keeps the private key out of logs.
func (s *Signer) LogValue() slog.Value { return slog.StringValue("audit signer " + s.Fingerprint()) }

// String keeps the private key out of formatted output.
func (s *Signer) String() string { return "audit signer " + s.Fingerprint() }

// PublicKeyPEM encodes pub as a PEM "PUBLIC KEY" block.
func PublicKeyPEM(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an Ed25519 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKeyPEM parses a PEM "PUBLIC KEY" block holding an Ed25519 key.
func ParsePublicKeyPEM(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("audit: not a PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("audit: the public key is not Ed25519")
	}
	return pub, nil
}

// Fingerprint returns the hex SHA-256 of pub's PKIX encoding.
func Fingerprint(pub ed25519.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}
