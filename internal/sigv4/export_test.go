package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
)

// CanonicalRequest exposes the canonical request builder to the tests.
func CanonicalRequest(r *http.Request, signedHeaders string, body []byte, normalize bool) string {
	sum := sha256.Sum256(body)
	return string(appendCanonicalRequest(nil, canonicalInput{
		r:             r,
		signedHeaders: signedHeaders,
		normalize:     normalize,
	}, []byte(hex.EncodeToString(sum[:]))))
}

// StringToSign exposes the string-to-sign builder to the tests.
func StringToSign(canonicalRequest, amzDate, scope string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return string(appendStringToSign(nil, amzDate, scope, &sum))
}

// ParseAuthorization exposes the Authorization header parser to the tests.
func ParseAuthorization(h string) (alg, credential, signedHeaders, signature string, err error) {
	a, err := parseAuthorization(h)
	return a.algorithm, a.credential, a.signedHeaders, a.signature, err
}

// DeriveSigningKey exposes the key derivation to the tests.
func DeriveSigningKey(secret, date, region, service string) []byte {
	k := deriveSigningKey(secret, date, region, service)
	return k[:]
}

// CachedKeys reports how many signing keys v holds.
func CachedKeys(v *Verifier) int {
	v.keys.mu.RLock()
	defer v.keys.mu.RUnlock()
	return len(v.keys.m)
}

// HMACSHA256 exposes the allocation-free HMAC to the tests.
func HMACSHA256(key [32]byte, msg []byte) []byte {
	buf := append(make([]byte, 64), msg...)
	sum := hmacSHA256(&key, buf)
	return sum[:]
}
