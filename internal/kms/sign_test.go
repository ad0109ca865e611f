package kms_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/wire"
)

// signCase is a key spec with the algorithm Sign uses in the benchmarks.
type signCase struct {
	spec, alg string
}

var signCases = []signCase{{"ECC_NIST_P256", "ECDSA_SHA_256"}, {"RSA_2048", "RSASSA_PSS_SHA_256"}}

// newSigner creates a SIGN_VERIFY key of spec and signs once with it, so
// it is cached; it returns the request to repeat.
func newSigner(t testing.TB, svc *kms.Service, c signCase) *wire.SignRequest {
	t.Helper()
	ctx := context.Background()
	ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{KeySpec: &c.spec, KeyUsage: wire.Ptr("SIGN_VERIFY")})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("message"))
	in := &wire.SignRequest{KeyId: ck.KeyMetadata.KeyId, Message: digest[:], MessageType: wire.Ptr("DIGEST"), SigningAlgorithm: &c.alg}
	if _, err := svc.Sign(ctx, testCaller, in); err != nil {
		t.Fatal(err)
	}
	return in
}

// TestSignUsesCachedKey checks that Sign neither reads the key from the
// store nor unseals or parses its private key per request: after the
// first use, 20 signatures cost no store read and no root key Open, so
// the parsed key the engine keeps is reused. The signatures verify with
// the key's public key through crypto/ecdsa and crypto/rsa.
func TestSignUsesCachedKey(t *testing.T) {
	ctx := context.Background()
	svc, g := newService(t, kms.Config{})
	for _, c := range signCases {
		in := newSigner(t, svc, c)
		pub, err := svc.GetPublicKey(ctx, testCaller, &wire.GetPublicKeyRequest{KeyId: in.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		pk, err := x509.ParsePKIXPublicKey(pub.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		reads, opens := g.getKeys.Load(), g.opens.Load()
		for range 20 {
			out, err := svc.Sign(ctx, testCaller, in)
			if err != nil {
				t.Fatal(err)
			}
			switch k := pk.(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(k, in.Message, out.Signature) {
					t.Fatalf("%s: signature does not verify", c.spec)
				}
			case *rsa.PublicKey:
				if err := rsa.VerifyPSS(k, crypto.SHA256, in.Message, out.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
					t.Fatalf("%s: %v", c.spec, err)
				}
			}
		}
		if r, o := g.getKeys.Load()-reads, g.opens.Load()-opens; r != 0 || o != 0 {
			t.Errorf("%s: 20 Sign requests read the key %d times and unsealed %d times, want 0: the parsed key is not reused", c.spec, r, o)
		}
	}
}

// TestSignAllocations checks that a Sign request through the service
// allocates at most ten objects more than Go's signing does by
// itself (authorization, the response, the key usage record): parsing
// or copying a private key per request would add far more (an RSA-2048
// key is a dozen big integers with their precomputed values).
func TestSignAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA signing is slow")
	}
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{})
	for _, c := range signCases {
		in := newSigner(t, svc, c)
		sign := goSigner(t, c)
		direct := testing.AllocsPerRun(20, func() { sign() })
		viaKMS := testing.AllocsPerRun(20, func() {
			if _, err := svc.Sign(ctx, testCaller, in); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s: %.0f allocations through the service, %.0f in Go's signing alone", c.spec, viaKMS, direct)
		if viaKMS > direct+10 {
			t.Errorf("%s: Sign allocates %.0f objects, Go's signing %.0f: %.0f more than the request's own work", c.spec, viaKMS, direct, viaKMS-direct)
		}
	}
}

// goSigner returns a function that signs a SHA-256 digest the way Sign
// does for c, with crypto/ecdsa or crypto/rsa directly and a fresh key.
func goSigner(t testing.TB, c signCase) func() []byte {
	digest := sha256.Sum256([]byte("message"))
	switch c.spec {
	case "ECC_NIST_P256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return func() []byte {
			sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
	default:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return func() []byte {
			sig, err := rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
	}
}

// BenchmarkSign compares Sign through the service (authorization, key
// lookup, signing, key usage; no HTTP) with Go's signing alone, for
// ECC_NIST_P256 and RSA_2048 (RSASSA_PSS_SHA_256), and Encrypt through
// the service for reference. The targets: ECC Sign costs at most
// an Encrypt plus Go's ECDSA signing; RSA Sign at most 1.1x Go's RSA
// signing. Results are in docs/performance.md.
func BenchmarkSign(b *testing.B) {
	ctx := context.Background()
	svc, _ := newService(b, kms.Config{})
	for _, c := range signCases {
		in := newSigner(b, svc, c)
		b.Run("kms/"+c.spec, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.Sign(ctx, testCaller, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		sign := goSigner(b, c)
		b.Run("go/"+c.spec, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sign()
			}
		})
	}
	ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
	if err != nil {
		b.Fatal(err)
	}
	enc := &wire.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: make([]byte, 32)}
	b.Run("kms/Encrypt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.Encrypt(ctx, testCaller, enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
