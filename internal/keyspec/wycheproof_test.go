package keyspec_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/keyspec"
)

// Project Wycheproof vectors (testdata/wycheproof, Apache 2.0). Every file in
// that folder must be claimed by one runner below, and the loader rejects
// fields it does not know, so a changed schema fails loudly.

type wpFile struct {
	Algorithm     string                     `json:"algorithm"`
	Schema        string                     `json:"schema"`
	NumberOfTests int                        `json:"numberOfTests"`
	Header        []string                   `json:"header"`
	Notes         map[string]json.RawMessage `json:"notes"`
	TestGroups    []wpGroup                  `json:"testGroups"`
}

type wpGroup struct {
	Type            string          `json:"type"`
	Source          json.RawMessage `json:"source"`
	KeySize         int             `json:"keySize"`
	TagSize         int             `json:"tagSize"`
	Sha             string          `json:"sha"`
	Mgf             string          `json:"mgf"`
	MgfSha          string          `json:"mgfSha"`
	SLen            int             `json:"sLen"`
	Curve           string          `json:"curve"`
	Encoding        string          `json:"encoding"`
	PublicKey       json.RawMessage `json:"publicKey"` // object, or hex for ML-DSA
	PublicKeyDer    hexBytes        `json:"publicKeyDer"`
	PublicKeyAsn    hexBytes        `json:"publicKeyAsn"`
	PublicKeyPem    string          `json:"publicKeyPem"`
	PublicKeyJwk    json.RawMessage `json:"publicKeyJwk"`
	KeyJwk          json.RawMessage `json:"keyJwk"`
	PrivateKey      json.RawMessage `json:"privateKey"`
	PrivateKeyJwk   json.RawMessage `json:"privateKeyJwk"`
	PrivateKeyPem   string          `json:"privateKeyPem"`
	PrivateKeyPkcs8 hexBytes        `json:"privateKeyPkcs8"`
	Tests           []wpTest        `json:"tests"`
}

type wpTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"` // valid, invalid or acceptable
	Msg     hexBytes `json:"msg"`
	Sig     hexBytes `json:"sig"`
	Ct      hexBytes `json:"ct"`
	Label   hexBytes `json:"label"`
	Key     hexBytes `json:"key"`
	Tag     hexBytes `json:"tag"`
	Public  hexBytes `json:"public"`
	Private hexBytes `json:"private"`
	Shared  hexBytes `json:"shared"`
	Ctx     hexBytes `json:"ctx"`
}

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

func loadWycheproof(t *testing.T, name string) *wpFile {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "wycheproof", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var v wpFile
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	n := 0
	for _, g := range v.TestGroups {
		n += len(g.Tests)
	}
	if n != v.NumberOfTests || n == 0 {
		t.Fatalf("%s: %d tests, header says %d", name, n, v.NumberOfTests)
	}
	return &v
}

// tally counts outcomes; each runner logs it so a run shows what was covered.
type tally struct{ valid, invalid, acceptable, skipped int }

func (c *tally) count(result string) {
	switch result {
	case "valid":
		c.valid++
	case "invalid":
		c.invalid++
	case "acceptable":
		c.acceptable++
	}
}

func (c tally) String() string {
	return fmt.Sprintf("%d valid, %d invalid, %d acceptable, %d skipped", c.valid, c.invalid, c.acceptable, c.skipped)
}

func tcName(name string, tc wpTest) string {
	return fmt.Sprintf("%s tc %d (%s %v %q)", name, tc.TcID, tc.Result, tc.Flags, tc.Comment)
}

var wycheproofRunners = map[string]func(*testing.T, string){}

func init() {
	for _, f := range []string{
		"rsa_oaep_2048_sha1_mgf1sha1_test.json", "rsa_oaep_2048_sha256_mgf1sha256_test.json",
		"rsa_oaep_3072_sha256_mgf1sha256_test.json", "rsa_oaep_4096_sha256_mgf1sha256_test.json",
	} {
		wycheproofRunners[f] = runOAEP
	}
	for _, f := range []string{
		"rsa_pss_2048_sha256_mgf1_32_test.json", "rsa_pss_2048_sha384_mgf1_48_test.json",
		"rsa_pss_3072_sha256_mgf1_32_test.json", "rsa_pss_4096_sha256_mgf1_32_test.json",
		"rsa_pss_4096_sha384_mgf1_48_test.json", "rsa_pss_4096_sha512_mgf1_64_test.json",
	} {
		wycheproofRunners[f] = runRSASignature
	}
	for _, bits := range []string{"2048", "3072", "4096"} {
		for _, sha := range []string{"256", "384", "512"} {
			wycheproofRunners["rsa_signature_"+bits+"_sha"+sha+"_test.json"] = runRSASignature
		}
	}
	for _, f := range []string{
		"ecdsa_secp256r1_sha256_test.json", "ecdsa_secp384r1_sha384_test.json",
		"ecdsa_secp521r1_sha512_test.json", "ecdsa_secp256k1_sha256_test.json",
	} {
		wycheproofRunners[f] = runECDSA
	}
	wycheproofRunners["ed25519_test.json"] = runEd25519
	for _, sha := range []string{"224", "256", "384", "512"} {
		wycheproofRunners["hmac_sha"+sha+"_test.json"] = runHMAC
	}
	for _, c := range []string{"256r1", "384r1", "521r1"} {
		wycheproofRunners["ecdh_secp"+c+"_test.json"] = runECDH
	}
	for _, n := range []string{"44", "65", "87"} {
		wycheproofRunners["mldsa_"+n+"_verify_test.json"] = runMLDSA
	}
}

func TestWycheproof(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "wycheproof", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		run, ok := wycheproofRunners[name]
		if !ok {
			t.Errorf("%s: no runner claims this file", name)
			continue
		}
		seen[name] = true
		t.Run(strings.TrimSuffix(name, "_test.json"), func(t *testing.T) { run(t, name) })
	}
	for name := range wycheproofRunners {
		if !seen[name] {
			t.Errorf("%s: vector file missing from testdata/wycheproof", name)
		}
	}
}

var shaSuffix = map[string]string{"SHA-1": "SHA_1", "SHA-256": "SHA_256", "SHA-384": "SHA_384", "SHA-512": "SHA_512"}

// runOAEP decrypts RSAES-OAEP ciphertexts with the key parsed from PKCS #8.
// AWS KMS uses an empty label, so ciphertexts made with a label must fail.
func runOAEP(t *testing.T, name string) {
	v := loadWycheproof(t, name)
	var c tally
	for _, g := range v.TestGroups {
		if g.Mgf != "MGF1" || g.MgfSha != g.Sha {
			t.Fatalf("%s: unexpected MGF %s/%s", name, g.Mgf, g.MgfSha)
		}
		spec := fmt.Sprintf("RSA_%d", g.KeySize)
		alg := "RSAES_OAEP_" + shaSuffix[g.Sha]
		k, err := keyspec.Parse(spec, g.PrivateKeyPkcs8)
		if err != nil {
			t.Fatalf("%s: Parse: %v", name, err)
		}
		for _, tc := range g.Tests {
			c.count(tc.Result)
			pt, err := k.Decrypt(alg, tc.Ct)
			switch {
			case tc.Result == "valid" && len(tc.Label) == 0:
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("%s: Decrypt = %v", tcName(name, tc), err)
				}
			case tc.Result == "acceptable":
				t.Errorf("%s: no acceptable OAEP cases expected", tcName(name, tc))
			default: // invalid, or valid only with a label KMS never uses
				if !errors.Is(err, keyspec.ErrDecrypt) {
					t.Errorf("%s: Decrypt = %v, want ErrDecrypt", tcName(name, tc), err)
				}
			}
		}
	}
	t.Log(c)
}

// runRSASignature verifies RSASSA-PSS (salt length = hash length, the only
// one AWS uses) and RSASSA-PKCS1-v1_5 signatures through ParsePublicKey.
// Acceptable PKCS #1 v1.5 cases (MissingNull: DigestInfo without the NULL
// parameters) are rejected, as crypto/rsa does.
func runRSASignature(t *testing.T, name string) {
	v := loadWycheproof(t, name)
	var c tally
	for _, g := range v.TestGroups {
		var alg string
		switch g.Type {
		case "RsassaPssVerify":
			if g.MgfSha != g.Sha || g.SLen*8 != map[string]int{"SHA-256": 256, "SHA-384": 384, "SHA-512": 512}[g.Sha] {
				t.Fatalf("%s: PSS parameters %s/%d are not AWS's", name, g.MgfSha, g.SLen)
			}
			alg = "RSASSA_PSS_" + shaSuffix[g.Sha]
		case "RsassaPkcs1Verify":
			alg = "RSASSA_PKCS1_V1_5_" + shaSuffix[g.Sha]
		default:
			t.Fatalf("%s: group type %s", name, g.Type)
		}
		spec := fmt.Sprintf("RSA_%d", g.KeySize)
		if _, ok := keyspec.Lookup(spec); !ok {
			c.skipped += len(g.Tests) // no KMS key spec of this size
			continue
		}
		k, err := keyspec.ParsePublicKey(spec, g.PublicKeyDer)
		if err != nil {
			t.Fatalf("%s: ParsePublicKey: %v", name, err)
		}
		for _, tc := range g.Tests {
			c.count(tc.Result)
			err := k.Verify(alg, "RAW", tc.Msg, tc.Sig)
			if tc.Result == "valid" {
				if err != nil {
					t.Errorf("%s: Verify = %v", tcName(name, tc), err)
				}
			} else if !errors.Is(err, keyspec.ErrInvalidSignature) {
				t.Errorf("%s: Verify = %v, want ErrInvalidSignature", tcName(name, tc), err)
			}
		}
	}
	t.Log(c)
}

var curveSpec = map[string]string{
	"secp256r1": "ECC_NIST_P256", "secp384r1": "ECC_NIST_P384", "secp521r1": "ECC_NIST_P521", "secp256k1": "ECC_SECG_P256K1",
}

// runECDSA verifies DER ECDSA signatures through ParsePublicKey.
func runECDSA(t *testing.T, name string) {
	v := loadWycheproof(t, name)
	var c tally
	for _, g := range v.TestGroups {
		var pk struct {
			Curve string `json:"curve"`
		}
		if err := json.Unmarshal(g.PublicKey, &pk); err != nil {
			t.Fatal(err)
		}
		spec := curveSpec[pk.Curve]
		alg := "ECDSA_" + shaSuffix[g.Sha]
		k, err := keyspec.ParsePublicKey(spec, g.PublicKeyDer)
		if err != nil {
			t.Fatalf("%s: ParsePublicKey(%s): %v", name, spec, err)
		}
		for _, tc := range g.Tests {
			c.count(tc.Result)
			err := k.Verify(alg, "RAW", tc.Msg, tc.Sig)
			if tc.Result == "valid" {
				if err != nil {
					t.Errorf("%s: Verify = %v", tcName(name, tc), err)
				}
			} else if !errors.Is(err, keyspec.ErrInvalidSignature) {
				t.Errorf("%s: Verify = %v, want ErrInvalidSignature", tcName(name, tc), err)
			}
		}
	}
	t.Log(c)
}

func runEd25519(t *testing.T, name string) {
	v := loadWycheproof(t, name)
	var c tally
	for _, g := range v.TestGroups {
		k, err := keyspec.ParsePublicKey("ECC_NIST_EDWARDS25519", g.PublicKeyDer)
		if err != nil {
			t.Fatalf("%s: ParsePublicKey: %v", name, err)
		}
		for _, tc := range g.Tests {
			c.count(tc.Result)
			err := k.Verify("ED25519_SHA_512", "RAW", tc.Msg, tc.Sig)
			if tc.Result == "valid" {
				if err != nil {
					t.Errorf("%s: Verify = %v", tcName(name, tc), err)
				}
			} else if !errors.Is(err, keyspec.ErrInvalidSignature) {
				t.Errorf("%s: Verify = %v, want ErrInvalidSignature", tcName(name, tc), err)
			}
		}
	}
	t.Log(c)
}

// runHMAC checks MAC and VerifyMAC. KMS MACs are never truncated, so a
// truncated tag must fail VerifyMAC even where Wycheproof calls it valid;
// keys outside the lengths KMS accepts must fail Parse.
func runHMAC(t *testing.T, name string) {
	v := loadWycheproof(t, name)
	bits := strings.TrimSuffix(strings.TrimPrefix(name, "hmac_sha"), "_test.json")
	spec, alg := "HMAC_"+bits, "HMAC_SHA_"+bits
	full := map[string]int{"224": 224, "256": 256, "384": 384, "512": 512}[bits]
	var c tally
	for _, g := range v.TestGroups {
		for _, tc := range g.Tests {
			c.count(tc.Result)
			k, err := keyspec.Parse(spec, tc.Key)
			min, max := full/8, 64
			if full > 256 {
				max = 128
			}
			if len(tc.Key) < min || len(tc.Key) > max {
				if err == nil {
					t.Errorf("%s: Parse accepted a %d-byte key", tcName(name, tc), len(tc.Key))
				}
				c.skipped++
				continue
			}
			if err != nil {
				t.Fatalf("%s: Parse: %v", tcName(name, tc), err)
			}
			mac, err := k.MAC(alg, tc.Msg)
			if err != nil {
				t.Fatal(err)
			}
			verr := k.VerifyMAC(alg, tc.Msg, tc.Tag)
			switch {
			case tc.Result == "valid" && g.TagSize == full:
				if verr != nil || !bytes.Equal(mac, tc.Tag) {
					t.Errorf("%s: VerifyMAC = %v", tcName(name, tc), verr)
				}
			case tc.Result == "valid":
				if !bytes.Equal(mac[:g.TagSize/8], tc.Tag) {
					t.Errorf("%s: MAC prefix differs", tcName(name, tc))
				}
				if !errors.Is(verr, keyspec.ErrInvalidMAC) {
					t.Errorf("%s: VerifyMAC(truncated tag) = %v, want ErrInvalidMAC", tcName(name, tc), verr)
				}
			default:
				if !errors.Is(verr, keyspec.ErrInvalidMAC) {
					t.Errorf("%s: VerifyMAC = %v, want ErrInvalidMAC", tcName(name, tc), verr)
				}
			}
		}
	}
	t.Log(c)
}

// runECDH derives shared secrets from DER SubjectPublicKeyInfo peer keys,
// the form DeriveSharedSecret takes. Our choice for every "acceptable" case
// (compressed points, unnamed or modified curve parameters, unused
// parameters, non-DER ASN.1) is to reject it: crypto/x509 accepts only named
// curves and uncompressed points.
func runECDH(t *testing.T, name string) {
	v := loadWycheproof(t, name)
	var c tally
	for _, g := range v.TestGroups {
		if g.Encoding != "asn" {
			t.Fatalf("%s: encoding %s", name, g.Encoding)
		}
		spec := curveSpec[g.Curve]
		curve := map[string]ecdh.Curve{"ECC_NIST_P256": ecdh.P256(), "ECC_NIST_P384": ecdh.P384(), "ECC_NIST_P521": ecdh.P521()}[spec]
		size := map[string]int{"ECC_NIST_P256": 32, "ECC_NIST_P384": 48, "ECC_NIST_P521": 66}[spec]
		for _, tc := range g.Tests {
			c.count(tc.Result)
			k := ecdhKey(t, spec, curve, size, tc.Private)
			secret, err := k.DeriveSharedSecret("ECDH", tc.Public)
			if tc.Result == "valid" {
				if err != nil || !bytes.Equal(secret, tc.Shared) {
					t.Errorf("%s: DeriveSharedSecret = %v", tcName(name, tc), err)
				}
				continue
			}
			var e *keyspec.Error
			if !errors.As(err, &e) || e.Code != "ValidationException" {
				t.Errorf("%s: DeriveSharedSecret = %x, %v; want ValidationException", tcName(name, tc), secret, err)
			}
		}
	}
	t.Log(c)
}

func ecdhKey(t *testing.T, spec string, curve ecdh.Curve, size int, scalar []byte) *keyspec.Key {
	t.Helper()
	scalar = bytes.TrimLeft(scalar, "\x00")
	if len(scalar) > size {
		t.Fatalf("private scalar of %d bytes", len(scalar))
	}
	padded := make([]byte, size)
	copy(padded[size-len(scalar):], scalar)
	priv, err := curve.NewPrivateKey(padded)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyspec.Parse(spec, der)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// runMLDSA verifies pure ML-DSA signatures through ParsePublicKey. KMS signs
// with an empty context string, so a signature made with another context
// must fail; public keys of the wrong length must fail ParsePublicKey.
func runMLDSA(t *testing.T, name string) {
	v := loadWycheproof(t, name)
	spec := "ML_DSA_" + strings.TrimSuffix(strings.TrimPrefix(name, "mldsa_"), "_verify_test.json")
	var c tally
	for _, g := range v.TestGroups {
		k, err := keyspec.ParsePublicKey(spec, g.PublicKeyDer)
		if err != nil {
			for _, tc := range g.Tests {
				c.count(tc.Result)
				if tc.Result != "invalid" {
					t.Errorf("%s: ParsePublicKey: %v", tcName(name, tc), err)
				}
			}
			continue
		}
		for _, tc := range g.Tests {
			c.count(tc.Result)
			err := k.Verify("ML_DSA_SHAKE_256", "RAW", tc.Msg, tc.Sig)
			if tc.Result == "valid" && len(tc.Ctx) == 0 {
				if err != nil {
					t.Errorf("%s: Verify = %v", tcName(name, tc), err)
				}
			} else if !errors.Is(err, keyspec.ErrInvalidSignature) {
				t.Errorf("%s: Verify = %v, want ErrInvalidSignature", tcName(name, tc), err)
			}
		}
	}
	t.Log(c)
}
