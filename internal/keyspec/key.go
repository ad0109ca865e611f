package keyspec

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cloudflare/circl/sign"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	gmecdh "github.com/emmansun/gmsm/ecdh"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// family groups the key specs that share one implementation.
type family int

const (
	famRSA family = iota + 1
	famECDSA
	famSecp256k1
	famEd25519
	famSM2
	famHMAC
	famMLDSA
	famMLKEM
)

// params holds what differs between the specs of one family.
type params struct {
	family  family
	rsaBits int
	curve   elliptic.Curve
	hmacMin int // smallest key material accepted, in bytes
	hmacMax int // largest key material accepted, in bytes
	hmacGen int // key material Generate draws, in bytes
	mldsa   *mldsaParams
	mlkem   *mlkemParams
}

var specParams = map[string]params{
	"RSA_2048":              {family: famRSA, rsaBits: 2048},
	"RSA_3072":              {family: famRSA, rsaBits: 3072},
	"RSA_4096":              {family: famRSA, rsaBits: 4096},
	"ECC_NIST_P256":         {family: famECDSA, curve: elliptic.P256()},
	"ECC_NIST_P384":         {family: famECDSA, curve: elliptic.P384()},
	"ECC_NIST_P521":         {family: famECDSA, curve: elliptic.P521()},
	"ECC_SECG_P256K1":       {family: famSecp256k1},
	"ECC_NIST_EDWARDS25519": {family: famEd25519},
	"SM2":                   {family: famSM2},
	// HMAC: Generate draws as many bytes as the hash output (AWS's "key
	// length" of the HMAC key specs); Parse accepts the lengths AWS accepts
	// for imported HMAC key material.
	"HMAC_224":    {family: famHMAC, hmacMin: 28, hmacMax: 64, hmacGen: 28},
	"HMAC_256":    {family: famHMAC, hmacMin: 32, hmacMax: 64, hmacGen: 32},
	"HMAC_384":    {family: famHMAC, hmacMin: 48, hmacMax: 128, hmacGen: 48},
	"HMAC_512":    {family: famHMAC, hmacMin: 64, hmacMax: 128, hmacGen: 64},
	"ML_DSA_44":   {family: famMLDSA, mldsa: paramsMLDSA44},
	"ML_DSA_65":   {family: famMLDSA, mldsa: paramsMLDSA65},
	"ML_DSA_87":   {family: famMLDSA, mldsa: paramsMLDSA87},
	"ML_KEM_512":  {family: famMLKEM, mlkem: paramsMLKEM512},
	"ML_KEM_768":  {family: famMLKEM, mlkem: paramsMLKEM768},
	"ML_KEM_1024": {family: famMLKEM, mlkem: paramsMLKEM1024},
}

// Key is a parsed key of one key spec: a private key with its public half,
// or only a public key (see [ParsePublicKey]). A Key is immutable after
// Parse and safe for concurrent use; parse once and keep it.
//
// Key implements slog.LogValuer and fmt.Stringer without revealing
// material: it prints as its key spec and "[redacted]".
type Key struct {
	spec string
	p    params
	spki []byte // DER SubjectPublicKeyInfo; nil for HMAC

	rsa      *rsa.PrivateKey
	rsaPub   *rsa.PublicKey
	ec       *ecdsa.PrivateKey
	ecPub    *ecdsa.PublicKey
	ecdh     *ecdh.PrivateKey
	k1       *secp256k1.PrivateKey
	k1Pub    *secp256k1.PublicKey
	ed       ed25519.PrivateKey
	edPub    ed25519.PublicKey
	sm2      *sm2.PrivateKey
	sm2Pub   *ecdsa.PublicKey
	sm2ECDH  *gmecdh.PrivateKey
	hmac     []byte
	mldsa    sign.PrivateKey
	mldsaPub sign.PublicKey
	mlkem    mlkemDecapsulator
	mlkemPub mlkemEncapsulator
}

// KeySpec returns the key spec k was parsed as.
func (k *Key) KeySpec() string { return k.spec }

// HasPrivate reports whether k holds the private key (or the secret of an
// HMAC key), that is, whether it came from Parse rather than ParsePublicKey.
func (k *Key) HasPrivate() bool {
	return k.rsa != nil || k.ec != nil || k.k1 != nil || k.ed != nil || k.sm2 != nil ||
		k.hmac != nil || k.mldsa != nil || k.mlkem != nil
}

// LogValue implements slog.LogValuer; it never logs key material.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key_spec", k.spec), slog.String("material", "[redacted]"))
}

// String implements fmt.Stringer; it never prints key material.
func (k *Key) String() string { return "keyspec.Key(" + k.spec + ", [redacted])" }

// GoString implements fmt.GoStringer, so that %#v does not print key
// material either.
func (k *Key) GoString() string { return k.String() }

// errUnknownSpec reports a key spec this package does not implement.
func errUnknownSpec(spec string) error {
	return fmt.Errorf("keyspec: unsupported key spec %q", spec)
}

// Generate draws a new key of keySpec from rand and returns it in the form
// Trent seals at rest:
//
//   - RSA, NIST ECC, ECC_SECG_P256K1, ECC_NIST_EDWARDS25519 and SM2: PKCS #8
//     DER (RFC 5958); secp256k1 uses the RFC 5915 ECPrivateKey with the
//     named curve 1.3.132.0.10;
//   - ML_DSA_*: the 32-byte seed ξ of FIPS 204;
//   - ML_KEM_*: the 64-byte seed d‖z of FIPS 203;
//   - HMAC_*: the raw key, as long as the hash output (28, 32, 48, 64 bytes).
//
// SYMMETRIC_DEFAULT is not handled here. Since Go 1.26 the standard library
// ignores rand for RSA, NIST ECDSA and ECDH key generation and uses its own
// secure source; every other spec draws from rand.
func Generate(keySpec string, rand io.Reader) (material []byte, err error) {
	p, ok := specParams[keySpec]
	if !ok {
		return nil, errUnknownSpec(keySpec)
	}
	switch p.family {
	case famRSA:
		priv, err := rsa.GenerateKey(rand, p.rsaBits)
		if err != nil {
			return nil, fmt.Errorf("keyspec: generate %s: %w", keySpec, err)
		}
		return x509.MarshalPKCS8PrivateKey(priv)
	case famECDSA:
		priv, err := ecdsa.GenerateKey(p.curve, rand)
		if err != nil {
			return nil, fmt.Errorf("keyspec: generate %s: %w", keySpec, err)
		}
		return x509.MarshalPKCS8PrivateKey(priv)
	case famSecp256k1:
		var seed [32]byte
		defer clear(seed[:])
		for {
			if _, err := io.ReadFull(rand, seed[:]); err != nil {
				return nil, fmt.Errorf("keyspec: generate %s: %w", keySpec, err)
			}
			var s secp256k1.ModNScalar
			if overflow := s.SetByteSlice(seed[:]); !overflow && !s.IsZero() {
				priv := secp256k1.NewPrivateKey(&s)
				defer priv.Zero()
				return marshalSecp256k1PKCS8(priv)
			}
		}
	case famEd25519:
		_, priv, err := ed25519.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("keyspec: generate %s: %w", keySpec, err)
		}
		defer clear(priv)
		return x509.MarshalPKCS8PrivateKey(priv)
	case famSM2:
		priv, err := sm2.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("keyspec: generate %s: %w", keySpec, err)
		}
		return smx509.MarshalPKCS8PrivateKey(priv)
	case famHMAC:
		return readRandom(rand, p.hmacGen, keySpec)
	case famMLDSA:
		return readRandom(rand, p.mldsa.scheme.SeedSize(), keySpec)
	case famMLKEM:
		return readRandom(rand, mlkemSeedSize, keySpec)
	}
	return nil, errUnknownSpec(keySpec)
}

func readRandom(rand io.Reader, n int, spec string) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("keyspec: generate %s: %w", spec, err)
	}
	return b, nil
}

// Parse parses key material of keySpec in the form [Generate] returns. For
// the specs stored as PKCS #8 it also accepts any PKCS #8 key of the right
// type and size (as ImportKeyMaterial receives them), and for ML-DSA and
// ML-KEM also the PKCS #8 seed form that GenerateDataKeyPair returns.
// Parse checks that the material matches the spec: RSA modulus size, curve,
// seed and HMAC key lengths. It does not keep a reference to material.
//
// Errors are plain errors (the material is Trent's own or was validated
// at import), never *Error; they never contain key material.
func Parse(keySpec string, material []byte) (*Key, error) {
	p, ok := specParams[keySpec]
	if !ok {
		return nil, errUnknownSpec(keySpec)
	}
	k := &Key{spec: keySpec, p: p}
	var err error
	switch p.family {
	case famRSA, famECDSA, famEd25519:
		err = k.parseStdPKCS8(material)
	case famSecp256k1:
		k.k1, err = parseSecp256k1PKCS8(material)
		if err == nil {
			k.k1Pub = k.k1.PubKey()
		}
	case famSM2:
		err = k.parseSM2(material)
	case famHMAC:
		if len(material) < p.hmacMin || len(material) > p.hmacMax {
			return nil, fmt.Errorf("keyspec: %s key material must be %d to %d bytes, got %d", keySpec, p.hmacMin, p.hmacMax, len(material))
		}
		k.hmac = append([]byte(nil), material...)
		return k, nil
	case famMLDSA:
		seed := material
		if len(material) != p.mldsa.scheme.SeedSize() {
			if seed, err = parseSeedPKCS8(material, p.mldsa.oid, p.mldsa.scheme.SeedSize()); err != nil {
				return nil, fmt.Errorf("keyspec: parse %s: %w", keySpec, err)
			}
			defer clear(seed)
		}
		k.mldsaPub, k.mldsa = p.mldsa.scheme.DeriveKey(seed)
	case famMLKEM:
		seed := material
		if len(material) != mlkemSeedSize {
			if seed, err = parseSeedPKCS8(material, p.mlkem.oid, mlkemSeedSize); err != nil {
				return nil, fmt.Errorf("keyspec: parse %s: %w", keySpec, err)
			}
			defer clear(seed)
		}
		k.mlkem, err = p.mlkem.newKey(seed)
		if err == nil {
			k.mlkemPub = k.mlkem.encapsulator()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("keyspec: parse %s: %w", keySpec, err)
	}
	if err := k.encodePublic(); err != nil {
		return nil, fmt.Errorf("keyspec: parse %s: %w", keySpec, err)
	}
	return k, nil
}

func (k *Key) parseStdPKCS8(der []byte) error {
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return err
	}
	switch k.p.family {
	case famRSA:
		rk, ok := priv.(*rsa.PrivateKey)
		if !ok || rk.N.BitLen() != k.p.rsaBits {
			return errors.New("not an RSA key of the key spec's size")
		}
		k.rsa, k.rsaPub = rk, &rk.PublicKey
	case famECDSA:
		ek, ok := priv.(*ecdsa.PrivateKey)
		if !ok || ek.Curve != k.p.curve {
			return errors.New("not an EC key on the key spec's curve")
		}
		dh, err := ek.ECDH()
		if err != nil {
			return err
		}
		k.ec, k.ecPub, k.ecdh = ek, &ek.PublicKey, dh
	case famEd25519:
		ek, ok := priv.(ed25519.PrivateKey)
		if !ok {
			return errors.New("not an Ed25519 key")
		}
		k.ed, k.edPub = ek, ek.Public().(ed25519.PublicKey)
	}
	return nil
}

func (k *Key) parseSM2(der []byte) error {
	priv, err := smx509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return err
	}
	sk, ok := priv.(*sm2.PrivateKey)
	if !ok {
		return errors.New("not an SM2 key")
	}
	dh, err := sk.ECDH()
	if err != nil {
		return err
	}
	k.sm2, k.sm2Pub, k.sm2ECDH = sk, &sk.PublicKey, dh
	return nil
}

// encodePublic computes and caches the SubjectPublicKeyInfo of k.
func (k *Key) encodePublic() error {
	var err error
	switch k.p.family {
	case famRSA:
		k.spki, err = x509.MarshalPKIXPublicKey(k.rsaPub)
	case famECDSA:
		k.spki, err = x509.MarshalPKIXPublicKey(k.ecPub)
	case famSecp256k1:
		k.spki, err = marshalSecp256k1SPKI(k.k1Pub)
	case famEd25519:
		k.spki, err = x509.MarshalPKIXPublicKey(k.edPub)
	case famSM2:
		k.spki, err = smx509.MarshalPKIXPublicKey(k.sm2Pub)
	case famMLDSA:
		var raw []byte
		if raw, err = k.mldsaPub.MarshalBinary(); err == nil {
			k.spki, err = marshalSPKI(pkixAlg(k.p.mldsa.oid), raw)
		}
	case famMLKEM:
		k.spki, err = marshalSPKI(pkixAlg(k.p.mlkem.oid), k.mlkemPub.bytes())
	}
	return err
}

// ParsePublicKey parses a DER SubjectPublicKeyInfo as a public key of
// keySpec, as GetPublicKey returns it. The returned Key can Verify, Encrypt,
// Encapsulate and return its PublicKey; the operations that need the private
// key fail. The encoding must be canonical DER; elliptic curve points must
// be uncompressed on the spec's named curve. HMAC specs have no public key.
// Errors are plain errors.
func ParsePublicKey(keySpec string, der []byte) (*Key, error) {
	p, ok := specParams[keySpec]
	if !ok || p.family == famHMAC {
		return nil, errUnknownSpec(keySpec)
	}
	k := &Key{spec: keySpec, p: p}
	if err := checkCanonicalSPKI(der); err != nil {
		return nil, fmt.Errorf("keyspec: parse %s public key: %w", keySpec, err)
	}
	if err := k.parsePublic(der); err != nil {
		return nil, fmt.Errorf("keyspec: parse %s public key: %w", keySpec, err)
	}
	if err := k.encodePublic(); err != nil {
		return nil, fmt.Errorf("keyspec: parse %s public key: %w", keySpec, err)
	}
	return k, nil
}

func (k *Key) parsePublic(der []byte) error {
	switch k.p.family {
	case famRSA, famECDSA, famEd25519:
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return err
		}
		switch pk := pub.(type) {
		case *rsa.PublicKey:
			if k.p.family == famRSA && pk.N.BitLen() == k.p.rsaBits {
				k.rsaPub = pk
				return nil
			}
		case *ecdsa.PublicKey:
			if k.p.family == famECDSA && pk.Curve == k.p.curve {
				k.ecPub = pk
				return nil
			}
		case ed25519.PublicKey:
			if k.p.family == famEd25519 {
				k.edPub = pk
				return nil
			}
		}
		return errors.New("public key does not match the key spec")
	case famSecp256k1:
		pub, err := parseSecp256k1SPKI(der)
		if err != nil {
			return err
		}
		k.k1Pub = pub
		return nil
	case famSM2:
		pub, err := parseSM2PublicKey(der)
		if err != nil {
			return err
		}
		k.sm2Pub = pub
		return nil
	case famMLDSA:
		alg, raw, err := parseSPKI(der)
		if err != nil {
			return err
		}
		if !alg.Algorithm.Equal(k.p.mldsa.oid) || len(alg.Parameters.FullBytes) != 0 {
			return errors.New("public key does not match the key spec")
		}
		k.mldsaPub, err = k.p.mldsa.scheme.UnmarshalBinaryPublicKey(raw)
		return err
	case famMLKEM:
		alg, raw, err := parseSPKI(der)
		if err != nil {
			return err
		}
		if !alg.Algorithm.Equal(k.p.mlkem.oid) || len(alg.Parameters.FullBytes) != 0 {
			return errors.New("public key does not match the key spec")
		}
		k.mlkemPub, err = k.p.mlkem.newPublic(raw)
		return err
	}
	return errUnknownSpec(k.spec)
}

// parseSM2PublicKey parses a SubjectPublicKeyInfo of an SM2 public key:
// id-ecPublicKey with the named curve 1.2.156.10197.1.301.
func parseSM2PublicKey(der []byte) (*ecdsa.PublicKey, error) {
	pub, err := smx509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	pk, ok := pub.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(pk) {
		return nil, errors.New("not an SM2 public key")
	}
	return pk, nil
}

// PublicKey returns the public key of k as a DER SubjectPublicKeyInfo
// (RFC 5280), the form GetPublicKey returns: RSA as rsaEncryption, ECC and
// SM2 as id-ecPublicKey with a named curve and an uncompressed point,
// Ed25519 as id-Ed25519 (RFC 8410), ML-DSA and ML-KEM with the NIST
// algorithm identifiers and no parameters. HMAC keys have no public key and
// yield an InvalidKeyUsageException *Error.
func (k *Key) PublicKey() ([]byte, error) {
	if k.spki == nil {
		return nil, &Error{Code: CodeInvalidKeyUsage, Message: fmt.Sprintf("Key spec %s has no public key.", k.spec)}
	}
	return append([]byte(nil), k.spki...), nil
}

func pkixAlg(oid asn1.ObjectIdentifier) pkix.AlgorithmIdentifier {
	return pkix.AlgorithmIdentifier{Algorithm: oid}
}
