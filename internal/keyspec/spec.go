package keyspec

import "slices"

// Key usages, as in the KeyUsage field of CreateKey and DescribeKey.
const (
	UsageEncryptDecrypt         = "ENCRYPT_DECRYPT"
	UsageSignVerify             = "SIGN_VERIFY"
	UsageGenerateVerifyMAC      = "GENERATE_VERIFY_MAC"
	UsageKeyAgreement           = "KEY_AGREEMENT"
	UsageEncapsulateDecapsulate = "ENCAPSULATE_DECAPSULATE"
)

// Message types of Sign and Verify. An empty message type means RAW, as on
// the wire.
const (
	MessageRaw        = "RAW"
	MessageDigest     = "DIGEST"
	MessageExternalMu = "EXTERNAL_MU"
)

// Info describes what a key spec supports: the key usages CreateKey accepts
// with it and, per usage, the algorithms DescribeKey and GetPublicKey list.
// The algorithm lists are in the order AWS returns them.
type Info struct {
	KeySpec   string
	KeyUsages []string

	EncryptionAlgorithms   []string // for ENCRYPT_DECRYPT
	SigningAlgorithms      []string // for SIGN_VERIFY
	MacAlgorithms          []string // for GENERATE_VERIFY_MAC
	KeyAgreementAlgorithms []string // for KEY_AGREEMENT
	// KeyEncapsulationAlgorithms is reported in KeyMetadata as
	// EncapsulationAlgorithms (for ENCAPSULATE_DECAPSULATE).
	KeyEncapsulationAlgorithms []string
}

// AlgorithmsFor returns the algorithms a key of this spec supports when it
// was created with usage, or nil when the spec does not allow that usage.
// DescribeKey shows only the list for the key's own usage.
func (i Info) AlgorithmsFor(usage string) []string {
	if !slices.Contains(i.KeyUsages, usage) {
		return nil
	}
	switch usage {
	case UsageEncryptDecrypt:
		return slices.Clone(i.EncryptionAlgorithms)
	case UsageSignVerify:
		return slices.Clone(i.SigningAlgorithms)
	case UsageGenerateVerifyMAC:
		return slices.Clone(i.MacAlgorithms)
	case UsageKeyAgreement:
		return slices.Clone(i.KeyAgreementAlgorithms)
	case UsageEncapsulateDecapsulate:
		return slices.Clone(i.KeyEncapsulationAlgorithms)
	}
	return nil
}

// DefaultUsage reports the usage CreateKey assumes when none is given, and
// whether there is one: only SYMMETRIC_DEFAULT has a default
// (ENCRYPT_DECRYPT); every other spec requires an explicit KeyUsage.
func (i Info) DefaultUsage() (string, bool) {
	if i.KeySpec == "SYMMETRIC_DEFAULT" {
		return UsageEncryptDecrypt, true
	}
	return "", false
}

var (
	rsaEncryption = []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}
	rsaSigning    = []string{
		"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
		"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
	}
	ecdhAlgs = []string{"ECDH"}
)

// specs is the table behind Lookup. Sources: the CreateKey KeyUsage and
// KeySpec documentation in the AWS KMS API model and the "Key spec
// reference" of the AWS KMS Developer Guide.
var specs = map[string]Info{
	"SYMMETRIC_DEFAULT": {KeyUsages: []string{UsageEncryptDecrypt}, EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"}},

	"RSA_2048": {KeyUsages: []string{UsageEncryptDecrypt, UsageSignVerify}, EncryptionAlgorithms: rsaEncryption, SigningAlgorithms: rsaSigning},
	"RSA_3072": {KeyUsages: []string{UsageEncryptDecrypt, UsageSignVerify}, EncryptionAlgorithms: rsaEncryption, SigningAlgorithms: rsaSigning},
	"RSA_4096": {KeyUsages: []string{UsageEncryptDecrypt, UsageSignVerify}, EncryptionAlgorithms: rsaEncryption, SigningAlgorithms: rsaSigning},

	"ECC_NIST_P256":   {KeyUsages: []string{UsageSignVerify, UsageKeyAgreement}, SigningAlgorithms: []string{"ECDSA_SHA_256"}, KeyAgreementAlgorithms: ecdhAlgs},
	"ECC_NIST_P384":   {KeyUsages: []string{UsageSignVerify, UsageKeyAgreement}, SigningAlgorithms: []string{"ECDSA_SHA_384"}, KeyAgreementAlgorithms: ecdhAlgs},
	"ECC_NIST_P521":   {KeyUsages: []string{UsageSignVerify, UsageKeyAgreement}, SigningAlgorithms: []string{"ECDSA_SHA_512"}, KeyAgreementAlgorithms: ecdhAlgs},
	"ECC_SECG_P256K1": {KeyUsages: []string{UsageSignVerify}, SigningAlgorithms: []string{"ECDSA_SHA_256"}},

	"ECC_NIST_EDWARDS25519": {KeyUsages: []string{UsageSignVerify}, SigningAlgorithms: []string{"ED25519_SHA_512", "ED25519_PH_SHA_512"}},

	"SM2": {
		KeyUsages:              []string{UsageEncryptDecrypt, UsageSignVerify, UsageKeyAgreement},
		EncryptionAlgorithms:   []string{"SM2PKE"},
		SigningAlgorithms:      []string{"SM2DSA"},
		KeyAgreementAlgorithms: ecdhAlgs,
	},

	"HMAC_224": {KeyUsages: []string{UsageGenerateVerifyMAC}, MacAlgorithms: []string{"HMAC_SHA_224"}},
	"HMAC_256": {KeyUsages: []string{UsageGenerateVerifyMAC}, MacAlgorithms: []string{"HMAC_SHA_256"}},
	"HMAC_384": {KeyUsages: []string{UsageGenerateVerifyMAC}, MacAlgorithms: []string{"HMAC_SHA_384"}},
	"HMAC_512": {KeyUsages: []string{UsageGenerateVerifyMAC}, MacAlgorithms: []string{"HMAC_SHA_512"}},

	"ML_DSA_44": {KeyUsages: []string{UsageSignVerify}, SigningAlgorithms: []string{"ML_DSA_SHAKE_256"}},
	"ML_DSA_65": {KeyUsages: []string{UsageSignVerify}, SigningAlgorithms: []string{"ML_DSA_SHAKE_256"}},
	"ML_DSA_87": {KeyUsages: []string{UsageSignVerify}, SigningAlgorithms: []string{"ML_DSA_SHAKE_256"}},

	"ML_KEM_512":  {KeyUsages: []string{UsageEncapsulateDecapsulate}, KeyEncapsulationAlgorithms: []string{"ML_KEM"}},
	"ML_KEM_768":  {KeyUsages: []string{UsageEncapsulateDecapsulate}, KeyEncapsulationAlgorithms: []string{"ML_KEM"}},
	"ML_KEM_1024": {KeyUsages: []string{UsageEncapsulateDecapsulate}, KeyEncapsulationAlgorithms: []string{"ML_KEM"}},
}

// Lookup returns what keySpec supports, and false for a spec AWS KMS does
// not define. It covers every KeySpec value, SYMMETRIC_DEFAULT included. The
// returned Info shares nothing with the table: callers may modify it.
func Lookup(keySpec string) (Info, bool) {
	i, ok := specs[keySpec]
	if !ok {
		return Info{}, false
	}
	return Info{
		KeySpec:                    keySpec,
		KeyUsages:                  slices.Clone(i.KeyUsages),
		EncryptionAlgorithms:       slices.Clone(i.EncryptionAlgorithms),
		SigningAlgorithms:          slices.Clone(i.SigningAlgorithms),
		MacAlgorithms:              slices.Clone(i.MacAlgorithms),
		KeyAgreementAlgorithms:     slices.Clone(i.KeyAgreementAlgorithms),
		KeyEncapsulationAlgorithms: slices.Clone(i.KeyEncapsulationAlgorithms),
	}, true
}

// KeySpecs returns every key spec Lookup knows, sorted.
func KeySpecs() []string {
	out := make([]string, 0, len(specs))
	for s := range specs {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// DataKeyPairSpecs returns the KeyPairSpec values GenerateDataKeyPair
// accepts, sorted (DataKeyPairSpec in the AWS SDK for Go v2 service/kms
// v1.62.6 types/enums.go).
func DataKeyPairSpecs() []string {
	out := []string{
		"RSA_2048", "RSA_3072", "RSA_4096",
		"ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
		"ECC_NIST_EDWARDS25519", "SM2",
		"ML_KEM_512", "ML_KEM_768", "ML_KEM_1024",
	}
	slices.Sort(out)
	return out
}
