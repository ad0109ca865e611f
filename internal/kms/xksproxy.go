package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
)

// This file is the part of the KMS service the XKS proxy
// (internal/xks/proxy) uses: a Trent key serving as an external key of an
// AWS KMS external key store. The proxy authorizes by its own
// configuration (which key store may use which key), so nothing here
// evaluates key policies; the proxy writes the audit record.
//
// # Key separation
//
// The proxy never uses a key's material directly. It uses a subkey
// derived with HKDF-SHA256 (RFC 5869) from the material, with the info
// string [xksSubkeyInfo]. A caller of the proxy chooses the plaintext and
// the additional authenticated data of every encryption, so with the
// material itself it could try to produce AES-GCM output that also opens
// as a Trent ciphertext blob of the same key; under a separate subkey the
// two uses cannot meet.

// xksSubkeyInfo is the HKDF info of the XKS proxy's subkey. Changing it
// makes every ciphertext the proxy produced undecryptable.
const xksSubkeyInfo = "trent xks-proxy AES-256-GCM v1"

// XKSMaterialRefSize is the size of an [XKSKey] material reference.
const XKSMaterialRefSize = 16

// ErrXKSNoMaterial is returned by [XKSKey.Seal] and [XKSKey.Open] when the
// key has no symmetric material the proxy can use (an asymmetric key, a
// key waiting for imported material, or material that is gone).
var ErrXKSNoMaterial = errors.New("kms: key has no symmetric material for the XKS proxy")

// ErrXKSOpen is returned by [XKSKey.Open] for ciphertext that does not
// authenticate (wrong key, material, IV, tag or AAD).
var ErrXKSOpen = errors.New("kms: XKS ciphertext does not authenticate")

// XKSKey is a snapshot of a Trent key for the XKS proxy: its metadata and
// the means to encrypt and decrypt under the subkey derived from its
// materials. It never exposes key material and prints no secret.
type XKSKey struct {
	ARN       string
	AccountID string
	KeySpec   string // SYMMETRIC_DEFAULT, RSA_2048, ...
	KeyUsage  string // ENCRYPT_DECRYPT, SIGN_VERIFY, ...
	KeyState  string // Enabled, Disabled, PendingDeletion, ...
	// InCustomKeyStore is set for a key of a custom key store (an HSM or
	// an external key store of this Trent): its protection is outside
	// Trent's material, so the proxy does not serve it.
	InCustomKeyStore bool

	svc  *Service
	meta *store.Key
}

// XKSKey loads the key ref names for the XKS proxy. It returns an error
// wrapping store.ErrNotFound when there is no such key.
func (s *Service) XKSKey(ctx context.Context, ref store.KeyRef) (*XKSKey, error) {
	ck, err := s.loadKey(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", ref.KeyID, err)
	}
	return &XKSKey{ARN: ck.arn, AccountID: ck.meta.AccountID, KeySpec: ck.meta.KeySpec, KeyUsage: ck.meta.KeyUsage,
		KeyState: ck.meta.KeyState, InCustomKeyStore: ck.meta.CustomKeyStoreID != "", svc: s, meta: &ck.meta}, nil
}

// Symmetric reports whether the key is a SYMMETRIC_DEFAULT key with
// material, the only kind the proxy encrypts with.
func (k *XKSKey) Symmetric() bool {
	return k.meta.KeySpec == specSymmetric && k.meta.KeyUsage == usageEncrypt && k.meta.CurrentMaterialID != "" && k.meta.CustomKeyStoreID == ""
}

// CurrentRef returns the reference of the key's current material, which
// [XKSKey.Seal] uses.
func (k *XKSKey) CurrentRef() (ref [XKSMaterialRefSize]byte, err error) {
	if !k.Symmetric() || k.material(k.meta.CurrentMaterialID) == nil {
		return ref, ErrXKSNoMaterial
	}
	return xksMaterialRef(k.meta.CurrentMaterialID), nil
}

// Seal encrypts plaintext with AES-256-GCM under the subkey of the key's
// current material, with a random 12-byte IV and additionalData as AAD.
// ref identifies the material; Open needs it back. The ciphertext has the
// plaintext's length and the tag is 16 bytes.
func (k *XKSKey) Seal(rand io.Reader, plaintext, additionalData []byte) (iv, ciphertext, tag []byte, ref [XKSMaterialRefSize]byte, err error) {
	if !k.Symmetric() {
		return nil, nil, nil, ref, ErrXKSNoMaterial
	}
	m := k.material(k.meta.CurrentMaterialID)
	if m == nil {
		return nil, nil, nil, ref, ErrXKSNoMaterial
	}
	block, err := k.svc.xksBlock(k.ARN, m)
	if err != nil {
		return nil, nil, nil, ref, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, nil, ref, err
	}
	iv = make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(rand, iv); err != nil {
		return nil, nil, nil, ref, fmt.Errorf("kms: draw an IV: %w", err)
	}
	out := aead.Seal(nil, iv, plaintext, additionalData)
	n := len(out) - aead.Overhead()
	return iv, out[:n:n], out[n:], xksMaterialRef(m.ID), nil
}

// Open decrypts ciphertext||tag with the subkey of the material ref names,
// with the IV (12 or 16 bytes) and additionalData. Every failure to
// authenticate is [ErrXKSOpen]; a ref that names no material of the key
// is ErrXKSOpen too, since a forged ref must look like a forged tag.
func (k *XKSKey) Open(ref [XKSMaterialRefSize]byte, iv, ciphertext, tag, additionalData []byte) ([]byte, error) {
	if !k.Symmetric() {
		return nil, ErrXKSNoMaterial
	}
	var m *store.Material
	for i := range k.meta.Materials {
		r := xksMaterialRef(k.meta.Materials[i].ID)
		if subtle.ConstantTimeCompare(r[:], ref[:]) == 1 {
			m = &k.meta.Materials[i]
		}
	}
	if m == nil {
		return nil, ErrXKSOpen
	}
	block, err := k.svc.xksBlock(k.ARN, m)
	if err != nil {
		return nil, err
	}
	if len(iv) != 12 && len(iv) != 16 {
		return nil, ErrXKSOpen
	}
	aead, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return nil, err
	}
	in := make([]byte, 0, len(ciphertext)+len(tag))
	in = append(append(in, ciphertext...), tag...)
	pt, err := aead.Open(in[:0], iv, in, additionalData)
	if err != nil {
		return nil, ErrXKSOpen
	}
	return pt, nil
}

func (k *XKSKey) material(id string) *store.Material {
	for i := range k.meta.Materials {
		if k.meta.Materials[i].ID == id {
			return &k.meta.Materials[i]
		}
	}
	return nil
}

// xksMaterialRef is the reference of a material in the proxy's ciphertext
// metadata: the first 16 bytes of SHA-256 of the material id. Material ids
// are random, so two materials of one key never share a reference.
func xksMaterialRef(materialID string) [XKSMaterialRefSize]byte {
	sum := sha256.Sum256([]byte(materialID))
	var r [XKSMaterialRefSize]byte
	copy(r[:], sum[:])
	return r
}

// xksBlocks caches the AES block ciphers of derived subkeys by key ARN and
// material id; material never changes under its id. It is bounded: when
// full it is emptied, and subkeys are derived again as they are used.
type xksBlocks struct {
	mu sync.Mutex
	m  map[string]cipher.Block
}

const maxXKSBlocks = 4096

// xksBlock returns the AES-256 block cipher of the subkey of material m of
// the key arn.
func (s *Service) xksBlock(arn string, m *store.Material) (cipher.Block, error) {
	id := arn + "\x00" + m.ID
	s.xks.mu.Lock()
	b := s.xks.m[id]
	s.xks.mu.Unlock()
	if b != nil {
		return b, nil
	}
	raw, err := s.root.Open(m.Sealed, keystore.MaterialAAD(arn, m.ID))
	if err != nil {
		return nil, fmt.Errorf("unseal material %s of %s: %w", m.ID, arn, err)
	}
	defer clear(raw)
	if len(raw) != keystore.SymmetricKeySize {
		return nil, ErrXKSNoMaterial
	}
	sub, err := hkdf.Key(sha256.New, raw, nil, xksSubkeyInfo, keystore.SymmetricKeySize)
	if err != nil {
		return nil, fmt.Errorf("derive the XKS subkey of %s: %w", arn, err)
	}
	defer clear(sub)
	b, err = aes.NewCipher(sub)
	if err != nil {
		return nil, err
	}
	s.xks.mu.Lock()
	if s.xks.m == nil || len(s.xks.m) >= maxXKSBlocks {
		s.xks.m = make(map[string]cipher.Block)
	}
	s.xks.m[id] = b
	s.xks.mu.Unlock()
	return b, nil
}
