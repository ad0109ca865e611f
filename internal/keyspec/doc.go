// Package keyspec implements the cryptography of every AWS KMS key spec other
// than SYMMETRIC_DEFAULT: RSA, NIST and SECG elliptic curves, Ed25519, SM2,
// HMAC, ML-DSA and ML-KEM, with the algorithms, message types, encodings and
// error answers of AWS KMS. It does no I/O and stores nothing.
//
// # Tables
//
// [Lookup] tells which key usages and algorithms a key spec supports (for
// CreateKey and DescribeKey), SYMMETRIC_DEFAULT included.
//
// # Key material
//
// [Generate] returns new material in the form sealed at rest: PKCS #8 DER
// for the classical specs (hand-built for secp256k1, which crypto/x509 does
// not know), the FIPS 204/203 seed for ML-DSA (32 bytes) and ML-KEM
// (64 bytes), the raw key for HMAC. [Parse] turns material into a [Key]
// once; a Key holds parsed crypto objects and its cached public key and is
// safe for concurrent use. Public keys are DER SubjectPublicKeyInfo
// throughout, as GetPublicKey returns them and DeriveSharedSecret takes them.
//
// # Errors
//
// Errors meant for the API caller are *[Error] values whose Code is the AWS
// error shape and whose Message is AWS's text where it is known; the kms
// layer sends them as they are. Failed verifications are the sentinels
// [ErrInvalidSignature], [ErrInvalidMAC] and [ErrDecrypt] (test with
// errors.Is). Anything else is a plain error describing an internal
// failure; no error ever carries key material, plaintext or message bytes.
//
// # Secrets
//
// [Key] prints and logs as its key spec and "[redacted]". Generate and
// GenerateDataKeyPair return plain byte slices: callers seal them or hand
// them to the caller and clear them.
package keyspec
