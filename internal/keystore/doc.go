// Package keystore holds Trent's key material: the root key that seals
// material at rest, symmetric (SYMMETRIC_DEFAULT, AES-256-GCM) keys and the
// self-describing ciphertext blob they produce.
//
// # Sealing at rest
//
// A [Root] seals key material before it reaches a store and opens it when a
// key is loaded. [FileRoot] keeps a 32-byte root key in a file of its own
// format (see [OpenFileRoot]); every sealed value is bound to authenticated
// data built by [BoundAAD] (for key material [MaterialAAD]) from the fields
// of the record that owns it, so a sealed value copied to another key,
// material id, account or principal does not open. Any failure to open
// wraps [ErrSealed].
//
// # Protected root key files
//
// A root key file may hold the key itself (version 1) or the key wrapped
// under a key-encryption key from a passphrase (Argon2id, [DefaultArgon2])
// or from Shamir shares (version 2). [LoadFileRoot] refuses a protected
// file with [ErrProtected]; [ReadRootFile] reads any version, and
// [RootFile.Unlock] or [RootFile.Combine] unwrap it into a [RootKey], whose
// [RootKey.Root] is the same [FileRoot] as before. [WritePassphraseFile],
// [WriteShamirFile] and [WritePlainFile] change only the wrapping, so
// everything sealed stays readable. A wrong passphrase or share set gives
// [ErrWrongSecret]. The layout is in docs/ciphertext.md.
//
// # Ciphertext blobs
//
// [SealBlob] produces the CiphertextBlob returned by Encrypt and
// GenerateDataKey; [ParseCiphertext] reads it back and [OpenBlob]
// decrypts it. The format is kept apart from the primitive: both take an
// [AEAD] (AES-256-GCM), which [SymmetricKey] provides in software
// ([SymmetricKey.Seal] and [SymmetricKey.Open] are shorthands) and a
// hardware security module could provide instead. The layout is specified in
// docs/ciphertext.md. A blob names its key id and material id, so Decrypt
// needs no KeyId. The header and the encryption context are authenticated;
// the context is canonicalised, so map order does not matter, and a nil and
// an empty context are the same.
//
// Every blob format Trent has ever written stays readable: the first byte
// is a format version, and testdata/ciphertext-v1.json holds frozen blobs
// that the tests decrypt on every run.
//
// # Errors
//
// Every way a blob can fail to parse or decrypt (wrong version, bad length,
// unknown key-id form, wrong key, wrong context, bad tag) returns an error
// for which errors.Is(err, [ErrInvalidCiphertext]) holds; errors.As with a
// *[FormatError] gives the reason for logs. Callers show all of them to
// clients the same way. No error message contains key bytes or plaintext.
//
// # Secrets
//
// Types holding key material ([SymmetricKey], [FileRoot]) print as
// "[redacted]" through fmt and log/slog.
package keystore
