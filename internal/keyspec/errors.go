package keyspec

import "fmt"

// Error is a failure that the service reports to the API caller as an AWS
// error shape. Code is the shape (the wire __type) and Message is the text
// AWS sends with it; both are safe to show to the caller and never contain
// key material or message bytes. The kms layer converts an *Error into its
// wire error unchanged.
//
// Check for an *Error with errors.As; check for the three verification
// failures with errors.Is against [ErrInvalidSignature], [ErrInvalidMAC] and
// [ErrDecrypt].
type Error struct {
	Code    string // AWS error shape, e.g. "ValidationException"
	Message string // AWS's message text; may be empty where AWS sends none
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "keyspec: " + e.Code
	}
	return "keyspec: " + e.Code + ": " + e.Message
}

// Is reports whether target is an *Error with the same code and message, so
// that errors.Is(err, ErrInvalidSignature) also matches copies.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == e.Message
}

// AWS error shapes used by this package.
const (
	CodeValidation       = "ValidationException"
	CodeInvalidKeyUsage  = "InvalidKeyUsageException"
	CodeInvalidSignature = "KMSInvalidSignatureException"
	CodeInvalidMAC       = "KMSInvalidMacException"
	CodeInvalidCipher    = "InvalidCiphertextException"
)

var (
	// ErrInvalidSignature is returned by [Key.Verify] for every signature that
	// does not verify, whether it is malformed or simply wrong. AWS sends
	// KMSInvalidSignatureException without a message.
	ErrInvalidSignature = &Error{Code: CodeInvalidSignature}

	// ErrInvalidMAC is returned by [Key.VerifyMAC] when the MAC does not match.
	ErrInvalidMAC = &Error{Code: CodeInvalidMAC}

	// ErrDecrypt is returned by [Key.Decrypt] and [Key.Decapsulate] for every
	// ciphertext that cannot be processed. The cause is never distinguished,
	// so that the result is no padding or format oracle.
	ErrDecrypt = &Error{Code: CodeInvalidCipher}
)

// incompatibleAlgorithm is AWS's answer to an algorithm that the key spec
// does not support, e.g. ECDSA_SHA_384 with an ECC_NIST_P256 key.
func incompatibleAlgorithm(algorithm, spec string) *Error {
	return &Error{Code: CodeInvalidKeyUsage, Message: fmt.Sprintf("Algorithm %s is incompatible with key spec %s.", algorithm, spec)}
}

// invalidDigestLength is AWS's answer to a MessageType DIGEST whose length
// is not the hash length of the signing algorithm.
func invalidDigestLength(algorithm string) *Error {
	return &Error{Code: CodeValidation, Message: fmt.Sprintf("Digest is invalid length for algorithm %s.", algorithm)}
}

// invalidMuLength is the answer to a MessageType EXTERNAL_MU that is not 64
// bytes long.
func invalidMuLength(algorithm string) *Error {
	return &Error{Code: CodeValidation, Message: fmt.Sprintf("External Mu is invalid length for algorithm %s.", algorithm)}
}

// messageTypeForAlgorithm is AWS's answer to a message type that an Ed25519
// algorithm does not take.
func messageTypeForAlgorithm(messageType, algorithm string) *Error {
	return &Error{Code: CodeValidation, Message: fmt.Sprintf("Message type %s is incompatible with algorithm %s.", messageType, algorithm)}
}

// messageTypeForSpec is AWS's answer to a message type that the key spec
// does not take, e.g. DIGEST with an ML-DSA key.
func messageTypeForSpec(messageType, spec string) *Error {
	return &Error{Code: CodeValidation, Message: fmt.Sprintf("Message type %s is incompatible with key spec %s.", messageType, spec)}
}

// plaintextTooLong is AWS's answer to an asymmetric Encrypt whose plaintext
// exceeds the limit of the key spec and algorithm.
func plaintextTooLong(algorithm, spec string, max int) *Error {
	return &Error{Code: CodeValidation, Message: fmt.Sprintf("Algorithm %s and key spec %s cannot encrypt data larger than %d bytes.", algorithm, spec, max)}
}

// errInvalidPeerKey is the answer to a DeriveSharedSecret whose peer public
// key is not a DER SubjectPublicKeyInfo on the key's curve. AWS sends a
// ValidationException without a message: LocalStack's AWS-recorded snapshot
// (tests/aws/services/kms/test_kms.snapshot.json, test_derive_shared_secret,
// "response-invalid-public-key", PublicKey=b"InvalidPublicKey") records an
// empty message.
var errInvalidPeerKey = &Error{Code: CodeValidation}
