package xks

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
)

// APIPath is the part of every XKS URI path after the optional prefix.
const APIPath = "/kms/xks/v1"

// SigningName is the SigV4 service name of XKS requests (spec, Appendix A:
// "we use kms-xks-proxy for this specification").
const SigningName = "kms-xks-proxy"

// Algorithms of the specification, version 1.
const (
	AlgorithmAESGCM = "AES_GCM"
	CDIVSHA256      = "SHA_256"
	KeySpecAES256   = "AES_256"
)

// Key usages and statuses of a GetKeyMetadata response.
const (
	UsageEncrypt   = "ENCRYPT"
	UsageDecrypt   = "DECRYPT"
	StatusEnabled  = "ENABLED"
	StatusDisabled = "DISABLED"
)

// Health statuses of an ekmFleetDetails entry.
const (
	HealthActive      = "ACTIVE"
	HealthDegraded    = "DEGRADED"
	HealthUnavailable = "UNAVAILABLE"
)

// Limits of the specification, and Trent's own where it allows more.
const (
	// MaxExternalKeyIDLen: "the length of an externalKeyId MUST NOT
	// exceed 128 characters".
	MaxExternalKeyIDLen = 128
	// MaxURIPathLen: "The total length of the XksProxyUriPath MUST NOT
	// exceed 128 characters".
	MaxURIPathLen = 128
	// MaxCiphertextMetadata: "the size of the field MUST NOT exceed 20
	// bytes".
	MaxCiphertextMetadata = 20
	// MaxAAD is the largest additionalAuthenticatedData Trent accepts: the
	// spec's minimum is 8192 bytes, and its length goes into two bytes of
	// the AES-GCM AAD (Encrypt, ciphertextMetadata), so 65535 is the most
	// any proxy following it can take.
	MaxAAD = 65535
	// MaxPlaintext is the largest plaintext or ciphertext Trent accepts
	// (the spec's minimum is 4300 bytes).
	MaxPlaintext = 65536
)

// RequestMetadata is the requestMetadata member of every request (spec,
// GetKeyMetadata, Encrypt, Decrypt and GetHealthStatus, "Request Payload
// Parameters"). Fields KMS may add later (Appendix B) are ignored.
type RequestMetadata struct {
	AWSPrincipalARN string `json:"awsPrincipalArn,omitempty"`
	AWSSourceVPC    string `json:"awsSourceVpc,omitempty"`
	AWSSourceVPCE   string `json:"awsSourceVpce,omitempty"`
	KMSKeyARN       string `json:"kmsKeyArn,omitempty"`
	KMSOperation    string `json:"kmsOperation,omitempty"`
	KMSRequestID    string `json:"kmsRequestId,omitempty"`
	KMSViaService   string `json:"kmsViaService,omitempty"`
}

// GetKeyMetadataRequest is the body of a GetKeyMetadata request.
type GetKeyMetadataRequest struct {
	RequestMetadata *RequestMetadata `json:"requestMetadata"`
}

// GetKeyMetadataResponse is the body of a GetKeyMetadata answer.
type GetKeyMetadataResponse struct {
	KeySpec   string   `json:"keySpec"`
	KeyUsage  []string `json:"keyUsage"`
	KeyStatus string   `json:"keyStatus"`
}

// EncryptRequest is the body of an Encrypt request. Binary members are
// nil when absent.
type EncryptRequest struct {
	RequestMetadata                       *RequestMetadata `json:"requestMetadata"`
	AdditionalAuthenticatedData           []byte           `json:"additionalAuthenticatedData,omitempty"`
	Plaintext                             []byte           `json:"plaintext"`
	EncryptionAlgorithm                   string           `json:"encryptionAlgorithm"`
	CiphertextDataIntegrityValueAlgorithm string           `json:"ciphertextDataIntegrityValueAlgorithm,omitempty"`
}

// EncryptResponse is the body of an Encrypt answer.
type EncryptResponse struct {
	Ciphertext                   []byte `json:"ciphertext"`
	CiphertextMetadata           []byte `json:"ciphertextMetadata,omitempty"`
	InitializationVector         []byte `json:"initializationVector"`
	AuthenticationTag            []byte `json:"authenticationTag"`
	CiphertextDataIntegrityValue []byte `json:"ciphertextDataIntegrityValue,omitempty"`
}

// DecryptRequest is the body of a Decrypt request.
type DecryptRequest struct {
	RequestMetadata             *RequestMetadata `json:"requestMetadata"`
	Ciphertext                  []byte           `json:"ciphertext"`
	CiphertextMetadata          []byte           `json:"ciphertextMetadata,omitempty"`
	EncryptionAlgorithm         string           `json:"encryptionAlgorithm"`
	AdditionalAuthenticatedData []byte           `json:"additionalAuthenticatedData,omitempty"`
	AuthenticationTag           []byte           `json:"authenticationTag"`
	InitializationVector        []byte           `json:"initializationVector"`
}

// DecryptResponse is the body of a Decrypt answer.
type DecryptResponse struct {
	Plaintext []byte `json:"plaintext"`
}

// HealthRequest is the body of a GetHealthStatus request.
type HealthRequest struct {
	RequestMetadata *RequestMetadata `json:"requestMetadata"`
}

// HealthResponse is the body of a GetHealthStatus answer.
type HealthResponse struct {
	XksProxyFleetSize int              `json:"xksProxyFleetSize"`
	XksProxyVendor    string           `json:"xksProxyVendor"`
	XksProxyModel     string           `json:"xksProxyModel"`
	EkmVendor         string           `json:"ekmVendor"`
	EkmFleetDetails   []EkmFleetDetail `json:"ekmFleetDetails"`
}

// EkmFleetDetail is one external key manager of a GetHealthStatus answer.
type EkmFleetDetail struct {
	ID           string `json:"id"`
	Model        string `json:"model"`
	HealthStatus string `json:"healthStatus"`
}

// Error names of the specification ("Error codes").
const (
	ErrValidation           = "ValidationException"
	ErrInvalidState         = "InvalidStateException"
	ErrInvalidCiphertext    = "InvalidCiphertextException"
	ErrInvalidKeyUsage      = "InvalidKeyUsageException"
	ErrAuthenticationFailed = "AuthenticationFailedException"
	ErrAccessDenied         = "AccessDeniedException"
	ErrKeyNotFound          = "KeyNotFoundException"
	ErrInvalidURIPath       = "InvalidUriPathException"
	ErrThrottling           = "ThrottlingException"
	ErrUnsupportedOperation = "UnsupportedOperationException"
	ErrDependencyTimeout    = "DependencyTimeoutException"
	ErrInternal             = "InternalException"
)

// statuses is the specification's error table: error name to HTTP status.
var statuses = map[string]int{
	ErrValidation:           http.StatusBadRequest,
	ErrInvalidState:         http.StatusBadRequest,
	ErrInvalidCiphertext:    http.StatusBadRequest,
	ErrInvalidKeyUsage:      http.StatusBadRequest,
	ErrAuthenticationFailed: http.StatusUnauthorized,
	ErrAccessDenied:         http.StatusForbidden,
	ErrKeyNotFound:          http.StatusNotFound,
	ErrInvalidURIPath:       http.StatusNotFound,
	ErrThrottling:           http.StatusTooManyRequests,
	ErrUnsupportedOperation: http.StatusNotImplemented,
	ErrDependencyTimeout:    http.StatusServiceUnavailable,
	ErrInternal:             http.StatusInternalServerError,
}

// Status returns the HTTP status of an error name, and 500 for a name the
// specification does not list.
func Status(errorName string) int {
	if s, ok := statuses[errorName]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// KnownError reports whether name is an error name of the specification.
func KnownError(name string) bool { _, ok := statuses[name]; return ok }

// ErrorBody is the body of an error answer. "The errorMessage, if
// included, MUST be less than 512 characters in length and only use
// printable ASCII characters".
type ErrorBody struct {
	ErrorName    string `json:"errorName"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// Error is an XKS error answer: the error name and message the proxy
// sends, and the cause, which is logged and never sent.
type Error struct {
	Name    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Name + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Name + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message.
func Errorf(name, format string, args ...any) *Error {
	return &Error{Name: name, Message: fmt.Sprintf(format, args...)}
}

// AAD returns the additional authenticated data of the AES-GCM operation
// for an Encrypt or Decrypt with the given additionalAuthenticatedData and
// ciphertextMetadata: "(2-byte length, before Base64 encoding, of
// additionalAuthenticatedData in big-endian format ||
// additionalAuthenticatedData || 1-byte length, before Base64 encoding, of
// ciphertextMetadata || ciphertextMetadata)" (spec, Encrypt, response
// member ciphertextMetadata). The caller checks the lengths (at most
// [MaxAAD] and [MaxCiphertextMetadata]).
func AAD(aad, metadata []byte) []byte {
	out := make([]byte, 0, 3+len(aad)+len(metadata))
	out = binary.BigEndian.AppendUint16(out, uint16(len(aad)))
	out = append(out, aad...)
	out = append(out, byte(len(metadata)))
	return append(out, metadata...)
}

// CDIV returns the ciphertext data integrity value of an Encrypt: the
// SHA-256 of "additionalAuthenticatedData || ciphertextMetadata ||
// initializationVector || ciphertext || authenticationTag" (spec,
// Appendix C), absent members counting as empty.
func CDIV(aad, metadata, iv, ciphertext, tag []byte) []byte {
	h := sha256.New()
	for _, b := range [][]byte{aad, metadata, iv, ciphertext, tag} {
		h.Write(b)
	}
	return h.Sum(nil)
}

// Credential is a SigV4 credential of an external key store: "an access
// key id and a secret access key which are used by AWS KMS to sign all
// XKS Proxy API requests" (spec, Authentication).
type Credential struct {
	AccessKeyID string
	Secret      string
}

// String prints the access key id only.
func (c Credential) String() string { return c.AccessKeyID + "/[redacted]" }

// GoString prints the access key id only.
func (c Credential) GoString() string { return c.String() }

// LogValue logs the access key id only.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Format prints the access key id only, for every verb.
func (c Credential) Format(f fmt.State, verb rune) { io.WriteString(f, c.String()) }

var (
	// "The access key id is a random string of length no less than 20
	// characters and no more than 30 characters. The only characters
	// allowed are uppercase 'A' through 'Z' and the digits '2' through
	// '7'." (Appendix A)
	accessKeyIDPattern = regexp.MustCompile(`^[A-Z2-7]{20,30}$`)
	// "KMS will accept any combination of characters A through Z, a
	// through z, 0 through 9, plus (+), slash (/) and equals (=)"
	// (Appendix A); "RawSecretAccessKey": 43-64 characters (Other
	// considerations, XKS proxy configuration file syntax).
	secretPattern = regexp.MustCompile(`^[A-Za-z0-9+/=]{43,64}$`)
	// "The total length of the XksProxyUriPath MUST NOT exceed 128
	// characters and MUST NOT include any characters other than a
	// through z, A through Z, 0 through 9, slash (/), dash (-) and
	// underscore (_)." (API operations)
	uriPathPattern = regexp.MustCompile(`^[A-Za-z0-9/_-]{1,128}$`)
	// "they MUST be restricted to the following set: uppercase or
	// lowercase letters A through Z, the digits 0 through 9, the hyphen,
	// the period and the underscore." (API operations)
	externalKeyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
)

// CheckCredential checks a credential against the specification's format
// rules. Its error names the access key id, never the secret.
func CheckCredential(c Credential) error {
	if !accessKeyIDPattern.MatchString(c.AccessKeyID) {
		return fmt.Errorf("access key id %q must be 20 to 30 characters of A-Z and 2-7", c.AccessKeyID)
	}
	if !secretPattern.MatchString(c.Secret) {
		return fmt.Errorf("the secret access key of %s must be 43 to 64 characters of A-Z, a-z, 0-9, +, / and =", c.AccessKeyID)
	}
	return nil
}

// ValidExternalKeyID reports whether id is a valid externalKeyId.
func ValidExternalKeyID(id string) bool { return externalKeyIDPattern.MatchString(id) }

// CheckURIPath checks an XksProxyUriPath: "[/<prefix>]/kms/xks/v1", at
// most 128 characters of a-z, A-Z, 0-9, '/', '-' and '_'.
func CheckURIPath(p string) error {
	if !uriPathPattern.MatchString(p) {
		return fmt.Errorf("URI path %q must be at most %d characters of a-z, A-Z, 0-9, /, - and _", p, MaxURIPathLen)
	}
	prefix, ok := cutSuffix(p, APIPath)
	if !ok || (prefix != "" && prefix[0] != '/') || (prefix != "" && prefix[len(prefix)-1] == '/') {
		return fmt.Errorf("URI path %q must be [/<prefix>]%s", p, APIPath)
	}
	return nil
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) < len(suffix) || s[len(s)-len(suffix):] != suffix {
		return s, false
	}
	return s[:len(s)-len(suffix)], true
}
