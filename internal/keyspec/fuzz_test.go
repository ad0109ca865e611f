package keyspec_test

import (
	"crypto/rand"
	"testing"

	"github.com/trent-kms/trent/internal/keyspec"
)

// FuzzParse feeds arbitrary material to Parse for every spec: it must
// either fail with a nil Key or return a Key whose public key parses back.
func FuzzParse(f *testing.F) {
	for _, spec := range []string{"ECC_SECG_P256K1", "ECC_NIST_P256", "SM2", "ML_DSA_44", "ML_KEM_512", "HMAC_256", "ECC_NIST_EDWARDS25519"} {
		m, err := keyspec.Generate(spec, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(spec, m)
	}
	f.Fuzz(func(t *testing.T, spec string, material []byte) {
		k, err := keyspec.Parse(spec, material)
		if err != nil {
			if k != nil {
				t.Fatal("error with a non-nil Key")
			}
			return
		}
		pub, err := k.PublicKey()
		if err != nil {
			return // HMAC
		}
		if _, err := keyspec.ParsePublicKey(spec, pub); err != nil {
			t.Fatalf("PublicKey of a parsed %s key does not parse: %v", spec, err)
		}
	})
}

// FuzzDeriveSharedSecret feeds arbitrary peer keys to DeriveSharedSecret
// and ParsePublicKey: no panic, and an error always comes with no result.
func FuzzDeriveSharedSecret(f *testing.F) {
	keys := map[string]*keyspec.Key{}
	for _, spec := range []string{"ECC_NIST_P256", "SM2"} {
		m, _ := keyspec.Generate(spec, rand.Reader)
		k, err := keyspec.Parse(spec, m)
		if err != nil {
			f.Fatal(err)
		}
		keys[spec] = k
		pub, _ := k.PublicKey()
		f.Add(spec == "SM2", pub)
	}
	f.Fuzz(func(t *testing.T, sm2 bool, peer []byte) {
		spec := "ECC_NIST_P256"
		if sm2 {
			spec = "SM2"
		}
		secret, err := keys[spec].DeriveSharedSecret("ECDH", peer)
		if err != nil && secret != nil {
			t.Fatal("error with a result")
		}
		for _, s := range []string{spec, "ECC_SECG_P256K1", "ML_KEM_768", "ML_DSA_65", "RSA_2048"} {
			if k, err := keyspec.ParsePublicKey(s, peer); err != nil && k != nil {
				t.Fatal("error with a non-nil Key")
			}
		}
	})
}
