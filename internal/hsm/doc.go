// Package hsm is the AWS_CLOUDHSM custom key store backend: a custom key
// store of that type is a PKCS#11 token the operator declares as an "HSM
// cluster" in the config file (docs/hsm.md). It implements
// [kms.KeyStoreBackend].
//
// # Key material
//
// A key's material is an AES-256 secret key object generated in the token
// (CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE), labelled
// with the key id, its CKA_ID the key's material id. It never leaves the
// token: Encrypt, Decrypt, ReEncrypt and GenerateDataKey* run CKM_AES_GCM
// in the token, inside Trent's version 1 ciphertext blob
// (docs/ciphertext.md), which [keystore.SealBlob] and [keystore.OpenBlob]
// build and read around the token's AES-GCM. When the token generates the
// IV itself (CloudHSM and other FIPS-mode HSMs do), the IV it used is the
// one the blob records.
//
// # Builds
//
// PKCS#11 needs cgo (github.com/miekg/pkcs11 loads the module with
// dlopen). A build with CGO_ENABLED=0 has the backend but no PKCS#11: it
// refuses CreateCustomKeyStore and ConnectCustomKeyStore of type
// AWS_CLOUDHSM with a message saying so.
package hsm
