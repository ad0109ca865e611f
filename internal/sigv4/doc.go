// Package sigv4 verifies AWS Signature Version 4 (AWS4-HMAC-SHA256)
// Authorization headers on requests to Trent's KMS endpoint.
//
// # What is verified
//
// [Verifier.Verify] rebuilds the canonical request from the method, the raw
// request path as it came over the wire, the query string, the headers named
// in SignedHeaders and the SHA-256 of the body, derives the signing key from
// the secret returned by [Lookup], and compares signatures in constant time.
// The algorithm follows the AWS Signature Version 4 documentation and is
// checked byte for byte against the AWS SigV4 test suite in testdata/v4.
//
// The canonical URI is the raw path with dot segments removed and repeated
// slashes collapsed (the normalisation every AWS service except S3 applies),
// then URI-encoded once more, which matches what the AWS SDKs sign for
// non-S3 services. Only the Authorization header form is accepted;
// presigned (query-string) requests are rejected.
//
// The request time must lie within [Verifier.MaxSkew] of the server clock;
// the credential scope must name the request date, [Verifier.Service],
// [Verifier.Region] (when set) and aws4_request. The Host header is always a
// signed header, and so are X-Amz-Target and X-Amz-Date when present: a KMS
// request's operation is chosen by X-Amz-Target, so an unsigned one could
// be replayed as a different operation.
//
// # Cost before the signature check
//
// An unauthenticated caller must not be able to make verification costly.
// The Authorization header is scanned once; SignedHeaders is refused if it
// names more than 64 headers or repeats or upper-cases a name, before any
// per-name work; each header lookup is a map access, never a scan of all
// headers; a region refused by [Verifier.ValidRegion] is refused before the
// [Lookup]; and a derived signing key is cached only after it verified a
// signature, so failed requests never grow memory. A repeated Credential,
// SignedHeaders or Signature parameter is refused.
//
// # Session tokens
//
// [Lookup] returns a [Credential]. A long-term key (nil ValidToken) must
// not come with an X-Amz-Security-Token header; a session key must come
// with exactly one token that its ValidToken accepts. Either refusal is
// UnrecognizedClientException.
//
// # Errors
//
// Every error returned by Verify is a *[wire.Error] whose Code and Message
// are the ones AWS sends for the same fault (MissingAuthenticationTokenException,
// IncompleteSignatureException, InvalidSignatureException,
// UnrecognizedClientException); where AWS's message is unknown, the code is
// chosen strictly and the message is marked inferred in the source. A failure of the credential lookup itself
// becomes KMSInternalException with the cause in Err. Messages never contain
// a secret or the Authorization header; where AWS quotes the header, it
// quotes its SHA-256 in base64, as AWS does.
//
// # Secrets
//
// Derived signing keys are cached per access key, secret fingerprint
// (SHA-256 of the secret), date, region and service, in a bounded cache
// safe for concurrent use, once they have verified a signature. Rotating a secret therefore never reuses a key
// derived from the old one. Nothing in this package logs.
package sigv4
