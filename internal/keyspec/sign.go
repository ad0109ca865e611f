package keyspec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/emmansun/gmsm/sm2"
)

// signingHash is the hash each signing algorithm applies to a RAW message,
// and whose output length a DIGEST message must have.
var signingHash = map[string]crypto.Hash{
	"RSASSA_PSS_SHA_256":        crypto.SHA256,
	"RSASSA_PSS_SHA_384":        crypto.SHA384,
	"RSASSA_PSS_SHA_512":        crypto.SHA512,
	"RSASSA_PKCS1_V1_5_SHA_256": crypto.SHA256,
	"RSASSA_PKCS1_V1_5_SHA_384": crypto.SHA384,
	"RSASSA_PKCS1_V1_5_SHA_512": crypto.SHA512,
	"ECDSA_SHA_256":             crypto.SHA256,
	"ECDSA_SHA_384":             crypto.SHA384,
	"ECDSA_SHA_512":             crypto.SHA512,
	"ED25519_PH_SHA_512":        crypto.SHA512,
}

// sm3Size is the output size of SM3, the length of an SM2DSA DIGEST.
const sm3Size = 32

// mlDSAMuSize is the size of the ML-DSA message representative μ.
const mlDSAMuSize = 64

var errNoPrivateKey = errors.New("keyspec: key has no private key")

// checkSigning validates the algorithm and message type of a Sign or Verify
// call against k's spec, in the order AWS checks them, and returns what the
// primitive signs: the digest for RSA, ECDSA and SM2 DIGEST, the message
// itself otherwise.
func (k *Key) checkSigning(algorithm, messageType string, message []byte) ([]byte, error) {
	if messageType == "" {
		messageType = MessageRaw
	}
	if !slices.Contains(specs[k.spec].SigningAlgorithms, algorithm) {
		return nil, incompatibleAlgorithm(algorithm, k.spec)
	}
	if messageType != MessageRaw && messageType != MessageDigest && messageType != MessageExternalMu {
		return nil, messageTypeForSpec(messageType, k.spec)
	}
	switch k.p.family {
	case famEd25519:
		if algorithm == "ED25519_SHA_512" {
			if messageType != MessageRaw {
				return nil, messageTypeForAlgorithm(messageType, algorithm)
			}
			return message, nil
		}
		// ED25519_PH_SHA_512 takes a SHA-512 digest and still applies the
		// Ed25519ph pre-hash to it (API_Sign, MessageType).
		if messageType != MessageDigest {
			return nil, messageTypeForAlgorithm(messageType, algorithm)
		}
		if len(message) != sha512.Size {
			return nil, invalidDigestLength(algorithm)
		}
		ph := sha512.Sum512(message)
		return ph[:], nil
	case famSM2:
		switch messageType {
		case MessageRaw:
			return message, nil
		case MessageDigest:
			if len(message) != sm3Size {
				return nil, invalidDigestLength(algorithm)
			}
			return message, nil
		}
		return nil, messageTypeForSpec(messageType, k.spec)
	case famMLDSA:
		switch messageType {
		case MessageRaw:
			return message, nil
		case MessageExternalMu:
			if len(message) != mlDSAMuSize {
				return nil, invalidMuLength(algorithm)
			}
			return message, nil
		}
		return nil, messageTypeForSpec(messageType, k.spec)
	}
	// RSA and ECDSA.
	h := signingHash[algorithm]
	switch messageType {
	case MessageRaw:
		hh := h.New()
		hh.Write(message)
		return hh.Sum(nil), nil
	case MessageDigest:
		if len(message) != h.Size() {
			return nil, invalidDigestLength(algorithm)
		}
		return message, nil
	}
	return nil, messageTypeForSpec(messageType, k.spec)
}

// Sign signs message with k's private key, as the Sign operation does.
//
// messageType is RAW (or empty), DIGEST or EXTERNAL_MU. With RAW the
// algorithm hashes the message (SM2DSA: SM3 over Z‖M with the default
// distinguishing ID 1234567812345678; ML-DSA: pure ML-DSA with an empty
// context). With DIGEST the message is the hash output and must have its
// length: 32, 48 or 64 bytes for the SHA-2 algorithms, 32 for SM2DSA
// (e = SM3(Z‖M)), 64 for ED25519_PH_SHA_512, which requires DIGEST and
// signs Ed25519ph(SHA-512(message)); ED25519_SHA_512 requires RAW. EXTERNAL_MU
// is the 64-byte μ of FIPS 204 and applies only to ML-DSA.
//
// Signatures are DER-encoded ECDSA-Sig-Value for ECDSA and SM2DSA, raw
// for RSA, Ed25519 and ML-DSA. RSASSA-PSS uses MGF1 with the same hash and a
// salt as long as the hash.
//
// Errors: an *Error with InvalidKeyUsageException for an algorithm the spec
// does not support, ValidationException for a message type or length the
// algorithm does not accept; a plain error if k has no private key or the
// primitive fails.
func (k *Key) Sign(rand io.Reader, algorithm, messageType string, message []byte) ([]byte, error) {
	in, err := k.checkSigning(algorithm, messageType, message)
	if err != nil {
		return nil, err
	}
	if messageType == "" {
		messageType = MessageRaw
	}
	switch k.p.family {
	case famRSA:
		if k.rsa == nil {
			return nil, errNoPrivateKey
		}
		h := signingHash[algorithm]
		if isPSS(algorithm) {
			return rsa.SignPSS(rand, k.rsa, h, in, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.SignPKCS1v15(rand, k.rsa, h, in)
	case famECDSA:
		if k.ec == nil {
			return nil, errNoPrivateKey
		}
		return ecdsa.SignASN1(rand, k.ec, in)
	case famSecp256k1:
		if k.k1 == nil {
			return nil, errNoPrivateKey
		}
		// RFC 6979 deterministic nonce; rand is not needed.
		return k1ecdsa.Sign(k.k1, in).Serialize(), nil
	case famEd25519:
		if k.ed == nil {
			return nil, errNoPrivateKey
		}
		if algorithm == "ED25519_SHA_512" {
			return ed25519.Sign(k.ed, in), nil
		}
		return k.ed.Sign(nil, in, &ed25519.Options{Hash: crypto.SHA512})
	case famSM2:
		if k.sm2 == nil {
			return nil, errNoPrivateKey
		}
		if messageType == MessageRaw {
			return sm2.SignASN1(rand, k.sm2, in, sm2.NewSM2SignerOption(true, sm2DefaultUID))
		}
		return sm2.SignASN1(rand, k.sm2, in, nil)
	case famMLDSA:
		if k.mldsa == nil {
			return nil, errNoPrivateKey
		}
		if messageType == MessageExternalMu {
			return nil, errExternalMu
		}
		return k.p.mldsa.sign(k.mldsa, in)
	}
	return nil, incompatibleAlgorithm(algorithm, k.spec)
}

// Verify checks signature over message with k's public key, as the Verify
// operation does. algorithm and messageType are interpreted as in
// [Key.Sign]; a signature made with RAW verifies with DIGEST over the
// message's hash and the other way round.
//
// Verify returns nil for a valid signature and [ErrInvalidSignature] for
// any other signature, malformed ones included. The argument errors are
// those of Sign.
func (k *Key) Verify(algorithm, messageType string, message, signature []byte) error {
	in, err := k.checkSigning(algorithm, messageType, message)
	if err != nil {
		return err
	}
	if messageType == "" {
		messageType = MessageRaw
	}
	ok := false
	switch k.p.family {
	case famRSA:
		h := signingHash[algorithm]
		if isPSS(algorithm) {
			ok = rsa.VerifyPSS(k.rsaPub, h, in, signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		} else {
			ok = rsa.VerifyPKCS1v15(k.rsaPub, h, in, signature) == nil
		}
	case famECDSA:
		ok = ecdsa.VerifyASN1(k.ecPub, in, signature)
	case famSecp256k1:
		ok = verifySecp256k1(k.k1Pub, in, signature)
	case famEd25519:
		if algorithm == "ED25519_SHA_512" {
			ok = ed25519.Verify(k.edPub, in, signature)
		} else {
			ok = ed25519.VerifyWithOptions(k.edPub, in, signature, &ed25519.Options{Hash: crypto.SHA512}) == nil
		}
	case famSM2:
		if messageType == MessageRaw {
			ok = sm2.VerifyASN1WithSM2(k.sm2Pub, sm2DefaultUID, in, signature)
		} else {
			ok = sm2.VerifyASN1(k.sm2Pub, in, signature)
		}
	case famMLDSA:
		if messageType == MessageExternalMu {
			return errExternalMu
		}
		ok = k.p.mldsa.scheme.Verify(k.mldsaPub, in, signature, nil)
	}
	if !ok {
		return ErrInvalidSignature
	}
	return nil
}

// verifySecp256k1 verifies a DER ECDSA signature over a 32-byte digest. High
// S values are accepted, as for the other curves: AWS KMS does not
// normalize S on secp256k1 either.
func verifySecp256k1(pub *secp256k1.PublicKey, digest, der []byte) bool {
	sig, err := k1ecdsa.ParseDERSignature(der)
	if err != nil {
		return false
	}
	return sig.Verify(digest, pub)
}

func isPSS(algorithm string) bool { return strings.HasPrefix(algorithm, "RSASSA_PSS_") }

// sm2DefaultUID is the default distinguishing ID of GM/T 0009-2012, which
// AWS KMS always uses for RAW messages (AWS KMS Developer Guide, "Offline
// verification with SM2 key pairs").
var sm2DefaultUID = []byte("1234567812345678")

// errExternalMu reports that ML-DSA signing and verification with an
// external μ are not available: neither circl v1.6.5 nor the Go 1.26
// standard library exposes ML-DSA.Sign_internal with a given μ.
var errExternalMu = &Error{Code: "UnsupportedOperationException", Message: fmt.Sprintf("MessageType %s is not supported by this server.", MessageExternalMu)}

// MLDSAExternalMu computes the 64-byte μ of FIPS 204 (Algorithm 7, line 6)
// that a caller sends with MessageType EXTERNAL_MU for pure ML-DSA with an
// empty context: μ = SHAKE256(SHAKE256(pk, 64) ‖ 0x00 ‖ 0x00 ‖ message, 64),
// where pk is the raw ML-DSA public key inside the SubjectPublicKeyInfo
// spki. It is exported for clients and tests.
func MLDSAExternalMu(spki, message []byte) ([]byte, error) {
	_, pk, err := parseSPKI(spki)
	if err != nil {
		return nil, fmt.Errorf("keyspec: parse ML-DSA public key: %w", err)
	}
	return mlDSAMu(pk, message), nil
}
