// Package xks implements the AWS KMS External Key Store (XKS) Proxy API,
// version 1 (aws/aws-kms-xksproxy-api-spec, "External Key Store Proxy API
// Specification", last updated May 15, 2024; a copy of the text Trent
// follows is cited section by section in the comments): its JSON shapes,
// error names and HTTP statuses, the additional authenticated data and
// ciphertext data integrity value rules, the credential format rules, and
// a [Client] that signs requests with SigV4 (service "kms-xks-proxy") for
// Trent's external key stores. The proxy side, which serves Trent keys to
// AWS KMS, is package internal/xks/proxy.
//
// # Wire
//
// Every request is an HTTP POST of a JSON object with a requestMetadata
// member to <prefix>/kms/xks/v1/keys/<externalKeyId>/{metadata,encrypt,
// decrypt} or <prefix>/kms/xks/v1/health. Binary members are standard
// Base64 (RFC 4648 section 4, with padding). Errors are a JSON object
// {"errorName": ..., "errorMessage": ...} with the HTTP status of the
// specification's error table ([Status]).
//
// # Secrets
//
// Plaintext and secret access keys never reach a log, an error message or
// an audit record. [Credential] prints its secret as "[redacted]".
package xks
