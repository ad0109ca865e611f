package kms

import (
	"errors"
	"fmt"
	"io"

	"github.com/trent-kms/trent/internal/keyspec"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
)

// Engine is every use of one key's material: the operations of this
// package reach key material only through it. The software engine
// ([newSoftwareEngine]) holds unsealed material in memory; a hardware
// security module (PKCS#11) or an external key store implements the same
// methods and the operations do not change.
//
// An Engine is an immutable snapshot of the key's materials (a rotation
// builds a new one) and is safe for concurrent use. The blob format is not
// the engine's business: SealBlob and OpenBlob of a symmetric key build
// and read it with [keystore.SealBlob] and [keystore.OpenBlob] around the
// engine's AES-256-GCM ([keystore.AEAD]).
//
// Errors: ErrNoMaterial when the key has no material for the operation,
// ErrUnknownMaterial when a blob names material the key does not have, a
// *keyspec.Error for a request the algorithm refuses (its Code and Message
// are the caller's answer), and errors wrapping
// [keystore.ErrInvalidCiphertext] for a blob that does not open. Any other
// error is an internal failure.
type Engine interface {
	// SealBlob encrypts plaintext under the key's current material into a
	// version 1 blob (docs/ciphertext.md) bound to encCtx, and returns the
	// id of the material it used.
	SealBlob(rand io.Reader, keyID string, plaintext []byte, encCtx map[string]string) (blob []byte, materialID string, err error)
	// OpenBlob decrypts a parsed blob with the material it names.
	OpenBlob(c *keystore.Ciphertext, encCtx map[string]string) ([]byte, error)

	// Encrypt and Decrypt use an asymmetric ENCRYPT_DECRYPT key
	// (RSAES-OAEP, SM2PKE): raw algorithm output, no blob.
	Encrypt(rand io.Reader, algorithm string, plaintext []byte) ([]byte, error)
	Decrypt(algorithm string, ciphertext []byte) ([]byte, error)
	// Sign and Verify use a SIGN_VERIFY key.
	Sign(rand io.Reader, algorithm, messageType string, message []byte) ([]byte, error)
	Verify(algorithm, messageType string, message, signature []byte) error
	// MAC and VerifyMAC use a GENERATE_VERIFY_MAC key.
	MAC(algorithm string, message []byte) ([]byte, error)
	VerifyMAC(algorithm string, message, mac []byte) error
	// DeriveSharedSecret uses a KEY_AGREEMENT key (ECDH).
	DeriveSharedSecret(algorithm string, peerPublicKeyDER []byte) ([]byte, error)
	// Encapsulate and Decapsulate use an ENCAPSULATE_DECAPSULATE key
	// (ML-KEM).
	Encapsulate(rand io.Reader, algorithm string) (ciphertext, sharedSecret []byte, err error)
	Decapsulate(algorithm string, ciphertext []byte) ([]byte, error)
	// PublicKey returns the DER SubjectPublicKeyInfo of an asymmetric key.
	PublicKey() ([]byte, error)
}

// Errors an [Engine] returns; check with errors.Is.
var (
	ErrNoMaterial      = errors.New("kms: key has no material for this operation")
	ErrUnknownMaterial = errors.New("kms: ciphertext names key material the key does not have")
)

// softwareEngine is the [Engine] of material unsealed into memory: the
// AES-256-GCM of every material of a SYMMETRIC_DEFAULT key, by material
// id, or the parsed private key of any other key spec.
type softwareEngine struct {
	currentID string
	current   keystore.AEAD
	// older holds the other materials of a rotated SYMMETRIC_DEFAULT key
	// by id; nil for a key with one material, the common case.
	older map[string]keystore.AEAD
	asym  *keyspec.Key // every other key spec; nil without material
}

var _ Engine = (*softwareEngine)(nil)

// newSoftwareEngine opens a stored key's sealed materials with root. arn
// is the key's ARN, which each material is bound to.
func newSoftwareEngine(root keystore.Root, arn string, k *store.Key) (*softwareEngine, error) {
	e := &softwareEngine{}
	open := func(m store.Material) ([]byte, error) {
		raw, err := root.Open(m.Sealed, keystore.MaterialAAD(arn, m.ID))
		if err != nil {
			return nil, fmt.Errorf("unseal material %s of %s: %w", m.ID, arn, err)
		}
		return raw, nil
	}
	if k.KeySpec != specSymmetric {
		if len(k.Materials) == 0 || len(k.Materials[0].Sealed) == 0 {
			return e, nil // imported material not there (yet)
		}
		m := k.Materials[0]
		raw, err := open(m)
		if err != nil {
			return nil, err
		}
		e.asym, err = keyspec.Parse(k.KeySpec, raw)
		clear(raw)
		if err != nil {
			return nil, fmt.Errorf("load material %s of %s: %w", m.ID, arn, err)
		}
		return e, nil
	}
	for _, m := range k.Materials {
		if len(m.Sealed) == 0 || m.PendingRotation {
			// Imported material that was deleted or expired, or that
			// waits for RotateKeyOnDemand: nothing to use.
			continue
		}
		raw, err := open(m)
		if err != nil {
			return nil, err
		}
		sk, err := keystore.NewSymmetricKey(raw)
		clear(raw)
		if err != nil {
			return nil, fmt.Errorf("load material %s of %s: %w", m.ID, arn, err)
		}
		if m.ID == k.CurrentMaterialID {
			e.currentID, e.current = m.ID, sk.AEAD()
			continue
		}
		if e.older == nil {
			e.older = make(map[string]keystore.AEAD, len(k.Materials)-1)
		}
		e.older[m.ID] = sk.AEAD()
	}
	if e.current == nil && k.Origin != originExternal {
		return nil, fmt.Errorf("key %s: current material %s missing", arn, k.CurrentMaterialID)
	}
	return e, nil
}

// hasMaterial reports whether the engine can perform operations at all.
func (e *softwareEngine) hasMaterial() bool { return e.current != nil || e.asym != nil }

func (e *softwareEngine) SealBlob(rand io.Reader, keyID string, pt []byte, encCtx map[string]string) ([]byte, string, error) {
	if e.current == nil {
		return nil, "", ErrNoMaterial
	}
	blob, err := keystore.SealBlob(e.current, rand, keyID, e.currentID, pt, encCtx)
	return blob, e.currentID, err
}

func (e *softwareEngine) OpenBlob(c *keystore.Ciphertext, encCtx map[string]string) ([]byte, error) {
	a := e.current
	if c.MaterialID != e.currentID {
		if a = e.older[c.MaterialID]; a == nil {
			return nil, ErrUnknownMaterial
		}
	}
	return keystore.OpenBlob(a, c, encCtx)
}

func (e *softwareEngine) Encrypt(rand io.Reader, alg string, pt []byte) ([]byte, error) {
	if e.asym == nil {
		return nil, ErrNoMaterial
	}
	return e.asym.Encrypt(rand, alg, pt)
}

func (e *softwareEngine) Decrypt(alg string, ct []byte) ([]byte, error) {
	if e.asym == nil {
		return nil, ErrNoMaterial
	}
	return e.asym.Decrypt(alg, ct)
}

func (e *softwareEngine) Sign(rand io.Reader, alg, msgType string, msg []byte) ([]byte, error) {
	if e.asym == nil {
		return nil, ErrNoMaterial
	}
	return e.asym.Sign(rand, alg, msgType, msg)
}

func (e *softwareEngine) Verify(alg, msgType string, msg, sig []byte) error {
	if e.asym == nil {
		return ErrNoMaterial
	}
	return e.asym.Verify(alg, msgType, msg, sig)
}

func (e *softwareEngine) MAC(alg string, msg []byte) ([]byte, error) {
	if e.asym == nil {
		return nil, ErrNoMaterial
	}
	return e.asym.MAC(alg, msg)
}

func (e *softwareEngine) VerifyMAC(alg string, msg, mac []byte) error {
	if e.asym == nil {
		return ErrNoMaterial
	}
	return e.asym.VerifyMAC(alg, msg, mac)
}

func (e *softwareEngine) DeriveSharedSecret(alg string, peer []byte) ([]byte, error) {
	if e.asym == nil {
		return nil, ErrNoMaterial
	}
	return e.asym.DeriveSharedSecret(alg, peer)
}

func (e *softwareEngine) Encapsulate(rand io.Reader, alg string) ([]byte, []byte, error) {
	if e.asym == nil {
		return nil, nil, ErrNoMaterial
	}
	return e.asym.Encapsulate(rand, alg)
}

func (e *softwareEngine) Decapsulate(alg string, ct []byte) ([]byte, error) {
	if e.asym == nil {
		return nil, ErrNoMaterial
	}
	return e.asym.Decapsulate(alg, ct)
}

func (e *softwareEngine) PublicKey() ([]byte, error) {
	if e.asym == nil {
		return nil, ErrNoMaterial
	}
	return e.asym.PublicKey()
}

// String returns "[redacted]": the engine holds key material.
func (e *softwareEngine) String() string { return redacted }

// GoString returns "[redacted]".
func (e *softwareEngine) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (e *softwareEngine) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

const redacted = "[redacted]"
