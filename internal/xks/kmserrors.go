package xks

import (
	"errors"

	"github.com/trent-kms/trent/internal/wire"
)

// Caller says which KMS operation a proxy call served; the KMS exception
// for one failure depends on it (spec, Error codes, KMS considerations).
type Caller int

const (
	// ForKeyStore: CreateCustomKeyStore, UpdateCustomKeyStore and
	// ConnectCustomKeyStore.
	ForKeyStore Caller = iota + 1
	// ForCreateKey: CreateKey of a key in an external key store.
	ForCreateKey
	// ForCrypto: the cryptographic operations (Encrypt, Decrypt,
	// GenerateDataKey*, ReEncrypt) and DescribeKey.
	ForCrypto
)

// The KMS exception messages of the specification's table "KMS
// Considerations" under Error codes, one per failure scenario.
const (
	MsgInvalidResponse   = "AWS KMS cannot interpret the response from the external key store proxy. If you see this error repeatedly, report it to your external key store proxy administrator."
	MsgKeyNotEnabled     = "The external key associated with this KMS key in an external key store is not enabled in the external key manager. Enable the external key in the external key manager and retry the request."
	MsgInvalidCiphertext = "The external key store proxy rejected the request because the specified ciphertext or encryption context is corrupted, missing, or otherwise invalid."
	MsgKeyUsage          = "The external key associated with this KMS key in an external key store does not support the requested operation. Enable the operation on the key in your external key manager, and try the request again."
	MsgAuthentication    = "The external key store proxy rejected the request because it could not authenticate AWS KMS. Verify the XKS proxy authentication credentials for your external key store and update if necessary."
	MsgAccessDenied      = "The external key store proxy denied access to the operation. Verify that the user and the external key are both authorized for this operation, and try the request again."
	MsgKeyNotFound       = "The external key associated with this KMS key in an external key store was not found in its external key manager. If the external key ID associated with this KMS key is incorrect, create a new KMS key with the correct external key ID."
	MsgInvalidURIPath    = "The external key store proxy rejected the request because of an invalid URI path. Verify the URI path for your external key store and update if necessary."
	MsgUnsupported       = "The external key store proxy rejected the request because it does not support the requested operation. If you see this error repeatedly, report it to your external key store proxy administrator."
	MsgDependencyTimeout = "The external key store proxy did not respond to the request in the time allotted. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator."
	MsgThrottling        = "The external key store proxy rejected the request due to a very high request rate. Reduce the frequency of your calls using KMS keys in this external key store."
	MsgInternal          = "The external key store proxy rejected the request because it cannot communicate with the external key manager. Verify that the external key store proxy configuration is correct and that the external key manager is available."
	MsgUnreachable       = "AWS KMS cannot communicate with the external key store proxy. This might be a transient network issue. If you see this error repeatedly, verify that your external key store proxy is active and is connected to the network, and that its endpoint URI is correct in your external keystore."
	MsgTLS               = "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the TLS configuration, including its certificate."
	MsgTimeout           = "AWS KMS rejected the request because the external key store proxy did not respond in time. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator."
	MsgNotConnected      = "This KMS key is in a custom key store that is not connected to its external key store proxy. Connect the external key store and try the request again."
)

// row is one failure scenario of the table: the message, and the
// exception for key store operations, CreateKey and cryptographic
// operations ("" where the table has none: the CreateKey exception then
// applies to key store operations, as for a key store operation the
// failure cannot arise).
type row struct {
	msg                      string
	keyStore, createKey, ops string
}

const (
	excInvalidResponse   = "XksProxyInvalidResponseException"
	excIncorrectCred     = "XksProxyIncorrectAuthenticationCredentialException"
	excInvalidConfig     = "XksProxyInvalidConfigurationException"
	excUnreachable       = "XksProxyUriUnreachableException"
	excStoreState        = "CustomKeyStoreInvalidStateException"
	excKeyInvalidConfig  = "XksKeyInvalidConfigurationException"
	excKeyNotFound       = "XksKeyNotFoundException"
	excKMSInvalidState   = "KMSInvalidStateException"
	excKeyInvalidRespons = "XksKeyInvalidResponseException"
)

// table is the specification's table. "XksKeyInvalidResponseException"
// for UnsupportedOperationException at CreateKey is the specification's
// text; the KMS model has no such shape, so Trent sends
// XksProxyInvalidResponseException there (inferred).
var table = map[string]row{
	ErrValidation:           {MsgInvalidResponse, excInvalidResponse, excStoreState, excKMSInvalidState},
	ErrInvalidState:         {MsgKeyNotEnabled, excInvalidResponse, excKeyInvalidConfig, excKMSInvalidState},
	ErrInvalidCiphertext:    {MsgInvalidCiphertext, excInvalidResponse, excKMSInvalidState, excKMSInvalidState},
	ErrInvalidKeyUsage:      {MsgKeyUsage, excInvalidResponse, excKeyInvalidConfig, excKMSInvalidState},
	ErrAuthenticationFailed: {MsgAuthentication, excIncorrectCred, excStoreState, excKMSInvalidState},
	ErrAccessDenied:         {MsgAccessDenied, excInvalidResponse, excKMSInvalidState, excKMSInvalidState},
	ErrKeyNotFound:          {MsgKeyNotFound, excInvalidResponse, excKeyNotFound, excKMSInvalidState},
	ErrInvalidURIPath:       {MsgInvalidURIPath, excInvalidConfig, excStoreState, excKMSInvalidState},
	ErrUnsupportedOperation: {MsgUnsupported, excInvalidResponse, excInvalidResponse, excKMSInvalidState},
	ErrDependencyTimeout:    {MsgDependencyTimeout, excUnreachable, excStoreState, excKMSInvalidState},
	ErrThrottling:           {MsgThrottling, excUnreachable, excStoreState, excKMSInvalidState},
	ErrInternal:             {MsgInternal, excInvalidResponse, excStoreState, excKMSInvalidState},
}

var transportRows = map[Kind]row{
	KindUnreachable:     {MsgUnreachable, excUnreachable, excStoreState, excKMSInvalidState},
	KindTLS:             {MsgTLS, excUnreachable, excStoreState, excKMSInvalidState},
	KindTimeout:         {MsgTimeout, excUnreachable, excStoreState, excKMSInvalidState},
	KindInvalidResponse: {MsgInvalidResponse, excInvalidResponse, excStoreState, excKMSInvalidState},
}

// KMSError returns the KMS exception a caller sees for a failed proxy
// call (a *[ProxyError]), as the specification's table prescribes; the
// proxy's errorMessage is not included ("KMS will not include the
// errorMessage returned by the proxy in the error message it returns to a
// KMS caller"), it stays in Err for the logs. Any other error is returned
// as it is.
func KMSError(err error, c Caller) error {
	var pe *ProxyError
	if !errors.As(err, &pe) {
		return err
	}
	r, ok := transportRows[pe.Kind]
	if pe.Kind == KindErrorName {
		r, ok = table[pe.Name]
	}
	if !ok {
		r = transportRows[KindInvalidResponse]
	}
	code := r.ops
	switch c {
	case ForKeyStore:
		code = r.keyStore
	case ForCreateKey:
		code = r.createKey
	}
	return &wire.Error{Code: code, Message: r.msg, Err: err}
}

// ConnectionErrorCode returns the ConnectionErrorCode of a custom key
// store whose connection failed with err (the KMS model,
// CustomKeyStoresListEntry.ConnectionErrorCode, "External key stores").
func ConnectionErrorCode(err error) string {
	var pe *ProxyError
	if !errors.As(err, &pe) {
		return "INTERNAL_ERROR"
	}
	switch pe.Kind {
	case KindUnreachable:
		return "XKS_PROXY_NOT_REACHABLE"
	case KindTLS:
		return "XKS_PROXY_INVALID_TLS_CONFIGURATION"
	case KindTimeout:
		return "XKS_PROXY_TIMED_OUT"
	case KindInvalidResponse:
		return "XKS_PROXY_INVALID_RESPONSE"
	}
	switch pe.Name {
	case ErrAuthenticationFailed:
		// "INVALID_CREDENTIALS — One or both of the
		// XksProxyAuthenticationCredential values is not valid on the
		// specified external key store proxy."
		return "INVALID_CREDENTIALS"
	case ErrAccessDenied:
		return "XKS_PROXY_ACCESS_DENIED"
	case ErrInvalidURIPath:
		return "XKS_PROXY_INVALID_CONFIGURATION"
	case ErrDependencyTimeout:
		return "XKS_PROXY_TIMED_OUT"
	case ErrThrottling, ErrInvalidState:
		return "XKS_PROXY_NOT_REACHABLE"
	}
	return "XKS_PROXY_INVALID_RESPONSE"
}

// ErrAllUnavailable is the failure of a connection whose GetHealthStatus
// reports every external key manager UNAVAILABLE: "Connection attempts
// fail with this connection error code [XKS_PROXY_NOT_REACHABLE] if the
// proxy reports that all external key manager instances are unavailable."
var ErrAllUnavailable = &ProxyError{Kind: KindUnreachable, Detail: "every external key manager is UNAVAILABLE"}
