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
	aead softAEAD // also the [AEAD] that AEAD returns, without an allocation of its own
}

// softAEAD is a software AES-256-GCM as an [AEAD]. It prints as
// "[redacted]": the AES key schedule inside must not reach a log.
type softAEAD struct{ cipher.AEAD }

func (*softAEAD) String() string                { return redacted }
func (*softAEAD) GoString() string              { return redacted }
func (*softAEAD) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (*softAEAD) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

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
	return &SymmetricKey{aead: softAEAD{aead}}, nil
}

// AEAD is the primitive a version 1 blob is sealed with: AES-256-GCM with
// a 12-byte nonce and a 16-byte tag, the method set of [cipher.AEAD] that
// [SealBlob] and [OpenBlob] use. A [SymmetricKey] provides it in software;
// a hardware security module or an external key store can provide it
// instead, and the blob format stays the same.
//
// Seal appends the ciphertext and tag of plaintext to dst, which has room
// for them, and must not keep any argument. Open returns an error, and no
// plaintext, when the tag does not verify.
type AEAD interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// Seal encrypts plaintext for the key keyID and its material materialID and
// returns a version 1 blob (docs/ciphertext.md): it is [SealBlob] with k's
// AES-256-GCM.
func (k *SymmetricKey) Seal(rand io.Reader, keyID, materialID string, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	return SealBlob(&k.aead, rand, keyID, materialID, plaintext, encCtx)
}

// Open decrypts c with k: it is [OpenBlob] with k's AES-256-GCM.
func (k *SymmetricKey) Open(c *Ciphertext, encCtx map[string]string) ([]byte, error) {
	return OpenBlob(&k.aead, c, encCtx)
}

// AEAD returns k's AES-256-GCM as the primitive of [SealBlob] and
// [OpenBlob]. It prints as "[redacted]", like k.
func (k *SymmetricKey) AEAD() AEAD { return &k.aead }

// SealBlob encrypts plaintext with a for the key keyID and its material
// materialID and returns a version 1 blob (docs/ciphertext.md). keyID is a
// lowercase UUID ("1234abcd-12ab-34cd-56ef-1234567890ab") or a
// multi-Region key id ("mrk-" followed by 32 lowercase hex characters);
// materialID is 64 lowercase hex characters. encCtx, which may be nil, is
// bound as authenticated data in canonical form, so map order does not
// matter and nil equals empty. The 12-byte nonce is read from rand
// (crypto/rand.Reader outside tests).
//
// SealBlob fails if keyID or materialID is malformed, if plaintext is
// longer than [MaxSymmetricPlaintext], or if rand fails; it never returns a
// partial blob. The blob is built in one allocation (plus one for a
// non-empty encCtx).
func SealBlob(a AEAD, rand io.Reader, keyID, materialID string, plaintext []byte, encCtx map[string]string) ([]byte, error) {
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
	if sealed := a.Seal(out[offPayload:offPayload], nonce, plaintext, aad); len(sealed) != len(plaintext)+tagLen {
		clear(out)
		return nil, fmt.Errorf("keystore: seal: primitive returned %d bytes, want %d", len(sealed), len(plaintext)+tagLen)
	}
	return out, nil
}

// OpenBlob decrypts c, which must come from [ParseCiphertext], with a and
// the encryption context encCtx (nil equals empty). The caller picks a by
// c.KeyID and c.MaterialID; since both are authenticated, a wrong key, a
// wrong context or any change to the blob fails the same way, with an error
// wrapping [ErrInvalidCiphertext] (a *[FormatError]).
func OpenBlob(a AEAD, c *Ciphertext, encCtx map[string]string) ([]byte, error) {
	header := c.header()
	if header == nil {
		return nil, invalid("not parsed")
	}
	if header[0] != VersionSymmetricV1 {
		return nil, invalid("unknown version")
	}
	aad := contextAAD(header, encCtx)
	pt, err := a.Open(nil, c.raw[headerLen:offPayload], c.raw[offPayload:], aad)
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
