package keyspec_test

import (
	"bytes"
	"crypto/rand"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/trent-kms/trent/internal/keyspec"
)

// TestOpenSSLVerify verifies signatures made by Sign with the openssl CLI
// and nothing but the PEM form of PublicKey, as the "Offline verification"
// steps of the AWS KMS Developer Guide do. It skips when openssl is absent.
func TestOpenSSLVerify(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not found in PATH; skipping the openssl interoperability check")
	}
	msg := []byte("verified by openssl")
	tests := []struct {
		name, spec, alg string
		args            []string
	}{
		{"ecdsa-p256", "ECC_NIST_P256", "ECDSA_SHA_256", []string{"-sha256"}},
		{"ecdsa-p384", "ECC_NIST_P384", "ECDSA_SHA_384", []string{"-sha384"}},
		{"rsa-pkcs1", "RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", []string{"-sha256"}},
		{"rsa-pss", "RSA_2048", "RSASSA_PSS_SHA_512", []string{"-sha512", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:64"}},
		{"ed25519", "ECC_NIST_EDWARDS25519", "ED25519_SHA_512", nil},
		// SM2DSA with the default distinguishing ID; the AWS KMS Developer
		// Guide says OpenSSL 3.0 computes Z itself.
		{"sm2", "SM2", "SM2DSA", []string{"-digest", "sm3", "-pkeyopt", "distid:1234567812345678"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testKey(t, tt.spec)
			sig, err := k.Sign(rand.Reader, tt.alg, "RAW", msg)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			pubPath := filepath.Join(dir, "pub.pem")
			sigPath := filepath.Join(dir, "sig.bin")
			msgPath := filepath.Join(dir, "msg.bin")
			pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPublic(t, k)})
			for path, data := range map[string][]byte{pubPath: pubPEM, sigPath: sig, msgPath: msg} {
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var args []string
			if tt.spec == "ECC_NIST_EDWARDS25519" || tt.spec == "SM2" {
				args = append([]string{"pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", msgPath, "-sigfile", sigPath}, tt.args...)
			} else {
				args = append([]string{"dgst"}, tt.args...)
				args = append(args, "-verify", pubPath, "-signature", sigPath, msgPath)
			}
			if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
			// A changed message must fail, so the check above can fail.
			if err := os.WriteFile(msgPath, append(msg, '!'), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(openssl, args...).CombinedOutput(); err == nil {
				t.Fatalf("openssl verified a changed message:\n%s", out)
			}
		})
	}
}

// TestOpenSSLEncrypt encrypts with the openssl CLI and the PEM public key,
// then decrypts with Decrypt: RSAES-OAEP with SHA-256 for hash and MGF1,
// and SM2PKE, whose OpenSSL ciphertext is the ASN.1 C1C3C2 form AWS expects.
func TestOpenSSLEncrypt(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not found in PATH; skipping the openssl interoperability check")
	}
	pt := []byte("encrypted by openssl")
	for _, tt := range []struct {
		name, spec, alg string
		opts            []string
	}{
		{"rsa-oaep-sha256", "RSA_3072", "RSAES_OAEP_SHA_256", []string{"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"}},
		{"rsa-oaep-sha1", "RSA_2048", "RSAES_OAEP_SHA_1", []string{"-pkeyopt", "rsa_padding_mode:oaep"}},
		{"sm2pke", "SM2", "SM2PKE", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := testKey(t, tt.spec)
			dir := t.TempDir()
			pubPath, inPath, outPath := filepath.Join(dir, "pub.pem"), filepath.Join(dir, "pt.bin"), filepath.Join(dir, "ct.bin")
			if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPublic(t, k)}), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(inPath, pt, 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"pkeyutl", "-encrypt", "-pubin", "-inkey", pubPath, "-in", inPath, "-out", outPath}, tt.opts...)
			if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
			ct, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.Decrypt(tt.alg, ct)
			if err != nil || string(got) != string(pt) {
				t.Fatalf("Decrypt(openssl ciphertext) = %q, %v", got, err)
			}
		})
	}
}

// TestOpenSSLKeyFormats has openssl parse the PKCS #8 private keys that
// Generate and GenerateDataKeyPair return (hand-built for secp256k1) and
// derive their public keys, which must equal PublicKey byte for byte.
func TestOpenSSLKeyFormats(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not found in PATH; skipping the openssl interoperability check")
	}
	for _, spec := range []string{"ECC_SECG_P256K1", "ECC_NIST_P521", "ECC_NIST_EDWARDS25519", "SM2", "RSA_2048"} {
		t.Run(spec, func(t *testing.T) {
			priv, pub, err := keyspec.GenerateDataKeyPair(spec, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "priv.der")
			if err := os.WriteFile(path, priv, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(openssl, "pkey", "-inform", "DER", "-in", path, "-pubout", "-outform", "DER").Output()
			if err != nil {
				t.Fatalf("openssl pkey rejects the private key: %v", err)
			}
			if !bytes.Equal(out, pub) {
				t.Errorf("openssl derives another public key:\n got %x\nwant %x", out, pub)
			}
		})
	}
}

// TestOpenSSLImport parses private keys that openssl generates, the way the
// AWS KMS Developer Guide prepares asymmetric key material for import
// (openssl genpkey, PKCS #8 DER), and compares the public keys.
func TestOpenSSLImport(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not found in PATH; skipping the openssl interoperability check")
	}
	for _, tt := range []struct {
		spec string
		args []string
	}{
		{"ECC_SECG_P256K1", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"}},
		{"ECC_NIST_P256", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}},
		{"SM2", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2"}},
		{"ECC_NIST_EDWARDS25519", []string{"-algorithm", "ED25519"}},
	} {
		t.Run(tt.spec, func(t *testing.T) {
			dir := t.TempDir()
			pemPath, path := filepath.Join(dir, "priv.pem"), filepath.Join(dir, "priv.der")
			args := append(append([]string{"genpkey"}, tt.args...), "-out", pemPath)
			if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
			// As in the guide: openssl pkcs8 -topk8 -outform der -nocrypt.
			args = []string{"pkcs8", "-topk8", "-in", pemPath, "-outform", "DER", "-nocrypt", "-out", path}
			if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
			der, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			k, err := keyspec.Parse(tt.spec, der)
			if err != nil {
				t.Fatalf("Parse(openssl key): %v", err)
			}
			pub, err := exec.Command(openssl, "pkey", "-inform", "DER", "-in", path, "-pubout", "-outform", "DER").Output()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pub, mustPublic(t, k)) {
				t.Errorf("public keys differ:\nopenssl %x\nours    %x", pub, mustPublic(t, k))
			}
		})
	}
}
