package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
)

// SymmetricKeySize is the length of SYMMETRIC_DEFAULT key material in bytes
// (AES-256).
const SymmetricKeySize = 32

// GenerateSymmetric draws new SYMMETRIC_DEFAULT key material: 32 bytes from
// rand, which is crypto/rand.Reader outside tests.
func GenerateSymmetric(rand io.Reader) ([]byte, error) {
	k := make([]byte, SymmetricKeySize)
	if _, err := io.ReadFull(rand, k); err != nil {
		return nil, fmt.Errorf("keystore: generate key material: %w", err)
	}
	return k, nil
}

// GenerateMaterialID draws a new key material id: 32 random bytes as 64
// lowercase hex characters, the shape of AWS's CurrentKeyMaterialId.
func GenerateMaterialID(rand io.Reader) (string, error) {
	var b [materialIDBytes]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("keystore: generate material id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// SymmetricKey is parsed SYMMETRIC_DEFAULT (AES-256-GCM) key material. It is
// safe for concurrent use; the AEAD is built once by [NewSymmetricKey]. It
// prints as "[redacted]".
type SymmetricKey struct {
	aead cipher.AEAD
}

// NewSymmetricKey builds a key from 32 bytes of material. It keeps no
// reference to raw, so the caller may clear it afterwards.
func NewSymmetricKey(raw []byte) (*SymmetricKey, error) {
	if len(raw) != SymmetricKeySize {
		return nil, fmt.Errorf("keystore: symmetric key material is %d bytes, want %d", len(raw), SymmetricKeySize)
	}
	b, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("keystore: symmetric key: %w", err)
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("keystore: symmetric key: %w", err)
	}
	return &SymmetricKey{aead: aead}, nil
}

// Seal encrypts plaintext for the key keyID and its material materialID and
// returns a version 1 blob (docs/ciphertext.md). keyID is a lowercase UUID
// ("1234abcd-12ab-34cd-56ef-1234567890ab") or a multi-Region key id ("mrk-"
// followed by 32 lowercase hex characters); materialID is 64 lowercase hex
// characters. encCtx, which may be nil, is bound as authenticated data in
// canonical form, so map order does not matter and nil equals empty. The
// 12-byte nonce is read from rand (crypto/rand.Reader outside tests).
//
// Seal fails if keyID or materialID is malformed, if plaintext is longer
// than [MaxSymmetricPlaintext], or if rand fails; it never returns a partial
// blob. The blob is built in one allocation.
func (k *SymmetricKey) Seal(rand io.Reader, keyID, materialID string, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	if len(plaintext) > MaxSymmetricPlaintext {
		return nil, fmt.Errorf("keystore: plaintext is %d bytes, at most %d fit in a ciphertext", len(plaintext), MaxSymmetricPlaintext)
	}
	out := make([]byte, SymmetricOverhead+len(plaintext))
	out[0] = VersionSymmetricV1
	form, ok := encodeKeyID(out[offKeyID:offMaterial], keyID)
	if !ok {
		return nil, fmt.Errorf("keystore: seal: malformed key id %q", keyID)
	}
	out[offForm] = form
	if !putMaterialID(out[offMaterial:offLength], materialID) {
		return nil, fmt.Errorf("keystore: seal: malformed material id %q", materialID)
	}
	binary.BigEndian.PutUint16(out[offLength:], uint16(len(plaintext)+tagLen))
	nonce := out[headerLen:offPayload]
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("keystore: seal: read nonce: %w", err)
	}
	aad := contextAAD(out[:headerLen:headerLen], encCtx)
	k.aead.Seal(out[offPayload:offPayload], nonce, plaintext, aad)
	return out, nil
}

// Open decrypts c, which must come from [ParseCiphertext], with the
// encryption context encCtx (nil equals empty). The caller picks k by
// c.KeyID and c.MaterialID; since both are authenticated, a wrong key, a
// wrong context or any change to the blob fails the same way, with an error
// wrapping [ErrInvalidCiphertext] (a *[FormatError]).
func (k *SymmetricKey) Open(c *Ciphertext, encCtx map[string]string) ([]byte, error) {
	header := c.header()
	if header == nil {
		return nil, invalid("not parsed")
	}
	if header[0] != VersionSymmetricV1 {
		return nil, invalid("unknown version")
	}
	aad := contextAAD(header, encCtx)
	pt, err := k.aead.Open(nil, c.raw[headerLen:offPayload], c.raw[offPayload:], aad)
	if err != nil {
		return nil, invalid("authentication failed")
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// String returns "[redacted]".
func (k *SymmetricKey) String() string { return redacted }

// GoString returns "[redacted]", so %#v does not print key material.
func (k *SymmetricKey) GoString() string { return redacted }

// LogValue returns "[redacted]", so log/slog does not print key material.
func (k *SymmetricKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// Format prints "[redacted]" for every verb, so %x or %+v do not print key
// material either.
func (k *SymmetricKey) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

const redacted = "[redacted]"

var (
	_ slog.LogValuer = (*SymmetricKey)(nil)
	_ fmt.Stringer   = (*SymmetricKey)(nil)
	_ fmt.GoStringer = (*SymmetricKey)(nil)
	_ fmt.Formatter  = (*SymmetricKey)(nil)
)
