package quota

// The quotas. Cryptographic operations share a quota per key type; every
// other operation has its own.
const (
	Symmetric ID = iota // symmetric encryption and HMAC keys, and GenerateRandom
	RSA
	ECC // ECC and SM2 keys
	MLDSA
	MLKEM
	firstOperation // the per-operation quotas follow, in Defs order
)

// Defs are the quotas with AWS's defaults, from the table "Request quotas
// for each AWS KMS API operation" of the Request quotas page (see the
// package documentation). Quotas of operations Trent does not implement
// (grants, rotation, custom key stores, replication) are left out
// until the operations exist.
var Defs = [...]Def{
	Symmetric: {Name: "cryptographic_symmetric", Default: 10_000,
		AppliesTo: "Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateMac, GenerateRandom, ReEncrypt, VerifyMac with symmetric and HMAC keys",
		// "10,000 (shared)"; "20,000 (shared) in the following Regions: US
		// East (Ohio), us-east-2 Asia Pacific (Singapore), ap-southeast-1
		// Asia Pacific (Sydney), ap-southeast-2 Asia Pacific (Tokyo),
		// ap-northeast-1 Europe (Frankfurt), eu-central-1 Europe (London),
		// eu-west-2"; "100,000 (shared) in the following Regions: US East
		// (N. Virginia), us-east-1 US West (Oregon), us-west-2 Europe
		// (Ireland), eu-west-1". HMAC keys count here: "This quota applies
		// to cryptographic operations with symmetric encryption keys and
		// HMAC keys, which are also symmetric."
		Regional: map[string]float64{
			"us-east-2": 20_000, "ap-southeast-1": 20_000, "ap-southeast-2": 20_000, "ap-northeast-1": 20_000,
			"eu-central-1": 20_000, "eu-west-2": 20_000,
			"us-east-1": 100_000, "us-west-2": 100_000, "eu-west-1": 100_000,
		}},
	// "Cryptographic operations (RSA) request rate ... 1,000 (shared) for RSA KMS keys"
	RSA: {Name: "cryptographic_rsa", Default: 1_000, AppliesTo: "Decrypt, Encrypt, ReEncrypt, Sign, Verify with RSA keys"},
	// "Cryptographic operations (ECC and SM2) request rate ... 1,000 (shared)"
	ECC: {Name: "cryptographic_ecc", Default: 1_000, AppliesTo: "DeriveSharedSecret, Sign, Verify (and Encrypt, Decrypt, ReEncrypt with SM2) with ECC and SM2 keys"},
	// "Cryptographic operations (ML-DSA) request rate ... 1,000 (shared) for ML-DSA KMS keys"
	MLDSA: {Name: "cryptographic_ml_dsa", Default: 1_000, AppliesTo: "Sign, Verify with ML-DSA keys"},
	// The page lists no quota for ML-KEM keys (Encapsulate, Decapsulate).
	// Inferred: a shared quota of their own, with the ML-DSA default.
	MLKEM: {Name: "cryptographic_ml_kem", Default: 1_000, AppliesTo: "Encapsulate, Decapsulate with ML-KEM keys (inferred; AWS lists none)"},

	opCancelKeyDeletion:    {Name: "cancel_key_deletion", Default: 5, AppliesTo: "CancelKeyDeletion"},
	opCreateAlias:          {Name: "create_alias", Default: 5, AppliesTo: "CreateAlias"},
	opCreateKey:            {Name: "create_key", Default: 5, AppliesTo: "CreateKey"},
	opDeleteAlias:          {Name: "delete_alias", Default: 15, AppliesTo: "DeleteAlias"},
	opDescribeKey:          {Name: "describe_key", Default: 2000, AppliesTo: "DescribeKey"},
	opDisableKey:           {Name: "disable_key", Default: 5, AppliesTo: "DisableKey"},
	opEnableKey:            {Name: "enable_key", Default: 5, AppliesTo: "EnableKey"},
	opGetKeyPolicy:         {Name: "get_key_policy", Default: 1000, AppliesTo: "GetKeyPolicy"},
	opGetPublicKey:         {Name: "get_public_key", Default: 2000, AppliesTo: "GetPublicKey"},
	opListAliases:          {Name: "list_aliases", Default: 500, AppliesTo: "ListAliases"},
	opListKeyPolicies:      {Name: "list_key_policies", Default: 100, AppliesTo: "ListKeyPolicies"},
	opListKeys:             {Name: "list_keys", Default: 500, AppliesTo: "ListKeys"},
	opListResourceTags:     {Name: "list_resource_tags", Default: 2000, AppliesTo: "ListResourceTags"},
	opPutKeyPolicy:         {Name: "put_key_policy", Default: 15, AppliesTo: "PutKeyPolicy"},
	opScheduleKeyDeletion:  {Name: "schedule_key_deletion", Default: 15, AppliesTo: "ScheduleKeyDeletion"},
	opTagResource:          {Name: "tag_resource", Default: 10, AppliesTo: "TagResource"},
	opUntagResource:        {Name: "untag_resource", Default: 5, AppliesTo: "UntagResource"},
	opUpdateAlias:          {Name: "update_alias", Default: 5, AppliesTo: "UpdateAlias"},
	opUpdateKeyDescription: {Name: "update_key_description", Default: 5, AppliesTo: "UpdateKeyDescription"},
	// "DeleteImportedKeyMaterial request rate | 15", "GetParametersForImport
	// request rate | 1", "ImportKeyMaterial request rate | 15".
	opDeleteImportedKeyMaterial: {Name: "delete_imported_key_material", Default: 15, AppliesTo: "DeleteImportedKeyMaterial"},
	opGetParametersForImport:    {Name: "get_parameters_for_import", Default: 1, AppliesTo: "GetParametersForImport"},
	opImportKeyMaterial:         {Name: "import_key_material", Default: 15, AppliesTo: "ImportKeyMaterial"},

	// "GenerateDataKeyPair (<spec>) request rate", applying to
	// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext, which
	// "share a separate quota" from the cryptographic operations.
	pairECCNISTP256: {Name: "generate_data_key_pair_ecc_nist_p256", Default: 100, AppliesTo: "GenerateDataKeyPair* with KeyPairSpec ECC_NIST_P256"},
	pairECCNISTP384: {Name: "generate_data_key_pair_ecc_nist_p384", Default: 100, AppliesTo: "GenerateDataKeyPair* with KeyPairSpec ECC_NIST_P384"},
	pairECCNISTP521: {Name: "generate_data_key_pair_ecc_nist_p521", Default: 100, AppliesTo: "GenerateDataKeyPair* with KeyPairSpec ECC_NIST_P521"},
	pairECCSECGP256K1: {Name: "generate_data_key_pair_ecc_secg_p256k1", Default: 100,
		AppliesTo: "GenerateDataKeyPair* with KeyPairSpec ECC_SECG_P256K1"},
	pairEd25519: {Name: "generate_data_key_pair_ecc_nist_edwards25519", Default: 100,
		AppliesTo: "GenerateDataKeyPair* with KeyPairSpec ECC_NIST_EDWARDS25519"},
	// "This quota varies with the AWS Region. 20 (all other Regions) The
	// limit is 1 in the following Regions: China (Beijing), cn-north-1
	// China (Ningxia), cn-northwest-1"; 4 and 0.5 for RSA_3072, 1 and 0.1
	// for RSA_4096.
	pairRSA2048: {Name: "generate_data_key_pair_rsa_2048", Default: 20, Regional: china(1), AppliesTo: "GenerateDataKeyPair* with KeyPairSpec RSA_2048"},
	pairRSA3072: {Name: "generate_data_key_pair_rsa_3072", Default: 4, Regional: china(0.5), AppliesTo: "GenerateDataKeyPair* with KeyPairSpec RSA_3072"},
	pairRSA4096: {Name: "generate_data_key_pair_rsa_4096", Default: 1, Regional: china(0.1), AppliesTo: "GenerateDataKeyPair* with KeyPairSpec RSA_4096"},
	// "GenerateDataKeyPair (SM2 — China Regions only) request rate | 25"
	pairSM2: {Name: "generate_data_key_pair_sm2", Default: 25, AppliesTo: "GenerateDataKeyPair* with KeyPairSpec SM2"},
}

const (
	opCancelKeyDeletion ID = firstOperation + iota
	opCreateAlias
	opCreateKey
	opDeleteAlias
	opDescribeKey
	opDisableKey
	opEnableKey
	opGetKeyPolicy
	opGetPublicKey
	opListAliases
	opListKeyPolicies
	opListKeys
	opListResourceTags
	opPutKeyPolicy
	opScheduleKeyDeletion
	opTagResource
	opUntagResource
	opUpdateAlias
	opUpdateKeyDescription
	opDeleteImportedKeyMaterial
	opGetParametersForImport
	opImportKeyMaterial
	pairECCNISTP256
	pairECCNISTP384
	pairECCNISTP521
	pairECCSECGP256K1
	pairEd25519
	pairRSA2048
	pairRSA3072
	pairRSA4096
	pairSM2
	numQuotas
)

func china(rate float64) map[string]float64 {
	return map[string]float64{"cn-north-1": rate, "cn-northwest-1": rate}
}

// operations maps an operation name to its own quota.
var operations = map[string]ID{
	"CancelKeyDeletion": opCancelKeyDeletion, "CreateAlias": opCreateAlias, "CreateKey": opCreateKey,
	"DeleteAlias": opDeleteAlias, "DescribeKey": opDescribeKey, "DisableKey": opDisableKey, "EnableKey": opEnableKey,
	"GetKeyPolicy": opGetKeyPolicy, "GetPublicKey": opGetPublicKey, "ListAliases": opListAliases,
	"ListKeyPolicies": opListKeyPolicies, "ListKeys": opListKeys, "ListResourceTags": opListResourceTags,
	"PutKeyPolicy": opPutKeyPolicy, "ScheduleKeyDeletion": opScheduleKeyDeletion, "TagResource": opTagResource,
	"UntagResource": opUntagResource, "UpdateAlias": opUpdateAlias, "UpdateKeyDescription": opUpdateKeyDescription,
	"DeleteImportedKeyMaterial": opDeleteImportedKeyMaterial, "GetParametersForImport": opGetParametersForImport,
	"ImportKeyMaterial": opImportKeyMaterial,
	// "Cryptographic operations (symmetric) request rate / Applies to: ...
	// GenerateRandom": it uses no key, and counts against the symmetric
	// quota.
	"GenerateRandom": Symmetric,
}

// ForOperation returns the quota a request for operation (its AWS name,
// e.g. "CreateKey") counts against before any key is known. ok is false
// for the cryptographic operations, whose quota depends on the key (see
// [ForKey]), and for operations without a quota.
func ForOperation(operation string) (id ID, ok bool) {
	id, ok = operations[operation]
	return id, ok
}

// ForKey returns the quota that a cryptographic operation counts against,
// given the action (IAM action name, e.g. "kms:Encrypt"), the key spec of
// the key it uses, and for GenerateDataKeyPair the data key pair spec it
// asks for. ok is false for actions that are not cryptographic operations
// counted by key type.
//
// ReEncrypt uses two keys and is authorized twice (kms:ReEncryptFrom,
// kms:ReEncryptTo). It counts once, against the source key's type: the
// page lists ReEncrypt among the operations of each shared quota but does
// not say which key decides (inferred).
func ForKey(action, keySpec, pairSpec string) (id ID, ok bool) {
	switch action {
	case "kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext":
		id, ok = pairSpecs[pairSpec]
		return id, ok
	case "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
		"kms:GenerateMac", "kms:VerifyMac", "kms:Sign", "kms:Verify", "kms:DeriveSharedSecret", "kms:Encapsulate", "kms:Decapsulate":
	default:
		return 0, false
	}
	switch {
	case keySpec == "SYMMETRIC_DEFAULT" || hasPrefix(keySpec, "HMAC_"):
		return Symmetric, true
	case hasPrefix(keySpec, "RSA_"):
		return RSA, true
	case hasPrefix(keySpec, "ECC_") || keySpec == "SM2":
		return ECC, true
	case hasPrefix(keySpec, "ML_DSA_"):
		return MLDSA, true
	case hasPrefix(keySpec, "ML_KEM_"):
		return MLKEM, true
	}
	return 0, false
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

var pairSpecs = map[string]ID{
	"ECC_NIST_P256": pairECCNISTP256, "ECC_NIST_P384": pairECCNISTP384, "ECC_NIST_P521": pairECCNISTP521,
	"ECC_SECG_P256K1": pairECCSECGP256K1, "ECC_NIST_EDWARDS25519": pairEd25519,
	"RSA_2048": pairRSA2048, "RSA_3072": pairRSA3072, "RSA_4096": pairRSA4096, "SM2": pairSM2,
}

// Lookup returns the quota whose config key is name.
func Lookup(name string) (ID, bool) {
	for i := range Defs {
		if Defs[i].Name == name {
			return ID(i), true
		}
	}
	return 0, false
}
