package keyspec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/emmansun/gmsm/sm2"
)

// encryptionHash is the OAEP hash (and MGF1 hash) of each RSA encryption
// algorithm; the label is always empty (AWS KMS Developer Guide, "RSA key
// specs for encryption and decryption").
var encryptionHash = map[string]crypto.Hash{
	"RSAES_OAEP_SHA_1":   crypto.SHA1,
	"RSAES_OAEP_SHA_256": crypto.SHA256,
}

// sm2MaxPlaintext is the largest plaintext SM2PKE encrypts (API_Encrypt).
const sm2MaxPlaintext = 1024

// MaxPlaintext returns the largest plaintext, in bytes, that k encrypts
// with algorithm: (modulus bytes) - 2*(hash bytes) - 2 for RSAES-OAEP
// (214/190, 342/318, 470/446 for RSA_2048/3072/4096 with SHA-1/SHA-256) and
// 1024 for SM2PKE. It returns 0 for an algorithm k does not support.
func (k *Key) MaxPlaintext(algorithm string) int {
	if !slices.Contains(specs[k.spec].EncryptionAlgorithms, algorithm) {
		return 0
	}
	switch k.p.family {
	case famRSA:
		return k.p.rsaBits/8 - 2*encryptionHash[algorithm].Size() - 2
	case famSM2:
		return sm2MaxPlaintext
	}
	return 0
}

// Encrypt encrypts plaintext with k's public key, as the Encrypt operation
// does with an asymmetric key: RSAES-OAEP (RFC 8017 section 7.1, SHA-1 or
// SHA-256 for both the hash and MGF1, empty label) or SM2PKE (GB/T 32918.4)
// with the ciphertext in the ASN.1 C1C3C2 form of GM/T 0009:
// SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, ciphertext OCTET STRING }.
//
// Errors: an *Error with InvalidKeyUsageException for an algorithm the spec
// does not support and ValidationException for a plaintext longer than
// [Key.MaxPlaintext]; a plain error if the primitive fails.
func (k *Key) Encrypt(rand io.Reader, algorithm string, plaintext []byte) ([]byte, error) {
	max := k.MaxPlaintext(algorithm)
	if max == 0 {
		return nil, incompatibleAlgorithm(algorithm, k.spec)
	}
	if len(plaintext) > max {
		return nil, plaintextTooLong(algorithm, k.spec, max)
	}
	switch k.p.family {
	case famRSA:
		return rsa.EncryptOAEP(encryptionHash[algorithm].New(), rand, k.rsaPub, plaintext, nil)
	case famSM2:
		return sm2.Encrypt(rand, k.sm2Pub, plaintext, sm2.ASN1EncrypterOpts)
	}
	return nil, incompatibleAlgorithm(algorithm, k.spec)
}

// Decrypt decrypts a ciphertext made by [Key.Encrypt] (or by anyone with
// the public key and the same algorithm). Every ciphertext that does not
// decrypt yields [ErrDecrypt], whatever the cause. An algorithm the spec
// does not support yields an InvalidKeyUsageException *Error.
func (k *Key) Decrypt(algorithm string, ciphertext []byte) ([]byte, error) {
	if k.MaxPlaintext(algorithm) == 0 {
		return nil, incompatibleAlgorithm(algorithm, k.spec)
	}
	switch k.p.family {
	case famRSA:
		if k.rsa == nil {
			return nil, errNoPrivateKey
		}
		pt, err := rsa.DecryptOAEP(encryptionHash[algorithm].New(), nil, k.rsa, ciphertext, nil)
		if err != nil {
			return nil, ErrDecrypt
		}
		return pt, nil
	case famSM2:
		if k.sm2 == nil {
			return nil, errNoPrivateKey
		}
		pt, err := k.sm2.Decrypt(nil, ciphertext, sm2.ASN1DecrypterOpts)
		if err != nil {
			return nil, ErrDecrypt
		}
		return pt, nil
	}
	return nil, incompatibleAlgorithm(algorithm, k.spec)
}

var macHash = map[string]crypto.Hash{
	"HMAC_SHA_224": crypto.SHA224,
	"HMAC_SHA_256": crypto.SHA256,
	"HMAC_SHA_384": crypto.SHA384,
	"HMAC_SHA_512": crypto.SHA512,
}

// MAC computes the HMAC (RFC 2104) of message with k, as GenerateMac does.
// The MAC is the full hash output. An algorithm the spec does not support
// yields an InvalidKeyUsageException *Error.
func (k *Key) MAC(algorithm string, message []byte) ([]byte, error) {
	if !slices.Contains(specs[k.spec].MacAlgorithms, algorithm) {
		return nil, incompatibleAlgorithm(algorithm, k.spec)
	}
	m := hmac.New(macHash[algorithm].New, k.hmac)
	m.Write(message)
	return m.Sum(nil), nil
}

// VerifyMAC checks mac against the HMAC of message in constant time, as
// VerifyMac does. It returns [ErrInvalidMAC] for any other MAC, truncated
// ones included.
func (k *Key) VerifyMAC(algorithm string, message, mac []byte) error {
	want, err := k.MAC(algorithm, message)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, mac) {
		return ErrInvalidMAC
	}
	return nil
}

// DeriveSharedSecret computes the raw ECDH shared secret (the x-coordinate
// of the shared point, SP 800-56A section 5.7.1.2) between k's private key
// and the peer public key, as DeriveSharedSecret does. peerPublicKeyDER is a
// DER SubjectPublicKeyInfo on k's curve with an uncompressed point; anything
// else yields a ValidationException *Error. An algorithm other than ECDH
// yields an InvalidKeyUsageException *Error.
func (k *Key) DeriveSharedSecret(algorithm string, peerPublicKeyDER []byte) ([]byte, error) {
	if !slices.Contains(specs[k.spec].KeyAgreementAlgorithms, algorithm) {
		return nil, incompatibleAlgorithm(algorithm, k.spec)
	}
	switch k.p.family {
	case famECDSA:
		if k.ecdh == nil {
			return nil, errNoPrivateKey
		}
		if checkCanonicalSPKI(peerPublicKeyDER) != nil {
			return nil, errInvalidPeerKey
		}
		pub, err := x509.ParsePKIXPublicKey(peerPublicKeyDER)
		if err != nil {
			return nil, errInvalidPeerKey
		}
		ep, ok := pub.(*ecdsa.PublicKey)
		if !ok || ep.Curve != k.p.curve {
			return nil, errInvalidPeerKey
		}
		dh, err := ep.ECDH()
		if err != nil {
			return nil, errInvalidPeerKey
		}
		secret, err := k.ecdh.ECDH(dh)
		if err != nil {
			return nil, errInvalidPeerKey
		}
		return secret, nil
	case famSM2:
		if k.sm2ECDH == nil {
			return nil, errNoPrivateKey
		}
		if checkCanonicalSPKI(peerPublicKeyDER) != nil {
			return nil, errInvalidPeerKey
		}
		ep, err := parseSM2PublicKey(peerPublicKeyDER)
		if err != nil {
			return nil, errInvalidPeerKey
		}
		dh, err := sm2.PublicKeyToECDH(ep)
		if err != nil {
			return nil, errInvalidPeerKey
		}
		secret, err := k.sm2ECDH.ECDH(dh)
		if err != nil {
			return nil, errInvalidPeerKey
		}
		return secret, nil
	}
	return nil, incompatibleAlgorithm(algorithm, k.spec)
}

// Encapsulate generates a shared secret and its ML-KEM encapsulation under
// k's public key (FIPS 203 ML-KEM.Encaps), as the Encapsulate operation
// does; the shared secret is 32 bytes. rand is used for ML-KEM-512; the
// standard library draws its own randomness for ML-KEM-768 and ML-KEM-1024.
// An algorithm other than ML_KEM yields an InvalidKeyUsageException *Error.
func (k *Key) Encapsulate(rand io.Reader, algorithm string) (ciphertext, sharedSecret []byte, err error) {
	if !slices.Contains(specs[k.spec].KeyEncapsulationAlgorithms, algorithm) {
		return nil, nil, incompatibleAlgorithm(algorithm, k.spec)
	}
	return k.mlkemPub.encapsulate(rand)
}

// Decapsulate recovers the shared secret from an ML-KEM ciphertext (FIPS 203
// ML-KEM.Decaps), as the Decapsulate operation does. A ciphertext of the
// right length always yields a secret (implicit rejection returns a
// pseudorandom one); one of the wrong length yields [ErrDecrypt].
func (k *Key) Decapsulate(algorithm string, ciphertext []byte) ([]byte, error) {
	if !slices.Contains(specs[k.spec].KeyEncapsulationAlgorithms, algorithm) {
		return nil, incompatibleAlgorithm(algorithm, k.spec)
	}
	if k.mlkem == nil {
		return nil, errNoPrivateKey
	}
	ss, err := k.mlkem.decapsulate(ciphertext)
	if err != nil {
		return nil, ErrDecrypt
	}
	return ss, nil
}

// GenerateDataKeyPair draws a new key pair of spec, a DataKeyPairSpec value,
// and returns it as GenerateDataKeyPair does: the private key as DER PKCS #8
// (RFC 5958), for ML-KEM in the seed form (so 86 bytes for every ML-KEM
// spec), and the public key as DER SubjectPublicKeyInfo.
func GenerateDataKeyPair(spec string, rand io.Reader) (privateKey, publicKeyDER []byte, err error) {
	if !slices.Contains(DataKeyPairSpecs(), spec) {
		return nil, nil, fmt.Errorf("keyspec: %q is not a data key pair spec", spec)
	}
	material, err := Generate(spec, rand)
	if err != nil {
		return nil, nil, err
	}
	defer clear(material)
	k, err := Parse(spec, material)
	if err != nil {
		return nil, nil, err
	}
	if k.p.family == famMLKEM {
		privateKey, err = marshalSeedPKCS8(k.p.mlkem.oid, material)
		if err != nil {
			return nil, nil, err
		}
	} else {
		privateKey = append([]byte(nil), material...)
	}
	if len(k.spki) == 0 {
		return nil, nil, errors.New("keyspec: no public key")
	}
	return privateKey, append([]byte(nil), k.spki...), nil
}
