package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
)

// maxCachedKeys bounds the signing-key cache. A key is valid for one day,
// region and service, so this is room for thousands of active access keys.
const maxCachedKeys = 4096

// cacheKey identifies a derived signing key. The secret is represented only
// by its SHA-256, so a rotated secret never hits an old entry.
type cacheKey struct {
	accessKeyID string
	secret      [sha256.Size]byte
	scope       string // date/region/service/terminator
}

// keyCache holds derived signing keys. Its zero value is ready to use.
type keyCache struct {
	mu sync.RWMutex
	m  map[cacheKey][sha256.Size]byte
}

// newCacheKey returns the cache key for secret and the credential scope.
func newCacheKey(secret string, cs credentialScope) cacheKey {
	return cacheKey{accessKeyID: cs.accessKeyID, secret: fingerprint(secret), scope: cs.scope}
}

// get returns the cached signing key for k, if any.
func (c *keyCache) get(k *cacheKey) ([sha256.Size]byte, bool) {
	c.mu.RLock()
	key, ok := c.m[*k]
	c.mu.RUnlock()
	return key, ok
}

// put caches key under k. The caller puts only keys that verified a
// signature, so the entries are bounded by the access keys and regions in
// real use, not by what unauthenticated requests name.
func (c *keyCache) put(k *cacheKey, key [sha256.Size]byte) {
	// The strings point into the request's Authorization header; copy them
	// so the cache does not keep whole headers alive.
	e := cacheKey{accessKeyID: strings.Clone(k.accessKeyID), secret: k.secret, scope: strings.Clone(k.scope)}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[cacheKey][sha256.Size]byte)
	}
	if len(c.m) >= maxCachedKeys {
		// Evict an arbitrary entry; map order is randomised.
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[e] = key
	c.mu.Unlock()
}

// fingerprint returns the SHA-256 of secret without copying it to the heap.
func fingerprint(secret string) [sha256.Size]byte {
	var buf [128]byte
	if len(secret) <= len(buf) {
		n := copy(buf[:], secret)
		sum := sha256.Sum256(buf[:n])
		clear(buf[:n])
		return sum
	}
	return sha256.Sum256([]byte(secret))
}

// deriveSigningKey computes
//
//	kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
func deriveSigningKey(secret, date, region, service string) [sha256.Size]byte {
	var k [sha256.Size]byte
	mac := hmac.New(sha256.New, []byte("AWS4"+secret))
	mac.Write([]byte(date))
	mac.Sum(k[:0])
	for _, s := range [...]string{region, service, terminator} {
		mac = hmac.New(sha256.New, k[:])
		mac.Write([]byte(s))
		mac.Sum(k[:0])
	}
	return k
}
