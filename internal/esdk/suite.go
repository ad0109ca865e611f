package esdk

import (
	"crypto"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// Suite is an algorithm suite of the AWS Encryption SDK: the data
// encryption algorithm (always AES-GCM with a 12-byte IV and a 16-byte tag),
// how the data key becomes the encryption key, and whether messages are
// signed and commit to their key. The values follow the "Algorithms
// reference" of the AWS Encryption SDK Developer Guide
// (https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/algorithms-reference.html)
// and framework/algorithm-suites.md of awslabs/aws-encryption-sdk-specification.
type Suite struct {
	ID      uint16
	Name    string
	Version byte // message format version: 1, or 2 for committing suites
	KeyLen  int  // data key and encryption key length in bytes
	// KDF is the HKDF hash, or nil for the identity KDF (the data key is
	// the encryption key).
	KDF func() hash.Hash
	// Curve is the ECDSA curve of the signature, or nil for unsigned suites;
	// SigHash hashes the message for it.
	Curve   elliptic.Curve
	SigHash crypto.Hash
	Commit  bool // key commitment: HKDF-SHA512 commit key in the header (format version 2)
}

// Signed reports whether messages of the suite carry an ECDSA signature.
func (s *Suite) Signed() bool { return s.Curve != nil }

// String returns the suite's name and id, e.g.
// "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 (0x0578)".
func (s *Suite) String() string { return fmt.Sprintf("%s (0x%04x)", s.Name, s.ID) }

// The algorithm suites of the AWS Encryption SDK, by id.
const (
	AES128GCMIV12Tag16            uint16 = 0x0014
	AES192GCMIV12Tag16            uint16 = 0x0046
	AES256GCMIV12Tag16            uint16 = 0x0078
	AES128GCMHKDFSHA256           uint16 = 0x0114
	AES192GCMHKDFSHA256           uint16 = 0x0146
	AES256GCMHKDFSHA256           uint16 = 0x0178
	AES128GCMHKDFSHA256ECDSAP256  uint16 = 0x0214
	AES192GCMHKDFSHA384ECDSAP384  uint16 = 0x0346
	AES256GCMHKDFSHA384ECDSAP384  uint16 = 0x0378
	AES256GCMHKDFSHA512Commit     uint16 = 0x0478
	AES256GCMHKDFSHA512CommitP384 uint16 = 0x0578
	DefaultSuite                         = AES256GCMHKDFSHA512CommitP384
)

var suites = []*Suite{
	{ID: 0x0014, Name: "AES_128_GCM_IV12_TAG16", Version: 1, KeyLen: 16},
	{ID: 0x0046, Name: "AES_192_GCM_IV12_TAG16", Version: 1, KeyLen: 24},
	{ID: 0x0078, Name: "AES_256_GCM_IV12_TAG16", Version: 1, KeyLen: 32},
	{ID: 0x0114, Name: "AES_128_GCM_IV12_TAG16_HKDF_SHA256", Version: 1, KeyLen: 16, KDF: sha256.New},
	{ID: 0x0146, Name: "AES_192_GCM_IV12_TAG16_HKDF_SHA256", Version: 1, KeyLen: 24, KDF: sha256.New},
	{ID: 0x0178, Name: "AES_256_GCM_IV12_TAG16_HKDF_SHA256", Version: 1, KeyLen: 32, KDF: sha256.New},
	{ID: 0x0214, Name: "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256", Version: 1, KeyLen: 16, KDF: sha256.New, Curve: elliptic.P256(), SigHash: crypto.SHA256},
	{ID: 0x0346, Name: "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", Version: 1, KeyLen: 24, KDF: sha512.New384, Curve: elliptic.P384(), SigHash: crypto.SHA384},
	{ID: 0x0378, Name: "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", Version: 1, KeyLen: 32, KDF: sha512.New384, Curve: elliptic.P384(), SigHash: crypto.SHA384},
	{ID: 0x0478, Name: "AES_256_GCM_HKDF_SHA512_COMMIT_KEY", Version: 2, KeyLen: 32, KDF: sha512.New, Commit: true},
	{ID: 0x0578, Name: "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", Version: 2, KeyLen: 32, KDF: sha512.New, Curve: elliptic.P384(), SigHash: crypto.SHA384, Commit: true},
}

// Suites returns every algorithm suite, in increasing id order.
func Suites() []*Suite { return append([]*Suite(nil), suites...) }

// SuiteByID returns the suite with the id, or nil.
func SuiteByID(id uint16) *Suite {
	for _, s := range suites {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// ParseSuite accepts a suite's name (as the SDKs spell it, with or without
// the "ALG_" prefix and "_IV12_TAG16" part, any case) or its id in hex
// ("0x0578", "0578").
func ParseSuite(s string) (*Suite, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if h := strings.TrimPrefix(u, "0X"); len(h) == 4 {
		if id, err := strconv.ParseUint(h, 16, 16); err == nil {
			if st := SuiteByID(uint16(id)); st != nil {
				return st, nil
			}
		}
	}
	u = strings.TrimPrefix(u, "ALG_")
	for _, st := range suites {
		if u == st.Name || u == strings.Replace(st.Name, "_IV12_TAG16", "", 1) {
			return st, nil
		}
	}
	return nil, fmt.Errorf("unknown algorithm suite %q", s)
}

// CommitmentPolicy decides which suites may encrypt and decrypt
// (client-apis/client.md of the specification).
type CommitmentPolicy int

const (
	// RequireEncryptRequireDecrypt encrypts and decrypts only with
	// committing suites. It is the default.
	RequireEncryptRequireDecrypt CommitmentPolicy = iota
	// RequireEncryptAllowDecrypt encrypts with committing suites and
	// decrypts messages of any suite.
	RequireEncryptAllowDecrypt
	// ForbidEncryptAllowDecrypt encrypts only with non-committing suites
	// (message format version 1, readable by old SDKs) and decrypts any.
	ForbidEncryptAllowDecrypt
)

var policyNames = []string{"require-encrypt-require-decrypt", "require-encrypt-allow-decrypt", "forbid-encrypt-allow-decrypt"}

func (p CommitmentPolicy) String() string {
	if p < 0 || int(p) >= len(policyNames) {
		return "CommitmentPolicy(" + strconv.Itoa(int(p)) + ")"
	}
	return policyNames[p]
}

// ParseCommitmentPolicy accepts the names above, with dashes or
// underscores, any case.
func ParseCommitmentPolicy(s string) (CommitmentPolicy, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
	for i, name := range policyNames {
		if n == name {
			return CommitmentPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("unknown commitment policy %q (want one of %s)", s, strings.Join(policyNames, ", "))
}

// canEncrypt reports whether the policy lets s encrypt.
func (p CommitmentPolicy) canEncrypt(s *Suite) bool {
	if p == ForbidEncryptAllowDecrypt {
		return !s.Commit
	}
	return s.Commit
}

// canDecrypt reports whether the policy lets s decrypt.
func (p CommitmentPolicy) canDecrypt(s *Suite) bool {
	return p != RequireEncryptRequireDecrypt || s.Commit
}
