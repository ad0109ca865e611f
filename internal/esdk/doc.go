// Package esdk reads and writes messages in the AWS Encryption SDK message
// format, streaming, with data keys from AWS KMS (or any [Keyring]).
//
// The format follows the public AWS Encryption SDK specification
// (github.com/awslabs/aws-encryption-sdk-specification: data-format/
// message-header.md, message-body.md, message-body-aad.md,
// message-footer.md; framework/algorithm-suites.md; client-apis/encrypt.md
// and decrypt.md) and the Developer Guide's "Message format reference"
// and "Algorithms reference". The primitives are the Go standard
// library's: crypto/hkdf, crypto/aes with crypto/cipher GCM, crypto/ecdsa,
// crypto/sha256 and crypto/sha512. docs/encrypt.md describes the command
// line and the choices made.
//
// # Writing
//
// [NewEncrypter] writes framed messages only (the specification forbids
// writing non-framed ones), format version 2 with key commitment for the
// committing suites and version 1 otherwise, under a [CommitmentPolicy].
// The default suite is AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
// (0x0578). Memory use is one frame, whatever the message length.
//
// # Reading
//
// [NewDecrypter] reads version 1 and 2 messages, framed and non-framed,
// of every suite the policy allows. It authenticates the header before it
// returns, each frame before its plaintext is returned, and the signature
// (signed suites) before it reports the end of the message; see
// [Decrypter] for what that means for callers that must not release
// unverified plaintext. Memory use is one frame plus a 32 KiB read-ahead.
//
// # Errors
//
// Failures are *[Error]s; errors.Is with [ErrFormat], [ErrTruncated],
// [ErrTampered], [ErrNoKey], [ErrContext], [ErrPolicy] or [ErrIO] tells
// their kind, and Error.Frame the frame at fault. Messages name key ARNs
// and context keys, never plaintext or key bytes.
//
// # Compatibility
//
// testdata/frozen.json holds messages this package wrote; they must decrypt
// on every run. cmd/trent's interop test checks messages both ways with the
// AWS Encryption SDK for JavaScript.
package esdk
