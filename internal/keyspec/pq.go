package keyspec

import (
	"crypto/mlkem"
	"encoding/asn1"
	"errors"
	"io"

	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
)

// mldsaParams binds one ML-DSA parameter set of circl.
type mldsaParams struct {
	oid    asn1.ObjectIdentifier
	scheme sign.Scheme
	// sign makes a hedged (randomized) pure ML-DSA signature with an empty
	// context string, FIPS 204 Algorithm 2.
	sign func(sk sign.PrivateKey, msg []byte) ([]byte, error)
}

var (
	paramsMLDSA44 = &mldsaParams{oid: oidMLDSA44, scheme: mldsa44.Scheme(), sign: func(sk sign.PrivateKey, msg []byte) ([]byte, error) {
		sig := make([]byte, mldsa44.SignatureSize)
		return sig, mldsa44.SignTo(sk.(*mldsa44.PrivateKey), msg, nil, true, sig)
	}}
	paramsMLDSA65 = &mldsaParams{oid: oidMLDSA65, scheme: mldsa65.Scheme(), sign: func(sk sign.PrivateKey, msg []byte) ([]byte, error) {
		sig := make([]byte, mldsa65.SignatureSize)
		return sig, mldsa65.SignTo(sk.(*mldsa65.PrivateKey), msg, nil, true, sig)
	}}
	paramsMLDSA87 = &mldsaParams{oid: oidMLDSA87, scheme: mldsa87.Scheme(), sign: func(sk sign.PrivateKey, msg []byte) ([]byte, error) {
		sig := make([]byte, mldsa87.SignatureSize)
		return sig, mldsa87.SignTo(sk.(*mldsa87.PrivateKey), msg, nil, true, sig)
	}}
)

// mlkemSeedSize is the size of the ML-KEM seed d‖z (FIPS 203), the same for
// every parameter set.
const mlkemSeedSize = 64

type mlkemEncapsulator interface {
	bytes() []byte
	encapsulate(rand io.Reader) (ciphertext, sharedSecret []byte, err error)
}

type mlkemDecapsulator interface {
	encapsulator() mlkemEncapsulator
	decapsulate(ciphertext []byte) ([]byte, error)
}

// mlkemParams binds one ML-KEM parameter set: the standard library for
// ML-KEM-768 and ML-KEM-1024, circl for ML-KEM-512.
type mlkemParams struct {
	oid       asn1.ObjectIdentifier
	newKey    func(seed []byte) (mlkemDecapsulator, error)
	newPublic func(ek []byte) (mlkemEncapsulator, error)
}

var (
	paramsMLKEM512 = &mlkemParams{
		oid: oidMLKEM512,
		newKey: func(seed []byte) (mlkemDecapsulator, error) {
			if len(seed) != mlkem512.KeySeedSize {
				return nil, errors.New("ML-KEM seed must be 64 bytes")
			}
			pk, sk := mlkem512.NewKeyFromSeed(seed)
			return kem512Priv{sk: sk, pub: kem512Pub{pk}}, nil
		},
		newPublic: func(ek []byte) (mlkemEncapsulator, error) {
			if len(ek) != mlkem512.PublicKeySize {
				return nil, errors.New("ML-KEM-512 encapsulation key has the wrong length")
			}
			var pk mlkem512.PublicKey
			if err := pk.Unpack(ek); err != nil {
				return nil, err
			}
			return kem512Pub{&pk}, nil
		},
	}
	paramsMLKEM768 = &mlkemParams{
		oid: oidMLKEM768,
		newKey: func(seed []byte) (mlkemDecapsulator, error) {
			dk, err := mlkem.NewDecapsulationKey768(seed)
			if err != nil {
				return nil, err
			}
			return kem768Priv{dk}, nil
		},
		newPublic: func(ek []byte) (mlkemEncapsulator, error) {
			k, err := mlkem.NewEncapsulationKey768(ek)
			if err != nil {
				return nil, err
			}
			return kem768Pub{k}, nil
		},
	}
	paramsMLKEM1024 = &mlkemParams{
		oid: oidMLKEM1024,
		newKey: func(seed []byte) (mlkemDecapsulator, error) {
			dk, err := mlkem.NewDecapsulationKey1024(seed)
			if err != nil {
				return nil, err
			}
			return kem1024Priv{dk}, nil
		},
		newPublic: func(ek []byte) (mlkemEncapsulator, error) {
			k, err := mlkem.NewEncapsulationKey1024(ek)
			if err != nil {
				return nil, err
			}
			return kem1024Pub{k}, nil
		},
	}
)

type kem512Pub struct{ pk *mlkem512.PublicKey }

func (k kem512Pub) bytes() []byte {
	b := make([]byte, mlkem512.PublicKeySize)
	k.pk.Pack(b)
	return b
}

func (k kem512Pub) encapsulate(rand io.Reader) ([]byte, []byte, error) {
	seed := make([]byte, mlkem512.EncapsulationSeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, nil, err
	}
	ct := make([]byte, mlkem512.CiphertextSize)
	ss := make([]byte, mlkem512.SharedKeySize)
	k.pk.EncapsulateTo(ct, ss, seed)
	return ct, ss, nil
}

type kem512Priv struct {
	sk  *mlkem512.PrivateKey
	pub kem512Pub
}

func (k kem512Priv) encapsulator() mlkemEncapsulator { return k.pub }

func (k kem512Priv) decapsulate(ct []byte) ([]byte, error) {
	if len(ct) != mlkem512.CiphertextSize {
		return nil, errors.New("ML-KEM-512 ciphertext has the wrong length")
	}
	ss := make([]byte, mlkem512.SharedKeySize)
	k.sk.DecapsulateTo(ss, ct)
	return ss, nil
}

// The standard library draws the encapsulation randomness itself.

type kem768Pub struct{ ek *mlkem.EncapsulationKey768 }

func (k kem768Pub) bytes() []byte { return k.ek.Bytes() }

func (k kem768Pub) encapsulate(io.Reader) ([]byte, []byte, error) {
	ss, ct := k.ek.Encapsulate()
	return ct, ss, nil
}

type kem768Priv struct{ dk *mlkem.DecapsulationKey768 }

func (k kem768Priv) encapsulator() mlkemEncapsulator { return kem768Pub{k.dk.EncapsulationKey()} }

func (k kem768Priv) decapsulate(ct []byte) ([]byte, error) { return k.dk.Decapsulate(ct) }

type kem1024Pub struct{ ek *mlkem.EncapsulationKey1024 }

func (k kem1024Pub) bytes() []byte { return k.ek.Bytes() }

func (k kem1024Pub) encapsulate(io.Reader) ([]byte, []byte, error) {
	ss, ct := k.ek.Encapsulate()
	return ct, ss, nil
}

type kem1024Priv struct{ dk *mlkem.DecapsulationKey1024 }

func (k kem1024Priv) encapsulator() mlkemEncapsulator { return kem1024Pub{k.dk.EncapsulationKey()} }

func (k kem1024Priv) decapsulate(ct []byte) ([]byte, error) { return k.dk.Decapsulate(ct) }
