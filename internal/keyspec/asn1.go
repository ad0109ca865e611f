package keyspec

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Object identifiers the standard library's x509 package does not know.
var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1} // RFC 5480
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}       // SEC 2

	// NIST Computer Security Objects Register; RFC 9881 (ML-DSA) and
	// draft-ietf-lamps-kyber-certificates (ML-KEM).
	oidMLDSA44   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}
	oidMLDSA65   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}
	oidMLDSA87   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 19}
	oidMLKEM512  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 1}
	oidMLKEM768  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 2}
	oidMLKEM1024 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 3}
)

// subjectPublicKeyInfo is the RFC 5280 SubjectPublicKeyInfo.
type subjectPublicKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// privateKeyInfo is the RFC 5958 OneAsymmetricKey, version 0 (PKCS #8),
// without the optional attributes.
type privateKeyInfo struct {
	Version    int
	Algorithm  pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// ecPrivateKey is the RFC 5915 ECPrivateKey.
type ecPrivateKey struct {
	Version    int
	PrivateKey []byte
	Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// unmarshalStrict parses exactly one DER value into out.
func unmarshalStrict(der []byte, out any) error {
	rest, err := asn1.Unmarshal(der, out)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("trailing data after DER value")
	}
	return nil
}

func marshalSPKI(alg pkix.AlgorithmIdentifier, key []byte) ([]byte, error) {
	return asn1.Marshal(subjectPublicKeyInfo{Algorithm: alg, PublicKey: asn1.BitString{Bytes: key, BitLength: 8 * len(key)}})
}

// parseSPKI parses a SubjectPublicKeyInfo and returns its algorithm and key
// bytes. The bit string must be whole bytes.
func parseSPKI(der []byte) (pkix.AlgorithmIdentifier, []byte, error) {
	var spki subjectPublicKeyInfo
	if err := unmarshalStrict(der, &spki); err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	if spki.PublicKey.BitLength != 8*len(spki.PublicKey.Bytes) {
		return pkix.AlgorithmIdentifier{}, nil, errors.New("public key bit string is not whole bytes")
	}
	return spki.Algorithm, spki.PublicKey.Bytes, nil
}

func secp256k1Params() asn1.RawValue {
	b, _ := asn1.Marshal(oidSecp256k1)
	return asn1.RawValue{FullBytes: b}
}

// marshalSecp256k1SPKI encodes pub as an id-ecPublicKey SubjectPublicKeyInfo
// with the named curve secp256k1 and an uncompressed point (RFC 5480).
func marshalSecp256k1SPKI(pub *secp256k1.PublicKey) ([]byte, error) {
	return marshalSPKI(pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: secp256k1Params()}, pub.SerializeUncompressed())
}

// parseSecp256k1SPKI parses an id-ecPublicKey SubjectPublicKeyInfo on the
// named curve secp256k1. Only uncompressed points are accepted, as for the
// NIST curves in crypto/x509.
func parseSecp256k1SPKI(der []byte) (*secp256k1.PublicKey, error) {
	alg, key, err := parseSPKI(der)
	if err != nil {
		return nil, err
	}
	if !alg.Algorithm.Equal(oidECPublicKey) {
		return nil, errors.New("not an elliptic curve public key")
	}
	var curve asn1.ObjectIdentifier
	if err := unmarshalStrict(alg.Parameters.FullBytes, &curve); err != nil || !curve.Equal(oidSecp256k1) {
		return nil, errors.New("not a secp256k1 public key")
	}
	if len(key) != 65 || key[0] != 4 {
		return nil, errors.New("secp256k1 public key is not an uncompressed point")
	}
	return secp256k1.ParsePubKey(key)
}

// marshalSecp256k1PKCS8 encodes priv as PKCS #8 with an RFC 5915
// ECPrivateKey, laid out as crypto/x509 does for the NIST curves: the curve
// in the AlgorithmIdentifier, the public key in the ECPrivateKey.
func marshalSecp256k1PKCS8(priv *secp256k1.PrivateKey) ([]byte, error) {
	d := priv.Key.Bytes()
	inner, err := asn1.Marshal(ecPrivateKey{
		Version:    1,
		PrivateKey: d[:],
		PublicKey:  asn1.BitString{Bytes: priv.PubKey().SerializeUncompressed(), BitLength: 65 * 8},
	})
	clear(d[:])
	if err != nil {
		return nil, err
	}
	defer clear(inner)
	return asn1.Marshal(privateKeyInfo{
		Algorithm:  pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: secp256k1Params()},
		PrivateKey: inner,
	})
}

// parseSecp256k1PKCS8 is the inverse of marshalSecp256k1PKCS8. The scalar
// must lie in [1, n-1], and an embedded public key must match it.
func parseSecp256k1PKCS8(der []byte) (*secp256k1.PrivateKey, error) {
	var info privateKeyInfo
	if err := unmarshalStrict(der, &info); err != nil {
		return nil, err
	}
	if info.Version != 0 || !info.Algorithm.Algorithm.Equal(oidECPublicKey) {
		return nil, errors.New("not a PKCS #8 elliptic curve private key")
	}
	var curve asn1.ObjectIdentifier
	if err := unmarshalStrict(info.Algorithm.Parameters.FullBytes, &curve); err != nil || !curve.Equal(oidSecp256k1) {
		return nil, errors.New("not a secp256k1 private key")
	}
	var ec ecPrivateKey
	if err := unmarshalStrict(info.PrivateKey, &ec); err != nil {
		return nil, err
	}
	defer clear(ec.PrivateKey)
	if ec.Version != 1 || len(ec.PrivateKey) == 0 || len(ec.PrivateKey) > 32 {
		return nil, errors.New("malformed ECPrivateKey")
	}
	if ec.Curve != nil && !ec.Curve.Equal(oidSecp256k1) {
		return nil, errors.New("ECPrivateKey names another curve")
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(ec.PrivateKey); overflow || s.IsZero() {
		return nil, errors.New("secp256k1 scalar out of range")
	}
	priv := secp256k1.NewPrivateKey(&s)
	if ec.PublicKey.BitLength != 0 {
		pub, err := secp256k1.ParsePubKey(ec.PublicKey.Bytes)
		if err != nil || !pub.IsEqual(priv.PubKey()) {
			return nil, errors.New("ECPrivateKey public key does not match the private key")
		}
	}
	return priv, nil
}

// marshalSeedPKCS8 encodes a ML-DSA or ML-KEM seed as PKCS #8 in the seed
// form of the private key CHOICE: seed [0] IMPLICIT OCTET STRING (RFC 9881
// section 6 and draft-ietf-lamps-kyber-certificates section 6).
func marshalSeedPKCS8(oid asn1.ObjectIdentifier, seed []byte) ([]byte, error) {
	inner := make([]byte, 0, 2+len(seed))
	inner = append(inner, 0x80, byte(len(seed)))
	inner = append(inner, seed...)
	defer clear(inner)
	return asn1.Marshal(privateKeyInfo{Algorithm: pkix.AlgorithmIdentifier{Algorithm: oid}, PrivateKey: inner})
}

// parseSeedPKCS8 returns the seed of a PKCS #8 key in seed form. Only the
// seed form is accepted: it is the one GenerateDataKeyPair returns.
func parseSeedPKCS8(der []byte, oid asn1.ObjectIdentifier, seedSize int) ([]byte, error) {
	var info privateKeyInfo
	if err := unmarshalStrict(der, &info); err != nil {
		return nil, err
	}
	defer clear(info.PrivateKey)
	if info.Version != 0 || !info.Algorithm.Algorithm.Equal(oid) || len(info.Algorithm.Parameters.FullBytes) != 0 {
		return nil, fmt.Errorf("not a PKCS #8 key with algorithm %v", oid)
	}
	p := info.PrivateKey
	if len(p) != 2+seedSize || p[0] != 0x80 || int(p[1]) != seedSize {
		return nil, errors.New("private key is not in seed form")
	}
	return append([]byte(nil), p[2:]...), nil
}

// checkCanonicalSPKI rejects a SubjectPublicKeyInfo that is not exactly
// the DER encoding of its own contents: crypto/x509 tolerates extra
// elements and other non-DER forms inside the structure (Wycheproof
// "InvalidAsn" cases), which a key management service should not accept.
func checkCanonicalSPKI(der []byte) error {
	alg, key, err := parseSPKI(der)
	if err != nil {
		return err
	}
	if len(alg.Parameters.FullBytes) != 0 {
		var v asn1.RawValue
		if err := unmarshalStrict(alg.Parameters.FullBytes, &v); err != nil {
			return err
		}
	}
	again, err := marshalSPKI(alg, key)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, der) {
		return errors.New("public key is not DER")
	}
	return nil
}
